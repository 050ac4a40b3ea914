//! The ASR evaluation runner: transcribes each utterance through a caller-supplied function and
//! scores it against the reference, per language.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::manifest::Utterance;
use crate::metrics::{EditCounts, char_edit_counts, word_edit_counts};
use crate::normalize::normalize;

/// How many of the worst utterances each language's report keeps.
pub const WORST_UTTERANCES_PER_LANGUAGE: usize = 10;
/// How many failure messages the report keeps (all failures are counted).
const MAX_RECORDED_FAILURES: usize = 20;

/// One scored utterance, as kept in the worst list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredUtterance {
    pub id: String,
    pub reference: String,
    pub hypothesis: String,
    /// The texts as compared, after [`normalize`].
    pub reference_normalized: String,
    pub hypothesis_normalized: String,
    pub wer: f64,
    pub cer: f64,
}

/// An utterance the transcriber returned an error for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedUtterance {
    pub id: String,
    pub language: String,
    pub error: String,
}

/// Scores of one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageReport {
    pub language: String,
    /// Utterances of this language in the evaluation, failed ones included.
    pub n_utterances: usize,
    /// Utterances the transcriber failed on; they are not part of WER/CER.
    pub n_failures: usize,
    /// Scored utterances whose normalised hypothesis equals the normalised reference.
    pub n_exact_matches: usize,
    /// Corpus-level word error rate: all word edits over all reference words.
    pub wer: f64,
    /// Corpus-level character error rate.
    pub cer: f64,
    pub word_counts: EditCounts,
    pub char_counts: EditCounts,
    /// The highest-WER utterances, worst first (ties: higher CER first, then by id).
    pub worst: Vec<ScoredUtterance>,
}

/// The outcome of [`evaluate_asr`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsrReport {
    pub n_utterances: usize,
    pub n_failures: usize,
    /// One entry per language, sorted by language code.
    pub languages: Vec<LanguageReport>,
    /// The first failures' messages (at most 20).
    pub failures: Vec<FailedUtterance>,
}

/// Transcribes every utterance with `transcribe`, normalises reference and hypothesis with the
/// rules of the utterance's language, and aggregates corpus-level WER and CER per language.
/// `progress(done, total)` is called after each utterance. A transcription error is counted and
/// recorded, not propagated: one bad file should not discard an hour of evaluation.
pub fn evaluate_asr(
    utterances: &[Utterance],
    transcribe: &mut dyn FnMut(&Utterance) -> anyhow::Result<String>,
    progress: &mut dyn FnMut(usize, usize),
) -> AsrReport {
    #[derive(Default)]
    struct LanguageTotals {
        n_utterances: usize,
        n_failures: usize,
        n_exact_matches: usize,
        word_counts: EditCounts,
        char_counts: EditCounts,
        scored: Vec<ScoredUtterance>,
    }

    let mut totals_by_language: BTreeMap<String, LanguageTotals> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut n_failures = 0;
    for (index, utterance) in utterances.iter().enumerate() {
        let totals = totals_by_language
            .entry(utterance.language.clone())
            .or_default();
        totals.n_utterances += 1;
        match transcribe(utterance) {
            Ok(hypothesis) => {
                let reference_normalized = normalize(&utterance.text, &utterance.language);
                let hypothesis_normalized = normalize(&hypothesis, &utterance.language);
                let word_counts = word_edit_counts(&reference_normalized, &hypothesis_normalized);
                let char_counts = char_edit_counts(&reference_normalized, &hypothesis_normalized);
                totals.word_counts.add(&word_counts);
                totals.char_counts.add(&char_counts);
                if word_counts.errors() == 0 {
                    totals.n_exact_matches += 1;
                }
                tracing::debug!(
                    id = %utterance.id,
                    wer = word_counts.error_rate(),
                    reference = %reference_normalized,
                    hypothesis = %hypothesis_normalized,
                    "scored utterance"
                );
                totals.scored.push(ScoredUtterance {
                    id: utterance.id.clone(),
                    reference: utterance.text.clone(),
                    hypothesis,
                    reference_normalized,
                    hypothesis_normalized,
                    wer: word_counts.error_rate(),
                    cer: char_counts.error_rate(),
                });
            }
            Err(error) => {
                tracing::warn!(id = %utterance.id, error = format!("{error:#}"), "transcription failed");
                totals.n_failures += 1;
                n_failures += 1;
                if failures.len() < MAX_RECORDED_FAILURES {
                    failures.push(FailedUtterance {
                        id: utterance.id.clone(),
                        language: utterance.language.clone(),
                        error: format!("{error:#}"),
                    });
                }
            }
        }
        progress(index + 1, utterances.len());
    }

    let languages = totals_by_language
        .into_iter()
        .map(|(language, mut totals)| {
            totals.scored.sort_by(|left, right| {
                right
                    .wer
                    .total_cmp(&left.wer)
                    .then(right.cer.total_cmp(&left.cer))
                    .then_with(|| left.id.cmp(&right.id))
            });
            totals.scored.truncate(WORST_UTTERANCES_PER_LANGUAGE);
            LanguageReport {
                language,
                n_utterances: totals.n_utterances,
                n_failures: totals.n_failures,
                n_exact_matches: totals.n_exact_matches,
                wer: totals.word_counts.error_rate(),
                cer: totals.char_counts.error_rate(),
                word_counts: totals.word_counts,
                char_counts: totals.char_counts,
                worst: totals.scored,
            }
        })
        .collect();
    AsrReport {
        n_utterances: utterances.len(),
        n_failures,
        languages,
        failures,
    }
}

