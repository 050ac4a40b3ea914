//! Evaluation sets from Debian packages. The transcript parsers are tested on excerpts of the
//! real lists; the download-and-build tests need `apt-get` and network access to Debian, so they
//! run only when `CALLSIGHT_EVAL_DATA=1` (data under `CALLSIGHT_EVAL_DATA_DIR`, default
//! `~/.cache/callsight/eval-data`).

use std::path::PathBuf;

use callsight_eval::datasets::{parse_asterisk_transcript, parse_festival_prompts};
use callsight_eval::{
    PreparationStats, default_data_dir, manifest_stats, prepare_asterisk, prepare_festvox_ru,
    read_manifest,
};

/// Lines as they appear in `core-sounds-en.txt` and `core-sounds-ru.txt` of Asterisk 1.6.1.
const ASTERISK_EXCERPT: &str = "\
; Core Asterisk Sounds in Russian

is:
added: Добавлено
agent-alreadyon: Этот оператор уже зарегистрирован.  Введите номер оператора и нажмите решетку.
ascending-2tone: [ascending tones]
conf-adminmenu: conf-adminmenu: Нажмите 1 чтобы отключить / включить свой микрофон
digits/0: zero
letters/at: at [@]
silence/2: (2 seconds of silence)
added: Duplicate
";

#[test]
fn asterisk_transcript_keeps_speech_only() {
    let transcript = parse_asterisk_transcript(ASTERISK_EXCERPT);
    let prompts: Vec<(&str, &str)> = transcript
        .prompts
        .iter()
        .map(|prompt| (prompt.name.as_str(), prompt.text.as_str()))
        .collect();
    assert_eq!(
        prompts,
        [
            ("added", "Добавлено"),
            (
                "agent-alreadyon",
                "Этот оператор уже зарегистрирован. Введите номер оператора и нажмите решетку."
            ),
            (
                "conf-adminmenu",
                "Нажмите 1 чтобы отключить / включить свой микрофон"
            ),
            ("digits/0", "zero"),
            ("letters/at", "at"),
        ]
    );
    assert_eq!(transcript.n_entries, 9);
    assert_eq!(transcript.n_empty, 1);
    assert_eq!(transcript.n_non_speech, 2);
    assert_eq!(transcript.n_duplicates, 1);
}

#[test]
fn festival_prompts_lose_stress_marks() -> anyhow::Result<()> {
    let prompts = parse_festival_prompts(
        "( ru_0002 \"Она завела, прядь волнистых вол+ос за ухо.\" )\n\n( ru_0004 \"+Окна многоэтажных домов\" )\n",
    )?;
    assert_eq!(
        prompts,
        [
            (
                "ru_0002".to_owned(),
                "Она завела, прядь волнистых волос за ухо.".to_owned()
            ),
            ("ru_0004".to_owned(), "Окна многоэтажных домов".to_owned()),
        ]
    );
    let Err(error) = parse_festival_prompts("( ru_0001 \"fine\" )\n( ru_0002 unquoted )\n") else {
        panic!("a malformed prompt line was accepted");
    };
    assert!(error.to_string().contains("line 2"), "{error}");
    Ok(())
}

fn eval_data_dir() -> Option<PathBuf> {
    if std::env::var("CALLSIGHT_EVAL_DATA").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set CALLSIGHT_EVAL_DATA=1 to download the Debian evaluation packages and build manifests"
        );
        return None;
    }
    match std::env::var_os("CALLSIGHT_EVAL_DATA_DIR") {
        Some(folder) => Some(PathBuf::from(folder)),
        None => Some(default_data_dir().unwrap_or_else(|error| panic!("{error:#}"))),
    }
}

#[test]
fn asterisk_manifests_from_debian() -> anyhow::Result<()> {
    let Some(data_dir) = eval_data_dir() else {
        return Ok(());
    };
    let manifest_paths = prepare_asterisk(&data_dir, &["en", "ru"])?;
    assert_eq!(
        manifest_paths,
        [
            data_dir.join("asterisk-en.jsonl"),
            data_dir.join("asterisk-ru.jsonl")
        ]
    );

    let english = read_manifest(&manifest_paths[0])?;
    assert!(
        english.len() > 100,
        "only {} English prompts",
        english.len()
    );
    assert!(
        english
            .iter()
            .all(|utterance| utterance.audio.is_file() && utterance.language == "en")
    );
    let digit_one = english
        .iter()
        .find(|utterance| utterance.id == "digits/1")
        .map(|utterance| utterance.text.as_str());
    assert_eq!(digit_one, Some("one"));
    assert!(
        english
            .iter()
            .all(|utterance| !utterance.text.contains('['))
    );

    let russian = read_manifest(&manifest_paths[1])?;
    assert!(
        russian.len() > 100,
        "only {} Russian prompts",
        russian.len()
    );
    assert!(
        russian
            .iter()
            .all(|utterance| utterance.audio.is_file() && utterance.language == "ru")
    );

    for manifest_path in &manifest_paths {
        let stats: PreparationStats = serde_json::from_str(&std::fs::read_to_string(
            manifest_path.with_extension("stats.json"),
        )?)?;
        assert!(stats.n_non_speech > 0);
        assert_eq!(stats.language.n_missing_audio, 0);
        eprintln!("{}: {stats:?}", manifest_path.display());
    }
    // A second call reuses the manifests.
    assert_eq!(
        prepare_asterisk(&data_dir, &["en"])?,
        [data_dir.join("asterisk-en.jsonl")]
    );
    Ok(())
}

#[test]
fn festvox_ru_manifest_from_debian() -> anyhow::Result<()> {
    let Some(data_dir) = eval_data_dir() else {
        return Ok(());
    };
    let manifest_path = prepare_festvox_ru(&data_dir)?;
    let utterances = read_manifest(&manifest_path)?;
    assert!(
        utterances.len() > 500,
        "only {} festvox prompts",
        utterances.len()
    );
    assert!(
        utterances
            .iter()
            .all(|utterance| !utterance.text.contains('+'))
    );
    let stats = manifest_stats(&utterances);
    assert_eq!(stats["ru"].n_missing_audio, 0);
    eprintln!("{}: {:?}", manifest_path.display(), stats["ru"]);
    Ok(())
}
