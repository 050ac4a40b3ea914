//! Evaluating scripts on hand-built calls: every rule kind passing and failing, the late greeting,
//! the wrong order, forbidden phrases, mono calls, the score, and the semantic path.

use crate::compliance_support;

use callsight_pipeline::compliance::{
    ComplianceResult, MatchConfig, RuleKind, RuleOutcome, Script, evaluate_script, parse_script,
};
use callsight_pipeline::engines::TextEmbedder;
use callsight_pipeline::types::{CallMetrics, Speaker, TimeSpan, Turn};
use compliance_support::{
    BagOfWordsTestEmbedder, WORD_SECS, agent, customer, turn, with_sentiment,
};

const SCRIPT: &str = r#"{"id": "card-services", "name": "Card services inbound", "version": "7", "rules": [
  {"id": "greeting", "kind": "required", "speaker": "agent",
   "phrases": ["thank you for calling"], "within": {"start_secs": 0, "end_secs": 20}},
  {"id": "identity-check", "kind": "required", "severity": "high",
   "phrases": ["can you confirm your date of birth", "can you confirm your address"]},
  {"id": "closing", "kind": "required", "phrases": ["is there anything else i can help you with"],
   "within": {"last_secs": 20}, "severity": "low"},
  {"id": "no-guarantees", "kind": "forbidden", "speaker": "agent", "phrases": ["i guarantee"], "severity": "high"},
  {"id": "order", "kind": "sequence", "rules": ["greeting", "identity-check", "closing"]},
  {"id": "silence", "kind": "max_silence", "max_secs": 5},
  {"id": "talk-over", "kind": "max_talk_over", "max_secs": 3, "max_count": 2},
  {"id": "happy-end", "kind": "customer_sentiment", "at": "end", "min_score": -0.3}]}"#;

const CALL_DURATION_SECS: f64 = 45.0;

fn script() -> Script {
    parse_script(SCRIPT, "card-services.json").expect("valid script")
}

fn compliant_turns() -> Vec<Turn> {
    vec![
        agent(
            0.0,
            "Thank you for calling card services, my name is Anna, how can I help?",
        ),
        with_sentiment(customer(7.0, "hi I lost my card and need a new one"), -0.4),
        agent(
            12.0,
            "I can help with that. Can you confirm your date of birth please?",
        ),
        with_sentiment(
            customer(19.0, "it is the third of may nineteen eighty"),
            0.0,
        ),
        agent(
            24.0,
            "Thank you. I have blocked the card and a new one will arrive in five days.",
        ),
        with_sentiment(customer(32.0, "great thanks"), 0.7),
        agent(34.0, "Is there anything else I can help you with?"),
        with_sentiment(customer(38.0, "no that is all thank you"), 0.5),
    ]
}

fn calm_metrics() -> CallMetrics {
    CallMetrics {
        duration_secs: CALL_DURATION_SECS,
        longest_silence_secs: 2.5,
        longest_silence: Some(TimeSpan {
            start_secs: 21.5,
            end_secs: 24.0,
        }),
        talk_over_secs: 1.0,
        talk_over_count: 1,
        ..CallMetrics::default()
    }
}

fn evaluate(turns: &[Turn], metrics: &CallMetrics) -> ComplianceResult {
    evaluate_script(
        &script(),
        turns,
        metrics,
        CALL_DURATION_SECS,
        None,
        &MatchConfig::default(),
    )
    .expect("evaluates")
}

fn outcome<'a>(result: &'a ComplianceResult, id: &str) -> &'a RuleOutcome {
    result
        .rules
        .iter()
        .find(|outcome| outcome.id == id)
        .expect("rule outcome present")
}

