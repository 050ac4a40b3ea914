//! A call's words as tokens for entity detection: each recognised word split into lower-case
//! pieces ("4532-1234," → `4532`, `1234`; "forty-five" → `forty`, `five`), each piece classified
//! as digits, a spoken number word (English or Russian, cardinal or ordinal), a month, or a plain
//! word; then consecutive number pieces of one turn grouped into [`NumberRun`]s with their
//! spoken value composed ("forty five thirty two" → `4532`, "double five" → `55`,
//! "тысяча девятьсот восемьдесят пятого" → `1985`).

use crate::types::{Speaker, Turn};

/// Where a token came from and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub turn_index: usize,
    pub word_index: usize,
    pub speaker: Speaker,
    pub start_secs: f64,
    /// Lower case, `ё` folded, only letters, digits and `@ . + / : $ € £ ₽ %` kept.
    pub text: String,
    pub kind: TokenKind,
    /// The word this piece came from ended a sentence (`.`, `?`, `!`).
    pub ends_sentence: bool,
    /// The word this piece came from was written with `:` between digits ("3:30"), a time.
    pub clock_time: bool,
    /// A currency sign was written on the word ("$200", "200₽").
    pub currency_sign: bool,
    /// The word was written with a capital letter (names, streets).
    pub capitalized: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// Digits as written, leading zeros kept: "0427".
    Digits(String),
    /// A spoken number word.
    Number(NumberWord),
    /// "double", "triple", "двойной": repeat the next digit.
    Repeat(usize),
    /// A month name, 1..=12.
    Month(u32),
    /// Fillers a number may contain without ending ("uh", "um", "э").
    Filler,
    Word,
}

/// The rank of a number word: a word extends the number being built only when it fills places
/// below those already filled ("сто двадцать один" = 121), otherwise a new group starts
/// ("four five" = 4, 5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumberWord {
    pub value: u64,
    /// The highest decimal place the word fills (0 = units); for multipliers, the power of ten.
    pub highest_place: u32,
    pub lowest_place: u32,
    /// "hundred", "thousand", "тысяча": multiplies the group before it.
    pub multiplier: bool,
    /// "fifth", "пятого": ends the group.
    pub ordinal: bool,
    /// "zero", "oh", "ноль": never extends a group ("forty oh" is 40, then 0).
    pub zero: bool,
}

impl NumberWord {
    fn cardinal(value: u64) -> Self {
        let (highest_place, lowest_place) = places(value);
        NumberWord { value, highest_place, lowest_place, multiplier: false, ordinal: false, zero: value == 0 }
    }
    fn ordinal(value: u64) -> Self {
        NumberWord { ordinal: true, ..Self::cardinal(value) }
    }
    fn multiplier(power_of_ten: u32) -> Self {
        NumberWord {
            value: 10_u64.pow(power_of_ten),
            highest_place: power_of_ten,
            lowest_place: power_of_ten,
            multiplier: true,
            ordinal: false,
            zero: false,
        }
    }
}

fn places(value: u64) -> (u32, u32) {
    match value {
        0..=9 => (0, 0),
        10..=19 => (1, 0),
        20..=99 => (1, if value.is_multiple_of(10) { 1 } else { 0 }),
        _ => {
            let highest = value.ilog10();
            let mut lowest = 0;
            let mut rest = value;
            while rest.is_multiple_of(10) && rest > 0 {
                rest /= 10;
                lowest += 1;
            }
            (highest, lowest)
        }
    }
}

const ENGLISH_UNITS: [&str; 20] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
];
const ENGLISH_TENS: [&str; 8] = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
const ENGLISH_ORDINAL_UNITS: [&str; 20] = [
    "zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth",
    "nineteenth",
];
const ENGLISH_ORDINAL_TENS: [&str; 8] =
    ["twentieth", "thirtieth", "fortieth", "fiftieth", "sixtieth", "seventieth", "eightieth", "ninetieth"];

