//! Live compliance alerts: what a supervisor must hear about while the call is still going.
//!
//! The same phrase matcher as the post-call compliance report (fuzzy word matching; the semantic
//! matcher is left to the report, where its cost is paid once) runs on each committed stretch of
//! speech. Alerts fire once per occurrence and are never withdrawn.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::compliance::{MatchConfig, PhraseMatcher, PhraseRule, RuleCheck, Script, Severity, SpeakerConstraint};
use crate::error::Result;
use crate::types::{SentimentLabel, Speaker, TimeSpan, TranscriptSegment, Turn, Word};

/// What a live alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A phrase of a `forbidden` rule was spoken.
    ForbiddenPhrase,
    /// A `required` rule's time window ended without its phrase.
    RequiredPhraseMissing,
    /// Nobody has spoken for a long time (hold, dead air), or longer than a `max_silence` rule.
    LongSilence,
    /// The customer's sentiment turned negative, or fell below a `customer_sentiment` rule.
    CustomerNegative,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::ForbiddenPhrase => "forbidden_phrase",
            AlertKind::RequiredPhraseMissing => "required_phrase_missing",
            AlertKind::LongSilence => "long_silence",
            AlertKind::CustomerNegative => "customer_negative",
        }
    }
}

/// One alert, with where in the call (stream time) it points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveAlert {
    pub kind: AlertKind,
    /// The script rule behind it, if any.
    pub rule_id: Option<String>,
    pub severity: Severity,
    pub message: String,
    /// Stream time when the condition was detected.
    pub detected_at_secs: f64,
    /// The evidence: the words spoken, the silence, the turn.
    pub start_secs: f64,
    pub end_secs: f64,
    pub text: Option<String>,
}

/// Alert settings without a script.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    /// Nobody speaking for this long raises `long_silence` (the report's hold threshold).
    pub silence_alert_secs: f64,
    /// Seconds after a required phrase's window ends before `required_phrase_missing` fires:
    /// the last words of the window may still be on their way to a final.
    pub required_grace_secs: f64,
    /// Words of a speaker's recent speech searched for a phrase (phrases may span two finals).
    pub recent_words: usize,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self { silence_alert_secs: 15.0, required_grace_secs: 3.0, recent_words: 40 }
    }
}

/// Alert state of one stream.
pub struct LiveAlerts {
    script: Option<Script>,
    matching: MatchConfig,
    config: AlertConfig,
    /// Committed words per speaker, most recent last, at most `recent_words`.
    recent: Vec<(Speaker, Vec<Word>)>,
    /// (rule id or kind, start in ms) of alerts already raised.
    raised: HashSet<(String, i64)>,
    required_found: HashSet<String>,
    /// Start of the current stretch of silence already alerted (general, per rule).
    silence_alerted: HashSet<(String, i64)>,
    customer_was_negative: bool,
    /// Where each forbidden rule's alerts pointed.
    forbidden_spans: Vec<(String, TimeSpan)>,
}

impl LiveAlerts {
    pub fn new(script: Option<Script>, matching: MatchConfig, config: AlertConfig) -> Self {
        Self {
            script,
            matching,
            config,
            recent: Vec::new(),
            raised: HashSet::new(),
            required_found: HashSet::new(),
            silence_alerted: HashSet::new(),
            customer_was_negative: false,
            forbidden_spans: Vec::new(),
        }
    }

    fn first_time(&mut self, key: &str, start_secs: f64) -> bool {
        self.raised.insert((key.to_string(), (start_secs * 1000.0).round() as i64))
    }