#[test]
fn compliant_call_passes_every_rule() {
    let result = evaluate(&compliant_turns(), &calm_metrics());
    assert_eq!(result.script_id, "card-services");
    assert_eq!(result.script_version.as_deref(), Some("7"));
    for rule in &result.rules {
        assert!(rule.passed, "{} failed: {}", rule.id, rule.reason);
    }
    assert_eq!(result.score, 1.0);
    let ids: Vec<&str> = result.rules.iter().map(|rule| rule.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "greeting",
            "identity-check",
            "closing",
            "no-guarantees",
            "order",
            "silence",
            "talk-over",
            "happy-end"
        ]
    );

    let greeting = outcome(&result, "greeting");
    assert_eq!(greeting.kind, RuleKind::Required);
    assert_eq!(greeting.confidence, 1.0);
    assert_eq!(greeting.evidence.len(), 1);
    assert_eq!(greeting.evidence[0].turn_index, Some(0));
    assert_eq!(greeting.evidence[0].speaker, Some(Speaker::Agent));
    assert_eq!(greeting.evidence[0].text, "Thank you for calling");
    assert_eq!(
        (
            greeting.evidence[0].start_secs,
            greeting.evidence[0].end_secs
        ),
        (0.0, 4.0 * WORD_SECS)
    );
    assert!(
        greeting
            .reason
            .starts_with("said at 0.0 s, inside the window (first 20 s)"),
        "{}",
        greeting.reason
    );

    let identity = outcome(&result, "identity-check");
    assert_eq!(identity.evidence[0].turn_index, Some(2));
    assert_eq!(identity.evidence[0].start_secs, 12.0 + 5.0 * WORD_SECS);

    let forbidden = outcome(&result, "no-guarantees");
    assert!(forbidden.evidence.is_empty());
    // "I" alone is half of "I guarantee".
    assert!(forbidden.confidence >= 0.5, "{}", forbidden.confidence);
    assert!(
        forbidden.reason.starts_with("not said"),
        "{}",
        forbidden.reason
    );

    let order = outcome(&result, "order");
    assert_eq!(
        order.reason,
        "in order: 'greeting' at 0.0 s, 'identity-check' at 14.5 s, 'closing' at 34.0 s"
    );
    assert_eq!(order.evidence.len(), 3);

    let silence = outcome(&result, "silence");
    assert_eq!(
        silence.reason,
        "longest silence 2.5 s (21.5 s-24.0 s) <= 5.0 s"
    );
    assert_eq!(silence.evidence[0].speaker, None);

    let mood = outcome(&result, "happy-end");
    assert_eq!(
        mood.reason,
        "customer sentiment at end 0.60 >= -0.30 (mean of 2 turns from 32.0 s)"
    );
    let mood_turns: Vec<Option<usize>> = mood
        .evidence
        .iter()
        .map(|evidence| evidence.turn_index)
        .collect();
    assert_eq!(mood_turns, [Some(5), Some(7)]);
}

#[test]
fn late_greeting_fails_with_where_it_was_said() {
    let mut turns = compliant_turns();
    turns[0] = agent(0.0, "card services Anna speaking how can I help");
    turns[4] = agent(24.0, "sorry I forgot, thank you for calling card services");
    let result = evaluate(&turns, &calm_metrics());
    let greeting = outcome(&result, "greeting");
    assert!(!greeting.passed);
    assert_eq!(greeting.confidence, 1.0);
    assert_eq!(greeting.evidence.len(), 1);
    assert_eq!(greeting.evidence[0].turn_index, Some(4));
    assert_eq!(greeting.evidence[0].start_secs, 24.0 + 3.0 * WORD_SECS);
    assert_eq!(
        greeting.reason,
        "said at 25.5 s, after the window (first 20 s: 0.0 s-20.0 s): \"thank you for calling\" (confidence 1.00)"
    );
    // The sequence uses the first occurrence wherever it is: the greeting now comes after the check.
    let order = outcome(&result, "order");
    assert!(!order.passed);
    assert_eq!(
        order.reason,
        "'identity-check' (at 14.5 s) came before 'greeting' (at 25.5 s)"
    );
}

#[test]
fn closing_said_before_the_last_seconds_fails() {
    let mut turns = compliant_turns();
    turns[2] = agent(
        12.0,
        "Can you confirm your date of birth please? Is there anything else I can help you with?",
    );
    turns[6] = agent(34.0, "Goodbye then.");
    let result = evaluate(&turns, &calm_metrics());
    let closing = outcome(&result, "closing");
    assert!(!closing.passed);
    assert!(
        closing
            .reason
            .starts_with("said at 16.0 s, before the window (last 20 s: 25.0 s-45.0 s)"),
        "{}",
        closing.reason
    );
}

#[test]
fn wrong_order_names_the_pair_out_of_order() {
    let turns = vec![
        agent(0.0, "thank you for calling how can I help"),
        agent(5.0, "is there anything else I can help you with"),
        agent(30.0, "sorry before that can you confirm your date of birth"),
    ];
    let result = evaluate(&turns, &calm_metrics());
    let order = outcome(&result, "order");
    assert!(!order.passed);
    assert_eq!(
        order.reason,
        "'closing' (at 5.0 s) came before 'identity-check' (at 31.5 s)"
    );
    assert_eq!(order.evidence.len(), 3);
}