/// Russian ordinal stems (longest first where one is a prefix of another) and their values;
/// the ending must be one of [`RUSSIAN_ORDINAL_ENDINGS`].
const RUSSIAN_ORDINAL_STEMS: [(&str, u64); 31] = [
    ("двухтысячн", 2000),
    ("тысячн", 1000),
    ("одиннадцат", 11),
    ("двенадцат", 12),
    ("тринадцат", 13),
    ("четырнадцат", 14),
    ("пятнадцат", 15),
    ("шестнадцат", 16),
    ("семнадцат", 17),
    ("восемнадцат", 18),
    ("девятнадцат", 19),
    ("двадцат", 20),
    ("тридцат", 30),
    ("сороков", 40),
    ("пятидесят", 50),
    ("шестидесят", 60),
    ("семидесят", 70),
    ("восьмидесят", 80),
    ("девяност", 90),
    ("десят", 10),
    ("перв", 1),
    ("втор", 2),
    ("трет", 3),
    ("четверт", 4),
    ("пят", 5),
    ("шест", 6),
    ("седьм", 7),
    ("восьм", 8),
    ("девят", 9),
    ("сот", 100),
    ("нулев", 0),
];
const RUSSIAN_ORDINAL_ENDINGS: [&str; 17] =
    ["ое", "ого", "ый", "ой", "ая", "ую", "ом", "ому", "ые", "ых", "ий", "ье", "ьего", "ья", "ей", "его", "ьему"];

fn russian_cardinal(word: &str) -> Option<u64> {
    Some(match word {
        "ноль" | "нуль" | "ноля" | "нуля" => 0,
        "один" | "одна" | "одно" | "одну" | "одного" | "одной" => 1,
        "два" | "две" | "двух" => 2,
        "три" | "трех" => 3,
        "четыре" | "четырех" => 4,
        "пять" | "пяти" => 5,
        "шесть" | "шести" => 6,
        "семь" | "семи" => 7,
        "восемь" | "восьми" => 8,
        "девять" | "девяти" => 9,
        "десять" | "десяти" => 10,
        "одиннадцать" => 11,
        "двенадцать" => 12,
        "тринадцать" => 13,
        "четырнадцать" => 14,
        "пятнадцать" => 15,
        "шестнадцать" => 16,
        "семнадцать" => 17,
        "восемнадцать" => 18,
        "девятнадцать" => 19,
        "двадцать" => 20,
        "тридцать" => 30,
        "сорок" => 40,
        "пятьдесят" => 50,
        "шестьдесят" => 60,
        "семьдесят" => 70,
        "восемьдесят" => 80,
        "девяносто" => 90,
        "сто" => 100,
        "двести" => 200,
        "триста" => 300,
        "четыреста" => 400,
        "пятьсот" => 500,
        "шестьсот" => 600,
        "семьсот" => 700,
        "восемьсот" => 800,
        "девятьсот" => 900,
        _ => return None,
    })
}

fn russian_ordinal(word: &str) -> Option<u64> {
    RUSSIAN_ORDINAL_STEMS.iter().find_map(|(stem, value)| {
        let ending = word.strip_prefix(stem)?;
        RUSSIAN_ORDINAL_ENDINGS.contains(&ending).then_some(*value)
    })
}

/// English and Russian month names (Russian in any case: "марта", "март", "мае").
pub fn month_of(word: &str) -> Option<u32> {
    const ENGLISH: [&str; 12] = [
        "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
        "december",
    ];
    if let Some(idx) = ENGLISH.iter().position(|m| *m == word) {
        return Some(idx as u32 + 1);
    }
    if matches!(word, "jan" | "feb" | "mar" | "apr" | "jun" | "jul" | "aug" | "sep" | "sept" | "oct" | "nov" | "dec") {
        return Some(match word {
            "jan" => 1,
            "feb" => 2,
            "mar" => 3,
            "apr" => 4,
            "jun" => 6,
            "jul" => 7,
            "aug" => 8,
            "sep" | "sept" => 9,
            "oct" => 10,
            "nov" => 11,
            _ => 12,
        });
    }
    if matches!(word, "май" | "мая" | "мае") {
        return Some(5);
    }
    const RUSSIAN_STEMS: [(&str, u32); 11] = [
        ("январ", 1),
        ("феврал", 2),
        ("март", 3),
        ("апрел", 4),
        ("июн", 6),
        ("июл", 7),
        ("август", 8),
        ("сентябр", 9),
        ("октябр", 10),
        ("ноябр", 11),
        ("декабр", 12),
    ];
    RUSSIAN_STEMS
        .iter()
        .find(|(stem, _)| word.starts_with(stem) && word.chars().count() <= stem.chars().count() + 2)
        .map(|(_, month)| *month)
}

