//! Spelled-out English numbers to digits ("twenty one" → "21", "one oh one" → "101"), the number
//! part of the English normaliser. Expects lower-case text with punctuation already removed
//! except `.` inside numbers and the symbols `% $ ¢ € £`.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::regex_of;

/// A word (or numeric token) that takes part in a number.
#[derive(Debug, Clone, PartialEq)]
enum NumberWord {
    /// "zero": always a digit.
    Zero,
    /// "oh", "o": a zero only next to other number words ("one oh one"), a word otherwise.
    ZeroLetter,
    /// one .. nineteen
    Unit(u128),
    /// "fifth", "sixes": a unit with an ordinal or plural suffix, emitted at once.
    UnitSuffixed {
        unit: u128,
        suffix: &'static str,
        word_if_alone: bool,
    },
    /// twenty .. ninety
    Ten(u128),
    /// "twentieth", "twenties"
    TenSuffixed(u128, &'static str),
    /// hundred, thousand, million, …, as a power of ten.
    Multiplier(u32),
    /// "hundredth", "thousands"
    MultiplierSuffixed(u32, &'static str),
    Point,
    And,
    /// "double", "triple": repeat the following digit.
    Repeat(usize),
    /// "minus", "plus": a sign, when a number follows.
    Sign(char),
    /// "dollars", "cents": a currency symbol put before the preceding number.
    Currency(char),
    Percent,
    /// "per" of "per cent".
    Per,
    /// Digits as written: "42", "3.5", "$20".
    Numeric {
        currency: Option<char>,
        digits: String,
    },
}

impl NumberWord {
    /// Whether this word can be (the start of) a number's value.
    fn starts_value(&self) -> bool {
        matches!(
            self,
            NumberWord::Zero
                | NumberWord::Unit(_)
                | NumberWord::UnitSuffixed { .. }
                | NumberWord::Ten(_)
                | NumberWord::TenSuffixed(..)
                | NumberWord::Numeric { .. }
        )
    }
}

const UNITS: [&str; 19] = [
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
/// Ordinals of 1..=19. "second" is left out on purpose: in speech it is mostly the unit of time.
const UNIT_ORDINALS: [(&str, u128); 18] = [
    ("first", 1),
    ("third", 3),
    ("fourth", 4),
    ("fifth", 5),
    ("sixth", 6),
    ("seventh", 7),
    ("eighth", 8),
    ("ninth", 9),
    ("tenth", 10),
    ("eleventh", 11),
    ("twelfth", 12),
    ("thirteenth", 13),
    ("fourteenth", 14),
    ("fifteenth", 15),
    ("sixteenth", 16),
    ("seventeenth", 17),
    ("eighteenth", 18),
    ("nineteenth", 19),
];
const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const MULTIPLIERS: [(&str, u32); 5] = [
    ("hundred", 2),
    ("thousand", 3),
    ("million", 6),
    ("billion", 9),
    ("trillion", 12),
];

fn classify(token: &str) -> Option<NumberWord> {
    static NUMERIC: LazyLock<Regex> = LazyLock::new(|| regex_of(r"^([$€£¢]?)(\d+(?:\.\d+)?)$"));
    if let Some(captures) = NUMERIC.captures(token) {
        let currency = captures
            .get(1)
            .and_then(|symbol| symbol.as_str().chars().next());
        let digits = captures
            .get(2)
            .map(|digits| digits.as_str().to_owned())
            .unwrap_or_default();
        return Some(NumberWord::Numeric { currency, digits });
    }
    let word = match token {
        "zero" => NumberWord::Zero,
        "oh" | "o" => NumberWord::ZeroLetter,
        "point" => NumberWord::Point,
        "and" => NumberWord::And,
        "double" => NumberWord::Repeat(2),
        "triple" => NumberWord::Repeat(3),
        "minus" | "negative" => NumberWord::Sign('-'),
        "plus" | "positive" => NumberWord::Sign('+'),
        "dollar" | "dollars" => NumberWord::Currency('$'),
        "cent" | "cents" => NumberWord::Currency('¢'),
        "pound" | "pounds" => NumberWord::Currency('£'),
        "euro" | "euros" => NumberWord::Currency('€'),
        "percent" => NumberWord::Percent,
        "per" => NumberWord::Per,
        _ => return classify_counting_word(token),
    };
    Some(word)
}

fn classify_counting_word(token: &str) -> Option<NumberWord> {
    for (index, unit_word) in UNITS.iter().enumerate() {
        let unit = index as u128 + 1;
        if token == *unit_word {
            return Some(NumberWord::Unit(unit));
        }
        // "ones" is the pronoun far more often than a plural number.
        let plural = if *unit_word == "six" {
            "sixes".to_owned()
        } else {
            format!("{unit_word}s")
        };
        if unit > 1 && token == plural {
            return Some(NumberWord::UnitSuffixed {
                unit,
                suffix: "s",
                word_if_alone: false,
            });
        }
    }
    for (ordinal_word, unit) in UNIT_ORDINALS {
        if token == ordinal_word {
            let suffix = match unit {
                1 => "st",
                3 => "rd",
                _ => "th",
            };
            // Alone, "first" and "third" stay words; "1st" and "3rd" are written back as words.
            return Some(NumberWord::UnitSuffixed {
                unit,
                suffix,
                word_if_alone: unit <= 3,
            });
        }
    }
    for (index, ten_word) in TENS.iter().enumerate() {
        let ten = (index as u128 + 2) * 10;
        let stem = &ten_word[..ten_word.len() - 1];
        if token == *ten_word {
            return Some(NumberWord::Ten(ten));
        }
        if token == format!("{stem}ieth") {
            return Some(NumberWord::TenSuffixed(ten, "th"));
        }
        if token == format!("{stem}ies") {
            return Some(NumberWord::TenSuffixed(ten, "s"));
        }
    }
    for (multiplier_word, power_of_ten) in MULTIPLIERS {
        if token == multiplier_word {
            return Some(NumberWord::Multiplier(power_of_ten));
        }
        if token == format!("{multiplier_word}th") {
            return Some(NumberWord::MultiplierSuffixed(power_of_ten, "th"));
        }
        if token == format!("{multiplier_word}s") {
            return Some(NumberWord::MultiplierSuffixed(power_of_ten, "s"));
        }
    }
    None
}

/// The number being built from consecutive number words.
#[derive(Debug, Clone)]
enum Value {
    /// A quantity built arithmetically ("twenty one" = 20 + 1).
    Integer(u128),
    /// A digit string built by concatenation ("one two three" = "123", "three point" = "3.").
    Digits(String),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Integer(integer) => integer.to_string(),
            Value::Digits(digits) => digits.clone(),
        }
    }
}

/// Builds the output words, accumulating number words into one pending value.
#[derive(Default)]
struct NumberFolder {
    output: Vec<String>,
    value: Option<Value>,
    /// A sign or currency symbol to put before the pending value, with the word it came from.
    prefix: Option<(char, String)>,
}

impl NumberFolder {
    fn flush(&mut self) {
        match (self.value.take(), self.prefix.take()) {
            (Some(value), Some((symbol, _))) => {
                self.output.push(format!("{symbol}{}", value.text()))
            }
            (Some(value), None) => self.output.push(value.text()),
            (None, Some((_, word))) => self.output.push(word),
            (None, None) => {}
        }
    }

