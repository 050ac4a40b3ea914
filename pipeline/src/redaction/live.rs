//! Redaction of a live stream's events before they leave the server: finals are searched with
//! the finals said just before them as context (the agent's "card number please" is the cue for
//! the customer's digits) and redacted; turns and alerts quoting redacted words follow; partials,
//! which may hold half a card number no rule can recognise yet, have every number word and
//! digit masked.

use super::tokens::{TokenKind, tokenize};
use super::{RedactionConfig, RedactionSpan, find_entities, redact_turns};
use crate::streaming::StreamEvent;
use crate::types::{Turn, Word};

/// Finals kept as context for the next one.
const CONTEXT_FINALS: usize = 6;

/// What replaces numbers and addresses in a partial.
pub const PARTIAL_MASK: &str = "[…]";

/// Per-stream state: recent original finals and what was replaced.
#[derive(Debug, Default)]
pub struct LiveRedactor {
    config: RedactionConfig,
    context: Vec<Turn>,
    /// (original words joined by spaces, placeholder) of every redacted span so far.
    replaced: Vec<(String, String)>,
    spans: Vec<RedactionSpan>,
}

impl LiveRedactor {
    pub fn new(config: RedactionConfig) -> Self {
        LiveRedactor { config, ..Self::default() }
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Every span redacted so far, in stream time.
    pub fn spans(&self) -> &[RedactionSpan] {
        &self.spans
    }

    /// Redacts the events in place (in order: a final is seen before the turn that holds it).
    pub fn redact(&mut self, events: &mut [StreamEvent]) {
        if !self.config.enabled {
            return;
        }
        for event in events {
            match event {
                StreamEvent::Final(segment) => {
                    let turn = Turn {
                        speaker: segment.speaker,
                        start_secs: segment.start_secs,
                        end_secs: segment.end_secs,
                        text: segment.text.clone(),
                        words: segment.words.clone(),
                        sentiment: None,
                    };
                    let mut turns = self.context.clone();
                    turns.push(turn.clone());
                    let last = turns.len() - 1;
                    let mut entities: Vec<_> =
                        find_entities(&turns, &self.config).into_iter().filter(|e| e.turn_index == last).collect();
                    for entity in &mut entities {
                        entity.turn_index = 0;
                    }
                    self.context.push(turn);
                    if self.context.len() > CONTEXT_FINALS {
                        self.context.remove(0);
                    }
                    if entities.is_empty() {
                        continue;
                    }
                    let mut redacted = [turns.swap_remove(last)];
                    for entity in &entities {
                        let original: Vec<&str> =
                            redacted[0].words[entity.first_word..=entity.last_word].iter().map(|w| w.text.as_str()).collect();
                        self.replaced.push((original.join(" "), entity.kind.placeholder().to_string()));
                    }
                    let spans = redact_turns(&mut redacted, &entities);
                    self.spans.extend(spans);
                    let [redacted] = redacted;
                    segment.text = redacted.text;
                    segment.words = redacted.words;
                }
                StreamEvent::Turn(turn) => {
                    let spans: Vec<&RedactionSpan> = self.spans.iter().filter(|s| s.speaker == turn.speaker).collect();
                    if spans.is_empty() {
                        continue;
                    }
                    let mut words: Vec<Word> = Vec::with_capacity(turn.words.len());
                    for word in &turn.words {
                        let middle = (word.start_secs + word.end_secs) / 2.0;
                        let inside = spans.iter().find(|s| middle >= s.start_secs - 1e-6 && middle <= s.end_secs + 1e-6);
                        match inside {
                            Some(span) => {
                                let placeholder = span.kind.placeholder();
                                if words.last().is_none_or(|w| w.text != placeholder || w.end_secs < span.start_secs) {
                                    words.push(Word {
                                        text: placeholder.to_string(),
                                        start_secs: span.start_secs,
                                        end_secs: span.end_secs,
                                        confidence: word.confidence,
                                    });
                                }
                            }
                            None => words.push(word.clone()),
                        }
                    }
                    turn.text = self.replace_in(&words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "));
                    turn.words = words;
                }
                StreamEvent::Alert(alert) => {
                    if let Some(text) = &alert.text {
                        alert.text = Some(self.replace_in(text));
                    }
                    alert.message = self.replace_in(&alert.message);
                }
                StreamEvent::Partial { text, .. } => *text = mask_partial(text),
            }
        }
    }

    fn replace_in(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (original, placeholder) in &self.replaced {
            if !original.is_empty() {
                text = text.replace(original.as_str(), placeholder);
            }
        }
        text
    }
}

/// Every word of a partial that is or holds a number or an e-mail address is masked;
/// runs of masked words become one mask.
pub fn mask_partial(text: &str) -> String {
    let turn = Turn {
        speaker: crate::types::Speaker::Unknown,
        start_secs: 0.0,
        end_secs: 0.0,
        text: text.to_string(),
        words: text
            .split_whitespace()
            .map(|w| Word { text: w.to_string(), start_secs: 0.0, end_secs: 0.0, confidence: 1.0 })
            .collect(),
        sentiment: None,
    };
    let mut masked = vec![false; turn.words.len()];
    for token in tokenize(std::slice::from_ref(&turn)) {
        let sensitive = matches!(token.kind, TokenKind::Digits(_) | TokenKind::Number(_) | TokenKind::Repeat(_))
            || token.text.contains('@');
        if sensitive {
            masked[token.word_index] = true;
        }
    }
    let mut out: Vec<&str> = Vec::new();
    for (word, masked) in turn.words.iter().zip(&masked) {
        if *masked {
            if out.last() != Some(&PARTIAL_MASK) {
                out.push(PARTIAL_MASK);
            }
        } else {
            out.push(&word.text);
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redaction::EntityKind;
    use crate::types::{Speaker, TranscriptSegment};

    fn segment(speaker: Speaker, start: f64, text: &str) -> TranscriptSegment {
        let words: Vec<Word> = text
            .split_whitespace()
            .enumerate()
            .map(|(i, w)| Word { text: w.into(), start_secs: start + i as f64 * 0.4, end_secs: start + i as f64 * 0.4 + 0.35, confidence: 0.9 })
            .collect();
        TranscriptSegment {
            speaker,
            start_secs: start,
            end_secs: words.last().map_or(start, |w| w.end_secs),
            text: text.into(),
            words,
            language: "en".into(),
        }
    }

    #[test]
    fn finals_use_the_other_partys_cue_and_turns_follow() {
        let mut redactor = LiveRedactor::new(RedactionConfig::all());
        let mut events = vec![
            StreamEvent::Final(segment(Speaker::Agent, 0.0, "and the security code please")),
            StreamEvent::Partial { speaker: Speaker::Customer, start_secs: 3.0, end_secs: 4.0, text: "it's seven three".into() },
            StreamEvent::Final(segment(Speaker::Customer, 3.0, "it's seven three one")),
        ];
        redactor.redact(&mut events);
        let StreamEvent::Partial { text, .. } = &events[1] else { panic!("a partial") };
        assert_eq!(text, "it's […]");
        let StreamEvent::Final(customer) = &events[2] else { panic!("a final") };
        assert_eq!(customer.text, "it's [security code]");
        assert_eq!(redactor.spans().len(), 1);
        assert_eq!(redactor.spans()[0].kind, EntityKind::SecurityCode);

        let original = segment(Speaker::Customer, 3.0, "it's seven three one");
        let mut turn_events = vec![StreamEvent::Turn(Turn {
            speaker: Speaker::Customer,
            start_secs: 3.0,
            end_secs: 4.5,
            text: original.text.clone(),
            words: original.words.clone(),
            sentiment: None,
        })];
        redactor.redact(&mut turn_events);
        let StreamEvent::Turn(turn) = &turn_events[0] else { panic!("a turn") };
        assert_eq!(turn.text, "it's [security code]");
        assert_eq!(turn.words.len(), 2);
    }

    #[test]
    fn off_changes_nothing() {
        let mut redactor = LiveRedactor::new(RedactionConfig::default());
        let mut events = vec![StreamEvent::Final(segment(Speaker::Customer, 0.0, "card 4111 1111 1111 1111"))];
        let before = events.clone();
        redactor.redact(&mut events);
        assert_eq!(events, before);
    }

    #[test]
    fn partials_mask_numbers_and_addresses() {
        assert_eq!(mask_partial("my card is 4532 1234 and"), "my card is […] and");
        assert_eq!(mask_partial("four five three two one"), "[…]");
        assert_eq!(mask_partial("email me at jo@example.com"), "email me at […]");
        assert_eq!(mask_partial("hello there"), "hello there");
    }
}
