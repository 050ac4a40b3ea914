//! Evaluation of a script against one call: an outcome per rule, with evidence and a reason.
//!
//! What each kind means:
//! - **required**: passes if any of its phrases is matched (confidence ≥ threshold) by the right
//!   speaker, starting inside `within` when given. Said but only outside the window → failed,
//!   with that occurrence as evidence. Confidence: the best match.
//! - **forbidden**: fails if any phrase is matched (inside `within` when given); evidence lists
//!   every turn where it was. Confidence: 1 − the best match.
//! - **sequence**: the referenced required rules must be said in the listed order (anywhere on
//!   the call, windows ignored): each rule's earliest occurrence after the one taken for the rule
//!   before it, so a stray early match of a later phrase does not break an order the call did
//!   keep; a missing one fails the sequence. Confidence: the lowest of the occurrences taken.
//! - **max_silence** / **max_talk_over**: compare [`CallMetrics`] with the limits. Confidence 1.
//! - **customer_sentiment**: `at: any` fails if any scored customer turn is below `min_score`
//!   (evidence: the lowest); `at: end` compares the mean score of the customer's last turns: those
//!   that start in the last [`MatchConfig::sentiment_end_fraction`] (30 %) of the call, at most
//!   [`MatchConfig::sentiment_end_max_turns`] (3) of them; if the customer said nothing scored
//!   there, their last scored turn. No scored customer turn → failed, "cannot check". Confidence 1.
//!
//! Speakers: on a mono call (every turn [`Speaker::Unknown`]) speaker constraints cannot be
//! checked, so every turn counts and the reason says so. On other calls a rule for the agent (or
//! customer) looks only at turns attributed to that party.
//!
//! Score: the severity-weighted share of rules passed (low 1, medium 2, high 3).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::matching::{MatchConfig, PhraseMatch, PhraseMatcher};
use super::script::{
    PhraseRule, RuleCheck, RuleKind, Script, SentimentPosition, Severity, SpeakerConstraint,
};
use crate::engines::TextEmbedder;
use crate::error::Result;
use crate::types::{CallMetrics, Speaker, TimeSpan, Turn};

/// The compliance of one call with one script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComplianceResult {
    pub script_id: String,
    pub script_version: Option<String>,
    /// 0..1: severity-weighted share of rules passed (low 1, medium 2, high 3).
    pub score: f64,
    /// One outcome per rule, in script order.
    pub rules: Vec<RuleOutcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleOutcome {
    pub id: String,
    pub kind: RuleKind,
    pub passed: bool,
    /// 0..1; what it measures depends on the kind (see the module documentation).
    pub confidence: f32,
    pub severity: Severity,
    pub evidence: Vec<Evidence>,
    /// A human explanation, e.g. "said at 25.1 s, after the window (first 20 s)".
    pub reason: String,
}

/// Where on the call an outcome comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub turn_index: Option<usize>,
    /// `None` for evidence that belongs to nobody, such as a silence.
    pub speaker: Option<Speaker>,
    pub start_secs: f64,
    pub end_secs: f64,
    pub text: String,
}

