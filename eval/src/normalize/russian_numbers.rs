//! Spelled-out Russian cardinal numbers to digits ("двадцать один" → "21", "две тысячи" →
//! "2000"), so that "нажмите один" and "нажмите 1" score the same. Expects the output of the
//! basic normaliser (lower case, `ё` folded, punctuation removed). Ordinals stay words.

/// The rank of a number word. A word extends the number being built only when it fills places
/// below those already filled ("сто двадцать один"), otherwise a new number starts ("один два").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rank {
    Unit,
    /// 10..=19 fill both the tens and the units place.
    Teen,
    Ten,
    Hundred,
}

impl Rank {
    /// The highest decimal place the word fills (0 = units).
    fn highest_place(self) -> u8 {
        match self {
            Rank::Unit => 0,
            Rank::Teen | Rank::Ten => 1,
            Rank::Hundred => 2,
        }
    }

    /// The lowest decimal place the word fills.
    fn lowest_place(self) -> u8 {
        match self {
            Rank::Unit | Rank::Teen => 0,
            Rank::Ten => 1,
            Rank::Hundred => 2,
        }
    }
}

enum RussianNumberWord {
    Value(u64, Rank),
    /// тысяча, миллион, миллиард: a power of ten scaling the group before it.
    Multiplier(u32),
}

fn classify(word: &str) -> Option<RussianNumberWord> {
    use RussianNumberWord::{Multiplier, Value};
    let number = match word {
        "ноль" | "нуль" | "ноля" | "нуля" => Value(0, Rank::Unit),
        "один" | "одна" | "одно" | "одну" | "одного" | "одной" | "одному" | "одним" | "одном" => {
            Value(1, Rank::Unit)
        }
        "два" | "две" | "двух" | "двум" | "двумя" => Value(2, Rank::Unit),
        "три" | "трех" | "трем" | "тремя" => Value(3, Rank::Unit),
        "четыре" | "четырех" | "четырем" | "четырьмя" => {
            Value(4, Rank::Unit)
        }
        "пять" | "пяти" | "пятью" => Value(5, Rank::Unit),
        "шесть" | "шести" | "шестью" => Value(6, Rank::Unit),
        "семь" | "семи" | "семью" => Value(7, Rank::Unit),
        "восемь" | "восьми" | "восемью" => Value(8, Rank::Unit),
        "девять" | "девяти" | "девятью" => Value(9, Rank::Unit),
        "десять" | "десяти" | "десятью" => Value(10, Rank::Teen),
        "одиннадцать" | "одиннадцати" => Value(11, Rank::Teen),
        "двенадцать" | "двенадцати" => Value(12, Rank::Teen),
        "тринадцать" | "тринадцати" => Value(13, Rank::Teen),
        "четырнадцать" | "четырнадцати" => Value(14, Rank::Teen),
        "пятнадцать" | "пятнадцати" => Value(15, Rank::Teen),
        "шестнадцать" | "шестнадцати" => Value(16, Rank::Teen),
        "семнадцать" | "семнадцати" => Value(17, Rank::Teen),
        "восемнадцать" | "восемнадцати" => Value(18, Rank::Teen),
        "девятнадцать" | "девятнадцати" => Value(19, Rank::Teen),
        "двадцать" | "двадцати" => Value(20, Rank::Ten),
        "тридцать" | "тридцати" => Value(30, Rank::Ten),
        "сорок" | "сорока" => Value(40, Rank::Ten),
        "пятьдесят" | "пятидесяти" => Value(50, Rank::Ten),
        "шестьдесят" | "шестидесяти" => Value(60, Rank::Ten),
        "семьдесят" | "семидесяти" => Value(70, Rank::Ten),
        "восемьдесят" | "восьмидесяти" => Value(80, Rank::Ten),
        "девяносто" | "девяноста" => Value(90, Rank::Ten),
        "сто" | "ста" => Value(100, Rank::Hundred),
        "двести" | "двухсот" => Value(200, Rank::Hundred),
        "триста" | "трехсот" => Value(300, Rank::Hundred),
        "четыреста" | "четырехсот" => Value(400, Rank::Hundred),
        "пятьсот" | "пятисот" => Value(500, Rank::Hundred),
        "шестьсот" | "шестисот" => Value(600, Rank::Hundred),
        "семьсот" | "семисот" => Value(700, Rank::Hundred),
        "восемьсот" | "восьмисот" => Value(800, Rank::Hundred),
        "девятьсот" | "девятисот" => Value(900, Rank::Hundred),
        "тысяча" | "тысячи" | "тысяч" | "тысячу" | "тысячей" => {
            Multiplier(3)
        }
        "миллион" | "миллиона" | "миллионов" => Multiplier(6),
        "миллиард" | "миллиарда" | "миллиардов" => Multiplier(9),
        _ => return None,
    };
    Some(number)
}

