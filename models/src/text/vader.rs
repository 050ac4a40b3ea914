//! VADER-style lexicon sentiment: the English baseline the trained head is measured against.
//!
//! Implements the core rules of Hutto & Gilbert (ICWSM 2014) over `vader_lexicon.txt`: word
//! valences summed, negation within three words flips and damps, boosters/dampeners within three
//! words, ALL-CAPS emphasis, "but" shifting weight to the second clause, exclamation and question
//! marks, and the compound normalisation x / sqrt(x² + 15). It is English-only and does not model
//! idioms or emoji descriptions.

use std::collections::HashMap;
use std::path::Path;

use callsight_pipeline::engines::SentimentScorer;
use callsight_pipeline::types::{Sentiment, SentimentLabel};

use crate::ModelError;

/// |compound| below this is neutral (VADER's published convention).
pub const VADER_NEUTRAL_THRESHOLD: f32 = 0.05;
/// Normalisation constant of VADER's compound score (approximates the max expected sum).
const COMPOUND_ALPHA: f32 = 15.0;
/// Booster/dampener increment, caps emphasis and negation scalar: VADER's empirically derived values.
const BOOSTER_INCREMENT: f32 = 0.293;
const CAPS_INCREMENT: f32 = 0.733;
const NEGATION_SCALAR: f32 = -0.74;
/// How much the words before / after "but" count.
const BEFORE_BUT_WEIGHT: f32 = 0.5;
const AFTER_BUT_WEIGHT: f32 = 1.5;
/// How far back negations and boosters reach, and their decay with distance.
const LOOKBACK_WORDS: usize = 3;
const LOOKBACK_DECAY: [f32; LOOKBACK_WORDS] = [1.0, 0.95, 0.9];

const NEGATIONS: &[&str] = &[
    "aint", "arent", "cannot", "cant", "couldnt", "darent", "didnt", "doesnt", "dont", "hadnt", "hasnt", "havent",
    "isnt", "mightnt", "mustnt", "neither", "never", "none", "nope", "nor", "not", "nothing", "nowhere", "oughtnt",
    "shant", "shouldnt", "wasnt", "werent", "without", "wont", "wouldnt", "rarely", "seldom", "despite", "no",
];
const BOOSTERS: &[&str] = &[
    "absolutely", "amazingly", "awfully", "completely", "considerably", "decidedly", "deeply", "enormously",
    "entirely", "especially", "exceptionally", "extremely", "fabulously", "greatly", "highly", "hugely",
    "incredibly", "intensely", "majorly", "more", "most", "particularly", "purely", "quite", "really",
    "remarkably", "so", "substantially", "thoroughly", "totally", "tremendously", "truly", "unbelievably",
    "unusually", "utterly", "very",
];
const DAMPENERS: &[&str] = &[
    "almost", "barely", "hardly", "less", "little", "marginally", "occasionally", "partly", "scarcely",
    "slightly", "somewhat",
];

/// Rule-based English sentiment over the VADER lexicon (the baseline, not the production scorer).
pub struct VaderScorer {
    valence_by_token: HashMap<String, f32>,
}

impl VaderScorer {
    /// Reads `vader_lexicon.txt` (token, mean valence, standard deviation, ratings; tab-separated).
    pub fn load(lexicon_path: &Path) -> Result<Self, ModelError> {
        if !lexicon_path.is_file() {
            return Err(ModelError::Missing { path: lexicon_path.to_path_buf() });
        }
        let lexicon_text = std::fs::read_to_string(lexicon_path)?;
        Self::from_lexicon_text(&lexicon_text)
            .map_err(|reason| ModelError::Corrupt { path: lexicon_path.to_path_buf(), reason })
    }