/// Evaluates `script` on a call. `call_duration_secs` places windows that count from the end of
/// the call; when it is not a positive number the end of the last turn is used. Without an
/// embedder only fuzzy matching is done.
pub fn evaluate_script(
    script: &Script,
    turns: &[Turn],
    metrics: &CallMetrics,
    call_duration_secs: f64,
    embedder: Option<&dyn TextEmbedder>,
    config: &MatchConfig,
) -> Result<ComplianceResult> {
    config.validate()?;
    let call = CallView::new(turns, call_duration_secs);
    let mut matcher = PhraseMatcher::new(embedder, config);

    // Required rules first: sequences need their occurrences.
    let mut occurrences_by_rule: HashMap<&str, Vec<PhraseMatch>> = HashMap::new();
    let mut phrase_outcomes: HashMap<&str, Verdict> = HashMap::new();
    for rule in &script.rules {
        let (outcome, occurrences) = match &rule.check {
            RuleCheck::Required(phrase_rule) => {
                let (outcome, occurrences) = evaluate_required(&mut matcher, phrase_rule, &call, config)?;
                (outcome, Some(occurrences))
            }
            RuleCheck::Forbidden(phrase_rule) => (
                evaluate_forbidden(&mut matcher, phrase_rule, &call, config)?,
                None,
            ),
            _ => continue,
        };
        if let Some(occurrences) = occurrences {
            occurrences_by_rule.insert(rule.id.as_str(), occurrences);
        }
        phrase_outcomes.insert(rule.id.as_str(), outcome);
    }

    let mut outcomes = Vec::with_capacity(script.rules.len());
    for rule in &script.rules {
        let verdict = match &rule.check {
            RuleCheck::Required(_) | RuleCheck::Forbidden(_) => {
                match phrase_outcomes.remove(rule.id.as_str()) {
                    Some(verdict) => verdict,
                    None => Verdict::new(false, 0.0, Vec::new(), "not evaluated".to_string()),
                }
            }
            RuleCheck::Sequence { rule_ids } => {
                evaluate_sequence(rule_ids, &occurrences_by_rule, &call)
            }
            RuleCheck::MaxSilence { max_secs } => evaluate_max_silence(*max_secs, metrics),
            RuleCheck::MaxTalkOver {
                max_secs,
                max_count,
            } => evaluate_max_talk_over(*max_secs, *max_count, metrics),
            RuleCheck::CustomerSentiment { at, min_score } => {
                evaluate_customer_sentiment(*at, *min_score, &call, config)
            }
        };
        outcomes.push(RuleOutcome {
            id: rule.id.clone(),
            kind: rule.kind(),
            passed: verdict.passed,
            confidence: verdict.confidence,
            severity: rule.severity,
            evidence: verdict.evidence,
            reason: verdict.reason,
        });
    }

    let total_weight: f64 = outcomes
        .iter()
        .map(|outcome| outcome.severity.weight())
        .sum();
    let passed_weight: f64 = outcomes
        .iter()
        .filter(|outcome| outcome.passed)
        .map(|outcome| outcome.severity.weight())
        .sum();
    let score = if total_weight > 0.0 {
        passed_weight / total_weight
    } else {
        1.0
    };
    Ok(ComplianceResult {
        script_id: script.id.clone(),
        script_version: script.version.clone(),
        score,
        rules: outcomes,
    })
}

/// What a rule's evaluation decides, before the rule's id, kind and severity are attached.
struct Verdict {
    passed: bool,
    confidence: f32,
    evidence: Vec<Evidence>,
    reason: String,
}

impl Verdict {
    fn new(passed: bool, confidence: f32, evidence: Vec<Evidence>, reason: String) -> Verdict {
        Verdict {
            passed,
            confidence,
            evidence,
            reason,
        }
    }
}

/// The call as the rules see it.
struct CallView<'a> {
    turns: &'a [Turn],
    duration_secs: f64,
    /// Every turn is `Speaker::Unknown`: speaker constraints cannot be checked.
    mono: bool,
}

impl<'a> CallView<'a> {
    fn new(turns: &'a [Turn], call_duration_secs: f64) -> Self {
        let duration_secs = if call_duration_secs.is_finite() && call_duration_secs > 0.0 {
            call_duration_secs
        } else {
            turns.iter().map(|turn| turn.end_secs).fold(0.0, f64::max)
        };
        let mono = !turns.is_empty() && turns.iter().all(|turn| turn.speaker == Speaker::Unknown);
        CallView {
            turns,
            duration_secs,
            mono,
        }
    }

    /// (index, turn) of the turns a speaker constraint applies to.
    fn turns_of(&self, speaker: SpeakerConstraint) -> Vec<(usize, &'a Turn)> {
        self.turns
            .iter()
            .enumerate()
            .filter(|(_, turn)| {
                self.mono
                    || match speaker {
                        SpeakerConstraint::Any => true,
                        SpeakerConstraint::Agent => turn.speaker == Speaker::Agent,
                        SpeakerConstraint::Customer => turn.speaker == Speaker::Customer,
                    }
            })
            .collect()
    }

    /// Appended to reasons of speaker-constrained rules on mono calls.
    fn speaker_note(&self, speaker: SpeakerConstraint) -> &'static str {
        if self.mono && speaker != SpeakerConstraint::Any {
            "; mono call: speakers unknown, so any speaker counted"
        } else {
            ""
        }
    }
}

fn evidence_of(found: &PhraseMatch, call: &CallView) -> Evidence {
    Evidence {
        turn_index: Some(found.turn_index),
        speaker: call.turns.get(found.turn_index).map(|turn| turn.speaker),
        start_secs: found.start_secs,
        end_secs: found.end_secs,
        text: found.text.clone(),
    }
}

