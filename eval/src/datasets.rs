//! Evaluation sets built from Debian packages: the Asterisk IVR prompts (English and Russian,
//! 8 kHz telephone speech with their transcripts) and the festvox Russian voice's recordings.
//!
//! Packages are fetched with `apt-get download` into `<data_dir>/download`, unpacked with
//! `dpkg-deb -x` into `<data_dir>/extract/<package>`, and described by manifests
//! `<data_dir>/<set>.jsonl` (see [`crate::manifest`]) next to a `<set>.stats.json`.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use flate2::read::GzDecoder;
use serde::{Deserialize, Serialize};

use crate::manifest::{LanguageStats, Utterance, manifest_stats, read_manifest, write_manifest};
use crate::normalize::remove_bracketed_spans;

/// `$HOME/.cache/callsight/eval-data`.
pub fn default_data_dir() -> Result<PathBuf> {
    let home =
        std::env::var_os("HOME").context("HOME is not set; pass a data folder explicitly")?;
    Ok(PathBuf::from(home).join(".cache/callsight/eval-data"))
}

/// What preparing one evaluation set kept and dropped, written next to its manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PreparationStats {
    pub packages: Vec<String>,
    /// Entries found in the transcript list.
    pub n_transcript_entries: usize,
    /// Entries whose text is only a bracketed description (`[beep]`, `(2 seconds of silence)`).
    pub n_non_speech: usize,
    /// Entries with no text at all.
    pub n_empty: usize,
    /// Repeated names; the first entry is kept.
    pub n_duplicates: usize,
    /// Entries without an audio file of that name.
    pub n_missing_audio: usize,
    /// Entries written to the manifest.
    pub n_written: usize,
    pub language: LanguageStats,
}

/// The Debian packages of one Asterisk prompt language.
struct AsteriskLanguage {
    language: &'static str,
    audio_package: &'static str,
    transcript_package: &'static str,
}

const ASTERISK_LANGUAGES: [AsteriskLanguage; 5] = [
    AsteriskLanguage {
        language: "en",
        audio_package: "asterisk-core-sounds-en-wav",
        transcript_package: "asterisk-core-sounds-en",
    },
    AsteriskLanguage {
        language: "ru",
        audio_package: "asterisk-core-sounds-ru-wav",
        transcript_package: "asterisk-core-sounds-ru",
    },
    AsteriskLanguage {
        language: "es",
        audio_package: "asterisk-core-sounds-es-wav",
        transcript_package: "asterisk-core-sounds-es",
    },
    AsteriskLanguage {
        language: "fr",
        audio_package: "asterisk-core-sounds-fr-wav",
        transcript_package: "asterisk-core-sounds-fr",
    },
    AsteriskLanguage {
        language: "it",
        audio_package: "asterisk-core-sounds-it-wav",
        transcript_package: "asterisk-core-sounds-it",
    },
];

/// Builds `asterisk-<language>.jsonl` for each of `languages` ("en", "ru", "es", "fr", "it") under `data_dir` and
/// returns their paths. Prompts are matched to audio by name (`digits/1` →
/// `…/sounds/<voice>/digits/1.wav`); non-speech entries (`[beep]`), empty entries and entries
/// without audio are dropped and counted in `asterisk-<language>.stats.json`. Bracketed
/// annotations inside a prompt (`at [@]`) are removed from the reference. A manifest whose
/// audio files all exist is reused as is.
pub fn prepare_asterisk(data_dir: &Path, languages: &[&str]) -> Result<Vec<PathBuf>> {
    let mut manifest_paths = Vec::new();
    for language in languages {
        let Some(packages) = ASTERISK_LANGUAGES
            .iter()
            .find(|known| known.language == *language)
        else {
            let known: Vec<&str> = ASTERISK_LANGUAGES
                .iter()
                .map(|known| known.language)
                .collect();
            bail!(
                "no asterisk prompts for language {language:?}; known: {}",
                known.join(", ")
            );
        };
        let manifest_path = data_dir.join(format!("asterisk-{language}.jsonl"));
        if !manifest_is_complete(&manifest_path) {
            build_asterisk_manifest(data_dir, packages, &manifest_path)?;
        }
        manifest_paths.push(manifest_path);
    }
    Ok(manifest_paths)
}

