//! Sentiment of a call from its turns: per party, and the customer's trajectory from start to end.

use serde::{Deserialize, Serialize};

use crate::types::{Sentiment, SentimentLabel, Speaker, Turn};

/// Scores beyond ±this are positive / negative when aggregating several turns.
const LABEL_THRESHOLD: f32 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PartySentiment {
    pub label: SentimentLabel,
    /// Mean of the turn scores weighted by words, -1..1.
    pub score: f32,
    pub n_turns: usize,
}

/// How the customer's mood moved: first third of their speech vs the last third.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SentimentTrajectory {
    pub start: PartySentiment,
    pub end: PartySentiment,
    /// `end.score - start.score`: negative means the call made things worse.
    pub change: f32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallSentiment {
    pub agent: Option<PartySentiment>,
    pub customer: Option<PartySentiment>,
    /// Mono calls before diarization.
    pub unknown: Option<PartySentiment>,
    /// The customer's trajectory (for mono calls, the whole call's).
    pub customer_trajectory: Option<SentimentTrajectory>,
}

pub fn label_for_score(score: f32) -> SentimentLabel {
    if score > LABEL_THRESHOLD {
        SentimentLabel::Positive
    } else if score < -LABEL_THRESHOLD {
        SentimentLabel::Negative
    } else {
        SentimentLabel::Neutral
    }
}

fn aggregate<'a>(turns: impl Iterator<Item = &'a Turn>) -> Option<PartySentiment> {
    let mut weighted_sum = 0.0_f32;
    let mut total_weight = 0.0_f32;
    let mut n_turns = 0;
    for turn in turns {
        let Some(Sentiment { score, .. }) = turn.sentiment else { continue };
        let weight = turn.words.len().max(1) as f32;
        weighted_sum += score * weight;
        total_weight += weight;
        n_turns += 1;
    }
    (n_turns > 0).then(|| {
        let score = weighted_sum / total_weight;
        PartySentiment { label: label_for_score(score), score, n_turns }
    })
}

pub fn call_sentiment(turns: &[Turn]) -> CallSentiment {
    let of = |speaker: Speaker| aggregate(turns.iter().filter(move |t| t.speaker == speaker));
    let customer_turns: Vec<&Turn> = turns.iter().filter(|t| t.speaker == Speaker::Customer).collect();
    let trajectory_turns: Vec<&Turn> =
        if customer_turns.is_empty() { turns.iter().collect() } else { customer_turns };
    let third = trajectory_turns.len().div_ceil(3);
    let customer_trajectory = if third == 0 {
        None
    } else {
        let start = aggregate(trajectory_turns[..third].iter().copied());
        let end = aggregate(trajectory_turns[trajectory_turns.len() - third..].iter().copied());
        start.zip(end).map(|(start, end)| SentimentTrajectory { start, end, change: end.score - start.score })
    };
    CallSentiment {
        agent: of(Speaker::Agent),
        customer: of(Speaker::Customer),
        unknown: of(Speaker::Unknown),
        customer_trajectory,
    }
}
