//! Text normalisation applied to both reference and hypothesis before WER/CER, so that the score
//! counts recognition errors rather than differences of spelling, casing or punctuation.
//!
//! The English rules follow the description of Whisper's `EnglishTextNormalizer`
//! (openai-whisper 20250625, `whisper/normalizers/english.py`), with deliberate differences noted
//! on [`normalize_english`]. Other languages get [`normalize_basic`], after Whisper's
//! `BasicTextNormalizer`; Russian additionally writes number words as digits
//! ([`normalize_russian`]), which Whisper does not.

mod english_numbers;
mod russian_numbers;

use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Normalises `text` with the rules for `language` (an ISO 639-1 code such as "en" or "ru"; a
/// region suffix like "en-US" is accepted). English gets [`normalize_english`], Russian
/// [`normalize_russian`], every other language [`normalize_basic`].
pub fn normalize(text: &str, language: &str) -> String {
    let primary_language = language
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match primary_language.as_str() {
        "en" => normalize_english(text),
        "ru" => normalize_russian(text),
        _ => normalize_basic(text),
    }
}

/// [`normalize_basic`], then cardinal number words written as digits ("нажмите один" →
/// "нажмите 1", "две тысячи двадцать четыре" → "2024"), since recognisers write numbers either
/// way. Ordinals ("первый") stay words, and a run of separate digits ("один два три") stays
/// separate numbers ("1 2 3").
pub fn normalize_russian(text: &str) -> String {
    russian_numbers::russian_numbers_to_digits(&normalize_basic(text))
}

/// Normalisation for languages without specific rules: lower case, bracketed and parenthesised
/// spans removed, punctuation and symbols replaced by spaces, `ё` folded to `е` (Russian texts
/// write it inconsistently), whitespace collapsed.
///
/// Unlike Whisper's basic normaliser, combining marks are kept: replacing them by spaces would
/// split words of scripts that write vowels as marks.
pub fn normalize_basic(text: &str) -> String {
    let lowered = text.to_lowercase();
    let without_spans = remove_bracketed_spans(&lowered);
    let mut cleaned = String::with_capacity(without_spans.len());
    for character in without_spans.nfkc() {
        let character = match character {
            'ё' => 'е',
            'Ё' => 'е',
            other => other,
        };
        if character.is_alphanumeric() || is_combining_mark(character) {
            cleaned.extend(character.to_lowercase());
        } else {
            cleaned.push(' ');
        }
    }
    collapse_whitespace(&cleaned)
}

/// Whisper-style English normalisation: lower case; `[…]`, `<…>` and `(…)` spans removed;
/// hesitations (`um`, `uh`, `hmm`, …) removed; contractions and titles expanded (`won't` → `will
/// not`, `it's` → `it is`, `mr` → `mister`); punctuation and symbols removed except apostrophes
/// inside words; diacritics removed; spelled numbers written as digits (`twenty one` → `21`, `one
/// hundred and five` → `105`, `one oh one` → `101`, `five dollars` → `$5`, `ten percent` → `10%`);
/// whitespace collapsed.
///
/// Differences from Whisper, chosen so that the same utterance written in words or in digits
/// normalises to the same string:
/// - A lone "one" stays "one" (as in Whisper) and so do the lone ordinals "first", "second",
///   "third" ("1st", "2nd", "3rd" become those words); "second" is never treated as an ordinal,
///   since in speech it is usually the unit of time ("one second" stays "one second").
/// - "oh" and "o" are zero only next to another number word ("one oh one"), not in "oh no".
/// - Apostrophes inside words ("o'clock") are kept; British spellings are not Americanised.
pub fn normalize_english(text: &str) -> String {
    static CURLY_APOSTROPHE: LazyLock<Regex> = LazyLock::new(|| regex_of(r"[\u2018\u2019\u02bc]"));
    static HESITATIONS: LazyLock<Regex> =
        LazyLock::new(|| regex_of(r"\b(?:hmm|mm|mhm|mmm|uh|um)\b"));
    static SPACE_BEFORE_APOSTROPHE: LazyLock<Regex> = LazyLock::new(|| regex_of(r"\s+'"));
    static COMMA_BETWEEN_DIGITS: LazyLock<Regex> = LazyLock::new(|| regex_of(r"(\d),(\d)"));
    static PERIOD_NOT_BEFORE_DIGIT: LazyLock<Regex> = LazyLock::new(|| regex_of(r"\.(\D|$)"));
    static SYMBOL_NOT_BEFORE_DIGIT: LazyLock<Regex> = LazyLock::new(|| regex_of(r"[.$¢€£](\D|$)"));
    static PERCENT_NOT_AFTER_DIGIT: LazyLock<Regex> = LazyLock::new(|| regex_of(r"(^|\D)%"));

    let lowered = text.to_lowercase();
    let text = CURLY_APOSTROPHE.replace_all(&lowered, "'");
    let text = remove_bracketed_spans(&text);
    let text = HESITATIONS.replace_all(&text, "");
    let mut text = SPACE_BEFORE_APOSTROPHE.replace_all(&text, "'").into_owned();
    for (pattern, replacement) in ENGLISH_REPLACEMENTS.iter() {
        text = pattern.replace_all(&text, *replacement).into_owned();
    }
    let text = COMMA_BETWEEN_DIGITS.replace_all(&text, "$1$2");
    let text = PERIOD_NOT_BEFORE_DIGIT.replace_all(&text, " $1");
    let text = remove_symbols_and_diacritics(&text);
    let text = english_numbers::spoken_numbers_to_digits(&text);
    let text = SYMBOL_NOT_BEFORE_DIGIT.replace_all(&text, " $1");
    let text = PERCENT_NOT_AFTER_DIGIT.replace_all(&text, "$1 ");
    collapse_whitespace(&text)
}

/// Contractions and abbreviations, applied in order: the specific forms before the general
/// suffix rules (`won't` must not become `wo not`).
static ENGLISH_REPLACEMENTS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"\bwon't\b", "will not"),
        (r"\bcan't\b", "can not"),
        (r"\blet's\b", "let us"),
        (r"\bain't\b", "aint"),
        (r"\by'all\b", "you all"),
        (r"\bwanna\b", "want to"),
        (r"\bgotta\b", "got to"),
        (r"\bgonna\b", "going to"),
        (r"\bi'ma\b", "i am going to"),
        (r"\bimma\b", "i am going to"),
        (r"\bwoulda\b", "would have"),
        (r"\bcoulda\b", "could have"),
        (r"\bshoulda\b", "should have"),
        (r"\bma'am\b", "madam"),
        (r"\bokay\b", "ok"),
        (r"\bmr\b", "mister "),
        (r"\bmrs\b", "missus "),
        (r"\bst\b", "saint "),
        (r"\bdr\b", "doctor "),
        (r"\bprof\b", "professor "),
        (r"\bcapt\b", "captain "),
        (r"\bgov\b", "governor "),
        (r"\bgen\b", "general "),
        (r"\bsen\b", "senator "),
        (r"\brep\b", "representative "),
        (r"\bpres\b", "president "),
        (r"\brev\b", "reverend "),
        (r"\bhon\b", "honorable "),
        (r"\basst\b", "assistant "),
        (r"\bassoc\b", "associate "),
        (r"\blt\b", "lieutenant "),
        (r"\bcol\b", "colonel "),
        (r"\bjr\b", "junior "),
        (r"\bsr\b", "senior "),
        (r"\besq\b", "esquire "),
        // Perfect tenses, where "'s" and "'d" are not "is" and "would".
        (r"'d been\b", " had been"),
        (r"'s been\b", " has been"),
        (r"'d gone\b", " had gone"),
        (r"'s gone\b", " has gone"),
        (r"'d done\b", " had done"),
        (r"'s got\b", " has got"),
        (r"n't\b", " not"),
        (r"'re\b", " are"),
        (r"'s\b", " is"),
        (r"'d\b", " would"),
        (r"'ll\b", " will"),
        (r"'t\b", " not"),
        (r"'ve\b", " have"),
        (r"'m\b", " am"),
    ]
    .into_iter()
    .map(|(pattern, replacement)| (regex_of(pattern), replacement))
    .collect()
});