/// A number being built: completed multiplier groups plus the current group below a thousand.
#[derive(Default)]
struct PendingNumber {
    total: u64,
    group: u64,
    /// The lowest place filled in the current group; `None` when the group is empty.
    group_lowest_place: Option<u8>,
    /// The last multiplier applied; later multipliers must be smaller ("две тысячи миллионов" is
    /// not one number here).
    last_multiplier: Option<u32>,
    started: bool,
}

impl PendingNumber {
    fn accepts_value(&self, rank: Rank) -> bool {
        self.group_lowest_place
            .is_none_or(|lowest_place| rank.highest_place() < lowest_place)
    }

    fn accepts_multiplier(&self, power_of_ten: u32) -> bool {
        self.last_multiplier.is_none_or(|last| power_of_ten < last)
    }

    fn take_text(&mut self) -> Option<String> {
        let text = self.started.then(|| (self.total + self.group).to_string());
        *self = PendingNumber::default();
        text
    }
}

/// Rewrites Russian number words in whitespace-separated `text` as digits.
pub(super) fn russian_numbers_to_digits(text: &str) -> String {
    let mut output: Vec<String> = Vec::new();
    let mut pending = PendingNumber::default();
    for word in text.split_whitespace() {
        match classify(word) {
            Some(RussianNumberWord::Value(value, rank)) => {
                // A zero joins nothing and nothing joins it: "ноль один" is two numbers.
                let zero_involved =
                    value == 0 || (pending.started && pending.total + pending.group == 0);
                if !pending.accepts_value(rank) || zero_involved {
                    output.extend(pending.take_text());
                }
                pending.group += value;
                pending.group_lowest_place = Some(rank.lowest_place());
                pending.started = true;
            }
            Some(RussianNumberWord::Multiplier(power_of_ten)) => {
                if pending.started && !pending.accepts_multiplier(power_of_ten) {
                    output.extend(pending.take_text());
                }
                let group = if pending.started && pending.group > 0 {
                    pending.group
                } else {
                    1
                };
                let scaled = 10u64
                    .checked_pow(power_of_ten)
                    .and_then(|factor| group.checked_mul(factor));
                match scaled.and_then(|scaled| pending.total.checked_add(scaled)) {
                    Some(total) => {
                        pending.total = total;
                        pending.group = 0;
                        pending.group_lowest_place = None;
                        pending.last_multiplier = Some(power_of_ten);
                        pending.started = true;
                    }
                    None => {
                        output.extend(pending.take_text());
                        output.push(word.to_owned());
                    }
                }
            }
            None => {
                output.extend(pending.take_text());
                output.push(word.to_owned());
            }
        }
    }
    output.extend(pending.take_text());
    output.join(" ")
}

#[cfg(test)]
mod tests {
    use super::russian_numbers_to_digits;

    #[test]
    fn cardinals() {
        let cases = [
            ("нажмите один", "нажмите 1"),
            ("двадцать один", "21"),
            ("сто двадцать три рубля", "123 рубля"),
            ("две тысячи двадцать четыре", "2024"),
            ("тысяча", "1000"),
            ("три миллиона пятьсот тысяч", "3500000"),
            ("один два три", "1 2 3"),
            ("ноль один", "0 1"),
            ("двадцать десять", "20 10"),
            ("семнадцатый", "семнадцатый"),
            ("пятнадцать пять", "15 5"),
        ];
        for (spoken, expected) in cases {
            assert_eq!(
                russian_numbers_to_digits(spoken),
                expected,
                "input {spoken:?}"
            );
        }
    }
}