fn classify(piece: &str) -> TokenKind {
    if !piece.is_empty() && piece.chars().all(|c| c.is_ascii_digit()) {
        return TokenKind::Digits(piece.to_string());
    }
    // "4th", "21st", "3rd", "2nd"
    for suffix in ["st", "nd", "rd", "th"] {
        if let Some(digits) = piece.strip_suffix(suffix)
            && !digits.is_empty()
            && digits.len() <= 2
            && digits.chars().all(|c| c.is_ascii_digit())
            && let Ok(value) = digits.parse::<u64>()
        {
            return TokenKind::Number(NumberWord::ordinal(value));
        }
    }
    if let Some(value) = ENGLISH_UNITS.iter().position(|w| *w == piece) {
        return TokenKind::Number(NumberWord::cardinal(value as u64));
    }
    if let Some(idx) = ENGLISH_TENS.iter().position(|w| *w == piece) {
        return TokenKind::Number(NumberWord::cardinal(20 + 10 * idx as u64));
    }
    if let Some(value) = ENGLISH_ORDINAL_UNITS.iter().position(|w| *w == piece) {
        return TokenKind::Number(NumberWord::ordinal(value as u64));
    }
    if let Some(idx) = ENGLISH_ORDINAL_TENS.iter().position(|w| *w == piece) {
        return TokenKind::Number(NumberWord::ordinal(20 + 10 * idx as u64));
    }
    match piece {
        "oh" | "o" => return TokenKind::Number(NumberWord::cardinal(0)),
        "hundred" => return TokenKind::Number(NumberWord::multiplier(2)),
        "thousand" | "тысяча" | "тысячи" | "тысяч" | "тысячу" => {
            return TokenKind::Number(NumberWord::multiplier(3));
        }
        "double" | "двойной" | "двойная" | "двойное" => return TokenKind::Repeat(2),
        "triple" | "тройной" | "тройная" | "тройное" => return TokenKind::Repeat(3),
        "uh" | "um" | "er" | "erm" | "ah" | "hmm" | "э" | "ээ" | "эм" | "мм" => return TokenKind::Filler,
        _ => {}
    }
    if let Some(value) = russian_cardinal(piece) {
        return TokenKind::Number(NumberWord::cardinal(value));
    }
    if let Some(value) = russian_ordinal(piece) {
        return TokenKind::Number(NumberWord::ordinal(value));
    }
    if let Some(month) = month_of(piece) {
        return TokenKind::Month(month);
    }
    TokenKind::Word
}

/// Splits one recognised word into classified pieces.
fn pieces_of_word(raw: &str) -> Vec<(String, TokenKind)> {
    let lowered: String = raw.chars().flat_map(char::to_lowercase).map(|c| if c == 'ё' { 'е' } else { c }).collect();
    let mut pieces = Vec::new();
    // An e-mail address or a web domain stays one piece ("john.smith@example.com").
    let trimmed = lowered.trim_matches(|c: char| !c.is_alphanumeric());
    if trimmed.contains('@') || looks_like_domain(trimmed) {
        pieces.push((trimmed.to_string(), TokenKind::Word));
        return pieces;
    }
    let mut current = String::new();
    let flush = |current: &mut String, pieces: &mut Vec<(String, TokenKind)>| {
        if !current.is_empty() {
            let kind = classify(current);
            pieces.push((std::mem::take(current), kind));
        }
    };
    let chars: Vec<char> = lowered.chars().collect();
    for (idx, &c) in chars.iter().enumerate() {
        if c.is_alphanumeric() {
            // "4532" then "abc": digits and letters in one word are split unless an ordinal ("4th").
            if let Some(&last) = current.chars().last().as_ref()
                && last.is_ascii_digit() != c.is_ascii_digit()
                && !is_ordinal_suffix_start(&chars, idx, &current)
            {
                flush(&mut current, &mut pieces);
            }
            current.push(c);
        } else if c == '\'' || c == '’' {
            // "it's", "o'clock": keep the letters together.
            continue;
        } else {
            flush(&mut current, &mut pieces);
            if c == '+' {
                pieces.push(("+".to_string(), TokenKind::Word));
            }
        }
    }
    flush(&mut current, &mut pieces);
    pieces
}