/// The best match per eligible turn (below the threshold too), in turn order.
fn matches_per_turn(
    matcher: &mut PhraseMatcher,
    rule: &PhraseRule,
    call: &CallView,
    threshold: f32,
    start_within: Option<TimeSpan>,
) -> Result<Vec<PhraseMatch>> {
    let phrases: Vec<&str> = rule
        .phrases
        .iter()
        .map(|phrase| phrase.text.as_str())
        .collect();
    let turns = call.turns_of(rule.speaker);
    let turn_refs: Vec<&Turn> = turns.iter().map(|(_, turn)| *turn).collect();
    matcher.prepare(&phrases, &turn_refs)?;
    let mut found = Vec::new();
    for (turn_index, turn) in turns {
        if let Some(best) =
            matcher.best_match_in_turn(&phrases, turn_index, turn, threshold, start_within)?
        {
            found.push(best);
        }
    }
    Ok(found)
}

fn best_of(matches: &[PhraseMatch]) -> Option<&PhraseMatch> {
    matches
        .iter()
        .fold(None, |best: Option<&PhraseMatch>, candidate| match best {
            Some(best) if best.confidence >= candidate.confidence => Some(best),
            _ => Some(candidate),
        })
}

fn secs(value: f64) -> String {
    format!("{value:.1} s")
}

/// The match worth naming when a phrase was not said: a negated occurrence if there is one,
/// otherwise the best near miss.
fn near_miss(matches: &[PhraseMatch]) -> Option<&PhraseMatch> {
    matches
        .iter()
        .find(|found| found.negated)
        .or_else(|| best_of(matches))
}

fn closest_note(best: Option<&PhraseMatch>) -> String {
    match best {
        Some(best) if best.negated => format!(
            " (closest: \"{}\" at {}, negated, confidence {:.2})",
            best.text,
            secs(best.start_secs),
            best.confidence
        ),
        Some(best) if best.confidence > 0.0 => format!(
            " (closest: \"{}\" at {}, confidence {:.2})",
            best.text,
            secs(best.start_secs),
            best.confidence
        ),
        _ => String::new(),
    }
}

fn evaluate_required(
    matcher: &mut PhraseMatcher,
    rule: &PhraseRule,
    call: &CallView,
    config: &MatchConfig,
) -> Result<(Verdict, Vec<PhraseMatch>)> {
    let threshold = rule.threshold.unwrap_or(config.threshold);
    let note = call.speaker_note(rule.speaker);
    let everywhere = matches_per_turn(matcher, rule, call, threshold, None)?;
    let mut occurrences: Vec<PhraseMatch> =
        everywhere.iter().filter(|found| found.confidence >= threshold).cloned().collect();
    occurrences.sort_by(|a, b| a.start_secs.total_cmp(&b.start_secs));
    let first = occurrences.first().cloned();
    let best_anywhere = best_of(&everywhere).cloned();

    let said = |found: &PhraseMatch, context: &str| {
        format!(
            "said at {}{context}: \"{}\" (confidence {:.2}){note}",
            secs(found.start_secs),
            found.text,
            found.confidence
        )
    };
    let outcome = match (&rule.within, &first, &best_anywhere) {
        (None, Some(_), Some(best)) => Verdict::new(
            true,
            best.confidence,
            vec![evidence_of(best, call)],
            said(best, ""),
        ),
        (Some(window), Some(first), _) => {
            let span = window.resolve(call.duration_secs);
            let inside = matches_per_turn(matcher, rule, call, threshold, Some(span))?;
            match best_of(&inside).filter(|best| best.confidence >= threshold) {
                Some(best) => Verdict::new(
                    true,
                    best.confidence,
                    vec![evidence_of(best, call)],
                    said(
                        best,
                        &format!(", inside the window ({})", window.describe()),
                    ),
                ),
                None => {
                    let side = if first.start_secs < span.start_secs {
                        "before"
                    } else {
                        "after"
                    };
                    let context = format!(
                        ", {side} the window ({}: {}-{})",
                        window.describe(),
                        secs(span.start_secs),
                        secs(span.end_secs)
                    );
                    Verdict::new(
                        false,
                        first.confidence,
                        vec![evidence_of(first, call)],
                        said(first, &context),
                    )
                }
            }
        }
        _ => {
            let nobody = if call.turns_of(rule.speaker).is_empty() {
                format!(" (no {} turns)", rule.speaker.as_str())
            } else {
                String::new()
            };
            let confidence = best_anywhere.as_ref().map_or(0.0, |best| best.confidence);
            let reason = format!(
                "not said{nobody}{}{note}",
                closest_note(near_miss(&everywhere))
            );
            Verdict::new(false, confidence, Vec::new(), reason)
        }
    };
    Ok((outcome, occurrences))
}

