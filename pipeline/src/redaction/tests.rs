//! Text-level tests of detection and redaction: many wordings, both languages, decoys.

use super::detect::luhn_valid;
use super::*;
use crate::types::{Speaker, Turn, Word};

/// Turns from `(speaker, text)` lines, words 0.4 s apart, turns 1 s apart.
fn turns(lines: &[(Speaker, &str)]) -> Vec<Turn> {
    let mut at = 0.0;
    lines
        .iter()
        .map(|(speaker, text)| {
            let start = at;
            let words: Vec<Word> = text
                .split_whitespace()
                .map(|w| {
                    let word = Word { text: w.to_string(), start_secs: at, end_secs: at + 0.35, confidence: 0.9 };
                    at += 0.4;
                    word
                })
                .collect();
            at += 1.0;
            Turn { speaker: *speaker, start_secs: start, end_secs: at - 1.0, text: text.to_string(), words, sentiment: None }
        })
        .collect()
}

fn redact_lines(lines: &[(Speaker, &str)]) -> (Vec<String>, Vec<EntityKind>) {
    let mut turns = turns(lines);
    let entities = find_entities(&turns, &RedactionConfig::all());
    let spans = redact_turns(&mut turns, &entities);
    (turns.into_iter().map(|t| t.text).collect(), spans.into_iter().map(|s| s.kind).collect())
}

/// One customer line after the agent's question; returns the customer's redacted text and kinds.
fn answer(question: &str, reply: &str) -> (String, Vec<EntityKind>) {
    let (texts, kinds) = redact_lines(&[(Speaker::Agent, question), (Speaker::Customer, reply)]);
    (texts[1].clone(), kinds)
}

fn say(text: &str) -> (String, Vec<EntityKind>) {
    let (texts, kinds) = redact_lines(&[(Speaker::Customer, text)]);
    (texts[0].clone(), kinds)
}

use EntityKind::*;

#[test]
fn luhn() {
    assert!(luhn_valid("4532015112830366"));
    assert!(luhn_valid("4111111111111111"));
    assert!(!luhn_valid("4111111111111112"));
    assert!(!luhn_valid(""));
}

#[test]
fn card_numbers_in_many_wordings() {
    for reply in [
        "it's 4111 1111 1111 1111 thanks",
        "it's 4111-1111-1111-1111.",
        "four one one one one one one one one one one one one one one one",
        "forty one eleven, eleven eleven, eleven eleven, eleven eleven",
        "four one double one, one one one one, eleven eleven, one one one one",
        "sure 4532 0151 1283 0366",
        "45 32 01 51 12 83 03 66",
        "four thousand five hundred thirty two, oh one five one, twelve eighty three, oh three six six",
    ] {
        let (text, kinds) = answer("What's the long number on your card?", reply);
        assert_eq!(kinds, [CardNumber], "{reply:?} → {text:?}");
        assert!(text.contains("[card number]"), "{reply:?} → {text:?}");
        assert!(!text.chars().any(|c| c.is_ascii_digit()), "digits left in {text:?}");
    }
}

#[test]
fn card_number_without_a_cue_passes_luhn() {
    let (text, kinds) = say("okay so 4532015112830366 is what I have");
    assert_eq!(kinds, [CardNumber]);
    assert_eq!(text, "okay so [card number] is what I have");
}

#[test]
fn card_with_asr_error_after_a_cue() {
    // One digit misheard: Luhn fails, the cue still makes it a card.
    let (_, kinds) = answer("Can I take the card number please?", "4532 0151 1283 0367");
    assert_eq!(kinds, [CardNumber]);
}

#[test]
fn partial_card_numbers() {
    let (text, kinds) = say("the card ending in 5502 was charged twice");
    assert_eq!(kinds, [CardNumber]);
    assert_eq!(text, "the card ending in [card number] was charged twice");
    let (_, kinds) = say("it ends in double five oh two");
    assert_eq!(kinds, [CardNumber]);
    let (_, kinds) = say("last four are five five oh two");
    assert_eq!(kinds, [CardNumber]);
    let (_, kinds) = say("карта заканчивается на пятьдесят пять ноль два");
    assert_eq!(kinds, [CardNumber]);
}