fn build_asterisk_manifest(
    data_dir: &Path,
    packages: &AsteriskLanguage,
    manifest_path: &Path,
) -> Result<()> {
    let audio_root = fetch_and_extract(data_dir, packages.audio_package)?;
    let transcript_root = fetch_and_extract(data_dir, packages.transcript_package)?;
    let transcript_path = find_asterisk_transcript(&transcript_root, packages.transcript_package)?;
    let transcript = read_maybe_gzipped(&transcript_path)?;
    let voice_dir = find_asterisk_voice_dir(&audio_root, packages.language)?;

    let parsed = parse_asterisk_transcript(&transcript);
    let mut stats = PreparationStats {
        packages: vec![
            packages.audio_package.to_owned(),
            packages.transcript_package.to_owned(),
        ],
        n_transcript_entries: parsed.n_entries,
        n_non_speech: parsed.n_non_speech,
        n_empty: parsed.n_empty,
        n_duplicates: parsed.n_duplicates,
        ..PreparationStats::default()
    };
    let mut utterances = Vec::new();
    for prompt in parsed.prompts {
        let audio = voice_dir.join(format!("{}.wav", prompt.name));
        if !audio.is_file() {
            stats.n_missing_audio += 1;
            tracing::debug!(name = %prompt.name, "asterisk prompt has no audio file");
            continue;
        }
        utterances.push(Utterance {
            id: prompt.name,
            audio,
            text: prompt.text,
            language: packages.language.to_owned(),
        });
    }
    finish_manifest(manifest_path, &utterances, stats)
}

/// One spoken Asterisk prompt: its name (the audio path without extension) and text.
#[derive(Debug, Clone, PartialEq)]
pub struct AsteriskPrompt {
    pub name: String,
    pub text: String,
}

/// The spoken prompts of an Asterisk `core-sounds-<language>.txt` list, with what was dropped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AsteriskTranscript {
    pub prompts: Vec<AsteriskPrompt>,
    pub n_entries: usize,
    pub n_non_speech: usize,
    pub n_empty: usize,
    pub n_duplicates: usize,
}

/// Parses lines `name: text` (`;` starts a comment). Bracketed and parenthesised spans are
/// removed from the text; an entry left empty by that is non-speech and dropped. A text that
/// repeats its own name as a prefix (`conf-adminmenu: conf-adminmenu: Нажмите…`, an error in the
/// Russian list) loses the repetition.
pub fn parse_asterisk_transcript(contents: &str) -> AsteriskTranscript {
    let mut transcript = AsteriskTranscript::default();
    let mut seen_names = HashSet::new();
    for line in contents.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        let Some((name, raw_text)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            continue;
        }
        transcript.n_entries += 1;
        let mut raw_text = raw_text.trim();
        while let Some(repeated) = raw_text
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
        {
            raw_text = repeated.trim();
        }
        if raw_text.is_empty() {
            transcript.n_empty += 1;
            continue;
        }
        let text = remove_bracketed_spans(raw_text)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if text.is_empty() {
            transcript.n_non_speech += 1;
            continue;
        }
        if !seen_names.insert(name.to_owned()) {
            transcript.n_duplicates += 1;
            continue;
        }
        transcript.prompts.push(AsteriskPrompt {
            name: name.to_owned(),
            text,
        });
    }
    transcript
}

fn find_asterisk_transcript(transcript_root: &Path, package: &str) -> Result<PathBuf> {
    let doc_dir = transcript_root.join("usr/share/doc").join(package);
    let entries =
        fs::read_dir(&doc_dir).with_context(|| format!("cannot list {}", doc_dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if file_name.starts_with("core-sounds-")
            && (file_name.ends_with(".txt") || file_name.ends_with(".txt.gz"))
        {
            return Ok(path);
        }
    }
    bail!("no core-sounds-*.txt transcript in {}", doc_dir.display())
}

/// The voice folder under `usr/share/asterisk/sounds` (`en_US_f_Allison`): the only one, or the
/// one named after the language.
fn find_asterisk_voice_dir(audio_root: &Path, language: &str) -> Result<PathBuf> {
    let sounds_dir = audio_root.join("usr/share/asterisk/sounds");
    let mut voice_dirs = Vec::new();
    for entry in fs::read_dir(&sounds_dir)
        .with_context(|| format!("cannot list {}", sounds_dir.display()))?
    {
        let path = entry?.path();
        if path.is_dir() {
            voice_dirs.push(path);
        }
    }
    voice_dirs.sort();
    if voice_dirs.len() == 1 {
        return Ok(voice_dirs.remove(0));
    }
    voice_dirs
        .into_iter()
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(language))
        })
        .with_context(|| format!("no {language} voice folder in {}", sounds_dir.display()))
}