    pub fn from_lexicon_text(lexicon_text: &str) -> Result<Self, String> {
        let mut valence_by_token = HashMap::new();
        for (line_idx, line) in lexicon_text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split('\t');
            let (Some(token), Some(valence)) = (fields.next(), fields.next()) else {
                return Err(format!("line {}: expected token and valence separated by a tab", line_idx + 1));
            };
            let valence: f32 =
                valence.trim().parse().map_err(|_| format!("line {}: valence {valence:?} is not a number", line_idx + 1))?;
            valence_by_token.insert(token.to_lowercase(), valence);
        }
        if valence_by_token.is_empty() {
            return Err("the lexicon is empty".into());
        }
        Ok(Self { valence_by_token })
    }

    /// VADER's compound score in -1..1.
    pub fn compound(&self, text: &str) -> f32 {
        let tokens = self.tokenize(text);
        let lowered: Vec<String> = tokens.iter().map(|token| token.to_lowercase()).collect();
        let normalised: Vec<String> = lowered.iter().map(|token| token.replace(['\'', '’'], "")).collect();
        let has_mixed_case = tokens.iter().any(|token| is_shouting(token)) && tokens.iter().any(|token| !is_shouting(token));

        let mut valences = vec![0.0_f32; tokens.len()];
        for token_idx in 0..tokens.len() {
            let word = &lowered[token_idx];
            if BOOSTERS.contains(&word.as_str()) || DAMPENERS.contains(&word.as_str()) {
                continue;
            }
            // "kind of" / "sort of" are dampeners, not the lexicon's "kind" (positive).
            if word == "kind" && lowered.get(token_idx + 1).is_some_and(|next| next == "of") {
                continue;
            }
            let Some(&base_valence) = self.valence_by_token.get(word) else { continue };
            let mut valence = base_valence;
            if has_mixed_case && is_shouting(&tokens[token_idx]) {
                valence += CAPS_INCREMENT * valence.signum();
            }
            for distance in 1..=LOOKBACK_WORDS.min(token_idx) {
                let previous_idx = token_idx - distance;
                let previous = normalised[previous_idx].as_str();
                let decay = LOOKBACK_DECAY[distance - 1];
                if BOOSTERS.contains(&previous) {
                    valence += BOOSTER_INCREMENT * decay * valence.signum();
                } else if DAMPENERS.contains(&previous) {
                    valence -= BOOSTER_INCREMENT * decay * valence.signum();
                }
                if NEGATIONS.contains(&previous) || lowered[previous_idx].ends_with("n't") {
                    valence *= NEGATION_SCALAR;
                }
            }
            valences[token_idx] = valence;
        }

        if let Some(but_idx) = lowered.iter().position(|word| word == "but") {
            for (token_idx, valence) in valences.iter_mut().enumerate() {
                *valence *= if token_idx < but_idx { BEFORE_BUT_WEIGHT } else { AFTER_BUT_WEIGHT };
            }
        }

        let mut total: f32 = valences.iter().sum();
        if total != 0.0 {
            let n_exclamations = text.matches('!').count().min(4) as f32;
            let n_questions = text.matches('?').count();
            let question_emphasis = if n_questions > 1 { (n_questions as f32 * 0.18).min(0.96) } else { 0.0 };
            total += (n_exclamations * 0.292 + question_emphasis) * total.signum();
        }
        (total / (total * total + COMPOUND_ALPHA).sqrt()).clamp(-1.0, 1.0)
    }

    /// Whitespace tokens with surrounding punctuation removed, except where stripping would break
    /// a lexicon entry such as ":)"; single characters carry no sentiment and are dropped.
    fn tokenize(&self, text: &str) -> Vec<String> {
        text.split_whitespace()
            .map(|raw| {
                let stripped = raw.trim_matches(|c: char| c.is_ascii_punctuation());
                let keep_raw = stripped.chars().count() <= 2 && self.valence_by_token.contains_key(&raw.to_lowercase());
                if keep_raw { raw } else { stripped }
            })
            .filter(|token| token.chars().count() > 1)
            .map(str::to_string)
            .collect()
    }

    pub fn sentiment(&self, text: &str) -> Sentiment {
        let compound = self.compound(text);
        let label = if compound >= VADER_NEUTRAL_THRESHOLD {
            SentimentLabel::Positive
        } else if compound <= -VADER_NEUTRAL_THRESHOLD {
            SentimentLabel::Negative
        } else {
            SentimentLabel::Neutral
        };
        Sentiment { label, score: compound }
    }
}

/// An all-caps word of at least two letters ("GREAT", not "I").
fn is_shouting(token: &str) -> bool {
    let letters: Vec<char> = token.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() > 1 && letters.iter().all(|c| c.is_uppercase())
}

impl SentimentScorer for VaderScorer {
    fn score(&self, texts: &[&str]) -> callsight_pipeline::error::Result<Vec<Sentiment>> {
        Ok(texts.iter().map(|text| self.sentiment(text)).collect())
    }

    fn model_name(&self) -> &str {
        "vader-lexicon-3.3.2"
    }
}