#[test]
fn security_codes_after_a_cue() {
    let (text, kinds) = answer("And the three digit security code on the back?", "seven three one");
    assert_eq!(kinds, [SecurityCode]);
    assert_eq!(text, "[security code]");
    let (_, kinds) = answer("What is the CVV?", "It's 731.");
    assert_eq!(kinds, [SecurityCode]);
    let (_, kinds) = answer("Назовите код безопасности с обратной стороны", "семь три один");
    assert_eq!(kinds, [SecurityCode]);
    // No cue: a three-digit number stays.
    let (text, kinds) = say("I called 731 times");
    assert!(kinds.is_empty());
    assert_eq!(text, "I called 731 times");
}

#[test]
fn card_expiry_and_code_in_one_breath() {
    let (text, kinds) = answer("Card details please", "4111 1111 1111 1111 04 27 731");
    assert_eq!(kinds, [CardNumber, ExpiryDate, SecurityCode], "{text}");
    assert_eq!(text, "[card number] [expiry date] [security code]");
}

#[test]
fn expiry_dates() {
    for reply in ["oh four twenty seven", "04/27", "April 2027", "April twenty seven", "04 27"] {
        let (text, kinds) = answer("And the expiry date?", reply);
        assert_eq!(kinds, [ExpiryDate], "{reply:?} → {text:?}");
    }
    let (_, kinds) = answer("Срок действия карты?", "ноль четыре двадцать семь");
    assert_eq!(kinds, [ExpiryDate]);
}

#[test]
fn dates_of_birth() {
    for reply in [
        "the fourth of July nineteen eighty",
        "March 15th, 1985.",
        "March fifteenth nineteen eighty five",
        "15 March 1985",
        "03/15/1985",
        "15.03.1985",
        "oh three one five eight five",
        "it's July 4 1980",
    ] {
        let (text, kinds) = answer("Can you confirm your date of birth please?", reply);
        assert_eq!(kinds, [DateOfBirth], "{reply:?} → {text:?}");
        assert!(!text.contains("198") && !text.to_lowercase().contains("eighty"), "{reply:?} → {text:?}");
    }
    let (text, kinds) = answer(
        "Назовите дату рождения",
        "пятнадцатого марта тысяча девятьсот восемьдесят пятого года",
    );
    assert_eq!(kinds, [DateOfBirth], "{text}");
    assert_eq!(text, "[date of birth] года");
    let (_, kinds) = answer("Дата рождения?", "15.03.1985");
    assert_eq!(kinds, [DateOfBirth]);
    // An old full date is a birth date even without the cue.
    let (_, kinds) = say("I was there on the 3rd of May 1979");
    assert_eq!(kinds, [DateOfBirth]);
}

#[test]
fn recent_dates_and_days_stay() {
    for text in [
        "the payment was due on April 15th",
        "I paid on March 3rd 2025",
        "we spoke on the second of June",
        "since May twenty twenty four",
    ] {
        let (redacted, kinds) = say(text);
        assert!(kinds.is_empty(), "{text:?} → {redacted:?}");
        assert_eq!(redacted, text);
    }
}

#[test]
fn phone_numbers() {
    for reply in [
        "555 123 4567",
        "555-123-4567",
        "five five five, one two three, four five six seven",
        "oh seven seven double oh nine eight one two three four",
    ] {
        let (text, kinds) = answer("What's the best phone number to reach you on?", reply);
        assert_eq!(kinds, [PhoneNumber], "{reply:?} → {text:?}");
    }
    // Written shapes and country codes need no cue.
    assert_eq!(say("call 555-123-4567 tomorrow").1, [PhoneNumber]);
    assert_eq!(say("it is +44 7700 900123").1, [PhoneNumber]);
    assert_eq!(say("мой номер восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь").1, [PhoneNumber]);
    assert_eq!(say("плюс семь 916 123 45 67").1, [PhoneNumber]);
    let (_, kinds) = answer("Ваш номер телефона?", "девять один шесть один два три четыре пять шесть семь");
    assert_eq!(kinds, [PhoneNumber]);
}