/// The festvox Russian voice (`msu_ru_nsh_clunits`).
const FESTVOX_RU_PACKAGE: &str = "festvox-ru";
const FESTVOX_RU_VOICE_DIR: &str = "usr/share/festival/voices/russian/msu_ru_nsh_clunits";

/// Builds `festvox-ru.jsonl` under `data_dir` from the recordings of Debian's festvox-ru voice
/// (`wav/<id>.wav`, text in `etc/txt.done.data` with `+` stress marks removed) and returns its
/// path. A manifest whose audio files all exist is reused as is.
pub fn prepare_festvox_ru(data_dir: &Path) -> Result<PathBuf> {
    let manifest_path = data_dir.join("festvox-ru.jsonl");
    if manifest_is_complete(&manifest_path) {
        return Ok(manifest_path);
    }
    let package_root = fetch_and_extract(data_dir, FESTVOX_RU_PACKAGE)?;
    let voice_dir = package_root.join(FESTVOX_RU_VOICE_DIR);
    let prompts_path = voice_dir.join("etc/txt.done.data");
    let prompts_text = fs::read_to_string(&prompts_path)
        .with_context(|| format!("cannot read {}", prompts_path.display()))?;
    let prompts = parse_festival_prompts(&prompts_text)
        .with_context(|| format!("cannot parse {}", prompts_path.display()))?;

    let mut stats = PreparationStats {
        packages: vec![FESTVOX_RU_PACKAGE.to_owned()],
        n_transcript_entries: prompts.len(),
        ..PreparationStats::default()
    };
    let mut utterances = Vec::new();
    for (id, text) in prompts {
        let audio = voice_dir.join("wav").join(format!("{id}.wav"));
        if !audio.is_file() {
            stats.n_missing_audio += 1;
            continue;
        }
        if text.trim().is_empty() {
            stats.n_empty += 1;
            continue;
        }
        utterances.push(Utterance {
            id,
            audio,
            text,
            language: "ru".to_owned(),
        });
    }
    finish_manifest(&manifest_path, &utterances, stats)?;
    Ok(manifest_path)
}

/// Parses a Festival prompt list, lines `( id "text" )`, into `(id, text)` pairs with the `+`
/// stress marks removed. Blank lines are skipped; anything else is an error naming the line.
pub fn parse_festival_prompts(contents: &str) -> Result<Vec<(String, String)>> {
    let mut prompts = Vec::new();
    for (line_index, line) in contents.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed = line
            .strip_prefix('(')
            .and_then(|rest| rest.strip_suffix(')'))
            .map(str::trim)
            .and_then(|inner| inner.split_once(char::is_whitespace))
            .and_then(|(id, quoted)| {
                let text = quoted.trim().strip_prefix('"')?.strip_suffix('"')?;
                Some((id.to_owned(), text.replace('+', "")))
            });
        match parsed {
            Some(prompt) => prompts.push(prompt),
            None => bail!("line {}: expected `( id \"text\" )`", line_index + 1),
        }
    }
    Ok(prompts)
}

/// Writes the manifest and its `.stats.json`, and logs the counts.
fn finish_manifest(
    manifest_path: &Path,
    utterances: &[Utterance],
    mut stats: PreparationStats,
) -> Result<()> {
    if utterances.is_empty() {
        bail!("no usable utterances for {}", manifest_path.display());
    }
    stats.n_written = utterances.len();
    stats.language = manifest_stats(utterances)
        .into_values()
        .next()
        .unwrap_or_default();
    write_manifest(manifest_path, utterances)?;
    let stats_path = manifest_path.with_extension("stats.json");
    fs::write(&stats_path, serde_json::to_string_pretty(&stats)?)
        .with_context(|| format!("cannot write {}", stats_path.display()))?;
    tracing::info!(
        manifest = %manifest_path.display(),
        written = stats.n_written,
        non_speech = stats.n_non_speech,
        missing_audio = stats.n_missing_audio,
        single_word = stats.language.n_single_word,
        "prepared evaluation manifest"
    );
    Ok(())
}