    /// A committed stretch of speech: forbidden phrases are alerted, required ones noted.
    pub fn on_final(&mut self, segment: &TranscriptSegment, now_secs: f64) -> Result<Vec<LiveAlert>> {
        let recent_words = self.config.recent_words.max(1);
        let words = match self.recent.iter_mut().find(|(speaker, _)| *speaker == segment.speaker) {
            Some((_, words)) => words,
            None => {
                self.recent.push((segment.speaker, Vec::new()));
                let last = self.recent.len() - 1;
                &mut self.recent[last].1
            }
        };
        words.extend(segment.words.iter().cloned());
        let n_drop = words.len().saturating_sub(recent_words);
        words.drain(..n_drop);
        let recent_turn = Turn {
            speaker: segment.speaker,
            start_secs: words.first().map_or(segment.start_secs, |w| w.start_secs),
            end_secs: segment.end_secs,
            text: words.iter().map(|w| w.text.trim()).collect::<Vec<_>>().join(" "),
            words: words.clone(),
            sentiment: None,
        };
        let Some(script) = self.script.clone() else { return Ok(Vec::new()) };
        let mut alerts = Vec::new();
        let matching = self.matching.clone();
        let mut matcher = PhraseMatcher::new(None, &matching);
        for rule in &script.rules {
            let (phrase_rule, forbidden) = match &rule.check {
                RuleCheck::Forbidden(phrase_rule) => (phrase_rule, true),
                RuleCheck::Required(phrase_rule) => (phrase_rule, false),
                _ => continue,
            };
            if !speaker_matches(phrase_rule.speaker, segment.speaker) || (!forbidden && self.required_found.contains(&rule.id)) {
                continue;
            }
            let Some(found) = find_phrase(&mut matcher, phrase_rule, &recent_turn, &matching)? else { continue };
            // Only what this final added counts as new: older words were searched before.
            if found.end_secs < segment.start_secs {
                continue;
            }
            if forbidden {
                // One alert per utterance of the phrase, even if a later pass matches it better.
                let span = TimeSpan { start_secs: found.start_secs, end_secs: found.end_secs };
                let overlaps = self.forbidden_spans.iter().any(|(id, seen)| *id == rule.id && seen.overlap_secs(&span) > 0.0);
                if !overlaps && self.first_time(&rule.id, found.start_secs) {
                    self.forbidden_spans.push((rule.id.clone(), span));
                    alerts.push(LiveAlert {
                        kind: AlertKind::ForbiddenPhrase,
                        rule_id: Some(rule.id.clone()),
                        severity: rule.severity,
                        message: format!(
                            "{} said {:?} (forbidden by rule {}; confidence {:.2})",
                            segment.speaker.as_str(),
                            found.text,
                            rule.id,
                            found.confidence
                        ),
                        detected_at_secs: now_secs,
                        start_secs: found.start_secs,
                        end_secs: found.end_secs,
                        text: Some(found.text),
                    });
                }
            } else {
                self.required_found.insert(rule.id.clone());
            }
        }
        Ok(alerts)
    }

    /// Time passed: required phrases whose window is over, and silence.
    /// `last_speech_end_secs` is when anybody last spoke (`now_secs` while someone speaks).
    pub fn on_time(&mut self, now_secs: f64, last_speech_end_secs: f64) -> Vec<LiveAlert> {
        let mut alerts = Vec::new();
        let silence = TimeSpan { start_secs: last_speech_end_secs, end_secs: now_secs };
        let mut silence_limits: Vec<(String, Option<String>, Severity, f64)> =
            vec![("silence".into(), None, Severity::Low, self.config.silence_alert_secs)];
        if let Some(script) = &self.script {
            for rule in &script.rules {
                match &rule.check {
                    RuleCheck::Required(phrase_rule) => {
                        // Windows counted from the end of the call cannot be judged before it ends.
                        let Some(window) = phrase_rule.within else { continue };
                        let Some(end_secs) = window.end_secs.filter(|end| *end >= 0.0 && window.start_secs >= 0.0) else {
                            continue;
                        };
                        if now_secs >= end_secs + self.config.required_grace_secs
                            && !self.required_found.contains(&rule.id)
                            && self.raised.insert((rule.id.clone(), -1))
                        {
                            alerts.push(LiveAlert {
                                kind: AlertKind::RequiredPhraseMissing,
                                rule_id: Some(rule.id.clone()),
                                severity: rule.severity,
                                message: format!(
                                    "required phrase of rule {} was not said in the {}",
                                    rule.id,
                                    window.describe()
                                ),
                                detected_at_secs: now_secs,
                                start_secs: window.start_secs,
                                end_secs,
                                text: None,
                            });
                        }
                    }
                    RuleCheck::MaxSilence { max_secs } => {
                        silence_limits.push((rule.id.clone(), Some(rule.id.clone()), rule.severity, *max_secs));
                    }
                    _ => {}
                }
            }
        }
        for (key, rule_id, severity, limit_secs) in silence_limits {
            if silence.duration_secs() >= limit_secs
                && self.silence_alerted.insert((key, (silence.start_secs * 1000.0).round() as i64))
            {
                alerts.push(LiveAlert {
                    kind: AlertKind::LongSilence,
                    message: match &rule_id {
                        Some(id) => format!("nobody has spoken for {:.0} s (rule {id} allows {limit_secs} s)", silence.duration_secs()),
                        None => format!("nobody has spoken for {:.0} s since {:.1} s", silence.duration_secs(), silence.start_secs),
                    },
                    rule_id,
                    severity,
                    detected_at_secs: now_secs,
                    start_secs: silence.start_secs,
                    end_secs: now_secs,
                    text: None,
                });
            }
        }
        alerts
    }

