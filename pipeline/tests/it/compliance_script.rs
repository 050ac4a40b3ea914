//! Parsing and validating compliance scripts: valid JSON and YAML, and malformed scripts reported
//! with the right line and reason.

use callsight_pipeline::PipelineError;
use callsight_pipeline::compliance::{
    Phrase, RuleCheck, RuleKind, Script, SentimentPosition, Severity, SpeakerConstraint,
    TimeWindow, load_script, parse_script,
};

const CARD_SERVICES_JSON: &str = r#"{"id": "card-services", "name": "Card services inbound", "version": "3", "rules": [
  {"id": "greeting", "kind": "required", "speaker": "agent",
   "phrases": ["thank you for calling"], "within": {"start_secs": 0, "end_secs": 20}},
  {"id": "identity-check", "kind": "required", "phrases": ["can you confirm your date of birth"],
   "severity": "high"},
  {"id": "closing", "kind": "required", "phrases": ["is there anything else"], "within": {"last_secs": 60}},
  {"id": "no-guarantees", "kind": "forbidden", "speaker": "agent", "phrases": ["i guarantee"]},
  {"id": "order", "kind": "sequence", "rules": ["greeting", "identity-check", "closing"]},
  {"id": "silence", "kind": "max_silence", "max_secs": 30, "severity": "low"},
  {"id": "talk-over", "kind": "max_talk_over", "max_secs": 10, "max_count": 5},
  {"id": "happy-end", "kind": "customer_sentiment", "at": "end", "min_score": -0.3}]}
"#;

const CARD_SERVICES_YAML: &str = "\
id: card-services
name: Card services inbound
rules:
  - id: greeting
    kind: required
    phrases:
      en: [thank you for calling]
      ru: [спасибо за звонок]
    within: {start_secs: 0, end_secs: 20}
    threshold: 0.8
  - id: recording
    kind: required
    speaker: any
    description: recording notice
    phrases:
      - this call may be recorded for quality purposes
    within: {start_secs: 5, end_secs: -30}
  - id: no-guarantees
    kind: forbidden
    phrases: [i guarantee]
  - id: never-angry
    kind: customer_sentiment
    at: any
    min_score: -0.8
";

fn script_error(result: Result<Script, PipelineError>) -> (String, usize, String) {
    match result {
        Err(PipelineError::Script {
            source_name,
            line,
            reason,
        }) => (source_name, line, reason),
        Err(other) => panic!("expected a script error, got {other}"),
        Ok(script) => panic!(
            "expected a script error, got a script with {} rules",
            script.rules.len()
        ),
    }
}

#[test]
fn json_script_parses_with_every_kind_and_defaults() {
    let script = parse_script(CARD_SERVICES_JSON, "card.json").expect("valid script");
    assert_eq!(script.id, "card-services");
    assert_eq!(script.name.as_deref(), Some("Card services inbound"));
    assert_eq!(script.version.as_deref(), Some("3"));
    let kinds: Vec<RuleKind> = script.rules.iter().map(|rule| rule.kind()).collect();
    assert_eq!(
        kinds,
        [
            RuleKind::Required,
            RuleKind::Required,
            RuleKind::Required,
            RuleKind::Forbidden,
            RuleKind::Sequence,
            RuleKind::MaxSilence,
            RuleKind::MaxTalkOver,
            RuleKind::CustomerSentiment
        ]
    );
    let RuleCheck::Required(greeting) = &script.rules[0].check else {
        panic!("greeting is required")
    };
    assert_eq!(greeting.speaker, SpeakerConstraint::Agent);
    assert_eq!(
        greeting.within,
        Some(TimeWindow {
            start_secs: 0.0,
            end_secs: Some(20.0)
        })
    );
    assert_eq!(
        greeting.phrases,
        vec![Phrase {
            text: "thank you for calling".to_string(),
            language: None
        }]
    );
    assert_eq!(script.rules[0].severity, Severity::Medium);
    assert_eq!(script.rules[1].severity, Severity::High);
    let RuleCheck::Required(closing) = &script.rules[2].check else {
        panic!("closing is required")
    };
    assert_eq!(
        closing.within,
        Some(TimeWindow {
            start_secs: -60.0,
            end_secs: None
        })
    );
    let window = closing.within.expect("closing window");
    let span = window.resolve(300.0);
    assert_eq!((span.start_secs, span.end_secs), (240.0, 300.0));
    assert_eq!(
        script.rules[4].check,
        RuleCheck::Sequence {
            rule_ids: vec!["greeting".into(), "identity-check".into(), "closing".into()]
        }
    );
    assert_eq!(
        script.rules[6].check,
        RuleCheck::MaxTalkOver {
            max_secs: Some(10.0),
            max_count: Some(5)
        }
    );
    assert_eq!(
        script.rules[7].check,
        RuleCheck::CustomerSentiment {
            at: SentimentPosition::End,
            min_score: -0.3
        }
    );
}

