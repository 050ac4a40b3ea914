//! Phrase matching: fuzzy matching of ASR-garbled speech, windows inside long turns, the negation
//! guard, and the orchestration of the semantic path (with a test-double embedder).

use crate::compliance_support;

use callsight_pipeline::compliance::matching::{normalise_text, word_similarity};
use callsight_pipeline::compliance::{MatchConfig, MatchMethod, PhraseMatch, PhraseMatcher};
use callsight_pipeline::engines::TextEmbedder;
use callsight_pipeline::types::{Speaker, TimeSpan, Turn};
use compliance_support::{BagOfWordsTestEmbedder, WORD_SECS, agent};

const RECORDING_NOTICE: &str = "this call may be recorded for quality purposes";

fn best(
    phrase: &str,
    turn: &Turn,
    embedder: Option<&dyn TextEmbedder>,
    config: &MatchConfig,
) -> Option<PhraseMatch> {
    let mut matcher = PhraseMatcher::new(embedder, config);
    matcher
        .best_match_in_turn(&[phrase], 0, turn, config.threshold, None)
        .expect("matching works")
}

#[test]
fn words_garbled_by_the_recogniser_stay_similar() {
    assert!(word_similarity("recorder", "recorded") >= 0.85);
    assert!(word_similarity("porpoises", "purposes") >= 0.75);
    assert!(word_similarity("balance", "purposes") < 0.5);
    assert_eq!(
        normalise_text("This call, may be RECORDED."),
        ["this", "call", "may", "be", "recorded"]
    );
}

#[test]
fn garbled_recording_notice_matches_without_an_embedder() {
    let config = MatchConfig::default();
    let turn = agent(3.0, "this cold may be recorder for quality porpoises");
    let found = best(RECORDING_NOTICE, &turn, None, &config).expect("a match");
    assert!(found.confidence >= 0.85, "confidence {}", found.confidence);
    assert_eq!(found.method, MatchMethod::Fuzzy);
    assert!(!found.negated);
    assert_eq!(
        found.text,
        "this cold may be recorder for quality porpoises"
    );
    assert_eq!(found.start_secs, 3.0);
    assert_eq!(found.end_secs, 3.0 + 8.0 * WORD_SECS);
}

#[test]
fn paraphrase_with_inserted_words_matches() {
    let config = MatchConfig::default();
    let turn = agent(
        0.0,
        "please note this call may be recorded for quality and training purposes",
    );
    let found = best(RECORDING_NOTICE, &turn, None, &config).expect("a match");
    assert!(
        found.confidence >= config.threshold,
        "confidence {}",
        found.confidence
    );
}

#[test]
fn unrelated_sentence_does_not_match() {
    let config = MatchConfig::default();
    for text in [
        "i would like to check the balance on my savings account please",
        "my card was declined at the supermarket yesterday",
        "thank you for calling",
    ] {
        let found = best(RECORDING_NOTICE, &agent(0.0, text), None, &config)
            .expect("some window is scored");
        assert!(
            found.confidence < 0.5,
            "{text:?} scored {}",
            found.confidence
        );
    }
}

#[test]
fn phrase_inside_a_long_turn_is_found_with_its_word_times() {
    let config = MatchConfig::default();
    let text = "okay so I have pulled up your account and I can see the payment from last week \
                before we go on this call may be recorded for quality purposes and now let me \
                check the status of the transfer for you";
    let turn = agent(40.0, text);
    let found = best(RECORDING_NOTICE, &turn, None, &config).expect("a match");
    assert_eq!(found.confidence, 1.0);
    assert_eq!(found.text, RECORDING_NOTICE);
    let first_word = text
        .split_whitespace()
        .position(|word| word == "call")
        .expect("call is there")
        - 1;
    assert_eq!(found.start_secs, 40.0 + first_word as f64 * WORD_SECS);
    assert_eq!(found.end_secs, 40.0 + (first_word + 8) as f64 * WORD_SECS);
    assert_eq!(turn.words[first_word].start_secs, found.start_secs);
}

#[test]
fn only_windows_starting_inside_the_time_filter_count() {
    let config = MatchConfig::default();
    let turn = agent(
        0.0,
        "thank you for calling and once again thank you for calling",
    );
    let mut matcher = PhraseMatcher::new(None, &config);
    let late = TimeSpan {
        start_secs: 2.0,
        end_secs: 10.0,
    };
    let found = matcher
        .best_match_in_turn(&["thank you for calling"], 0, &turn, 0.75, Some(late))
        .expect("matching works")
        .expect("a match");
    assert_eq!(found.start_secs, 7.0 * WORD_SECS);
    let nowhere = TimeSpan {
        start_secs: 100.0,
        end_secs: 120.0,
    };
    assert!(
        matcher
            .best_match_in_turn(&["thank you"], 0, &turn, 0.75, Some(nowhere))
            .expect("works")
            .is_none()
    );
}

