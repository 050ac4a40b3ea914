//! Word and character error rates: Levenshtein alignment counts and their corpus-level sums.

use serde::{Deserialize, Serialize};

/// Edit counts of one minimum-cost alignment of a hypothesis against a reference, or the sum of
/// many (corpus-level WER is the sum of edits over the sum of reference lengths, not a mean of
/// per-utterance rates).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditCounts {
    pub substitutions: usize,
    pub deletions: usize,
    pub insertions: usize,
    /// Number of reference tokens (words or characters).
    pub reference_len: usize,
}

impl EditCounts {
    pub fn errors(&self) -> usize {
        self.substitutions + self.deletions + self.insertions
    }

    /// Errors per reference token. An empty reference gives 0 when the hypothesis is empty too
    /// and 1 per inserted token otherwise (there is nothing to divide by).
    pub fn error_rate(&self) -> f64 {
        if self.reference_len == 0 {
            return self.errors() as f64;
        }
        self.errors() as f64 / self.reference_len as f64
    }

    pub fn add(&mut self, other: &EditCounts) {
        self.substitutions += other.substitutions;
        self.deletions += other.deletions;
        self.insertions += other.insertions;
        self.reference_len += other.reference_len;
    }
}

/// Counts substitutions, deletions and insertions of a minimum edit distance alignment of
/// `hypothesis` to `reference`. Where several alignments cost the same, each step prefers a
/// match or substitution, then a deletion, then an insertion. Memory is linear in the hypothesis.
pub fn align_counts<T: PartialEq>(reference: &[T], hypothesis: &[T]) -> EditCounts {
    // Each cell holds the counts of the best alignment of reference[..i] to hypothesis[..j].
    let mut previous_row: Vec<EditCounts> = (0..=hypothesis.len())
        .map(|insertions| EditCounts {
            insertions,
            ..EditCounts::default()
        })
        .collect();
    let mut current_row = previous_row.clone();
    for (reference_index, reference_token) in reference.iter().enumerate() {
        current_row[0] = EditCounts {
            deletions: reference_index + 1,
            ..EditCounts::default()
        };
        for (hypothesis_index, hypothesis_token) in hypothesis.iter().enumerate() {
            let mut diagonal = previous_row[hypothesis_index];
            if reference_token != hypothesis_token {
                diagonal.substitutions += 1;
            }
            let mut deletion = previous_row[hypothesis_index + 1];
            deletion.deletions += 1;
            let mut insertion = current_row[hypothesis_index];
            insertion.insertions += 1;
            let mut best = diagonal;
            for candidate in [deletion, insertion] {
                if candidate.errors() < best.errors() {
                    best = candidate;
                }
            }
            current_row[hypothesis_index + 1] = best;
        }
        std::mem::swap(&mut previous_row, &mut current_row);
    }
    let mut counts = previous_row[hypothesis.len()];
    counts.reference_len = reference.len();
    counts
}

/// Word-level counts of two texts, split on whitespace. Normalise both first
/// ([`crate::normalize`]) unless case and punctuation should count as errors.
pub fn word_edit_counts(reference: &str, hypothesis: &str) -> EditCounts {
    let reference_words: Vec<&str> = reference.split_whitespace().collect();
    let hypothesis_words: Vec<&str> = hypothesis.split_whitespace().collect();
    align_counts(&reference_words, &hypothesis_words)
}

/// Character-level counts of two texts. Runs of whitespace count as one space character and
/// leading/trailing whitespace is ignored, so word boundaries count but formatting does not.
pub fn char_edit_counts(reference: &str, hypothesis: &str) -> EditCounts {
    let characters_of = |text: &str| -> Vec<char> {
        text.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .collect()
    };
    align_counts(&characters_of(reference), &characters_of(hypothesis))
}

/// Word error rate of one hypothesis against one reference.
pub fn word_error_rate(reference: &str, hypothesis: &str) -> f64 {
    word_edit_counts(reference, hypothesis).error_rate()
}

/// Character error rate of one hypothesis against one reference.
pub fn char_error_rate(reference: &str, hypothesis: &str) -> f64 {
    char_edit_counts(reference, hypothesis).error_rate()
}