#[test]
fn a_stray_early_match_does_not_break_an_order_the_call_kept() {
    // The closing phrase also comes up mid-call; the order still holds with the real closing.
    let turns = vec![
        agent(0.0, "thank you for calling how can I help"),
        agent(5.0, "is there anything else I can help you with"),
        agent(12.0, "before that can you confirm your date of birth"),
        agent(30.0, "is there anything else I can help you with today"),
    ];
    let result = evaluate(&turns, &calm_metrics());
    let order = outcome(&result, "order");
    assert!(order.passed, "{}", order.reason);
    assert!(order.reason.starts_with("in order: 'greeting' at 0.0 s, 'identity-check' at"), "{}", order.reason);
    assert!(order.reason.contains("'closing' at 30.0 s"), "the later closing is the one taken: {}", order.reason);
}

#[test]
fn missing_required_phrase_fails_the_rule_and_the_sequence() {
    let mut turns = compliant_turns();
    turns[2] = agent(12.0, "I can help with that, let me look it up");
    let result = evaluate(&turns, &calm_metrics());
    let identity = outcome(&result, "identity-check");
    assert!(!identity.passed);
    assert!(identity.evidence.is_empty());
    assert!(
        identity.reason.starts_with("not said"),
        "{}",
        identity.reason
    );
    assert!(identity.confidence < 0.75);
    let order = outcome(&result, "order");
    assert!(!order.passed);
    assert_eq!(order.reason, "'identity-check' was not said");
    // Severity-weighted score: identity (high, 3) and order (medium, 2) failed out of 2+3+1+3+2+2+2+2 = 17.
    assert!(
        (result.score - 12.0 / 17.0).abs() < 1e-9,
        "{}",
        result.score
    );
}

#[test]
fn forbidden_phrase_said_by_the_agent_fails_with_evidence() {
    let mut turns = compliant_turns();
    turns[4] = agent(
        24.0,
        "Don't worry. I guarantee the new card will arrive tomorrow. I guarantee it.",
    );
    let result = evaluate(&turns, &calm_metrics());
    let forbidden = outcome(&result, "no-guarantees");
    assert!(!forbidden.passed);
    assert!(forbidden.confidence < 0.05, "{}", forbidden.confidence);
    assert_eq!(
        forbidden.evidence.len(),
        1,
        "one turn, the best place in it"
    );
    assert_eq!(forbidden.evidence[0].turn_index, Some(4));
    assert_eq!(forbidden.evidence[0].start_secs, 24.0 + 2.0 * WORD_SECS);
    assert_eq!(
        forbidden.reason,
        "said at 25.0 s: \"I guarantee\" (confidence 1.00)"
    );

    // The customer saying it, or the agent negating it, is fine.
    let mut turns = compliant_turns();
    turns[3] = customer(19.0, "I guarantee I never gave my pin to anyone");
    turns[4] = agent(
        24.0,
        "I'm sorry, I can't guarantee when the new card will arrive.",
    );
    let result = evaluate(&turns, &calm_metrics());
    let forbidden = outcome(&result, "no-guarantees");
    assert!(forbidden.passed, "{}", forbidden.reason);
}

#[test]
fn negated_required_phrase_does_not_count() {
    let script = parse_script(
        "id: s\nrules:\n  - id: recording\n    kind: required\n    phrases: [this call is being recorded]\n",
        "s.yaml",
    )
    .expect("valid script");
    let config = MatchConfig::default();
    let said = [agent(0.0, "just so you know this call is being recorded")];
    let result = evaluate_script(&script, &said, &CallMetrics::default(), 10.0, None, &config)
        .expect("evaluates");
    assert!(result.rules[0].passed, "{}", result.rules[0].reason);
    let negated = [agent(
        0.0,
        "just so you know this call is not being recorded",
    )];
    let result = evaluate_script(
        &script,
        &negated,
        &CallMetrics::default(),
        10.0,
        None,
        &config,
    )
    .expect("evaluates");
    assert!(!result.rules[0].passed);
    assert!(
        result.rules[0].reason.contains("negated"),
        "{}",
        result.rules[0].reason
    );
}