impl AsrReport {
    /// A human-readable summary: a table of per-language scores, then the worst utterances and
    /// the failures.
    pub fn to_markdown(&self) -> String {
        let mut markdown = String::new();
        // Writing to a String cannot fail; the results are ignored for that reason.
        let _ = writeln!(markdown, "# ASR evaluation\n");
        let _ = writeln!(
            markdown,
            "{} utterances, {} failed.\n",
            self.n_utterances, self.n_failures
        );
        let _ = writeln!(
            markdown,
            "| language | utterances | failed | exact | WER | CER | ref words | sub | del | ins |"
        );
        let _ = writeln!(
            markdown,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for language in &self.languages {
            let counts = &language.word_counts;
            let _ = writeln!(
                markdown,
                "| {} | {} | {} | {} | {:.2} % | {:.2} % | {} | {} | {} | {} |",
                language.language,
                language.n_utterances,
                language.n_failures,
                language.n_exact_matches,
                language.wer * 100.0,
                language.cer * 100.0,
                counts.reference_len,
                counts.substitutions,
                counts.deletions,
                counts.insertions,
            );
        }
        for language in &self.languages {
            if language.worst.is_empty() {
                continue;
            }
            let _ = writeln!(markdown, "\n## Worst utterances ({})\n", language.language);
            let _ = writeln!(markdown, "| id | WER | reference | hypothesis |");
            let _ = writeln!(markdown, "|---|---:|---|---|");
            for scored in &language.worst {
                let _ = writeln!(
                    markdown,
                    "| {} | {:.0} % | {} | {} |",
                    escape_cell(&scored.id),
                    scored.wer * 100.0,
                    escape_cell(&scored.reference_normalized),
                    escape_cell(&scored.hypothesis_normalized),
                );
            }
        }
        if !self.failures.is_empty() {
            let _ = writeln!(markdown, "\n## Failures\n");
            for failure in &self.failures {
                let _ = writeln!(
                    markdown,
                    "- `{}` ({}): {}",
                    failure.id,
                    failure.language,
                    escape_cell(&failure.error)
                );
            }
            if self.failures.len() < self.n_failures {
                let _ = writeln!(
                    markdown,
                    "- … and {} more",
                    self.n_failures - self.failures.len()
                );
            }
        }
        markdown
    }
}

/// Makes text safe inside a Markdown table cell.
fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