#[test]
fn emails() {
    for (reply, expected) in [
        ("it's john.smith@example.com", "it's [email]"),
        ("john dot smith at example dot com", "[email]"),
        ("sure, jsmith at gmail.com thanks", "sure, [email] thanks"),
        ("my email is anna underscore lee at mail dot ru", "my email is [email]"),
    ] {
        let (text, kinds) = say(reply);
        assert_eq!(kinds, [Email], "{reply:?} → {text:?}");
        assert_eq!(text, expected);
    }
    let (text, kinds) = say("почта иван точка петров собака яндекс точка ру");
    assert_eq!(kinds, [Email]);
    assert_eq!(text, "почта [email]");
    // "at" without a domain is just a word.
    assert!(say("look at the statement dot by dot").1.is_empty());
}

#[test]
fn bank_accounts_and_ibans() {
    let (_, kinds) = answer("What's your account number?", "three one nine two six eight one nine");
    assert_eq!(kinds, [BankAccount]);
    let (_, kinds) = answer("And your sort code?", "60 16 13");
    assert_eq!(kinds, [BankAccount]);
    let (_, kinds) = say("номер счета 40817810099910004312");
    assert_eq!(kinds, [BankAccount]);
    let (_, kinds) = say("перевод на 40817810099910004312 вчера");
    assert_eq!(kinds, [BankAccount]);
}

#[test]
fn national_ids() {
    assert_eq!(answer("Your social security number?", "123 45 6789").1, [NationalId]);
    assert_eq!(say("it's 123-45-6789").1, [NationalId]);
    assert_eq!(answer("Номер СНИЛС?", "112-233-445 95").1, [NationalId]);
    assert_eq!(answer("Серия и номер паспорта?", "45 07 123456").1, [NationalId]);
    assert_eq!(answer("What's your passport number?", "five three two one nine eight seven six four").1, [NationalId]);
}

#[test]
fn street_addresses() {
    let (text, kinds) = say("I live at 221 Baker Street now");
    assert_eq!(kinds, [Address]);
    assert_eq!(text, "I live at [address] now");
    assert_eq!(say("twelve Oak Lane").1, [Address]);
    let (text, kinds) = say("улица Ленина дом пять квартира двенадцать");
    assert_eq!(kinds, [Address]);
    assert_eq!(text, "[address]");
}

#[test]
fn decoys_survive() {
    for text in [
        "that will be two hundred dollars",
        "you were charged $200 twice",
        "I called at 3:30 pm",
        "at three thirty in the afternoon",
        "I waited forty five minutes on hold",
        "it's been 3 days",
        "I have two accounts with you",
        "your reference number is 4 8 2 7 1 9 3 5",
        "the order number is 4532015112830366",
        "case number one two three four five six seven eight nine",
        "номер заявки сорок пять тридцать два",
        "списали двести рублей",
        "я ждал сорок минут",
        "в три часа дня",
        "press one for billing",
        "a refund of 1,250 pounds",
        "the fee is 12.50",
        "interest went up 5 percent",
    ] {
        let (redacted, kinds) = say(text);
        assert!(kinds.is_empty(), "decoy {text:?} was redacted as {kinds:?}: {redacted:?}");
        assert_eq!(redacted, text);
    }
}

#[test]
fn decoys_after_a_cue_with_units_survive() {
    let (text, kinds) = answer("Your card was charged", "yes two hundred dollars");
    assert!(kinds.is_empty(), "{text}");
    let (text, kinds) = answer("And the expiry date?", "it's in 3 months");
    assert!(kinds.is_empty(), "{text}");
}

#[test]
fn each_type_can_be_switched_off() {
    let lines = [
        (Speaker::Agent, "Date of birth and card number please"),
        (Speaker::Customer, "March 15th 1985 and 4111 1111 1111 1111"),
    ];
    let turns = turns(&lines);
    let only_cards = RedactionConfig { types: vec![CardNumber], ..RedactionConfig::all() };
    let found: Vec<EntityKind> = find_entities(&turns, &only_cards).iter().map(|e| e.kind).collect();
    assert_eq!(found, [CardNumber]);
    let only_dob = RedactionConfig { types: vec![DateOfBirth], ..RedactionConfig::all() };
    let found: Vec<EntityKind> = find_entities(&turns, &only_dob).iter().map(|e| e.kind).collect();
    assert_eq!(found, [DateOfBirth]);
}

#[test]
fn parse_type_lists() {
    assert_eq!(EntityKind::parse_list("card,dob,phone").unwrap_or_default(), [CardNumber, DateOfBirth, PhoneNumber]);
    assert_eq!(EntityKind::parse_list("all").unwrap_or_default().len(), EntityKind::ALL.len());
    assert!(EntityKind::parse_list("card,ssn").is_err());
}

