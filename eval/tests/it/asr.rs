//! The ASR evaluation runner over a transcriber function: per-language scores, failures, the
//! worst utterances and the Markdown summary.

use std::path::PathBuf;

use callsight_eval::{AsrReport, Utterance, evaluate_asr};

fn utterance(id: &str, text: &str, language: &str) -> Utterance {
    Utterance {
        id: id.to_owned(),
        audio: PathBuf::from(format!("{id}.wav")),
        text: text.to_owned(),
        language: language.to_owned(),
    }
}

/// Transcripts as a recogniser might return them, keyed by utterance id.
fn run(utterances: &[Utterance]) -> (AsrReport, Vec<(usize, usize)>) {
    let mut transcribe = |utterance: &Utterance| -> anyhow::Result<String> {
        Ok(match utterance.id.as_str() {
            "en-exact" => "Please hold, twenty-one callers are ahead of you.".to_owned(),
            "en-insert" => "the cat sat down".to_owned(),
            "en-wrong" => "goodbye".to_owned(),
            "ru-exact" => "Ещё раз, пожалуйста.".to_owned(),
            "ru-sub" => "нажмите два".to_owned(),
            other => anyhow::bail!("decoder failed on {other}"),
        })
    };
    let mut progress_calls = Vec::new();
    let report = evaluate_asr(utterances, &mut transcribe, &mut |done, total| {
        progress_calls.push((done, total))
    });
    (report, progress_calls)
}

#[test]
fn scores_per_language_with_failures() {
    let utterances = vec![
        utterance("en-exact", "Please hold. 21 callers are ahead of you", "en"),
        utterance("en-insert", "The cat sat.", "en"),
        utterance("ru-exact", "Еще раз пожалуйста", "ru"),
        utterance("en-wrong", "Thank you", "en"),
        utterance("ru-sub", "Нажмите 1", "ru"),
        utterance("en-broken", "anything", "en"),
    ];
    let (report, progress_calls) = run(&utterances);
    assert_eq!(
        progress_calls,
        (1..=6).map(|done| (done, 6)).collect::<Vec<_>>()
    );
    assert_eq!(report.n_utterances, 6);
    assert_eq!(report.n_failures, 1);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].id, "en-broken");
    assert!(
        report.failures[0]
            .error
            .contains("decoder failed on en-broken")
    );

    let languages: Vec<&str> = report
        .languages
        .iter()
        .map(|language| language.language.as_str())
        .collect();
    assert_eq!(languages, ["en", "ru"]);
    let english = &report.languages[0];
    assert_eq!(english.n_utterances, 4);
    assert_eq!(english.n_failures, 1);
    assert_eq!(english.n_exact_matches, 1);
    // 8 + 3 + 2 reference words; 1 insertion, then "goodbye" for "thank you": 1 sub + 1 del.
    assert_eq!(english.word_counts.reference_len, 13);
    assert_eq!(english.word_counts.errors(), 3);
    assert!((english.wer - 3.0 / 13.0).abs() < 1e-12);
    assert_eq!(english.worst.len(), 3);
    assert_eq!(english.worst[0].id, "en-wrong");
    assert_eq!(english.worst[0].wer, 1.0);
    assert_eq!(english.worst[0].reference_normalized, "thank you");
    assert_eq!(english.worst[1].id, "en-insert");
    assert_eq!(english.worst[2].wer, 0.0);

    let russian = &report.languages[1];
    assert_eq!(russian.n_utterances, 2);
    assert_eq!(russian.n_exact_matches, 1);
    assert_eq!(russian.word_counts.substitutions, 1);
    assert!((russian.wer - 1.0 / 5.0).abs() < 1e-12);
    assert!(russian.cer > 0.0 && russian.cer < russian.wer);
}

#[test]
fn report_serialises_and_summarises() -> anyhow::Result<()> {
    let utterances = vec![
        utterance("en-insert", "The cat sat.", "en"),
        utterance("en-wrong", "Thank | you", "en"),
        utterance("en-broken", "anything", "en"),
    ];
    let (report, _) = run(&utterances);
    let json = serde_json::to_value(&report)?;
    assert_eq!(json["languages"][0]["word_counts"]["insertions"], 1);
    assert_eq!(json["n_failures"], 1);
    let round_trip: AsrReport = serde_json::from_value(json)?;
    assert_eq!(round_trip, report);

    let expected = "\
# ASR evaluation

3 utterances, 1 failed.

| language | utterances | failed | exact | WER | CER | ref words | sub | del | ins |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| en | 3 | 1 | 0 | 60.00 % | 65.00 % | 5 | 1 | 1 | 1 |

## Worst utterances (en)

| id | WER | reference | hypothesis |
|---|---:|---|---|
| en-wrong | 100 % | thank you | goodbye |
| en-insert | 33 % | the cat sat | the cat sat down |

## Failures

- `en-broken` (en): decoder failed on en-broken
";
    assert_eq!(report.to_markdown(), expected);
    Ok(())
}

#[test]
fn empty_evaluation_is_an_empty_report() {
    let (report, progress_calls) = run(&[]);
    assert_eq!(report.n_utterances, 0);
    assert!(report.languages.is_empty());
    assert!(progress_calls.is_empty());
    assert!(report.to_markdown().contains("0 utterances, 0 failed."));
}
