//! Manifest reading and writing, line-numbered errors, subsampling and statistics.

use std::fs;
use std::path::Path;

use callsight_eval::{
    Utterance, filter_min_words, manifest_stats, read_manifest, subsample, write_manifest,
};

fn utterance(id: &str, text: &str, language: &str) -> Utterance {
    Utterance {
        id: id.to_owned(),
        audio: format!("/nowhere/{id}.wav").into(),
        text: text.to_owned(),
        language: language.to_owned(),
    }
}

#[test]
fn reads_paths_relative_to_the_manifest() -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let manifest_path = folder.path().join("set.jsonl");
    fs::write(
        &manifest_path,
        concat!(
            r#"{"audio": "audio/a.wav", "text": "Hello there", "language": "en"}"#,
            "\n\n",
            r#"{"audio": "b.wav", "text": "Привет", "language": "RU", "id": "greeting", "speaker": "x"}"#,
            "\n",
        ),
    )?;
    let utterances = read_manifest(&manifest_path)?;
    assert_eq!(utterances.len(), 2);
    assert_eq!(utterances[0].audio, folder.path().join("audio/a.wav"));
    assert_eq!(utterances[0].id, "audio/a.wav");
    assert_eq!(utterances[0].text, "Hello there");
    assert_eq!(utterances[1].id, "greeting");
    assert_eq!(utterances[1].language, "ru");
    Ok(())
}

fn manifest_error(contents: &str) -> String {
    let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("tempdir: {error}"));
    let manifest_path = folder.path().join("broken.jsonl");
    fs::write(&manifest_path, contents).unwrap_or_else(|error| panic!("write: {error}"));
    match read_manifest(&manifest_path) {
        Ok(utterances) => panic!("expected an error, read {utterances:?}"),
        Err(error) => format!("{error:#}"),
    }
}

#[test]
fn errors_name_the_line() {
    let valid = r#"{"audio": "a.wav", "text": "hi", "language": "en"}"#;

    let error = manifest_error(&format!("{valid}\n{valid}\nnot json\n"));
    assert!(error.contains("broken.jsonl, line 3"), "{error}");
    assert!(error.contains("invalid manifest entry"), "{error}");

    let error = manifest_error(&format!(
        "{valid}\n\n{{\"audio\": \"b.wav\", \"language\": \"en\"}}\n"
    ));
    assert!(error.contains("line 3"), "{error}");
    assert!(error.contains("missing field `text`"), "{error}");

    let error = manifest_error(&format!(
        "{{\"audio\": \"a.wav\", \"text\": \"  \", \"language\": \"en\"}}\n{valid}\n"
    ));
    assert!(error.contains("line 1: field `text` is empty"), "{error}");

    let error = manifest_error(r#"{"audio": 7, "text": "x", "language": "en"}"#);
    assert!(error.contains("line 1"), "{error}");
}

#[test]
fn missing_manifest_is_an_error() {
    let Err(error) = read_manifest(Path::new("/nonexistent/eval.jsonl")) else {
        panic!("reading a missing manifest succeeded");
    };
    assert!(format!("{error:#}").contains("cannot read manifest /nonexistent/eval.jsonl"));
}

#[test]
fn write_then_read_round_trips() -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let manifest_path = folder.path().join("set.jsonl");
    let written = vec![
        Utterance {
            id: "digits/1".to_owned(),
            audio: folder.path().join("sounds/digits/1.wav"),
            text: "one".to_owned(),
            language: "en".to_owned(),
        },
        Utterance {
            id: "sounds/b.wav".to_owned(),
            audio: folder.path().join("sounds/b.wav"),
            text: "quote \" and newline\n".to_owned(),
            language: "ru".to_owned(),
        },
    ];
    write_manifest(&manifest_path, &written)?;
    let contents = fs::read_to_string(&manifest_path)?;
    assert!(contents.starts_with(
        r#"{"id":"digits/1","audio":"sounds/digits/1.wav","text":"one","language":"en"}"#
    ));
    assert_eq!(read_manifest(&manifest_path)?, written);

    let outside = vec![Utterance {
        audio: "/elsewhere/x.wav".into(),
        ..written[0].clone()
    }];
    assert!(write_manifest(&manifest_path, &outside).is_err());
    Ok(())
}

#[test]
fn subsample_is_deterministic_per_language() {
    let mut utterances = Vec::new();
    for index in 0..300 {
        utterances.push(utterance(&format!("en-{index}"), "hello", "en"));
    }
    for index in 0..50 {
        utterances.push(utterance(&format!("ru-{index}"), "привет", "ru"));
    }
    let first = subsample(&utterances, 100, 7);
    assert_eq!(first, subsample(&utterances, 100, 7));
    assert_eq!(
        first
            .iter()
            .filter(|chosen| chosen.language == "en")
            .count(),
        100
    );
    assert_eq!(
        first
            .iter()
            .filter(|chosen| chosen.language == "ru")
            .count(),
        50
    );
    // Manifest order is kept.
    let positions: Vec<usize> = first
        .iter()
        .map(|chosen| {
            utterances
                .iter()
                .position(|candidate| candidate == chosen)
                .unwrap_or(usize::MAX)
        })
        .collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]));
    // Another seed gives another subset; a larger size gives a superset.
    assert_ne!(first, subsample(&utterances, 100, 8));
    let larger = subsample(&utterances, 150, 7);
    assert!(first.iter().all(|chosen| larger.contains(chosen)));
}

#[test]
fn short_prompts_are_counted_and_can_be_filtered() {
    let utterances = vec![
        utterance("digits/7", "seven", "en"),
        utterance("digits/21", "twenty one", "en"),
        utterance("vm-goodbye", "Goodbye!", "en"),
        utterance("auth-thankyou", "Thank you.", "en"),
        utterance("privet", "Ещё раз", "ru"),
    ];
    let stats = manifest_stats(&utterances);
    assert_eq!(stats["en"].n_utterances, 4);
    // "twenty one" normalises to one word, "21".
    assert_eq!(stats["en"].n_single_word, 3);
    assert_eq!(stats["en"].n_reference_words, 5);
    assert_eq!(stats["en"].n_missing_audio, 4);
    assert_eq!(stats["ru"].n_single_word, 0);

    let kept: Vec<String> = filter_min_words(&utterances, 2)
        .into_iter()
        .map(|kept| kept.id)
        .collect();
    assert_eq!(kept, ["auth-thankyou", "privet"]);
}