#[test]
fn spans_carry_party_and_times_and_the_placeholder_position() {
    let mut turns = turns(&[(Speaker::Agent, "card number please"), (Speaker::Customer, "yes 4111 1111 1111 1111 ok")]);
    let customer_start = turns[1].words[1].start_secs;
    let customer_end = turns[1].words[4].end_secs;
    let entities = find_entities(&turns, &RedactionConfig::all());
    let spans = redact_turns(&mut turns, &entities);
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.speaker, Speaker::Customer);
    assert_eq!((span.start_secs, span.end_secs), (customer_start, customer_end));
    assert_eq!((span.turn_index, span.word_index), (1, 1));
    assert_eq!(turns[1].words[1].text, "[card number]");
    assert_eq!(turns[1].words.len(), 3);
    let json = serde_json::to_value(span).unwrap_or_default();
    assert_eq!(json["type"], "card");
    assert_eq!(json["speaker"], "customer");
}

#[test]
fn redacting_twice_finds_nothing_new() {
    let mut turns = turns(&[(Speaker::Customer, "card 4111 1111 1111 1111 and born March 15th 1985")]);
    let entities = find_entities(&turns, &RedactionConfig::all());
    redact_turns(&mut turns, &entities);
    assert!(find_entities(&turns, &RedactionConfig::all()).is_empty(), "{}", turns[0].text);
}

#[test]
fn audio_is_masked_on_the_speakers_channel_only() {
    const HALF: i16 = 16_384;
    use crate::analyze::ChannelLayout;
    let rate = 8_000;
    let mut audio = DecodedAudio { sample_rate_hz: rate, channels: vec![vec![HALF; rate as usize * 4]; 2] };
    let span = RedactionSpan { kind: CardNumber, speaker: Speaker::Customer, start_secs: 1.0, end_secs: 2.0, turn_index: 0, word_index: 0 };
    let config = RedactionConfig { margin_secs: 0.25, ..RedactionConfig::all() };
    let changed = redact_audio(&mut audio, std::slice::from_ref(&span), ChannelLayout::AgentCustomer, &config);
    assert_eq!(changed, 12_000);
    assert!(audio.channels[0].iter().all(|&s| s == HALF), "the agent's channel is untouched");
    let customer = &audio.channels[1];
    assert!(customer[6_000..18_000].iter().all(|&s| s == 0));
    assert_eq!(customer[5_999], HALF);
    assert_eq!(customer[18_000], HALF);

    let mut audio = DecodedAudio { sample_rate_hz: rate, channels: vec![vec![HALF; rate as usize * 4]; 2] };
    let tone = RedactionConfig { audio: AudioMask::Tone, margin_secs: 0.0, ..RedactionConfig::all() };
    redact_audio(&mut audio, &[span], ChannelLayout::CustomerAgent, &tone);
    let masked = &audio.channels[0][8_000..16_000];
    let peak = masked.iter().fold(0.0_f32, |m, &s| m.max(crate::audio::sample_to_f32(s).abs()));
    assert!((peak - MASK_TONE_AMPLITUDE).abs() < 0.01, "tone peak {peak}");
    assert!(audio.channels[1].iter().all(|&s| s == HALF));
}

#[test]
fn the_streamed_redacted_copy_equals_masking_in_memory() {
    use crate::analyze::ChannelLayout;
    let rate = 8_000;
    let n_frames = 300_000 * 2 + 123; // more than two write blocks
    let channel = |scale: i32| (0..n_frames).map(|idx| ((idx % 2_000) * scale) as i16).collect::<Vec<i16>>();
    let audio = DecodedAudio { sample_rate_hz: rate, channels: vec![channel(3), channel(-5)] };
    let spans = [
        // Across the first block edge (262,144 frames = 32.8 s at 8 kHz), and near the end.
        RedactionSpan { kind: CardNumber, speaker: Speaker::Customer, start_secs: 32.0, end_secs: 34.0, turn_index: 0, word_index: 0 },
        RedactionSpan { kind: CardNumber, speaker: Speaker::Agent, start_secs: 74.0, end_secs: 90.0, turn_index: 1, word_index: 0 },
    ];
    for mask in [AudioMask::Silence, AudioMask::Tone] {
        let config = RedactionConfig { audio: mask, margin_secs: 0.3, ..RedactionConfig::all() };
        let mut masked = audio.clone();
        redact_audio(&mut masked, &spans, ChannelLayout::AgentCustomer, &config);
        let mut streamed = Vec::new();
        write_redacted_wav(&audio, &spans, ChannelLayout::AgentCustomer, &config, &mut streamed).expect("writes");
        assert!(streamed == crate::audio::encode_wav_pcm16(&masked), "{mask:?}: the streamed copy differs");
    }
}