#[test]
fn silence_and_talk_over_limits_fail_when_exceeded() {
    let metrics = CallMetrics {
        longest_silence_secs: 12.25,
        longest_silence: Some(TimeSpan {
            start_secs: 20.0,
            end_secs: 32.25,
        }),
        talk_over_secs: 4.5,
        talk_over_count: 3,
        ..calm_metrics()
    };
    let result = evaluate(&compliant_turns(), &metrics);
    let silence = outcome(&result, "silence");
    assert!(!silence.passed);
    assert_eq!(
        silence.reason,
        "longest silence 12.2 s (20.0 s-32.2 s) > 5.0 s"
    );
    assert_eq!(
        (silence.evidence[0].start_secs, silence.evidence[0].end_secs),
        (20.0, 32.25)
    );
    let talk_over = outcome(&result, "talk-over");
    assert!(!talk_over.passed);
    assert_eq!(
        talk_over.reason,
        "talk-over 4.5 s > 3.0 s; talk-overs 3 > 2"
    );

    let only_count = CallMetrics {
        talk_over_count: 3,
        ..calm_metrics()
    };
    let talk_over = outcome(&evaluate(&compliant_turns(), &only_count), "talk-over").clone();
    assert!(!talk_over.passed);
    assert_eq!(
        talk_over.reason,
        "talk-over 1.0 s <= 3.0 s; talk-overs 3 > 2"
    );
}

#[test]
fn customer_ending_negative_is_flagged() {
    let mut turns = compliant_turns();
    turns[5] = with_sentiment(customer(32.0, "five days that is ridiculous"), -0.74);
    turns[7] = with_sentiment(customer(38.0, "no I am very unhappy with this"), -0.5);
    let result = evaluate(&turns, &calm_metrics());
    let mood = outcome(&result, "happy-end");
    assert!(!mood.passed);
    assert_eq!(
        mood.reason,
        "customer sentiment at end -0.62 < -0.30 (mean of 2 turns from 32.0 s)"
    );

    // `at: any`: the low point decides, even if the call ended well.
    let any_script = parse_script(
        "id: s\nrules:\n  - id: never-upset\n    kind: customer_sentiment\n    at: any\n    min_score: -0.3\n",
        "s.yaml",
    )
    .expect("valid script");
    let result = evaluate_script(
        &any_script,
        &compliant_turns(),
        &calm_metrics(),
        CALL_DURATION_SECS,
        None,
        &MatchConfig::default(),
    )
    .expect("evaluates");
    assert!(!result.rules[0].passed);
    assert_eq!(
        result.rules[0].reason,
        "lowest customer sentiment -0.40 at 7.0 s < -0.30"
    );
    assert_eq!(result.rules[0].evidence[0].turn_index, Some(1));
}

#[test]
fn customer_sentiment_at_end_uses_the_last_turns_only() {
    // Five scored customer turns in the last 30 %: only the last three count.
    let mut turns = vec![agent(0.0, "thank you for calling")];
    for (index, score) in [-0.9, -0.9, 0.2, 0.3, 0.4].into_iter().enumerate() {
        turns.push(with_sentiment(
            customer(80.0 + index as f64 * 4.0, "ok"),
            score,
        ));
    }
    let script = parse_script(
        "id: s\nrules:\n  - id: end\n    kind: customer_sentiment\n    min_score: 0.0\n",
        "s.yaml",
    )
    .expect("valid script");
    let result = evaluate_script(
        &script,
        &turns,
        &CallMetrics::default(),
        100.0,
        None,
        &MatchConfig::default(),
    )
    .expect("evaluates");
    assert!(result.rules[0].passed, "{}", result.rules[0].reason);
    assert_eq!(
        result.rules[0].reason,
        "customer sentiment at end 0.30 >= 0.00 (mean of 3 turns from 88.0 s)"
    );

    // The customer fell silent early: their last scored turn is used.
    let early = vec![
        with_sentiment(customer(5.0, "this is awful"), -0.8),
        agent(10.0, "goodbye"),
    ];
    let result = evaluate_script(
        &script,
        &early,
        &CallMetrics::default(),
        100.0,
        None,
        &MatchConfig::default(),
    )
    .expect("evaluates");
    assert!(!result.rules[0].passed);
    assert_eq!(
        result.rules[0].reason,
        "customer sentiment at end -0.80 < 0.00 (mean of 1 turn from 5.0 s)"
    );

    // Nothing scored: cannot be checked, so it fails and says why.
    let unscored = vec![customer(5.0, "hello")];
    let result = evaluate_script(
        &script,
        &unscored,
        &CallMetrics::default(),
        100.0,
        None,
        &MatchConfig::default(),
    )
    .expect("evaluates");
    assert!(!result.rules[0].passed);
    assert_eq!(
        result.rules[0].reason,
        "cannot check: no customer turn has a sentiment score"
    );
}