    fn emit_word(&mut self, word: &str) {
        self.flush();
        self.output.push(word.to_owned());
    }

    /// Emits the pending value extended by `digits_with_suffix` built by the caller.
    fn emit_value_text(&mut self, text: String) {
        self.value = Some(Value::Digits(text));
        self.flush();
    }

    /// The pending value followed by a unit (1..=19).
    fn with_unit(value: Option<Value>, unit: u128, previous: Option<&NumberWord>) -> Value {
        let Some(value) = value else {
            return Value::Integer(unit);
        };
        let follows_unit = matches!(
            previous,
            Some(NumberWord::Unit(_) | NumberWord::Zero | NumberWord::ZeroLetter)
        );
        match value {
            Value::Integer(integer) if !follows_unit => {
                let fills_slot = if unit < 10 {
                    integer % 10 == 0
                } else {
                    integer % 100 == 0
                };
                if fills_slot {
                    Value::Integer(integer + unit)
                } else {
                    Value::Digits(format!("{integer}{unit}"))
                }
            }
            other => {
                let mut digits = other.text();
                // "nineteen ninety one": the unit replaces the zero of the ten.
                if matches!(previous, Some(NumberWord::Ten(_)))
                    && unit < 10
                    && digits.ends_with('0')
                {
                    digits.pop();
                }
                Value::Digits(format!("{digits}{unit}"))
            }
        }
    }

