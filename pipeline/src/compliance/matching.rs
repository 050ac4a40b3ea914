//! Phrase matching: where in a turn a script phrase was said, surviving ASR errors and paraphrase.
//!
//! Two scores are combined, and the higher one wins (confidence = max(fuzzy, semantic)):
//!
//! - **Fuzzy** (always): windows of `m - slack ..= m + slack` words (m = the phrase's word count)
//!   slide over the turn. Words are normalised (lower case, letters and digits only). Each window
//!   is scored against the phrase at word level, with partial credit per word from character
//!   edit distance (so "recorder" ≈ "recorded", "porpoises" ≈ "purposes"): the better of a word
//!   edit-distance ratio (order matters) and a one-to-one token-set ratio (order does not), both
//!   divided by the longer of phrase and window, so extra or missing words cost.
//! - **Semantic** (with a [`TextEmbedder`]): windows of `m + slack` words with a stride of
//!   [`MatchConfig::semantic_window_stride_words`] (a turn no longer than that is one window) are
//!   embedded and compared with the phrase by cosine, rescaled because sentence-embedding cosines
//!   are compressed (see [`MatchConfig::semantic_cosine_floor`]). A multilingual embedder lets an
//!   English phrase match Russian speech; the fuzzy path alone will not. Texts are passed to the
//!   embedder as they are: a model that wants a prefix (mE5's `query: `) adds it itself.
//!   Embeddings are cached by text for the life of a [`PhraseMatcher`] (one script evaluation),
//!   and [`PhraseMatcher::prepare`] embeds what is missing in batches.
//!
//! **Negation guard**: a window that contains a negation ("not", "never", "cannot", any "n't"
//! contraction, Russian "не", "нет", "никогда"), or directly follows one, while the phrase has
//! none, gets at most half the pass threshold: `min(score, threshold) / 2`. "This call is not
//! being recorded" therefore never passes for "this call is being recorded", and "I can't
//! guarantee" never counts as the forbidden "I guarantee".

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::engines::TextEmbedder;
use crate::error::{PipelineError, Result};
use crate::types::{TimeSpan, Turn};

/// Tuning of phrase matching and of the evaluation of measured rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchConfig {
    /// Confidence a phrase match needs to count (0..1], unless a rule sets its own. Default 0.75.
    pub threshold: f32,
    /// Embedding cosine that maps to semantic score 0. Default 0.80, for multilingual-e5-small,
    /// where unrelated sentence pairs already score 0.78–0.88.
    pub semantic_cosine_floor: f32,
    /// Embedding cosine that maps to semantic score 1. Default 0.90 (mE5 paraphrases: 0.87–0.96;
    /// chosen on the synthetic paraphrase call in tests/analyze.rs).
    pub semantic_cosine_ceiling: f32,
    /// Windows may be this many words shorter or longer than the phrase. Default 2.
    pub window_slack_words: usize,
    /// Step between semantic windows, in words. Default 3: with a slack of 2 every phrase-length
    /// stretch of a turn lies wholly inside one window of `m + 2` words.
    pub semantic_window_stride_words: usize,
    /// Words less similar than this (character edit similarity, 0..1) get no partial credit.
    /// Default 0.5.
    pub min_word_similarity: f32,
    /// Texts per embedder call. Default 32.
    pub embed_batch_size: usize,
    /// `customer_sentiment` with `at: end` looks at customer turns starting in this last fraction
    /// of the call. Default 0.3.
    pub sentiment_end_fraction: f64,
    /// …and at most this many of them, the last ones. Default 3.
    pub sentiment_end_max_turns: usize,
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            threshold: 0.75,
            semantic_cosine_floor: 0.80,
            semantic_cosine_ceiling: 0.90,
            window_slack_words: 2,
            semantic_window_stride_words: 3,
            min_word_similarity: 0.5,
            embed_batch_size: 32,
            sentiment_end_fraction: 0.3,
            sentiment_end_max_turns: 3,
        }
    }
}