#[test]
fn mono_call_matches_any_speaker_and_says_so() {
    let turns: Vec<Turn> = compliant_turns()
        .into_iter()
        .map(|mut turn| {
            turn.speaker = Speaker::Unknown;
            turn
        })
        .collect();
    let result = evaluate(&turns, &calm_metrics());
    let greeting = outcome(&result, "greeting");
    assert!(greeting.passed);
    assert!(
        greeting
            .reason
            .ends_with("; mono call: speakers unknown, so any speaker counted"),
        "{}",
        greeting.reason
    );
    assert_eq!(greeting.evidence[0].speaker, Some(Speaker::Unknown));
    let mood = outcome(&result, "happy-end");
    assert!(
        mood.reason
            .ends_with("mono call: speakers unknown, so any speaker counted"),
        "{}",
        mood.reason
    );

    // On a stereo call a phrase said only by the customer does not satisfy an agent rule.
    let stereo = vec![customer(0.0, "thank you for calling me back")];
    let result = evaluate(&stereo, &calm_metrics());
    let greeting = outcome(&result, "greeting");
    assert!(!greeting.passed);
    assert_eq!(greeting.reason, "not said (no agent turns)");
}

#[test]
fn result_round_trips_through_json() {
    let result = evaluate(&compliant_turns(), &calm_metrics());
    let json = serde_json::to_value(&result).expect("serialises");
    assert_eq!(json["rules"][0]["kind"], "required");
    assert_eq!(json["rules"][1]["severity"], "high");
    assert_eq!(json["rules"][5]["kind"], "max_silence");
    assert_eq!(
        json["rules"][5]["evidence"][0]["speaker"],
        serde_json::Value::Null
    );
    let back: ComplianceResult = serde_json::from_value(json).expect("deserialises");
    assert_eq!(back, result);
}

#[test]
fn english_script_matches_russian_speech_through_the_embedder() {
    let script = parse_script(
        r#"{"id": "ru", "rules": [
          {"id": "greeting", "kind": "required", "phrases": {"en": ["thank you for calling"]}, "within": {"end_secs": 10}},
          {"id": "recording", "kind": "required", "phrases": ["this call is recorded"]}]}"#,
        "ru.json",
    )
    .expect("valid script");
    let turns = vec![
        turn(Speaker::Agent, 1.0, "спасибо что позвонили"),
        turn(Speaker::Customer, 3.0, "здравствуйте"),
        turn(Speaker::Agent, 5.0, "этот разговор записывается"),
    ];
    let config = MatchConfig {
        semantic_cosine_floor: 0.0,
        semantic_cosine_ceiling: 1.0,
        ..MatchConfig::default()
    };

    let without = evaluate_script(
        &script,
        &turns,
        &CallMetrics::default(),
        20.0,
        None,
        &config,
    )
    .expect("evaluates");
    assert!(
        without.rules.iter().all(|rule| !rule.passed),
        "fuzzy matching alone cannot cross languages"
    );

    let embedder = BagOfWordsTestEmbedder::new();
    let dyn_embedder: &dyn TextEmbedder = &embedder;
    let with = evaluate_script(
        &script,
        &turns,
        &CallMetrics::default(),
        20.0,
        Some(dyn_embedder),
        &config,
    )
    .expect("evaluates");
    let greeting = &with.rules[0];
    assert!(greeting.passed, "{}", greeting.reason);
    assert_eq!(greeting.evidence[0].text, "спасибо что позвонили");
    assert_eq!(greeting.evidence[0].turn_index, Some(0));
    assert!(with.rules[1].passed, "{}", with.rules[1].reason);
    assert_eq!(with.rules[1].evidence[0].turn_index, Some(2));

    // Each phrase and window was embedded once, although the greeting was searched twice
    // (inside its window and anywhere), and the customer's turn was never embedded.
    let texts = embedder.embedded_texts();
    let mut unique = texts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), texts.len(), "{texts:?}");
    assert!(!texts.iter().any(|text| text == "здравствуйте"));
    assert!(texts.iter().any(|text| text == "thank you for calling"));
}