    fn with_ten(value: Option<Value>, ten: u128) -> Value {
        match value {
            None => Value::Integer(ten),
            Some(Value::Integer(integer)) if integer % 100 == 0 => Value::Integer(integer + ten),
            Some(other) => Value::Digits(format!("{}{ten}", other.text())),
        }
    }

    /// The pending value times 10^`power_of_ten`, or `None` when it cannot be multiplied (the
    /// caller then starts a new number).
    fn with_multiplier(value: Option<&Value>, power_of_ten: u32) -> Option<Value> {
        let factor = 10u128.checked_pow(power_of_ten)?;
        match value {
            None => Some(Value::Integer(factor)),
            Some(Value::Integer(integer)) if *integer != 0 => {
                // "two million three hundred thousand": only the part below a thousand is scaled.
                let thousands = integer / 1000 * 1000;
                let residual = integer % 1000;
                residual
                    .checked_mul(factor)?
                    .checked_add(thousands)
                    .map(Value::Integer)
            }
            Some(other) => scale_decimal(&other.text(), power_of_ten).map(Value::Integer),
        }
    }

    fn process(&mut self, tokens: &[&str]) {
        let classes: Vec<Option<NumberWord>> = tokens.iter().map(|token| classify(token)).collect();
        let mut index = 0;
        while index < tokens.len() {
            let token = tokens[index];
            let previous = index
                .checked_sub(1)
                .and_then(|previous_index| classes[previous_index].as_ref());
            let next = classes.get(index + 1).and_then(Option::as_ref);
            let next_token = tokens.get(index + 1).copied();
            let next_starts_value = next.is_some_and(NumberWord::starts_value)
                || (next == Some(&NumberWord::ZeroLetter)
                    && zero_letters_lead_to_number(&classes, index + 1));
            let Some(class) = &classes[index] else {
                self.emit_word(token);
                index += 1;
                continue;
            };
            match class {
                NumberWord::Numeric { currency, digits } => {
                    match &self.value {
                        Some(Value::Digits(pending)) if pending.ends_with('.') => {
                            self.value = Some(Value::Digits(format!("{pending}{digits}")));
                            index += 1;
                            continue;
                        }
                        Some(_) => self.flush(),
                        None => {}
                    }
                    if let Some(symbol) = currency {
                        self.prefix = Some((*symbol, symbol.to_string()));
                    }
                    // Leading zeros ("007") and decimals are kept as written.
                    self.value = Some(match digits.parse::<u128>() {
                        Ok(integer) if !digits.starts_with('0') => Value::Integer(integer),
                        _ => Value::Digits(digits.clone()),
                    });
                }
                NumberWord::Zero => self.push_zero(),
                NumberWord::ZeroLetter => {
                    if self.value.is_some()
                        || next_starts_value
                        || zero_letters_lead_to_number(&classes, index)
                    {
                        self.push_zero();
                    } else {
                        self.emit_word(token);
                    }
                }
                NumberWord::Unit(unit) => {
                    self.value = Some(Self::with_unit(self.value.take(), *unit, previous))
                }
                NumberWord::UnitSuffixed {
                    unit,
                    suffix,
                    word_if_alone,
                } => {
                    let compound = self.value.is_some()
                        && matches!(
                            previous,
                            Some(NumberWord::Ten(_) | NumberWord::Multiplier(_))
                        );
                    if compound {
                        let value = Self::with_unit(self.value.take(), *unit, previous);
                        self.emit_value_text(format!("{}{suffix}", value.text()));
                    } else if *word_if_alone {
                        self.emit_word(token);
                    } else {
                        self.flush();
                        self.emit_value_text(format!("{unit}{suffix}"));
                    }
                }
                NumberWord::Ten(ten) => self.value = Some(Self::with_ten(self.value.take(), *ten)),
                NumberWord::TenSuffixed(ten, suffix) => {
                    let value = Self::with_ten(self.value.take(), *ten);
                    self.emit_value_text(format!("{}{suffix}", value.text()));
                }
                NumberWord::Multiplier(power_of_ten) => {
                    match Self::with_multiplier(self.value.as_ref(), *power_of_ten) {
                        Some(value) => self.value = Some(value),
                        None => {
                            self.flush();
                            self.value = Self::with_multiplier(None, *power_of_ten);
                        }
                    }
                }
                NumberWord::MultiplierSuffixed(power_of_ten, suffix) => {
                    let value = match Self::with_multiplier(self.value.as_ref(), *power_of_ten) {
                        Some(value) => value,
                        None => {
                            self.flush();
                            Self::with_multiplier(None, *power_of_ten).unwrap_or(Value::Integer(0))
                        }
                    };
                    self.emit_value_text(format!("{}{suffix}", value.text()));
                }
                NumberWord::Point => {
                    if next_starts_value || next == Some(&NumberWord::ZeroLetter) {
                        let pending = self
                            .value
                            .take()
                            .map(|value| value.text())
                            .unwrap_or_default();
                        self.value = Some(Value::Digits(format!("{pending}.")));
                    } else {
                        self.emit_word(token);
                    }
                }
                NumberWord::And => {
                    // "one hundred and five": the "and" inside a number is not a word of its own.
                    let inside_number = self.value.is_some()
                        && matches!(previous, Some(NumberWord::Multiplier(_)))
                        && next_starts_value;
                    if !inside_number {
                        self.emit_word(token);
                    }
                }
                NumberWord::Repeat(repeats) => {
                    let repeated_digit = match next {
                        Some(NumberWord::Unit(unit)) if *unit < 10 => Some(unit.to_string()),
                        Some(NumberWord::Zero | NumberWord::ZeroLetter) => Some("0".to_owned()),
                        _ => None,
                    };
                    if let Some(digit) = repeated_digit {
                        let pending = self
                            .value
                            .take()
                            .map(|value| value.text())
                            .unwrap_or_default();
                        self.value = Some(Value::Digits(format!(
                            "{pending}{}",
                            digit.repeat(*repeats)
                        )));
                        index += 1;
                    } else {
                        self.emit_word(token);
                    }
                }
                NumberWord::Sign(symbol) => {
                    self.flush();
                    if next_starts_value {
                        self.prefix = Some((*symbol, token.to_owned()));
                    } else {
                        self.output.push(token.to_owned());
                    }
                }
                NumberWord::Currency(symbol) => {
                    if self.value.is_some() {
                        self.prefix = Some((*symbol, token.to_owned()));
                        self.flush();
                    } else {
                        self.emit_word(token);
                    }
                }
                NumberWord::Percent => match self.value.take() {
                    Some(value) => self.emit_value_text(format!("{}%", value.text())),
                    None => self.emit_word(token),
                },
                NumberWord::Per => {
                    let per_cent = matches!(next_token, Some("cent" | "cents"));
                    match self.value.take() {
                        Some(value) if per_cent => {
                            self.emit_value_text(format!("{}%", value.text()));
                            index += 1;
                        }
                        value => {
                            self.value = value;
                            self.emit_word(token);
                        }
                    }
                }
            }
            index += 1;
        }
        self.flush();
    }