#[test]
fn negation_guard_keeps_negated_phrases_below_the_threshold() {
    let config = MatchConfig::default();
    for text in [
        "this call is not being recorded",
        "this call isn't being recorded",
        "this call is never being recorded",
    ] {
        let found = best(
            "this call is being recorded",
            &agent(0.0, text),
            None,
            &config,
        )
        .expect("a match");
        assert!(
            found.confidence < config.threshold,
            "{text:?} scored {}",
            found.confidence
        );
    }
    let found = best(
        "i guarantee",
        &agent(0.0, "sadly i can't guarantee that"),
        None,
        &config,
    )
    .expect("a match");
    assert!(
        found.confidence < config.threshold,
        "scored {}",
        found.confidence
    );
    // A negation in the phrase itself is not held against the speech.
    let found = best(
        "never share your pin",
        &agent(0.0, "please never share your pin"),
        None,
        &config,
    )
    .expect("a match");
    assert_eq!(found.confidence, 1.0);
    assert!(!found.negated);
}

#[test]
fn turn_without_word_timings_gets_times_spread_over_the_turn() {
    let config = MatchConfig::default();
    let turn = Turn {
        speaker: Speaker::Agent,
        start_secs: 10.0,
        end_secs: 14.0,
        text: "aaaa thank you for calling".to_string(),
        words: Vec::new(),
        sentiment: None,
    };
    let found = best("thank you for calling", &turn, None, &config).expect("a match");
    assert_eq!(found.confidence, 1.0);
    // 4 of the 22 letters come first: the match starts 4/22 of the way through the 4 s turn.
    assert!(
        (found.start_secs - (10.0 + 4.0 * 4.0 / 22.0)).abs() < 1e-9,
        "{}",
        found.start_secs
    );
    assert!((found.end_secs - 14.0).abs() < 1e-9);
}

/// Semantic config for the test double: its cosines are not compressed like mE5's.
fn test_double_config() -> MatchConfig {
    MatchConfig {
        semantic_cosine_floor: 0.0,
        semantic_cosine_ceiling: 1.0,
        ..MatchConfig::default()
    }
}

#[test]
fn semantic_path_matches_across_languages_where_fuzzy_cannot() {
    let config = test_double_config();
    let turn = agent(2.0, "спасибо что позвонили");
    let fuzzy_only = best("thank you for calling", &turn, None, &config).expect("scored");
    assert!(
        fuzzy_only.confidence < 0.3,
        "fuzzy scored {}",
        fuzzy_only.confidence
    );

    let embedder = BagOfWordsTestEmbedder::new();
    let found = best("thank you for calling", &turn, Some(&embedder), &config).expect("a match");
    assert_eq!(found.method, MatchMethod::Semantic);
    assert!(
        found.confidence >= config.threshold,
        "semantic scored {}",
        found.confidence
    );
    assert_eq!(found.start_secs, 2.0);
    assert!(found.text.contains("спасибо"));
}

#[test]
fn semantic_scores_are_rescaled_with_the_configured_calibration() {
    let turn = agent(0.0, "спасибо что позвонили");
    let embedder = BagOfWordsTestEmbedder::new();
    // With a 0.85..0.95 calibration the test double's 0.87 cosine is only a weak match.
    let me5_calibrated = MatchConfig {
        semantic_cosine_floor: 0.85,
        semantic_cosine_ceiling: 0.95,
        ..MatchConfig::default()
    };
    let found = best(
        "thank you for calling",
        &turn,
        Some(&embedder),
        &me5_calibrated,
    )
    .expect("scored");
    assert!(
        found.confidence < me5_calibrated.threshold,
        "scored {}",
        found.confidence
    );
    assert_eq!(me5_calibrated.rescale_cosine(0.80), 0.0);
    assert!((me5_calibrated.rescale_cosine(0.90) - 0.5).abs() < 1e-5);
    assert_eq!(me5_calibrated.rescale_cosine(0.97), 1.0);
}

#[test]
fn prepare_embeds_each_text_once_in_batches() {
    let config = MatchConfig {
        embed_batch_size: 4,
        ..test_double_config()
    };
    let embedder = BagOfWordsTestEmbedder::new();
    let turns = [
        agent(0.0, "thank you for calling card services my name is anna"),
        agent(10.0, "this call may be recorded for quality purposes"),
        agent(20.0, "is there anything else I can help you with today"),
    ];
    let turn_refs: Vec<&Turn> = turns.iter().collect();
    let phrases = ["thank you for calling", RECORDING_NOTICE];
    let mut matcher = PhraseMatcher::new(Some(&embedder), &config);
    matcher.prepare(&phrases, &turn_refs).expect("prepare");
    let after_prepare = embedder.embedded_texts().len();
    for (index, turn) in turns.iter().enumerate() {
        matcher
            .best_match_in_turn(&phrases, index, turn, 0.75, None)
            .expect("matching works");
    }
    matcher
        .prepare(&phrases, &turn_refs)
        .expect("prepare again");
    let texts = embedder.embedded_texts();
    assert_eq!(
        texts.len(),
        after_prepare,
        "matching after prepare needs no new embeddings"
    );
    let mut unique = texts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), texts.len(), "no text is embedded twice");
    let batches = embedder.batches.lock().expect("lock");
    assert!(batches.iter().all(|batch| batch.len() <= 4));
    assert!(batches.len() >= texts.len() / 4);
}