fn evaluate_forbidden(
    matcher: &mut PhraseMatcher,
    rule: &PhraseRule,
    call: &CallView,
    config: &MatchConfig,
) -> Result<Verdict> {
    let threshold = rule.threshold.unwrap_or(config.threshold);
    let note = call.speaker_note(rule.speaker);
    let span = rule.within.map(|window| window.resolve(call.duration_secs));
    let found = matches_per_turn(matcher, rule, call, threshold, span)?;
    let best = best_of(&found);
    let confidence = 1.0 - best.map_or(0.0, |best| best.confidence);
    let mut said: Vec<&PhraseMatch> = found
        .iter()
        .filter(|found| found.confidence >= threshold)
        .collect();
    said.sort_by(|a, b| a.start_secs.total_cmp(&b.start_secs));
    let window_note = rule.within.map_or(String::new(), |window| {
        format!(" inside the window ({})", window.describe())
    });
    Ok(match said.first() {
        Some(first) => {
            let more = match said.len() {
                1 => String::new(),
                2 => " and 1 more time".to_string(),
                n => format!(" and {} more times", n - 1),
            };
            let reason = format!(
                "said at {}{window_note}: \"{}\" (confidence {:.2}){more}{note}",
                secs(first.start_secs),
                first.text,
                first.confidence
            );
            Verdict::new(
                false,
                confidence,
                said.iter().map(|found| evidence_of(found, call)).collect(),
                reason,
            )
        }
        None => Verdict::new(
            true,
            confidence,
            Vec::new(),
            format!(
                "not said{window_note}{}{note}",
                closest_note(near_miss(&found))
            ),
        ),
    })
}

fn evaluate_sequence(
    rule_ids: &[String],
    occurrences_by_rule: &HashMap<&str, Vec<PhraseMatch>>,
    call: &CallView,
) -> Verdict {
    let missing: Vec<&str> = rule_ids
        .iter()
        .map(String::as_str)
        .filter(|id| occurrences_by_rule.get(id).is_none_or(Vec::is_empty))
        .collect();
    // Walk the rules in order, taking each one's earliest occurrence after the previous one taken.
    let mut taken: Vec<(&str, &PhraseMatch)> = Vec::new();
    let mut out_of_order = Vec::new();
    for id in rule_ids.iter().map(String::as_str) {
        let Some(all) = occurrences_by_rule.get(id).filter(|all| !all.is_empty()) else { continue };
        let previous = taken.last().copied();
        let after_secs = previous.map_or(f64::NEG_INFINITY, |(_, found)| found.start_secs);
        match all.iter().find(|found| found.start_secs >= after_secs) {
            Some(found) => taken.push((id, found)),
            None => {
                // Said, but only before the previous rule: name its last occurrence.
                let last = &all[all.len() - 1];
                if let Some((previous_id, previous_found)) = previous {
                    out_of_order.push(format!(
                        "'{id}' (at {}) came before '{previous_id}' (at {})",
                        secs(last.start_secs),
                        secs(previous_found.start_secs)
                    ));
                }
                taken.push((id, last));
            }
        }
    }
    let evidence: Vec<Evidence> = taken.iter().map(|(_, found)| evidence_of(found, call)).collect();
    let confidence = taken.iter().map(|(_, found)| found.confidence).fold(1.0f32, f32::min);
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|id| format!("'{id}'")).collect();
        let verb = if missing.len() == 1 { "was" } else { "were" };
        return Verdict::new(false, confidence, evidence, format!("{} {verb} not said", names.join(", ")));
    }
    if out_of_order.is_empty() {
        let order: Vec<String> =
            taken.iter().map(|(id, found)| format!("'{id}' at {}", secs(found.start_secs))).collect();
        Verdict::new(true, confidence, evidence, format!("in order: {}", order.join(", ")))
    } else {
        Verdict::new(false, confidence, evidence, out_of_order.join("; "))
    }
}

