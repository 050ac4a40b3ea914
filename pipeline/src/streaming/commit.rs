//! The commit policy of a live transcript: LocalAgreement-2 over a bounded window.
//!
//! Whisper re-transcribes the open window of speech as audio arrives; a word is committed (final,
//! never revised) once two consecutive hypotheses agree on it from the start of the uncommitted
//! text (Macháček et al., "Turning Whisper into Real-Time Transcription System", 2023). The window
//! then starts after the last committed word, so it never grows with the length of the call.
//! The session also commits words that are old enough without agreement (`commit_after_secs`),
//! which bounds the delay when passes keep disagreeing.

use crate::compliance::matching::normalise_word;
use crate::types::Word;

/// Number of leading words on which `previous` and `current` agree, compared as normalised text
/// (case and punctuation do not count: whisper flips them between passes).
pub fn agreed_prefix_len(previous: &[Word], current: &[Word]) -> usize {
    previous
        .iter()
        .zip(current)
        .take_while(|(a, b)| {
            let (a, b) = (normalise_word(&a.text), normalise_word(&b.text));
            !a.is_empty() && a == b
        })
        .count()
}

/// Words of `words` (in time order) that end before `limit_secs`, from the start.
pub fn n_words_ending_before(words: &[Word], limit_secs: f64) -> usize {
    words.iter().take_while(|w| w.end_secs <= limit_secs).count()
}

/// Words whose middle lies after `committed_end_secs`: what a new pass adds to the transcript.
/// The middle, not the start, because word onsets from DTW can overlap the previous word by a
/// few tens of milliseconds.
pub fn words_after(words: Vec<Word>, committed_end_secs: f64) -> Vec<Word> {
    words.into_iter().filter(|w| 0.5 * (w.start_secs + w.end_secs) > committed_end_secs).collect()
}

/// Longest run of words compared between the committed tail and a new pass.
const MAX_REPEAT_WORDS: usize = 5;
/// A repeat is only a re-recognition if it starts this soon after the committed words end.
const MAX_REPEAT_GAP_SECS: f64 = 1.0;

/// Drops the first words of `new_words` that repeat the last committed words: word times shift
/// by a few tenths of a second between passes, so the time filter alone can let the end of the
/// committed text through again (the n-gram check of whisper_streaming does the same).
pub fn drop_repeated_prefix(committed_tail: &[Word], mut new_words: Vec<Word>) -> Vec<Word> {
    let Some(last_committed) = committed_tail.last() else { return new_words };
    if new_words.first().is_none_or(|w| w.start_secs > last_committed.end_secs + MAX_REPEAT_GAP_SECS) {
        return new_words;
    }
    let max_n = MAX_REPEAT_WORDS.min(committed_tail.len()).min(new_words.len());
    for n in (1..=max_n).rev() {
        let tail = &committed_tail[committed_tail.len() - n..];
        if agreed_prefix_len(tail, &new_words[..n]) == n {
            new_words.drain(..n);
            break;
        }
    }
    new_words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(texts: &[&str]) -> Vec<Word> {
        texts
            .iter()
            .enumerate()
            .map(|(idx, t)| Word { text: (*t).into(), start_secs: idx as f64 * 0.5, end_secs: idx as f64 * 0.5 + 0.4, confidence: 0.9 })
            .collect()
    }

    #[test]
    fn agreement_ignores_case_and_punctuation_and_stops_at_the_first_difference() {
        let previous = words(&["Thank", "you", "for", "call"]);
        let current = words(&["thank", "you,", "for", "calling", "card"]);
        assert_eq!(agreed_prefix_len(&previous, &current), 3);
        assert_eq!(agreed_prefix_len(&[], &current), 0);
    }

    #[test]
    fn a_repeated_end_of_the_committed_text_is_dropped_once() {
        let committed = words(&["I", "am", "sorry"]);
        let mut again = words(&["x", "am", "sorry", "about", "that"]);
        again.remove(0);
        assert_eq!(drop_repeated_prefix(&committed, again).len(), 2);
        let fresh = words(&["about", "that"]);
        assert_eq!(drop_repeated_prefix(&committed, fresh).len(), 2);
    }

    #[test]
    fn only_new_words_and_only_settled_ones() {
        let all = words(&["a", "b", "c", "d"]);
        assert_eq!(words_after(all.clone(), 0.9).len(), 2);
        assert_eq!(n_words_ending_before(&all, 1.0), 2);
    }
}