#[test]
fn analysis_evidence_and_reasons_are_redacted() {
    use crate::analyze::{CallAnalysis, ChannelLayout, Flag, FlagSeverity, StageTimings};
    use crate::compliance::{ComplianceResult, Evidence, RuleKind, RuleOutcome, Severity};
    let turns = turns(&[(Speaker::Agent, "your card 4111 1111 1111 1111 is blocked")]);
    let evidence_text = "your card 4111 1111 1111 1111 is blocked".to_string();
    let mut analysis = CallAnalysis {
        duration_secs: 10.0,
        sample_rate_hz: 8000,
        n_channels: 2,
        channel_layout: ChannelLayout::AgentCustomer,
        language: "en".into(),
        transcriber_model: "test".into(),
        sentiment_model: "test".into(),
        turns: turns.clone(),
        sentiment: Default::default(),
        compliance: Some(ComplianceResult {
            script_id: "s".into(),
            script_version: None,
            score: 0.0,
            rules: vec![RuleOutcome {
                id: "no-card-read-back".into(),
                kind: RuleKind::Forbidden,
                passed: false,
                confidence: 1.0,
                severity: Severity::High,
                evidence: vec![Evidence {
                    turn_index: Some(0),
                    speaker: Some(Speaker::Agent),
                    start_secs: turns[0].start_secs,
                    end_secs: turns[0].end_secs,
                    text: evidence_text.clone(),
                }],
                reason: format!("said at 0.0 s: \"{evidence_text}\" (confidence 1.00)"),
            }],
        }),
        metrics: Default::default(),
        flags: vec![Flag {
            kind: "rule_failed".into(),
            severity: FlagSeverity::High,
            rule_id: Some("no-card-read-back".into()),
            reason: format!("said at 0.0 s: \"{evidence_text}\" (confidence 1.00)"),
            start_secs: Some(0.0),
            end_secs: Some(3.0),
        }],
        speech: Vec::new(),
        timings: StageTimings::default(),
        redactions: Vec::new(),
    };
    let spans = redact_analysis(&mut analysis, &RedactionConfig::all());
    assert_eq!(spans.len(), 1);
    let json = serde_json::to_string(&analysis).unwrap_or_default();
    assert!(!json.contains("4111"), "{json}");
    assert!(json.contains("your card [card number] is blocked"));
    assert_eq!(analysis.redactions, spans);
    // Off: nothing changes.
    let before = analysis.clone();
    assert!(redact_analysis(&mut analysis, &RedactionConfig::default()).is_empty());
    assert_eq!(analysis, before);
}

#[test]
fn a_cue_is_answered_once() {
    let (texts, kinds) = redact_lines(&[
        (Speaker::Agent, "And your date of birth?"),
        (Speaker::Customer, "October 2nd 1975"),
        (Speaker::Agent, "Thanks, your bill is due on June fifth"),
    ]);
    assert_eq!(kinds, [DateOfBirth], "{texts:?}");
    assert_eq!(texts[2], "Thanks, your bill is due on June fifth");
}

#[test]
fn expiry_month_and_year_in_words_is_not_a_day() {
    let (text, kinds) = answer("When does it expire?", "November twenty twenty nine");
    assert_eq!(kinds, [ExpiryDate], "{text}");
    assert_eq!(text, "[expiry date]");
}

#[test]
fn card_numbers_with_extra_digits_heard() {
    // "four one one one, one one one one, …" recognised with five extra ones.
    let (text, kinds) = answer("Can I take the long number on your card please?", "Sure, it is 411111111111111111111.");
    assert_eq!(kinds, [CardNumber], "{text}");
    assert_eq!(text, "Sure, it is [card number]");
}
