//! Word and character error rates with known values.

use callsight_eval::{
    EditCounts, char_edit_counts, char_error_rate, word_edit_counts, word_error_rate,
};

#[test]
fn one_insertion_in_three_words() {
    let counts = word_edit_counts("the cat sat", "the cat sat down");
    assert_eq!(
        counts,
        EditCounts {
            substitutions: 0,
            deletions: 0,
            insertions: 1,
            reference_len: 3
        }
    );
    assert!((word_error_rate("the cat sat", "the cat sat down") - 1.0 / 3.0).abs() < 1e-12);
}

#[test]
fn substitutions_deletions_insertions() {
    assert_eq!(
        word_edit_counts("the cat sat on the mat", "the bat sat on mat"),
        EditCounts {
            substitutions: 1,
            deletions: 1,
            insertions: 0,
            reference_len: 6
        }
    );
    assert_eq!(
        word_edit_counts("a b c", "x y z"),
        EditCounts {
            substitutions: 3,
            deletions: 0,
            insertions: 0,
            reference_len: 3
        }
    );
    assert_eq!(
        word_edit_counts("a b", ""),
        EditCounts {
            substitutions: 0,
            deletions: 2,
            insertions: 0,
            reference_len: 2
        }
    );
    assert_eq!(word_error_rate("hello world", "hello world"), 0.0);
    assert_eq!(word_error_rate("", ""), 0.0);
    assert_eq!(word_error_rate("", "two words"), 2.0);
}

#[test]
fn character_error_rate() {
    // kitten → sitting: two substitutions and one insertion over six characters.
    assert_eq!(
        char_edit_counts("kitten", "sitting"),
        EditCounts {
            substitutions: 2,
            deletions: 0,
            insertions: 1,
            reference_len: 6
        }
    );
    assert!((char_error_rate("kitten", "sitting") - 0.5).abs() < 1e-12);
    // A missing word boundary is one character error; repeated spaces are not.
    assert_eq!(char_edit_counts("ice cream", "icecream").errors(), 1);
    assert_eq!(char_edit_counts("ice  cream ", "ice cream").errors(), 0);
    // Characters, not bytes.
    assert_eq!(char_edit_counts("ёж", "еж").errors(), 1);
}

#[test]
fn corpus_level_sums_edits_over_reference_words() {
    let mut total = EditCounts::default();
    total.add(&word_edit_counts(
        "one two three four",
        "one two three four",
    ));
    total.add(&word_edit_counts("five", "six"));
    // Corpus WER is 1/5, not the mean of per-utterance rates (0 and 1).
    assert!((total.error_rate() - 0.2).abs() < 1e-12);
}