/// Whether `manifest_path` exists, parses, is non-empty and all its audio files exist.
fn manifest_is_complete(manifest_path: &Path) -> bool {
    if !manifest_path.is_file() {
        return false;
    }
    match read_manifest(manifest_path) {
        Ok(utterances) => {
            !utterances.is_empty() && utterances.iter().all(|utterance| utterance.audio.is_file())
        }
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "rebuilding unreadable manifest"
            );
            false
        }
    }
}

/// Downloads `package` with `apt-get download` (unless a `.deb` of it is already there) and
/// unpacks it with `dpkg-deb -x`; returns the unpacked root `<data_dir>/extract/<package>`.
fn fetch_and_extract(data_dir: &Path, package: &str) -> Result<PathBuf> {
    let extract_dir = data_dir.join("extract").join(package);
    // Written last, so an interrupted unpack is redone rather than trusted.
    let complete_marker = extract_dir.join(".callsight-extracted");
    if complete_marker.is_file() {
        return Ok(extract_dir);
    }
    let download_dir = data_dir.join("download");
    fs::create_dir_all(&download_dir)
        .with_context(|| format!("cannot create {}", download_dir.display()))?;
    let deb_path = match find_downloaded_deb(&download_dir, package)? {
        Some(path) => path,
        None => {
            tracing::info!(package, "downloading debian package");
            run_tool(
                Command::new("apt-get")
                    .arg("download")
                    .arg(package)
                    .current_dir(&download_dir),
            )?;
            find_downloaded_deb(&download_dir, package)?.with_context(|| {
                format!(
                    "apt-get download {package} left no .deb in {}",
                    download_dir.display()
                )
            })?
        }
    };
    if extract_dir.exists() {
        fs::remove_dir_all(&extract_dir)
            .with_context(|| format!("cannot remove partial {}", extract_dir.display()))?;
    }
    fs::create_dir_all(&extract_dir)
        .with_context(|| format!("cannot create {}", extract_dir.display()))?;
    tracing::info!(package, "unpacking debian package");
    run_tool(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb_path)
            .arg(&extract_dir),
    )?;
    fs::write(&complete_marker, b"")?;
    Ok(extract_dir)
}

/// `<package>_<version>_<arch>.deb` in `download_dir`, the newest name if several.
fn find_downloaded_deb(download_dir: &Path, package: &str) -> Result<Option<PathBuf>> {
    let prefix = format!("{package}_");
    let mut candidates = Vec::new();
    for entry in fs::read_dir(download_dir)
        .with_context(|| format!("cannot list {}", download_dir.display()))?
    {
        let path = entry?.path();
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if file_name.starts_with(&prefix) && file_name.ends_with(".deb") {
            candidates.push(path);
        }
    }
    candidates.sort();
    Ok(candidates.pop())
}

fn run_tool(command: &mut Command) -> Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .with_context(|| format!("cannot run {program} (is it installed?)"))?;
    if !output.status.success() {
        bail!(
            "{program} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn read_maybe_gzipped(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if path.extension().is_some_and(|extension| extension == "gz") {
        let mut text = String::new();
        GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .with_context(|| format!("cannot decompress {}", path.display()))?;
        Ok(text)
    } else {
        String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", path.display()))
    }
}

/// One voice of the speaker-verification trials: a Debian package of Asterisk prompts.
struct SpeakerVoicePackage {
    /// Who speaks; two packages with the same voice are the same person.
    voice: &'static str,
    language: &'static str,
    package: &'static str,
}