fn evaluate_max_silence(max_secs: f64, metrics: &CallMetrics) -> Verdict {
    let longest_secs = metrics.longest_silence_secs;
    let evidence = metrics
        .longest_silence
        .map(|span| Evidence {
            turn_index: None,
            speaker: None,
            start_secs: span.start_secs,
            end_secs: span.end_secs,
            text: String::new(),
        })
        .into_iter()
        .collect();
    let passed = longest_secs <= max_secs;
    let comparison = if passed { "<=" } else { ">" };
    let place = metrics.longest_silence.map_or(String::new(), |span| {
        format!(" ({}-{})", secs(span.start_secs), secs(span.end_secs))
    });
    let reason = format!(
        "longest silence {}{place} {comparison} {}",
        secs(longest_secs),
        secs(max_secs)
    );
    Verdict::new(passed, 1.0, evidence, reason)
}

fn evaluate_max_talk_over(
    max_secs: Option<f64>,
    max_count: Option<u32>,
    metrics: &CallMetrics,
) -> Verdict {
    let mut passed = true;
    let mut parts = Vec::new();
    if let Some(max_secs) = max_secs {
        let within = metrics.talk_over_secs <= max_secs;
        passed &= within;
        let comparison = if within { "<=" } else { ">" };
        parts.push(format!(
            "talk-over {} {comparison} {}",
            secs(metrics.talk_over_secs),
            secs(max_secs)
        ));
    }
    if let Some(max_count) = max_count {
        let within = metrics.talk_over_count <= max_count;
        passed &= within;
        let comparison = if within { "<=" } else { ">" };
        parts.push(format!(
            "talk-overs {} {comparison} {max_count}",
            metrics.talk_over_count
        ));
    }
    Verdict::new(passed, 1.0, Vec::new(), parts.join("; "))
}

fn evaluate_customer_sentiment(
    at: SentimentPosition,
    min_score: f32,
    call: &CallView,
    config: &MatchConfig,
) -> Verdict {
    let note = call.speaker_note(SpeakerConstraint::Customer);
    let scored: Vec<(usize, &Turn, f32)> = call
        .turns_of(SpeakerConstraint::Customer)
        .into_iter()
        .filter_map(|(index, turn)| {
            turn.sentiment
                .map(|sentiment| (index, turn, sentiment.score))
        })
        .collect();
    if scored.is_empty() {
        return Verdict::new(
            false,
            1.0,
            Vec::new(),
            format!("cannot check: no customer turn has a sentiment score{note}"),
        );
    }
    let turn_evidence = |(index, turn, _): &(usize, &Turn, f32)| Evidence {
        turn_index: Some(*index),
        speaker: Some(turn.speaker),
        start_secs: turn.start_secs,
        end_secs: turn.end_secs,
        text: turn.text.clone(),
    };
    match at {
        SentimentPosition::Any => {
            let lowest = scored.iter().fold(scored[0], |lowest, candidate| {
                if candidate.2 < lowest.2 {
                    *candidate
                } else {
                    lowest
                }
            });
            let passed = lowest.2 >= min_score;
            let comparison = if passed { ">=" } else { "<" };
            let reason = format!(
                "lowest customer sentiment {:.2} at {} {comparison} {min_score:.2}{note}",
                lowest.2,
                secs(lowest.1.start_secs)
            );
            Verdict::new(passed, 1.0, vec![turn_evidence(&lowest)], reason)
        }
        SentimentPosition::End => {
            let end_start_secs = call.duration_secs * (1.0 - config.sentiment_end_fraction);
            let mut at_end: Vec<(usize, &Turn, f32)> = scored
                .iter()
                .filter(|(_, turn, _)| turn.start_secs >= end_start_secs)
                .copied()
                .collect();
            if at_end.is_empty() {
                at_end = scored.last().copied().into_iter().collect();
            }
            let keep_from = at_end.len().saturating_sub(config.sentiment_end_max_turns);
            let at_end = &at_end[keep_from..];
            let mean =
                at_end.iter().map(|(_, _, score)| score).sum::<f32>() / at_end.len().max(1) as f32;
            let passed = mean >= min_score;
            let comparison = if passed { ">=" } else { "<" };
            let turns_word = if at_end.len() == 1 { "turn" } else { "turns" };
            let from_secs = at_end.first().map_or(0.0, |(_, turn, _)| turn.start_secs);
            let reason = format!(
                "customer sentiment at end {mean:.2} {comparison} {min_score:.2} (mean of {} {turns_word} from {}){note}",
                at_end.len(),
                secs(from_secs)
            );
            Verdict::new(
                passed,
                1.0,
                at_end.iter().map(turn_evidence).collect(),
                reason,
            )
        }
    }
}