/// Compiles one of this module's constant patterns.
fn regex_of(pattern: &str) -> Regex {
    // The patterns are literals of this module, covered by its tests; failing here is a bug.
    Regex::new(pattern)
        .unwrap_or_else(|error| panic!("invalid normaliser pattern {pattern:?}: {error}"))
}

/// Removes `[…]` and `<…>` spans (non-speech annotations such as `[beep]`) and `(…)` spans.
pub(crate) fn remove_bracketed_spans(text: &str) -> String {
    static SQUARE_OR_ANGLE: LazyLock<Regex> = LazyLock::new(|| regex_of(r"[<\[][^>\]]*[>\]]"));
    static PARENTHESISED: LazyLock<Regex> = LazyLock::new(|| regex_of(r"\([^)]+?\)"));
    let text = SQUARE_OR_ANGLE.replace_all(text, "");
    PARENTHESISED.replace_all(&text, "").into_owned()
}

/// Letters without a decomposition that still carry a diacritic or ligature, as Whisper maps them.
fn fold_letter(character: char) -> Option<&'static str> {
    Some(match character {
        'œ' => "oe",
        'ø' => "o",
        'æ' => "ae",
        'ß' => "ss",
        'đ' | 'ð' => "d",
        'þ' => "th",
        'ł' => "l",
        _ => return None,
    })
}

/// NFKD-decomposes, drops combining marks, folds [`fold_letter`] letters, and replaces every
/// other non-alphanumeric character by a space, except the numeric symbols `. % $ ¢ € £` (the
/// number normaliser needs them) and apostrophes between two letters.
fn remove_symbols_and_diacritics(text: &str) -> String {
    let decomposed: Vec<char> = text
        .nfkd()
        .filter(|character| !is_combining_mark(*character))
        .collect();
    let mut cleaned = String::with_capacity(decomposed.len());
    for (index, &character) in decomposed.iter().enumerate() {
        if let Some(folded) = fold_letter(character) {
            cleaned.push_str(folded);
        } else if character.is_alphanumeric()
            || character.is_whitespace()
            || matches!(character, '.' | '%' | '$' | '¢' | '€' | '£')
        {
            cleaned.push(character);
        } else if character == '\'' {
            let letter_before = index > 0 && decomposed[index - 1].is_alphabetic();
            let letter_after = decomposed
                .get(index + 1)
                .is_some_and(|next| next.is_alphabetic());
            cleaned.push(if letter_before && letter_after {
                '\''
            } else {
                ' '
            });
        } else {
            cleaned.push(' ');
        }
    }
    cleaned
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_keeps_cyrillic_letters_with_breve() {
        assert_eq!(normalize_basic("Йод, ёж!"), "йод еж");
    }

    #[test]
    fn language_dispatch_accepts_region_suffix() {
        assert_eq!(normalize("Twenty-one", "en-US"), "21");
        assert_eq!(normalize("Twenty-one", "ru"), "twenty one");
    }
}