    /// A closed turn with its sentiment: the customer turning negative.
    pub fn on_turn(&mut self, turn: &Turn, now_secs: f64) -> Vec<LiveAlert> {
        let Some(sentiment) = turn.sentiment.filter(|_| turn.speaker == Speaker::Customer) else { return Vec::new() };
        let mut alerts = Vec::new();
        let negative = sentiment.label == SentimentLabel::Negative;
        if negative && !self.customer_was_negative && self.first_time("customer_negative", turn.start_secs) {
            alerts.push(LiveAlert {
                kind: AlertKind::CustomerNegative,
                rule_id: None,
                severity: Severity::Medium,
                message: format!("the customer's sentiment turned negative ({:.2})", sentiment.score),
                detected_at_secs: now_secs,
                start_secs: turn.start_secs,
                end_secs: turn.end_secs,
                text: Some(turn.text.clone()),
            });
        }
        self.customer_was_negative = negative;
        let rules: Vec<(String, Severity, f32)> = self
            .script
            .iter()
            .flat_map(|s| &s.rules)
            .filter_map(|rule| match rule.check {
                RuleCheck::CustomerSentiment { min_score, .. } => Some((rule.id.clone(), rule.severity, min_score)),
                _ => None,
            })
            .collect();
        for (rule_id, severity, min_score) in rules {
            if sentiment.score < min_score && self.first_time(&rule_id, turn.start_secs) {
                alerts.push(LiveAlert {
                    kind: AlertKind::CustomerNegative,
                    message: format!(
                        "customer sentiment {:.2} is below {min_score} (rule {rule_id})",
                        sentiment.score
                    ),
                    rule_id: Some(rule_id),
                    severity,
                    detected_at_secs: now_secs,
                    start_secs: turn.start_secs,
                    end_secs: turn.end_secs,
                    text: Some(turn.text.clone()),
                });
            }
        }
        alerts
    }
}

fn speaker_matches(constraint: SpeakerConstraint, speaker: Speaker) -> bool {
    match constraint {
        SpeakerConstraint::Any => true,
        // A mono stream does not know who speaks: every rule applies.
        _ if speaker == Speaker::Unknown => true,
        SpeakerConstraint::Agent => speaker == Speaker::Agent,
        SpeakerConstraint::Customer => speaker == Speaker::Customer,
    }
}

struct Found {
    start_secs: f64,
    end_secs: f64,
    text: String,
    confidence: f32,
}