#[test]
fn yaml_script_parses_with_language_lists_and_windows_from_the_end() {
    let script = parse_script(CARD_SERVICES_YAML, "card.yaml").expect("valid script");
    assert_eq!(script.rules.len(), 4);
    let RuleCheck::Required(greeting) = &script.rules[0].check else {
        panic!("greeting is required")
    };
    assert_eq!(
        greeting.phrases,
        vec![
            Phrase {
                text: "thank you for calling".into(),
                language: Some("en".into())
            },
            Phrase {
                text: "спасибо за звонок".into(),
                language: Some("ru".into())
            },
        ]
    );
    assert_eq!(greeting.threshold, Some(0.8));
    let RuleCheck::Required(recording) = &script.rules[1].check else {
        panic!("recording is required")
    };
    assert_eq!(recording.speaker, SpeakerConstraint::Any);
    assert_eq!(
        script.rules[1].description.as_deref(),
        Some("recording notice")
    );
    let window = recording.within.expect("recording window");
    let span = window.resolve(200.0);
    assert_eq!((span.start_secs, span.end_secs), (5.0, 170.0));
    let RuleCheck::Forbidden(forbidden) = &script.rules[2].check else {
        panic!("forbidden")
    };
    assert_eq!(
        forbidden.speaker,
        SpeakerConstraint::Agent,
        "phrase rules default to the agent"
    );
    assert_eq!(
        script.rules[3].check,
        RuleCheck::CustomerSentiment {
            at: SentimentPosition::Any,
            min_score: -0.8
        }
    );
}

#[test]
fn script_serialises_to_the_file_format_and_back() {
    for (text, name) in [
        (CARD_SERVICES_JSON, "card.json"),
        (CARD_SERVICES_YAML, "card.yaml"),
    ] {
        let script = parse_script(text, name).expect("valid script");
        let json = serde_json::to_string_pretty(&script).expect("serialises");
        assert_eq!(
            parse_script(&json, "round-trip.json").expect("re-parses"),
            script
        );
        let yaml = serde_yaml::to_string(&script).expect("serialises");
        assert_eq!(
            parse_script(&yaml, "round-trip.yaml").expect("re-parses"),
            script
        );
        let direct: Script = serde_json::from_str(&json).expect("deserialises with validation");
        assert_eq!(direct, script);
    }
}