fn is_ordinal_suffix_start(chars: &[char], idx: usize, current: &str) -> bool {
    if !current.chars().all(|c| c.is_ascii_digit()) || current.len() > 2 {
        return false;
    }
    let rest: String = chars[idx..].iter().take_while(|c| c.is_alphanumeric()).collect();
    matches!(rest.as_str(), "st" | "nd" | "rd" | "th")
}

/// "example.com", "mail.ru": letters, a dot, a known top-level domain.
pub fn looks_like_domain(text: &str) -> bool {
    let Some((head, tld)) = text.rsplit_once('.') else { return false };
    !head.is_empty() && head.chars().any(char::is_alphabetic) && is_top_level_domain(tld)
}

pub fn is_top_level_domain(word: &str) -> bool {
    matches!(word, "com" | "org" | "net" | "ru" | "uk" | "io" | "edu" | "gov" | "co" | "de" | "info" | "biz" | "рф" | "ру" | "ком")
}

/// Every word of every turn as tokens, in turn order (turns are in time order).
pub fn tokenize(turns: &[Turn]) -> Vec<Token> {
    let mut tokens = Vec::new();
    for (turn_index, turn) in turns.iter().enumerate() {
        for (word_index, word) in turn.words.iter().enumerate() {
            let raw = word.text.trim();
            let ends_sentence = raw.ends_with(['.', '?', '!']) && !looks_like_domain(raw.trim_end_matches(['.', '?', '!']));
            let clock_time = is_clock_time(raw);
            let currency_sign = raw.contains(['$', '€', '£', '₽']);
            let capitalized = raw.chars().find(|c| c.is_alphabetic()).is_some_and(char::is_uppercase);
            for (text, kind) in pieces_of_word(raw) {
                tokens.push(Token {
                    turn_index,
                    word_index,
                    speaker: turn.speaker,
                    start_secs: word.start_secs,
                    text,
                    kind,
                    ends_sentence,
                    clock_time,
                    currency_sign,
                    capitalized,
                });
            }
        }
    }
    tokens
}