fn find_phrase(
    matcher: &mut PhraseMatcher<'_>,
    rule: &PhraseRule,
    turn: &Turn,
    matching: &MatchConfig,
) -> Result<Option<Found>> {
    let phrases: Vec<&str> = rule.phrases.iter().map(|p| p.text.as_str()).collect();
    let threshold = rule.threshold.unwrap_or(matching.threshold);
    // Windows relative to the end of the call are judged by the report; live, only absolute ones.
    let start_within = rule.within.and_then(|w| {
        (w.start_secs >= 0.0 && w.end_secs.is_none_or(|e| e >= 0.0))
            .then(|| TimeSpan { start_secs: w.start_secs, end_secs: w.end_secs.unwrap_or(f64::INFINITY) })
    });
    let found = matcher.best_match_in_turn(&phrases, 0, turn, threshold, start_within)?;
    Ok(found.filter(|m| m.confidence >= threshold && !m.negated).map(|m| Found {
        start_secs: m.start_secs,
        end_secs: m.end_secs,
        text: m.text,
        confidence: m.confidence,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::parse_script;
    use crate::types::Sentiment;

    fn script() -> Script {
        parse_script(
            r#"{"id": "s", "rules": [
                {"id": "greet", "kind": "required", "phrases": ["thank you for calling"], "within": {"start_secs": 0, "end_secs": 10}},
                {"id": "no-guarantee", "kind": "forbidden", "severity": "high", "phrases": ["I guarantee"]},
                {"id": "quiet", "kind": "max_silence", "max_secs": 5}
            ]}"#,
            "test",
        )
        .expect("valid script")
    }

    fn segment(speaker: Speaker, start_secs: f64, text: &str) -> TranscriptSegment {
        let words: Vec<Word> = text
            .split_whitespace()
            .enumerate()
            .map(|(idx, w)| Word { text: w.into(), start_secs: start_secs + idx as f64 * 0.4, end_secs: start_secs + idx as f64 * 0.4 + 0.3, confidence: 0.9 })
            .collect();
        TranscriptSegment {
            speaker,
            start_secs,
            end_secs: words.last().map_or(start_secs, |w| w.end_secs),
            text: text.into(),
            words,
            language: "en".into(),
        }
    }

    #[test]
    fn forbidden_phrase_fires_once_even_across_two_finals() {
        let mut alerts = LiveAlerts::new(Some(script()), MatchConfig::default(), AlertConfig::default());
        assert!(alerts.on_final(&segment(Speaker::Agent, 20.0, "well I"), 21.0).expect("match").is_empty());
        let raised = alerts.on_final(&segment(Speaker::Agent, 21.0, "guarantee it works"), 22.0).expect("match");
        assert_eq!(raised.len(), 1, "{raised:?}");
        assert_eq!(raised[0].kind, AlertKind::ForbiddenPhrase);
        assert_eq!(raised[0].rule_id.as_deref(), Some("no-guarantee"));
        assert!((raised[0].start_secs - 20.4).abs() < 1e-6);
        assert!(alerts.on_final(&segment(Speaker::Agent, 23.0, "and more words"), 24.0).expect("match").is_empty());
        // The customer may say it: the rule is about the agent.
        assert!(alerts.on_final(&segment(Speaker::Customer, 25.0, "I guarantee you"), 26.0).expect("match").is_empty());
    }

    #[test]
    fn required_phrase_alerts_only_when_its_window_is_over_and_it_was_not_said() {
        let mut said = LiveAlerts::new(Some(script()), MatchConfig::default(), AlertConfig::default());
        said.on_final(&segment(Speaker::Agent, 1.0, "thank you for calling"), 3.0).expect("match");
        assert!(said.on_time(20.0, 20.0).is_empty());

        let mut missed = LiveAlerts::new(Some(script()), MatchConfig::default(), AlertConfig::default());
        assert!(missed.on_time(12.0, 12.0).is_empty(), "within the grace period");
        let raised = missed.on_time(13.5, 13.5);
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].kind, AlertKind::RequiredPhraseMissing);
        assert!(missed.on_time(30.0, 30.0).is_empty(), "raised once");
    }

    #[test]
    fn silence_alerts_once_per_stretch_per_limit() {
        let mut alerts = LiveAlerts::new(Some(script()), MatchConfig::default(), AlertConfig::default());
        assert!(alerts.on_time(4.0, 0.0).iter().all(|a| a.kind != AlertKind::LongSilence));
        let raised = alerts.on_time(6.0, 0.5);
        assert_eq!(raised.iter().filter(|a| a.kind == AlertKind::LongSilence).count(), 1);
        assert!(alerts.on_time(7.0, 0.5).iter().all(|a| a.kind != AlertKind::LongSilence));
        let general = alerts.on_time(16.0, 0.5);
        assert_eq!(general.iter().filter(|a| a.kind == AlertKind::LongSilence && a.rule_id.is_none()).count(), 1);
    }

    #[test]
    fn customer_turning_negative_alerts_on_the_transition() {
        let mut alerts = LiveAlerts::new(None, MatchConfig::default(), AlertConfig::default());
        let turn = |start: f64, label: SentimentLabel, score: f32| Turn {
            speaker: Speaker::Customer,
            start_secs: start,
            end_secs: start + 1.0,
            text: "text".into(),
            words: Vec::new(),
            sentiment: Some(Sentiment { label, score }),
        };
        assert!(alerts.on_turn(&turn(0.0, SentimentLabel::Neutral, 0.0), 1.0).is_empty());
        assert_eq!(alerts.on_turn(&turn(2.0, SentimentLabel::Negative, -0.7), 3.0).len(), 1);
        assert!(alerts.on_turn(&turn(4.0, SentimentLabel::Negative, -0.8), 5.0).is_empty());
    }
}