#[test]
fn load_script_reads_a_file_and_names_it_in_errors() {
    let dir =
        std::env::temp_dir().join(format!("callsight-compliance-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("card.yaml");
    std::fs::write(&good, CARD_SERVICES_YAML).expect("write script");
    assert_eq!(load_script(&good).expect("loads").id, "card-services");

    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"id\": \"x\",\n \"rules\": [\n {\"id\": \"a\", \"kind\": \"required\", \"phrases\": []}]}")
        .expect("write script");
    let (source_name, line, reason) = script_error(load_script(&bad));
    assert!(source_name.ends_with("bad.json"), "{source_name}");
    assert_eq!(line, 3);
    assert_eq!(reason, "rule 'a': the phrase list is empty");

    let missing = dir.join("missing.yaml");
    let (_, _, reason) = script_error(load_script(&missing));
    assert!(reason.starts_with("cannot read the file"), "{reason}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// (script text, expected line, expected reason or the start of it)
const MALFORMED: &[(&str, usize, &str)] = &[
    // JSON syntax: a missing comma.
    (
        "{\"id\": \"s\",\n \"rules\": [\n  {\"id\": \"a\", \"kind\": \"forbidden\" \"phrases\": [\"x\"]}\n]}",
        3,
        "expected `,` or `}`",
    ),
    // YAML syntax: a bad indentation.
    (
        "id: s\nrules:\n  - id: a\n    kind: forbidden\n   phrases: [x]\n",
        5,
        "did not find expected",
    ),
    // Unknown field, JSON and YAML.
    (
        "{\"id\": \"s\", \"rules\": [\n {\"id\": \"a\", \"kind\": \"forbidden\",\n  \"phrase\": [\"x\"]}]}",
        3,
        "unknown field `phrase`, expected one of `id`, `kind`",
    ),
    (
        "id: s\nrules:\n  - id: a\n    kind: forbidden\n    phrases: [x]\n    colour: red\n",
        6,
        "rules[0]: unknown field `colour`",
    ),
    // Duplicate rule id: the second declaration.
    (
        "id: s\nrules:\n  - id: a\n    kind: forbidden\n    phrases: [x]\n  - id: a\n    kind: forbidden\n    phrases: [y]\n",
        6,
        "duplicate rule id 'a'",
    ),
    // Sequence with an unknown rule.
    (
        "{\"id\": \"s\",\n \"rules\": [\n  {\"id\": \"a\", \"kind\": \"required\", \"phrases\": [\"x\"]},\n  {\"id\": \"order\", \"kind\": \"sequence\", \"rules\": [\"a\", \"b\"]}\n]}",
        4,
        "rule 'order': sequence refers to unknown rule 'b'",
    ),
    // Sequence with a rule that is not required.
    (
        "id: s\nrules:\n  - id: a\n    kind: required\n    phrases: [x]\n  - id: f\n    kind: forbidden\n    phrases: [y]\n  - id: order\n    kind: sequence\n    rules: [a, f]\n",
        9,
        "rule 'order': sequence refers to rule 'f', a forbidden rule; only required rules can be ordered",
    ),
    // Empty phrase list.
    (
        "id: s\nrules:\n  - kind: required\n    id: \"greet\"\n    phrases: []\n",
        4,
        "rule 'greet': the phrase list is empty",
    ),
    // Empty language list.
    (
        "id: s\nrules:\n  - id: greet\n    kind: required\n    phrases: {en: [hi], ru: []}\n",
        3,
        "rule 'greet': the phrase list for language 'ru' is empty",
    ),
    // Phrases that are neither a list nor a map (serde places it at the rule).
    (
        "id: s\nrules:\n  - id: a\n    kind: required\n    phrases: 5\n",
        3,
        "rules[0]: phrases must be a list of strings or a map from language code to a list of strings",
    ),
    // Window that ends before it starts.
    (
        "id: s\nrules:\n  - id: a\n    kind: forbidden\n    phrases: [x]\n  - id: b\n    kind: required\n    phrases: [y]\n    within: {start_secs: 30, end_secs: 10}\n",
        6,
        "rule 'b': window ends (10 s) before it starts (30 s)",
    ),
    // Unknown kind.
    (
        "{\"id\": \"s\", \"rules\": [\n  {\"id\": \"a\", \"kind\": \"mandatory\", \"phrases\": [\"x\"]}]}",
        2,
        "rule 'a': unknown kind 'mandatory', expected one of required, forbidden, sequence, max_silence, max_talk_over, customer_sentiment",
    ),
    // Unknown speaker.
    (
        "id: s\nrules:\n  - id: a\n    kind: required\n    speaker: supervisor\n    phrases: [x]\n",
        3,
        "rule 'a': unknown speaker 'supervisor', expected agent, customer or any",
    ),
    // Negative max_secs.
    (
        "id: s\nrules:\n  - id: quiet\n    kind: max_silence\n    max_secs: -5\n",
        3,
        "rule 'quiet': max_secs must be a non-negative number of seconds, got -5",
    ),
    // A field that belongs to another kind.
    (
        "id: s\nrules:\n  - id: quiet\n    kind: max_silence\n    max_secs: 5\n    phrases: [x]\n",
        3,
        "rule 'quiet': field 'phrases' does not apply to a max_silence rule",
    ),
    // A missing field of the kind.
    (
        "id: s\nrules:\n  - id: mood\n    kind: customer_sentiment\n    at: end\n",
        3,
        "rule 'mood': a customer_sentiment rule needs 'min_score'",
    ),
    // No rules at all: the script id's line.
    ("\n\nid: empty\nrules: []\n", 3, "the script has no rules"),
];

#[test]
fn malformed_scripts_report_line_and_reason() {
    for (text, expected_line, expected_reason) in MALFORMED {
        let (source_name, line, reason) = script_error(parse_script(text, "bad-script"));
        assert_eq!(source_name, "bad-script");
        assert!(
            reason.starts_with(expected_reason),
            "reason {reason:?} for\n{text}"
        );
        assert_eq!(line, *expected_line, "line for {reason:?} in\n{text}");
    }
}

#[test]
fn error_message_names_source_and_line() {
    let error = parse_script("id: s\nrules:\n  - id: a\n    kind: nope\n", "card.yaml")
        .expect_err("unknown kind");
    assert!(
        error
            .to_string()
            .starts_with("script card.yaml, line 3: rule 'a': unknown kind 'nope'"),
        "{error}"
    );
}

#[test]
fn shipped_example_script_is_valid() {
    let path =
        std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string())).join("../examples/card-services.json");
    let script = load_script(&path).expect("the example script in the repository parses");
    assert_eq!(script.id, "card-services");
    assert!(
        script
            .rules
            .iter()
            .any(|rule| rule.kind() == RuleKind::Sequence)
    );
}