impl MatchConfig {
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(PipelineError::InvalidOption(reason));
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return invalid(format!(
                "match threshold {} is outside 0..1",
                self.threshold
            ));
        }
        // Also refuses NaN, which compares as neither below nor above.
        if self.semantic_cosine_floor.partial_cmp(&self.semantic_cosine_ceiling) != Some(std::cmp::Ordering::Less) {
            return invalid(format!(
                "semantic cosine floor {} must be below the ceiling {}",
                self.semantic_cosine_floor, self.semantic_cosine_ceiling
            ));
        }
        if self.semantic_window_stride_words == 0 || self.embed_batch_size == 0 {
            return invalid(
                "semantic window stride and embed batch size must be positive".to_string(),
            );
        }
        if !(self.sentiment_end_fraction > 0.0 && self.sentiment_end_fraction <= 1.0) {
            return invalid(format!(
                "sentiment end fraction {} is outside 0..1",
                self.sentiment_end_fraction
            ));
        }
        if self.sentiment_end_max_turns == 0 {
            return invalid("sentiment end max turns must be positive".to_string());
        }
        Ok(())
    }

    /// Maps an embedding cosine onto 0..1 with the floor and ceiling.
    pub fn rescale_cosine(&self, cosine: f32) -> f32 {
        let span = self.semantic_cosine_ceiling - self.semantic_cosine_floor;
        ((cosine - self.semantic_cosine_floor) / span).clamp(0.0, 1.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchMethod {
    Fuzzy,
    Semantic,
}

/// The best place in one turn where one of a rule's phrases was said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhraseMatch {
    pub turn_index: usize,
    /// The script phrase that matched best.
    pub phrase: String,
    /// 0..1, after the negation guard.
    pub confidence: f32,
    pub method: MatchMethod,
    /// The window holds a negation the phrase lacks; `confidence` was lowered.
    pub negated: bool,
    pub start_secs: f64,
    pub end_secs: f64,
    /// The matched words as recognised.
    pub text: String,
}

/// Lower case, letters and digits only ("Porpoises," → "porpoises", "don't" → "dont").
pub fn normalise_word(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Words of a text, normalised, empty ones dropped.
pub fn normalise_text(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(normalise_word)
        .filter(|word| !word.is_empty())
        .collect()
}

/// Character-level similarity of two words: 1 - edit distance / longer length.
pub fn word_similarity(a: &str, b: &str) -> f32 {
    if a == b {
        return 1.0;
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let longer = a.len().max(b.len());
    if longer == 0 {
        return 1.0;
    }
    1.0 - levenshtein(&a, &b) as f32 / longer as f32
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, a_char) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != b_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Fuzzy score (0..1) of a phrase against a window of words, both normalised.
pub fn fuzzy_phrase_score(
    phrase_words: &[String],
    window_words: &[String],
    min_word_similarity: f32,
) -> f32 {
    let similarity: Vec<Vec<f32>> = phrase_words
        .iter()
        .map(|phrase_word| {
            window_words
                .iter()
                .map(|window_word| {
                    credited_similarity(phrase_word, window_word, min_word_similarity)
                })
                .collect()
        })
        .collect();
    fuzzy_score_from_similarity(&similarity, 0, window_words.len())
}

fn credited_similarity(a: &str, b: &str, min_word_similarity: f32) -> f32 {
    let similarity = word_similarity(a, b);
    if similarity >= min_word_similarity {
        similarity
    } else {
        0.0
    }
}

/// Score of the window `window_start..window_start + window_len` given the similarity of every
/// phrase word (rows) to every turn word (columns).
fn fuzzy_score_from_similarity(
    similarity: &[Vec<f32>],
    window_start: usize,
    window_len: usize,
) -> f32 {
    let phrase_len = similarity.len();
    let longer = phrase_len.max(window_len);
    if longer == 0 {
        return 0.0;
    }
    // Word-level edit distance; substituting costs 1 - similarity, inserting or deleting 1.
    let mut previous: Vec<f32> = (0..=window_len).map(|j| j as f32).collect();
    let mut current = vec![0.0f32; window_len + 1];
    for row in similarity {
        current[0] = previous[0] + 1.0;
        for j in 0..window_len {
            let substitution = previous[j] + (1.0 - row[window_start + j]);
            current[j + 1] = substitution
                .min(previous[j + 1] + 1.0)
                .min(current[j] + 1.0);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    let edit_ratio = 1.0 - previous[window_len] / longer as f32;

    // One-to-one token-set ratio: greedily pair the most similar words, in any order.
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (i, row) in similarity.iter().enumerate() {
        for j in 0..window_len {
            let value = row[window_start + j];
            if value > 0.0 {
                pairs.push((value, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut phrase_used = vec![false; phrase_len];
    let mut window_used = vec![false; window_len];
    let mut matched_sum = 0.0;
    for (value, i, j) in pairs {
        if !phrase_used[i] && !window_used[j] {
            phrase_used[i] = true;
            window_used[j] = true;
            matched_sum += value;
        }
    }
    let set_ratio = matched_sum / longer as f32;
    edit_ratio.max(set_ratio).clamp(0.0, 1.0)
}

const NEGATION_WORDS: &[&str] = &[
    "not",
    "never",
    "cannot",
    "dont",
    "doesnt",
    "didnt",
    "cant",
    "wont",
    "isnt",
    "arent",
    "wasnt",
    "werent",
    "wouldnt",
    "shouldnt",
    "couldnt",
    "havent",
    "hasnt",
    "hadnt",
    "aint",
    "не",
    "нет",
    "никогда",
];

/// Whether a recognised word is a negation. Looks at the raw text too, for "n't" contractions and
/// for recognisers that split "don't" into "don" + "'t".
fn is_negation(raw: &str, normalised: &str) -> bool {
    let lower = raw.trim().to_lowercase();
    NEGATION_WORDS.contains(&normalised)
        || lower.contains("n't")
        || lower.contains("n’t")
        || lower == "'t"
        || lower == "’t"
}

/// A turn's words, normalised, with their timing.
struct TurnWords {
    raw: Vec<String>,
    normalised: Vec<String>,
    start_secs: Vec<f64>,
    end_secs: Vec<f64>,
    negation: Vec<bool>,
}

impl TurnWords {
    /// Uses the turn's recognised words; a turn with text but no words gets its text split on
    /// white space, with times spread over the turn in proportion to word length.
    fn from_turn(turn: &Turn) -> TurnWords {
        let mut words = TurnWords {
            raw: Vec::new(),
            normalised: Vec::new(),
            start_secs: Vec::new(),
            end_secs: Vec::new(),
            negation: Vec::new(),
        };
        let mut push = |raw: &str, start_secs: f64, end_secs: f64| {
            let normalised = normalise_word(raw);
            if normalised.is_empty() {
                return;
            }
            words.negation.push(is_negation(raw, &normalised));
            words.raw.push(raw.trim().to_string());
            words.normalised.push(normalised);
            words.start_secs.push(start_secs);
            words.end_secs.push(end_secs);
        };
        if turn.words.is_empty() {
            let pieces: Vec<&str> = turn.text.split_whitespace().collect();
            let total_chars: usize = pieces.iter().map(|piece| piece.chars().count()).sum();
            let duration_secs = (turn.end_secs - turn.start_secs).max(0.0);
            let mut chars_before = 0usize;
            for piece in pieces {
                let piece_chars = piece.chars().count();
                let at = |chars: usize| {
                    turn.start_secs + duration_secs * chars as f64 / total_chars.max(1) as f64
                };
                push(piece, at(chars_before), at(chars_before + piece_chars));
                chars_before += piece_chars;
            }
        } else {
            for word in &turn.words {
                push(&word.text, word.start_secs, word.end_secs);
            }
        }
        words
    }

    fn len(&self) -> usize {
        self.normalised.len()
    }

    fn text(&self, start: usize, len: usize) -> String {
        self.raw[start..start + len].join(" ")
    }

    /// Whether the window, or the word just before it, is a negation.
    fn has_negation_near(&self, start: usize, len: usize) -> bool {
        self.negation[start.saturating_sub(1)..start + len]
            .iter()
            .any(|&negation| negation)
    }
}

/// Phrases shorter than this are matched by the fuzzy score only.
pub const MIN_SEMANTIC_PHRASE_WORDS: usize = 4;

/// (start, len) of the semantic windows of a turn for a phrase of `phrase_len` words.
fn semantic_windows(
    n_words: usize,
    phrase_len: usize,
    config: &MatchConfig,
) -> Vec<(usize, usize)> {
    let window_len = phrase_len.max(1) + config.window_slack_words;
    if n_words == 0 {
        return Vec::new();
    }
    if n_words <= window_len {
        return vec![(0, n_words)];
    }
    let last_start = n_words - window_len;
    let mut windows: Vec<(usize, usize)> = (0..=last_start)
        .step_by(config.semantic_window_stride_words)
        .map(|start| (start, window_len))
        .collect();
    if windows
        .last()
        .is_some_and(|&(start, _)| start != last_start)
    {
        windows.push((last_start, window_len));
    }
    windows
}

/// Finds phrases in turns for one script evaluation; holds the embedding cache.
pub struct PhraseMatcher<'a> {
    embedder: Option<&'a dyn TextEmbedder>,
    config: &'a MatchConfig,
    embedding_by_text: HashMap<String, Vec<f32>>,
}

impl<'a> PhraseMatcher<'a> {
    pub fn new(embedder: Option<&'a dyn TextEmbedder>, config: &'a MatchConfig) -> Self {
        PhraseMatcher {
            embedder,
            config,
            embedding_by_text: HashMap::new(),
        }
    }

    /// Embeds, in batches, every phrase and window text that matching `phrases` in `turns` will
    /// need and that is not cached yet. Without an embedder this does nothing.
    pub fn prepare(&mut self, phrases: &[&str], turns: &[&Turn]) -> Result<()> {
        if self.embedder.is_none() {
            return Ok(());
        }
        let mut needed: Vec<String> = Vec::new();
        let mut needed_set: HashSet<String> = HashSet::new();
        let mut push = |text: String, cache: &HashMap<String, Vec<f32>>| {
            if !cache.contains_key(&text) && needed_set.insert(text.clone()) {
                needed.push(text);
            }
        };
        let turn_words: Vec<TurnWords> = turns
            .iter()
            .map(|turn| TurnWords::from_turn(turn))
            .collect();
        for phrase in phrases {
            let phrase_len = normalise_text(phrase).len();
            if phrase_len < MIN_SEMANTIC_PHRASE_WORDS {
                continue;
            }
            push(phrase.trim().to_string(), &self.embedding_by_text);
            for words in &turn_words {
                for (start, len) in semantic_windows(words.len(), phrase_len, self.config) {
                    push(words.text(start, len), &self.embedding_by_text);
                }
            }
        }
        self.embed_missing(&needed)
    }

    fn embed_missing(&mut self, texts: &[String]) -> Result<()> {
        let Some(embedder) = self.embedder else {
            return Ok(());
        };
        let missing: Vec<&str> = texts
            .iter()
            .filter(|text| !self.embedding_by_text.contains_key(text.as_str()))
            .map(String::as_str)
            .collect();
        for batch in missing.chunks(self.config.embed_batch_size) {
            let vectors = embedder.embed(batch)?;
            if vectors.len() != batch.len() {
                return Err(PipelineError::Engine {
                    engine: "text embedder",
                    reason: format!(
                        "returned {} embeddings for {} texts",
                        vectors.len(),
                        batch.len()
                    ),
                });
            }
            for (text, vector) in batch.iter().zip(vectors) {
                self.embedding_by_text.insert((*text).to_string(), vector);
            }
        }
        Ok(())
    }

    /// The best match in `turn` of any of `phrases`, or `None` if the turn has no words (or no
    /// window starting inside `start_within`). When nothing reaches `threshold` but a negated
    /// window would have, that negated window is returned (with its lowered confidence). Only windows whose first word starts inside
    /// `start_within` are considered when it is given. `threshold` drives the negation guard.
    pub fn best_match_in_turn(
        &mut self,
        phrases: &[&str],
        turn_index: usize,
        turn: &Turn,
        threshold: f32,
        start_within: Option<TimeSpan>,
    ) -> Result<Option<PhraseMatch>> {
        let words = TurnWords::from_turn(turn);
        let n_words = words.len();
        if n_words == 0 {
            return Ok(None);
        }
        let starts_inside = |start: usize| {
            start_within.is_none_or(|span| {
                words.start_secs[start] >= span.start_secs
                    && words.start_secs[start] <= span.end_secs
            })
        };
        let mut best: Option<PhraseMatch> = None;
        // The best window that would have passed but for the negation guard: reported instead of
        // a weaker near miss, because "said, but negated" is what a reviewer needs to see.
        let mut best_negated: Option<(f32, PhraseMatch)> = None;
        for phrase in phrases {
            let phrase_words = normalise_text(phrase);
            if phrase_words.is_empty() {
                continue;
            }
            let phrase_has_negation = phrase
                .split_whitespace()
                .any(|raw| is_negation(raw, &normalise_word(raw)));
            let phrase_len = phrase_words.len();
            let mut consider = |score: f32, start: usize, len: usize, method: MatchMethod| {
                let negated = !phrase_has_negation && words.has_negation_near(start, len);
                let confidence = if negated {
                    score.min(threshold) / 2.0
                } else {
                    score
                };
                let candidate = || PhraseMatch {
                    turn_index,
                    phrase: phrase.to_string(),
                    confidence,
                    method,
                    negated,
                    start_secs: words.start_secs[start],
                    end_secs: words.end_secs[start + len - 1],
                    text: words.text(start, len),
                };
                if best
                    .as_ref()
                    .is_none_or(|best| confidence > best.confidence)
                {
                    best = Some(candidate());
                }
                if negated
                    && score >= threshold
                    && best_negated
                        .as_ref()
                        .is_none_or(|(best_score, _)| score > *best_score)
                {
                    best_negated = Some((score, candidate()));
                }
            };

            // Fuzzy windows.
            let similarity: Vec<Vec<f32>> = phrase_words
                .iter()
                .map(|phrase_word| {
                    words
                        .normalised
                        .iter()
                        .map(|word| {
                            credited_similarity(phrase_word, word, self.config.min_word_similarity)
                        })
                        .collect()
                })
                .collect();
            let shortest = phrase_len
                .saturating_sub(self.config.window_slack_words)
                .max(1)
                .min(n_words);
            let longest = (phrase_len + self.config.window_slack_words).min(n_words);
            for start in 0..n_words {
                if !starts_inside(start) {
                    continue;
                }
                for len in shortest..=longest {
                    if start + len > n_words {
                        break;
                    }
                    let score = fuzzy_score_from_similarity(&similarity, start, len);
                    consider(score, start, len, MatchMethod::Fuzzy);
                }
            }

            // Semantic windows. Sentence embeddings of two-word phrases ("i guarantee") sit close
            // to any short window ("i can tell you"), so short phrases rely on the fuzzy match.
            if self.embedder.is_some() && phrase_len >= MIN_SEMANTIC_PHRASE_WORDS {
                let windows: Vec<(usize, usize)> =
                    semantic_windows(n_words, phrase_len, self.config)
                        .into_iter()
                        .filter(|&(start, _)| starts_inside(start))
                        .collect();
                if windows.is_empty() {
                    continue;
                }
                let mut texts: Vec<String> = windows
                    .iter()
                    .map(|&(start, len)| words.text(start, len))
                    .collect();
                texts.push(phrase.trim().to_string());
                self.embed_missing(&texts)?;
                let phrase_text = phrase.trim();
                let Some(phrase_vector) = self.embedding_by_text.get(phrase_text) else {
                    continue;
                };
                for (&(start, len), text) in windows.iter().zip(&texts) {
                    let Some(window_vector) = self.embedding_by_text.get(text) else {
                        continue;
                    };
                    let score = self
                        .config
                        .rescale_cosine(cosine(phrase_vector, window_vector));
                    consider(score, start, len, MatchMethod::Semantic);
                }
            }
        }
        let below_threshold = best.as_ref().is_none_or(|best| best.confidence < threshold);
        match best_negated {
            Some((_, negated)) if below_threshold => Ok(Some(negated)),
            _ => Ok(best),
        }
    }
}

/// Cosine of two vectors; 0 when their lengths differ or one is all zeros.
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm_a: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let norm_b: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm_a == 0.0 || norm_b == 0.0 {
        return 0.0;
    }
    dot / (norm_a * norm_b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_windows_cover_every_phrase_length_stretch() {
        let config = MatchConfig::default();
        let windows = semantic_windows(20, 4, &config);
        for start in 0..=16 {
            assert!(
                windows
                    .iter()
                    .any(|&(s, len)| s <= start && start + 4 <= s + len),
                "start {start}"
            );
        }
        assert_eq!(semantic_windows(5, 4, &config), vec![(0, 5)]);
    }

    #[test]
    fn negations_are_recognised() {
        for raw in ["not", "Never,", "don't", "can’t", "'t", "не", "Нет."] {
            assert!(is_negation(raw, &normalise_word(raw)), "{raw}");
        }
        for raw in ["note", "agent", "account", "nothing"] {
            assert!(!is_negation(raw, &normalise_word(raw)), "{raw}");
        }
    }
}