/// Seven professional voices in eight packages (Debian 12). Allison Smith recorded both the US
/// English and the Mexican Spanish core sounds (`en_US_f_Allison`, `es_MX_f_Allison`): the
/// cross-language same-voice pair. Italian (Carlo, Menardi), French (June, Armelle) and Spanish
/// (Allison, the Colombian voice) give same-language different-voice pairs.
const SPEAKER_VOICES: [SpeakerVoicePackage; 8] = [
    SpeakerVoicePackage {
        voice: "allison",
        language: "en",
        package: "asterisk-core-sounds-en-wav",
    },
    SpeakerVoicePackage {
        voice: "allison",
        language: "es",
        package: "asterisk-core-sounds-es-wav",
    },
    SpeakerVoicePackage {
        voice: "june",
        language: "fr",
        package: "asterisk-core-sounds-fr-wav",
    },
    SpeakerVoicePackage {
        voice: "carlo",
        language: "it",
        package: "asterisk-core-sounds-it-wav",
    },
    SpeakerVoicePackage {
        voice: "ivrvoice-ru",
        language: "ru",
        package: "asterisk-core-sounds-ru-wav",
    },
    SpeakerVoicePackage {
        voice: "menardi",
        language: "it",
        package: "asterisk-prompt-it-menardi-wav",
    },
    SpeakerVoicePackage {
        voice: "es-co",
        language: "es",
        package: "asterisk-prompt-es-co",
    },
    SpeakerVoicePackage {
        voice: "armelle",
        language: "fr",
        package: "asterisk-prompt-fr-armelle",
    },
];

/// How many trials of each kind [`prepare_speaker_trials`] draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerTrialsConfig {
    pub seed: u64,
    /// Utterances shorter than this are not used.
    pub min_duration_secs: f64,
    /// Same voice, same language, per voice package.
    pub n_target_per_package: usize,
    /// Same voice across languages (Allison en ↔ es).
    pub n_cross_language_target: usize,
    /// Different voices of the same language, per such pair.
    pub n_same_language_nontarget_per_pair: usize,
    /// Different voices, different languages, in all.
    pub n_cross_language_nontarget: usize,
}

impl Default for SpeakerTrialsConfig {
    fn default() -> Self {
        Self {
            seed: 20_261_123,
            min_duration_secs: 2.0,
            n_target_per_package: 150,
            n_cross_language_target: 400,
            n_same_language_nontarget_per_pair: 300,
            n_cross_language_nontarget: 1_500,
        }
    }
}