    fn push_zero(&mut self) {
        let pending = self
            .value
            .take()
            .map(|value| value.text())
            .unwrap_or_default();
        self.value = Some(Value::Digits(format!("{pending}0")));
    }
}

/// Whether the run of "oh"/"o" starting at `start` is followed by a number word.
fn zero_letters_lead_to_number(classes: &[Option<NumberWord>], start: usize) -> bool {
    classes[start..]
        .iter()
        .find(|class| *class != &Some(NumberWord::ZeroLetter))
        .is_some_and(|class| class.as_ref().is_some_and(NumberWord::starts_value))
}

/// `decimal` × 10^`power_of_ten` when the product is a whole number ("1.5" × 10^6 = 1500000).
fn scale_decimal(decimal: &str, power_of_ten: u32) -> Option<u128> {
    let (whole, fraction) = decimal.split_once('.').unwrap_or((decimal, ""));
    let fraction = fraction.trim_end_matches('0');
    let power_of_ten = usize::try_from(power_of_ten).ok()?;
    if fraction.len() > power_of_ten {
        return None;
    }
    let digits = format!(
        "{whole}{fraction}{}",
        "0".repeat(power_of_ten - fraction.len())
    );
    if digits.is_empty() {
        return None;
    }
    digits.parse().ok()
}

/// Rewrites spelled-out numbers in `text` (lower case, whitespace separated) as digits.
pub(super) fn spoken_numbers_to_digits(text: &str) -> String {
    let text = preprocess(text);
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let mut folder = NumberFolder::default();
    folder.process(&tokens);
    postprocess(&folder.output)
}

fn preprocess(text: &str) -> String {
    static AND_A_HALF: LazyLock<Regex> = LazyLock::new(|| regex_of(r"\band\s+a\s+half\b"));
    static LETTER_THEN_DIGIT: LazyLock<Regex> = LazyLock::new(|| regex_of(r"([a-z])([0-9])"));
    static DIGIT_THEN_LETTER: LazyLock<Regex> = LazyLock::new(|| regex_of(r"([0-9])([a-z])"));
    static SPLIT_SUFFIX: LazyLock<Regex> =
        LazyLock::new(|| regex_of(r"([0-9])\s+(st|nd|rd|th|s)\b"));

    // "two and a half" → "two point five", when a number precedes it.
    let mut rewritten = String::with_capacity(text.len());
    let mut last_end = 0;
    for half in AND_A_HALF.find_iter(text) {
        let before = &text[last_end..half.start()];
        rewritten.push_str(before);
        let last_word = before.split_whitespace().last().unwrap_or_default();
        let after_number = matches!(
            classify(last_word),
            Some(
                NumberWord::Zero
                    | NumberWord::Unit(_)
                    | NumberWord::Ten(_)
                    | NumberWord::Multiplier(_)
            )
        );
        rewritten.push_str(if after_number {
            "point five"
        } else {
            half.as_str()
        });
        last_end = half.end();
    }
    rewritten.push_str(&text[last_end..]);

    let spaced = LETTER_THEN_DIGIT.replace_all(&rewritten, "$1 $2");
    let spaced = DIGIT_THEN_LETTER.replace_all(&spaced, "$1 $2");
    SPLIT_SUFFIX.replace_all(&spaced, "$1$2").into_owned()
}

fn postprocess(words: &[String]) -> String {
    static DOLLARS_AND_CENTS: LazyLock<Regex> =
        LazyLock::new(|| regex_of(r"([€£$])([0-9]+) (?:and )?¢([0-9]{1,2})\b"));
    static ZERO_DOLLARS_AND_CENTS: LazyLock<Regex> =
        LazyLock::new(|| regex_of(r"[€£$]0\.([0-9]{1,2})\b"));

    // Small numbers that are usually words: "one" (also a pronoun) and the first ordinals.
    let words: Vec<&str> = words
        .iter()
        .map(|word| match word.as_str() {
            "1" => "one",
            "1s" => "ones",
            "1st" => "first",
            "2nd" => "second",
            "3rd" => "third",
            other => other,
        })
        .collect();
    let joined = words.join(" ");
    let joined = DOLLARS_AND_CENTS.replace_all(&joined, |captures: &Captures| {
        let cents: u32 = captures[3].parse().unwrap_or(0);
        format!("{}{}.{cents:02}", &captures[1], &captures[2])
    });
    ZERO_DOLLARS_AND_CENTS
        .replace_all(&joined, |captures: &Captures| {
            let cents: u32 = captures[1].parse().unwrap_or(0);
            format!("¢{cents}")
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_decimal_shifts_the_point() {
        assert_eq!(scale_decimal("1.5", 6), Some(1_500_000));
        assert_eq!(scale_decimal("2", 3), Some(2000));
        assert_eq!(scale_decimal("1.2345", 2), None);
    }

    #[test]
    fn compound_numbers() {
        let cases = [
            ("twenty one", "21"),
            ("one hundred", "100"),
            ("one hundred and five", "105"),
            ("two thousand twenty four", "2024"),
            ("nineteen ninety one", "1991"),
            ("two million three hundred thousand", "2300000"),
            ("one oh one", "101"),
            ("oh no", "oh no"),
            ("four five six", "456"),
            ("double five", "55"),
            ("three point five", "3.5"),
            ("one point five million", "1500000"),
            ("twenty first", "21st"),
            ("fifth", "5th"),
            ("first", "first"),
            ("1st", "first"),
            ("one", "one"),
            ("one second", "one second"),
            ("the nineteen nineties", "the 1990s"),
            ("five dollars", "$5"),
            ("two dollars and seven cents", "$2.07"),
            ("ten percent", "10%"),
            ("ten per cent", "10%"),
            ("minus five", "-5"),
            ("minus", "minus"),
            ("two and a half", "2.5"),
            ("007", "007"),
        ];
        for (spoken, expected) in cases {
            assert_eq!(
                spoken_numbers_to_digits(spoken),
                expected,
                "input {spoken:?}"
            );
        }
    }
}