fn is_clock_time(raw: &str) -> bool {
    let core = raw.trim_matches(|c: char| !c.is_alphanumeric());
    let mut parts = core.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(hours), Some(minutes), None) => {
            !hours.is_empty()
                && hours.len() <= 2
                && hours.chars().all(|c| c.is_ascii_digit())
                && minutes.len() >= 2
                && minutes.chars().take(2).all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// One composed number inside a run: "forty five" (45), "0427" as written, "пятого" (5, ordinal).
#[derive(Debug, Clone, PartialEq)]
pub struct NumberGroup {
    /// The digits, leading zeros kept for written digits ("0427") and spoken zeros ("oh" → "0").
    pub digits: String,
    pub value: u64,
    pub ordinal: bool,
    /// Token indices (into the token list) of the first and last token of the group.
    pub first_token: usize,
    pub last_token: usize,
}

/// Consecutive number tokens of one turn: "four five three two one one …" or "4532 1234 …".
#[derive(Debug, Clone, PartialEq)]
pub struct NumberRun {
    pub groups: Vec<NumberGroup>,
    pub first_token: usize,
    pub last_token: usize,
}

impl NumberRun {
    pub fn digits(&self) -> String {
        self.groups.iter().map(|g| g.digits.as_str()).collect()
    }
    pub fn n_digits(&self) -> usize {
        self.groups.iter().map(|g| g.digits.len()).sum()
    }
}

fn is_number_token(kind: &TokenKind) -> bool {
    matches!(kind, TokenKind::Digits(_) | TokenKind::Number(_))
}

struct GroupBuilder {
    /// The part already scaled by a thousand ("four thousand" → 4000).
    thousands: u64,
    /// The part below a thousand being built ("five hundred thirty" → 530).
    tail: u64,
    lowest_filled_place: u32,
    first_token: usize,
    last_token: usize,
    ordinal: bool,
}

impl GroupBuilder {
    fn finish(self) -> NumberGroup {
        let value = self.thousands + self.tail;
        NumberGroup {
            digits: value.to_string(),
            value,
            ordinal: self.ordinal,
            first_token: self.first_token,
            last_token: self.last_token,
        }
    }
}

/// Groups number tokens into runs. A run ends at a word that is no number (fillers and "-"
/// pieces are skipped), at the end of a turn, or after a word that ended a sentence.
pub fn number_runs(tokens: &[Token]) -> Vec<NumberRun> {
    let mut runs = Vec::new();
    let mut idx = 0;
    while idx < tokens.len() {
        let starts = is_number_token(&tokens[idx].kind)
            || (matches!(tokens[idx].kind, TokenKind::Repeat(_))
                && tokens.get(idx + 1).is_some_and(|t| is_number_token(&t.kind) && t.turn_index == tokens[idx].turn_index));
        if !starts {
            idx += 1;
            continue;
        }
        let turn_index = tokens[idx].turn_index;
        let mut groups: Vec<NumberGroup> = Vec::new();
        let mut current: Option<GroupBuilder> = None;
        let mut repeat = 1;
        let first_token = idx;
        let mut last_token = idx;
        while idx < tokens.len() && tokens[idx].turn_index == turn_index {
            let token = &tokens[idx];
            match &token.kind {
                TokenKind::Digits(digits) => {
                    if let Some(group) = current.take() {
                        groups.push(group.finish());
                    }
                    let text = digits.repeat(repeat.max(1));
                    repeat = 1;
                    groups.push(NumberGroup {
                        value: digits.parse().unwrap_or(u64::MAX),
                        digits: text,
                        ordinal: false,
                        first_token: idx,
                        last_token: idx,
                    });
                }
                TokenKind::Number(word) => {
                    if repeat > 1 && word.value <= 9 && !word.multiplier {
                        if let Some(group) = current.take() {
                            groups.push(group.finish());
                        }
                        groups.push(NumberGroup {
                            digits: word.value.to_string().repeat(repeat),
                            value: word.value,
                            ordinal: word.ordinal,
                            first_token: idx,
                            last_token: idx,
                        });
                        repeat = 1;
                    } else {
                        repeat = 1;
                        current = extend_group(current, word, idx, &mut groups);
                    }
                }
                TokenKind::Repeat(times) => {
                    if let Some(group) = current.take() {
                        groups.push(group.finish());
                    }
                    repeat = *times;
                }
                TokenKind::Filler => {}
                TokenKind::Word if token.text == "-" || token.text == "dash" => {}
                _ => break,
            }
            if !matches!(token.kind, TokenKind::Filler | TokenKind::Word) {
                last_token = idx;
            }
            idx += 1;
            let same_word = |next: &Token| next.turn_index == token.turn_index && next.word_index == token.word_index;
            if token.ends_sentence && tokens.get(idx).is_none_or(|next| !same_word(next)) {
                break;
            }
        }
        if let Some(group) = current.take() {
            groups.push(group.finish());
        }
        if !groups.is_empty() {
            runs.push(NumberRun { groups, first_token, last_token });
        }
        idx = idx.max(last_token + 1);
    }
    runs
}

fn extend_group(current: Option<GroupBuilder>, word: &NumberWord, idx: usize, groups: &mut Vec<NumberGroup>) -> Option<GroupBuilder> {
    let start_new = |word: &NumberWord| {
        let (thousands, tail) = if word.multiplier && word.value >= 1000 { (word.value, 0) } else { (0, word.value) };
        GroupBuilder { thousands, tail, lowest_filled_place: word.lowest_place, first_token: idx, last_token: idx, ordinal: word.ordinal }
    };
    // An ordinal ends its group at once ("fifth", "twenty fifth").
    let close_if_ordinal = |group: GroupBuilder, groups: &mut Vec<NumberGroup>| {
        if group.ordinal {
            groups.push(group.finish());
            None
        } else {
            Some(group)
        }
    };
    let Some(mut group) = current else {
        return close_if_ordinal(start_new(word), groups);
    };
    if word.multiplier && !group.ordinal {
        if word.value == 100 && (1..100).contains(&group.tail) {
            group.tail *= 100;
            group.lowest_filled_place = 2;
            group.last_token = idx;
            return Some(group);
        }
        if word.value >= 1000 && group.thousands == 0 && group.tail > 0 {
            group.thousands = group.tail * word.value;
            group.tail = 0;
            group.lowest_filled_place = word.lowest_place;
            group.last_token = idx;
            return Some(group);
        }
        groups.push(group.finish());
        return Some(start_new(word));
    }
    let extends = !word.zero && !word.multiplier && !group.ordinal && word.highest_place < group.lowest_filled_place;
    if extends {
        group.tail += word.value;
        group.lowest_filled_place = word.lowest_place;
        group.last_token = idx;
        group.ordinal = word.ordinal;
        return close_if_ordinal(group, groups);
    }
    groups.push(group.finish());
    close_if_ordinal(start_new(word), groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Word;

    fn turn(text: &str) -> Turn {
        let words = text
            .split_whitespace()
            .enumerate()
            .map(|(i, w)| Word { text: w.into(), start_secs: i as f64 * 0.4, end_secs: i as f64 * 0.4 + 0.3, confidence: 0.9 })
            .collect();
        Turn { speaker: Speaker::Customer, start_secs: 0.0, end_secs: 10.0, text: text.into(), words, sentiment: None }
    }

    fn run_digits(text: &str) -> Vec<String> {
        let tokens = tokenize(&[turn(text)]);
        number_runs(&tokens).iter().map(NumberRun::digits).collect()
    }

    #[test]
    fn digits_spoken_one_by_one_and_in_pairs() {
        assert_eq!(run_digits("four five three two"), ["4532"]);
        assert_eq!(run_digits("forty-five thirty-two"), ["4532"]);
        assert_eq!(run_digits("forty five thirty two eleven oh nine"), ["45321109"]);
        assert_eq!(run_digits("double five oh two"), ["5502"]);
        assert_eq!(run_digits("triple seven"), ["777"]);
        assert_eq!(run_digits("one oh one"), ["101"]);
    }

    #[test]
    fn written_digits_with_separators() {
        assert_eq!(run_digits("4532-1234-5678-9012."), ["4532123456789012"]);
        assert_eq!(run_digits("4532, 1234, 5678, 9012"), ["4532123456789012"]);
        assert_eq!(run_digits("it is 04 27 thanks"), ["0427"]);
        assert_eq!(run_digits("forty five 32"), ["4532"]);
    }

    #[test]
    fn hundreds_thousands_and_years() {
        assert_eq!(run_digits("two hundred dollars"), ["200"]);
        assert_eq!(run_digits("nineteen eighty five"), ["1985"]);
        assert_eq!(run_digits("four thousand five hundred thirty two"), ["4532"]);
        assert_eq!(run_digits("twenty twenty seven"), ["2027"]);
    }

    #[test]
    fn russian_numbers_and_ordinals() {
        assert_eq!(run_digits("четыре пять три два"), ["4532"]);
        assert_eq!(run_digits("сорок пять тридцать два"), ["4532"]);
        assert_eq!(run_digits("тысяча девятьсот восемьдесят пятого года"), ["1985"]);
        assert_eq!(run_digits("пятнадцатого марта"), ["15"]);
        assert_eq!(run_digits("двадцать пятого"), ["25"]);
        assert_eq!(run_digits("две тысячи пятого"), ["2005"]);
        assert_eq!(run_digits("триста сорок два"), ["342"]);
    }

    #[test]
    fn runs_end_at_words_and_sentences() {
        assert_eq!(run_digits("4532 and 1234"), ["4532", "1234"]);
        assert_eq!(run_digits("it was 12. 34 more"), ["12", "34"]);
        assert_eq!(run_digits("four uh five"), ["45"]);
        assert_eq!(run_digits("the 4th of july"), ["4"]);
    }

    #[test]
    fn months_and_domains() {
        assert_eq!(month_of("march"), Some(3));
        assert_eq!(month_of("марта"), Some(3));
        assert_eq!(month_of("мая"), Some(5));
        assert_eq!(month_of("марш"), None);
        assert!(looks_like_domain("example.com"));
        assert!(!looks_like_domain("12.50"));
    }
}