/// Builds `<data_dir>/speaker-trials.txt`, a VoxCeleb-style list (`1|0 enrol test condition`,
/// paths relative to `data_dir`) over the Asterisk prompts of [`SPEAKER_VOICES`]:
///
/// - target trials: two different utterances of one voice, `same_language` (per package) and
///   `cross_language` (Allison's English against her Mexican Spanish: the hard case);
/// - non-target trials: two voices, `same_language` where a language has two voices (it, fr, es)
///   and `cross_language` otherwise.
///
/// GSM packages are converted to 16-bit WAV with `sox` under `<data_dir>/speaker-audio`. Only
/// utterances of at least `min_duration_secs` are used; the draw is seeded (splitmix64) and the
/// utterance lists sorted, so the same packages give the same list. Returns the list's path;
/// `speaker-trials.stats.json` next to it counts utterances per voice and trials per kind.
pub fn prepare_speaker_trials(data_dir: &Path, config: &SpeakerTrialsConfig) -> Result<PathBuf> {
    let mut pools: Vec<Vec<PathBuf>> = Vec::new();
    for voice in &SPEAKER_VOICES {
        let root = fetch_and_extract(data_dir, voice.package)?;
        let mut files = Vec::new();
        collect_audio_files(&root.join("usr/share/asterisk/sounds"), &mut files)?;
        files.sort();
        let mut kept = Vec::new();
        for file in files {
            let wav = if file.extension().is_some_and(|e| e == "gsm") {
                let relative = file.strip_prefix(&root).unwrap_or(&file);
                let target = data_dir
                    .join("speaker-audio")
                    .join(voice.package)
                    .join(relative)
                    .with_extension("wav");
                if !target.is_file() {
                    if let Some(parent) = target.parent() {
                        fs::create_dir_all(parent)
                            .with_context(|| format!("cannot create {}", parent.display()))?;
                    }
                    run_tool(
                        Command::new("sox")
                            .arg(&file)
                            .arg("-b")
                            .arg("16")
                            .arg(&target),
                    )?;
                }
                target
            } else {
                file
            };
            match wav_duration_secs(&wav) {
                Ok(secs) if secs >= config.min_duration_secs => kept.push(wav),
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(file = %wav.display(), error = format!("{error:#}"), "skipping unreadable prompt")
                }
            }
        }
        if kept.len() < 2 {
            bail!(
                "{}: fewer than two prompts of {} s or longer",
                voice.package,
                config.min_duration_secs
            );
        }
        pools.push(kept);
    }

    let mut rng = SplitMix64(config.seed);
    let mut seen = HashSet::new();
    let mut lines: Vec<String> = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let relative = |path: &Path| {
        path.strip_prefix(data_dir)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    };
    let mut draw = |a: usize,
                    b: usize,
                    n: usize,
                    target: bool,
                    condition: &str,
                    rng: &mut SplitMix64,
                    lines: &mut Vec<String>| {
        let mut added = 0;
        let mut attempts = 0;
        while added < n && attempts < n * 20 {
            attempts += 1;
            let enrol = &pools[a][rng.below(pools[a].len())];
            let test = &pools[b][rng.below(pools[b].len())];
            if enrol == test {
                continue;
            }
            let key = if enrol < test {
                (enrol.clone(), test.clone())
            } else {
                (test.clone(), enrol.clone())
            };
            if !seen.insert(key) {
                continue;
            }
            lines.push(format!(
                "{} {} {} {condition}",
                u8::from(target),
                relative(enrol),
                relative(test)
            ));
            added += 1;
        }
        *counts
            .entry(format!(
                "{}_{condition}",
                if target { "target" } else { "nontarget" }
            ))
            .or_default() += added;
    };
    for idx in 0..SPEAKER_VOICES.len() {
        draw(
            idx,
            idx,
            config.n_target_per_package,
            true,
            "same_language",
            &mut rng,
            &mut lines,
        );
    }
    let mut different_voice_pairs = Vec::new();
    for (a, va) in SPEAKER_VOICES.iter().enumerate() {
        for (b, vb) in SPEAKER_VOICES.iter().enumerate().skip(a + 1) {
            if va.voice == vb.voice {
                draw(
                    a,
                    b,
                    config.n_cross_language_target,
                    true,
                    "cross_language",
                    &mut rng,
                    &mut lines,
                );
            } else if va.language == vb.language {
                draw(
                    a,
                    b,
                    config.n_same_language_nontarget_per_pair,
                    false,
                    "same_language",
                    &mut rng,
                    &mut lines,
                );
            } else {
                different_voice_pairs.push((a, b));
            }
        }
    }
    // Cross-language impostors spread evenly over the voice pairs.
    let per_pair = config
        .n_cross_language_nontarget
        .div_ceil(different_voice_pairs.len().max(1));
    for (a, b) in different_voice_pairs {
        draw(
            a,
            b,
            per_pair,
            false,
            "cross_language",
            &mut rng,
            &mut lines,
        );
    }

    let trials_path = data_dir.join("speaker-trials.txt");
    let mut text = String::from(
        "# callsight speaker-verification trials over Debian Asterisk prompts: 1|0 enrol test condition\n",
    );
    for line in &lines {
        text.push_str(line);
        text.push('\n');
    }
    fs::write(&trials_path, text)
        .with_context(|| format!("cannot write {}", trials_path.display()))?;
    let utterances: BTreeMap<String, usize> = SPEAKER_VOICES
        .iter()
        .zip(&pools)
        .map(|(voice, pool)| {
            (
                format!("{}:{} ({})", voice.voice, voice.language, voice.package),
                pool.len(),
            )
        })
        .collect();
    let stats = serde_json::json!({ "config": config, "utterances": utterances, "trials": counts });
    fs::write(
        trials_path.with_extension("stats.json"),
        serde_json::to_string_pretty(&stats)?,
    )?;
    tracing::info!(trials = %trials_path.display(), n_trials = lines.len(), "prepared speaker-verification trials");
    Ok(trials_path)
}

fn collect_audio_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_audio_files(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "wav" || e == "gsm") {
            files.push(path);
        }
    }
    Ok(())
}

fn wav_duration_secs(path: &Path) -> Result<f64> {
    Ok(callsight_pipeline::audio::decode_file(path)?.duration_secs())
}

/// splitmix64: a seeded generator whose output never changes with a crate version, so a trial
/// list is reproducible from its seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}
