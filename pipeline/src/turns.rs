//! Merging the parties' transcript segments into one timeline of turns.

use crate::types::{TranscriptSegment, Turn};

/// A pause longer than this inside one speaker's speech starts a new turn.
pub const MAX_PAUSE_WITHIN_TURN_SECS: f64 = 1.5;

/// Orders all segments by start time and joins consecutive segments of the same speaker that are
/// separated by less than [`MAX_PAUSE_WITHIN_TURN_SECS`].
pub fn merge_into_turns(segments: &[TranscriptSegment]) -> Vec<Turn> {
    let mut ordered: Vec<&TranscriptSegment> = segments.iter().filter(|s| !s.words.is_empty()).collect();
    let first_word_secs = |s: &TranscriptSegment| s.words.first().map_or(s.start_secs, |w| w.start_secs);
    ordered.sort_by(|a, b| first_word_secs(a).total_cmp(&first_word_secs(b)));
    let mut turns: Vec<Turn> = Vec::new();
    for segment in ordered {
        let start_secs = segment.words.first().map_or(segment.start_secs, |w| w.start_secs);
        let end_secs = segment.words.last().map_or(segment.end_secs, |w| w.end_secs);
        match turns.last_mut() {
            Some(turn) if turn.speaker == segment.speaker && start_secs - turn.end_secs < MAX_PAUSE_WITHIN_TURN_SECS => {
                turn.end_secs = turn.end_secs.max(end_secs);
                turn.text.push(' ');
                turn.text.push_str(&segment.text);
                turn.words.extend(segment.words.iter().cloned());
            }
            _ => turns.push(Turn {
                speaker: segment.speaker,
                start_secs,
                end_secs,
                text: segment.text.clone(),
                words: segment.words.clone(),
                sentiment: None,
            }),
        }
    }
    turns
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Speaker, Word};

    fn seg(speaker: Speaker, start: f64, end: f64, text: &str) -> TranscriptSegment {
        TranscriptSegment {
            speaker,
            start_secs: start,
            end_secs: end,
            text: text.into(),
            words: vec![Word { text: text.into(), start_secs: start, end_secs: end, confidence: 1.0 }],
            language: "en".into(),
        }
    }

    #[test]
    fn interleaves_speakers_and_joins_close_segments() {
        let turns = merge_into_turns(&[
            seg(Speaker::Customer, 5.0, 7.0, "hi"),
            seg(Speaker::Agent, 0.0, 2.0, "hello"),
            seg(Speaker::Agent, 2.5, 4.0, "how can I help"),
            seg(Speaker::Agent, 9.0, 10.0, "sure"),
        ]);
        let speakers: Vec<_> = turns.iter().map(|t| t.speaker).collect();
        assert_eq!(speakers, vec![Speaker::Agent, Speaker::Customer, Speaker::Agent]);
        assert_eq!(turns[0].text, "hello how can I help");
        assert_eq!((turns[0].start_secs, turns[0].end_secs), (0.0, 4.0));
    }
}
