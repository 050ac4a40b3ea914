//! Evaluation manifests: JSON Lines of `{"audio": path, "text": reference, "language": "en"}`
//! (plus an optional `"id"`), audio paths relative to the manifest file; and deterministic
//! subsampling and statistics of them.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::normalize::normalize;

/// One reference utterance of an evaluation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utterance {
    /// The utterance's name in reports: the manifest's `id`, else its audio path as written.
    pub id: String,
    /// The audio file, resolved against the manifest's folder.
    pub audio: PathBuf,
    /// The reference transcript.
    pub text: String,
    /// ISO 639-1 code, lower case ("en", "ru").
    pub language: String,
}

/// One line of a manifest file.
#[derive(Debug, Serialize, Deserialize)]
struct ManifestLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    audio: String,
    text: String,
    language: String,
}

/// Reads a JSON Lines manifest. Blank lines are skipped; every other line must be an object
/// with non-empty string fields `audio`, `text` and `language`, and optionally `id` (other
/// fields are ignored). Errors
/// name the manifest and the 1-based line. Audio files are not checked here.
pub fn read_manifest(path: &Path) -> Result<Vec<Utterance>> {
    let contents = fs::read_to_string(path)
        .with_context(|| format!("cannot read manifest {}", path.display()))?;
    let manifest_dir = path.parent().unwrap_or_else(|| Path::new(""));
    let mut utterances = Vec::new();
    for (line_index, line) in contents.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let utterance = parse_line(line, manifest_dir)
            .with_context(|| format!("manifest {}, line {}", path.display(), line_index + 1))?;
        utterances.push(utterance);
    }
    Ok(utterances)
}

fn parse_line(line: &str, manifest_dir: &Path) -> Result<Utterance> {
    let parsed: ManifestLine = serde_json::from_str(line).context("invalid manifest entry")?;
    for (field, value) in [
        ("audio", &parsed.audio),
        ("text", &parsed.text),
        ("language", &parsed.language),
    ] {
        if value.trim().is_empty() {
            bail!("field `{field}` is empty");
        }
    }
    Ok(Utterance {
        audio: manifest_dir.join(&parsed.audio),
        id: parsed
            .id
            .filter(|id| !id.trim().is_empty())
            .unwrap_or(parsed.audio),
        text: parsed.text,
        language: parsed.language.trim().to_lowercase(),
    })
}

/// Writes a manifest whose audio paths are made relative to the manifest's folder (they must
/// lie under it). The file is written to a temporary name and renamed, so a reader never sees
/// half a manifest.
pub fn write_manifest(path: &Path, utterances: &[Utterance]) -> Result<()> {
    let manifest_dir = path.parent().unwrap_or_else(|| Path::new(""));
    let mut contents = Vec::new();
    for utterance in utterances {
        let relative_audio = utterance
            .audio
            .strip_prefix(manifest_dir)
            .with_context(|| {
                format!(
                    "audio {} is not under the manifest folder {}",
                    utterance.audio.display(),
                    manifest_dir.display()
                )
            })?;
        let relative_audio = relative_audio.to_string_lossy().into_owned();
        let line = ManifestLine {
            id: (utterance.id != relative_audio).then(|| utterance.id.clone()),
            audio: relative_audio,
            text: utterance.text.clone(),
            language: utterance.language.clone(),
        };
        serde_json::to_writer(&mut contents, &line)?;
        contents.push(b'\n');
    }
    let temporary_path = path.with_extension("jsonl.partial");
    let mut file = fs::File::create(&temporary_path)
        .with_context(|| format!("cannot create {}", temporary_path.display()))?;
    file.write_all(&contents)?;
    file.sync_all()?;
    fs::rename(&temporary_path, path)
        .with_context(|| format!("cannot write manifest {}", path.display()))?;
    Ok(())
}

/// At most `max_per_language` utterances of each language, chosen by a seeded hash of the
/// utterance id: the same seed gives the same subset on every machine and Rust version, and a
/// larger `max_per_language` gives a superset. The manifest order is kept.
pub fn subsample(utterances: &[Utterance], max_per_language: usize, seed: u64) -> Vec<Utterance> {
    let mut ranks_by_language: BTreeMap<&str, Vec<(u64, usize)>> = BTreeMap::new();
    for (index, utterance) in utterances.iter().enumerate() {
        ranks_by_language
            .entry(utterance.language.as_str())
            .or_default()
            .push((seeded_hash(seed, &utterance.id), index));
    }
    let mut chosen_indices: Vec<usize> = ranks_by_language
        .into_values()
        .flat_map(|mut ranked| {
            ranked.sort_unstable();
            ranked
                .into_iter()
                .take(max_per_language)
                .map(|(_, index)| index)
        })
        .collect();
    chosen_indices.sort_unstable();
    chosen_indices
        .into_iter()
        .map(|index| utterances[index].clone())
        .collect()
}

/// FNV-1a over the id, then the splitmix64 finaliser with the seed: fixed and portable, unlike
/// `std`'s hasher whose algorithm may change.
fn seeded_hash(seed: u64, id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut mixed = hash ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    mixed ^ (mixed >> 31)
}

/// Keeps the utterances whose normalised reference has at least `min_words` words (short IVR
/// prompts such as single digits or letters make WER jumpy: one error is 100 %).
pub fn filter_min_words(utterances: &[Utterance], min_words: usize) -> Vec<Utterance> {
    utterances
        .iter()
        .filter(|utterance| reference_word_count(utterance) >= min_words)
        .cloned()
        .collect()
}

fn reference_word_count(utterance: &Utterance) -> usize {
    normalize(&utterance.text, &utterance.language)
        .split_whitespace()
        .count()
}

/// Size of a manifest, per language.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LanguageStats {
    pub n_utterances: usize,
    /// Utterances whose normalised reference is a single word (a digit, a letter, "cancelled").
    pub n_single_word: usize,
    /// Words of all normalised references.
    pub n_reference_words: usize,
    /// Utterances whose audio file does not exist.
    pub n_missing_audio: usize,
}

/// Per-language statistics of `utterances`, keyed by language code.
pub fn manifest_stats(utterances: &[Utterance]) -> BTreeMap<String, LanguageStats> {
    let mut stats: BTreeMap<String, LanguageStats> = BTreeMap::new();
    for utterance in utterances {
        let language_stats = stats.entry(utterance.language.clone()).or_default();
        let n_words = reference_word_count(utterance);
        language_stats.n_utterances += 1;
        language_stats.n_reference_words += n_words;
        if n_words == 1 {
            language_stats.n_single_word += 1;
        }
        if !utterance.audio.is_file() {
            language_stats.n_missing_audio += 1;
        }
    }
    stats
}
