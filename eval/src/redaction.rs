//! Redaction evaluation: a seeded generator of labelled two-party calls in English and Russian
//! (payment cards, codes, expiry dates, accounts, dates of birth, phones, e-mails, national ids,
//! addresses, in spoken and written wordings, among decoys: amounts, times, durations, counts,
//! reference numbers), and recall/precision of the detector's spans per type and language.
//!
//! The wordings and values here are drawn independently of the unit and end-to-end tests
//! (different seeds, templates, values). Text calls measure the detector on transcripts; the
//! same calls spoken by espeak-ng and transcribed measure it on real recogniser output
//! (`callsight eval redaction --audio`).

use std::collections::BTreeMap;

use callsight_pipeline::redaction::{EntityKind, RedactionConfig, find_entities};
use callsight_pipeline::types::{Speaker, Turn, Word};
use serde::Serialize;

/// One line of a generated call and, if it holds one, the entity's word range in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelledLine {
    pub speaker: Speaker,
    pub text: String,
    /// (kind, first word, last word) in `text.split_whitespace()`.
    pub entity: Option<(EntityKind, usize, usize)>,
    /// A decoy the detector must leave alone.
    pub decoy: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelledCall {
    pub id: String,
    pub language: String,
    pub lines: Vec<LabelledLine>,
}

/// A small deterministic generator (xorshift64*): the same seed gives the same calls.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
}

const EN_DIGITS: [&str; 10] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
const EN_TEENS: [&str; 10] =
    ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"];
const EN_TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
const RU_DIGITS: [&str; 10] = ["ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять"];
const RU_TEENS: [&str; 10] = [
    "десять", "одиннадцать", "двенадцать", "тринадцать", "четырнадцать", "пятнадцать", "шестнадцать", "семнадцать",
    "восемнадцать", "девятнадцать",
];
const RU_TENS: [&str; 10] =
    ["", "", "двадцать", "тридцать", "сорок", "пятьдесят", "шестьдесят", "семьдесят", "восемьдесят", "девяносто"];
const EN_MONTHS: [&str; 12] = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December",
];
const RU_MONTHS_GENITIVE: [&str; 12] = [
    "января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября", "ноября", "декабря",
];
const EN_ORDINALS: [&str; 32] = [
    "", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh",
    "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth",
    "twentieth", "twenty first", "twenty second", "twenty third", "twenty fourth", "twenty fifth", "twenty sixth",
    "twenty seventh", "twenty eighth", "twenty ninth", "thirtieth", "thirty first",
];
const RU_ORDINALS_NEUTER: [&str; 32] = [
    "", "первое", "второе", "третье", "четвертое", "пятое", "шестое", "седьмое", "восьмое", "девятое", "десятое",
    "одиннадцатое", "двенадцатое", "тринадцатое", "четырнадцатое", "пятнадцатое", "шестнадцатое", "семнадцатое",
    "восемнадцатое", "девятнадцатое", "двадцатое", "двадцать первое", "двадцать второе", "двадцать третье",
    "двадцать четвертое", "двадцать пятое", "двадцать шестое", "двадцать седьмое", "двадцать восьмое",
    "двадцать девятое", "тридцатое", "тридцать первое",
];
/// Genitive ordinals of the last two digits of a year ("восемьдесят пятого").
const RU_UNIT_ORDINALS_GENITIVE: [&str; 10] =
    ["", "первого", "второго", "третьего", "четвертого", "пятого", "шестого", "седьмого", "восьмого", "девятого"];

const RU_TENS_ORDINALS_GENITIVE: [&str; 10] = [
    "", "десятого", "двадцатого", "тридцатого", "сорокового", "пятидесятого", "шестидесятого", "семидесятого",
    "восьмидесятого", "девяностого",
];

fn digit_words(digits: &str, russian: bool) -> Vec<String> {
    let table = if russian { &RU_DIGITS } else { &EN_DIGITS };
    digits.chars().filter_map(|c| c.to_digit(10)).map(|d| table[d as usize].to_string()).collect()
}

/// "41" → "forty one", "07" → "oh seven" / "ноль семь", "10" → "ten".
fn pair_words(pair: &str, russian: bool) -> String {
    let value: usize = pair.parse().unwrap_or(0);
    let (digits, teens, tens) = if russian { (&RU_DIGITS, &RU_TEENS, &RU_TENS) } else { (&EN_DIGITS, &EN_TEENS, &EN_TENS) };
    match value {
        0..=9 => format!("{} {}", if russian { "ноль" } else { "oh" }, digits[value]),
        10..=19 => teens[value - 10].to_string(),
        _ if value.is_multiple_of(10) => tens[value / 10].to_string(),
        _ => format!("{} {}", tens[value / 10], digits[value % 10]),
    }
}

/// A digit string spoken in one of several styles, or written.
fn say_digits(rng: &mut Rng, digits: &str, russian: bool, group: usize) -> String {
    let groups: Vec<String> = digits.as_bytes().chunks(group.max(1)).map(|c| String::from_utf8_lossy(c).to_string()).collect();
    match rng.below(5) {
        0 => groups.join(" "),
        1 => groups.join(if russian { " " } else { "-" }),
        2 => groups.iter().map(|g| digit_words(g, russian).join(" ")).collect::<Vec<_>>().join(", "),
        3 => groups
            .iter()
            .map(|g| {
                if g.len() % 2 == 0 {
                    g.as_bytes().chunks(2).map(|p| pair_words(&String::from_utf8_lossy(p), russian)).collect::<Vec<_>>().join(" ")
                } else {
                    digit_words(g, russian).join(" ")
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => {
            // Mixed: digits with "double" where two repeat (English), else written groups.
            if russian {
                groups.iter().map(|g| digit_words(g, true).join(" ")).collect::<Vec<_>>().join(" ")
            } else {
                let mut words = Vec::new();
                let chars: Vec<char> = digits.chars().collect();
                let mut idx = 0;
                while idx < chars.len() {
                    let digit = chars[idx].to_digit(10).unwrap_or(0) as usize;
                    if idx + 1 < chars.len() && chars[idx + 1] == chars[idx] {
                        words.push(format!("double {}", EN_DIGITS[digit]));
                        idx += 2;
                    } else {
                        words.push(EN_DIGITS[digit].to_string());
                        idx += 1;
                    }
                }
                words.join(" ")
            }
        }
    }
}

fn say_random_digits(rng: &mut Rng, n_digits: usize, russian: bool, group: usize) -> String {
    let digits = rng.digits(n_digits);
    say_digits(rng, &digits, russian, group)
}

fn luhn_complete(rng: &mut Rng, prefix: &str, length: usize) -> String {
    let mut digits = format!("{prefix}{}", rng.digits(length - prefix.len() - 1));
    for check in 0..10 {
        let candidate = format!("{digits}{check}");
        if callsight_pipeline::redaction::detect::luhn_valid(&candidate) {
            digits = candidate;
            break;
        }
    }
    digits
}

fn year_words(year: u32, russian: bool) -> String {
    let (century, rest) = (year / 100, year % 100);
    if russian {
        let base = if century == 19 { "тысяча девятьсот" } else { "две тысячи" };
        let tail = match rest {
            0 => return if century == 19 { "тысяча девятисотого".into() } else { "двухтысячного".into() },
            1..=9 => RU_UNIT_ORDINALS_GENITIVE[rest as usize].to_string(),
            _ if rest % 10 == 0 => RU_TENS_ORDINALS_GENITIVE[(rest / 10) as usize].to_string(),
            10..=19 => format!("{}ого", RU_TEENS[(rest - 10) as usize].trim_end_matches('ь')),
            _ => format!("{} {}", RU_TENS[(rest / 10) as usize], RU_UNIT_ORDINALS_GENITIVE[(rest % 10) as usize]),
        };
        format!("{base} {tail}")
    } else {
        format!("{} {}", pair_words(&century.to_string(), false), pair_words(&format!("{rest:02}"), false))
    }
}

struct Template {
    question: String,
    prefix: String,
    entity: String,
    suffix: String,
    kind: EntityKind,
}

fn english_entity(rng: &mut Rng, kind: EntityKind) -> Template {
    let lead = rng.pick(&["", "Sure, it's", "Yes, it is", "Okay so", "Um, it's", "That's"]).to_string();
    let (question, entity) = match kind {
        EntityKind::CardNumber => {
            let (prefix, length) =
                if rng.below(5) == 0 { (rng_pick_static(rng, &["34", "37"]), 15) } else { (rng_pick_static(rng, &["4", "51", "55", "22"]), 16) };
            let digits = luhn_complete(rng, prefix, length);
            let question = rng.pick(&[
                "Can I take the long number on the card?",
                "What is the card number please?",
                "Please read me the digits on the front of your card.",
                "Which card would you like to pay with? I need the full number.",
            ]);
            (question.to_string(), say_digits(rng, &digits, false, 4))
        }
        EntityKind::SecurityCode => {
            let code = rng.digits(3);
            let question = rng.pick(&["And the security code on the back?", "The three digit CVV please.", "What's the CVC on the back of the card?"]);
            let entity = match rng.below(3) {
                0 => code.clone(),
                1 => digit_words(&code, false).join(" "),
                _ => format!("{} {}", EN_DIGITS[code.as_bytes()[0] as usize - 48], pair_words(&code[1..], false)),
            };
            (question.to_string(), entity)
        }
        EntityKind::ExpiryDate => {
            let month = 1 + rng.below(12);
            let year = 25 + rng.below(8);
            let question = rng.pick(&["When does the card expire?", "And the expiry date?", "What's the expiration date on it?"]);
            let entity = match rng.below(4) {
                0 => format!("{month:02}/{year}"),
                1 => format!("{} {}", pair_words(&format!("{month:02}"), false), pair_words(&year.to_string(), false)),
                2 => format!("{} 20{year}", EN_MONTHS[month - 1]),
                _ => format!("{} twenty {}", EN_MONTHS[month - 1], pair_words(&year.to_string(), false)),
            };
            (question.to_string(), entity)
        }
        EntityKind::DateOfBirth => {
            let (day, month, year) = (1 + rng.below(28), 1 + rng.below(12), 1940 + rng.below(65) as u32);
            let question = rng.pick(&[
                "Can you confirm your date of birth?",
                "For security, what is your date of birth?",
                "And when were you born?",
            ]);
            let entity = match rng.below(5) {
                0 => format!("{} {day}, {year}", EN_MONTHS[month - 1]),
                1 => format!("the {} of {} {}", EN_ORDINALS[day], EN_MONTHS[month - 1], year_words(year, false)),
                2 => format!("{month:02}/{day:02}/{year}"),
                3 => format!("{day} {} {year}", EN_MONTHS[month - 1]),
                _ => format!("{} {} {}", EN_MONTHS[month - 1], EN_ORDINALS[day], year_words(year, false)),
            };
            (question.to_string(), entity)
        }
        EntityKind::PhoneNumber => {
            let question = rng.pick(&["What's the best number to reach you on?", "Can I have a contact phone number?", "Which mobile number should we text?"]);
            let entity = match rng.below(4) {
                0 => format!("{}-{}-{}", 200 + rng.below(700), rng.digits(3), rng.digits(4)),
                1 => { let digits = format!("{}{}", 200 + rng.below(700), rng.digits(7)); say_digits(rng, &digits, false, 3) },
                2 => format!("+44 7{} {}", rng.digits(3), rng.digits(6)),
                _ => format!("oh seven {}", digit_words(&rng.digits(9), false).join(" ")),
            };
            (question.to_string(), entity)
        }
        EntityKind::Email => {
            let first = rng.pick(&["john", "mary", "alex", "priya", "tom", "olga"]).to_string();
            let last = rng.pick(&["smith", "jones", "patel", "brown", "lee"]).to_string();
            let domain = rng.pick(&["example", "gmail", "outlook", "mail"]).to_string();
            let tld = rng.pick(&["com", "net", "org"]).to_string();
            let question = rng.pick(&["And your email address?", "Where should we email the receipt?"]);
            let entity = match rng.below(3) {
                0 => format!("{first}.{last}@{domain}.{tld}"),
                1 => format!("{first} dot {last} at {domain} dot {tld}"),
                _ => format!("{first} underscore {last} at {domain}.{tld}"),
            };
            (question.to_string(), entity)
        }
        EntityKind::BankAccount => {
            let question = rng.pick(&["What's your account number?", "And the sort code of the account?", "Which account number should the refund go to?"]);
            let entity = if question.contains("sort") {
                format!("{} {} {}", rng.digits(2), rng.digits(2), rng.digits(2))
            } else {
                say_random_digits(rng, 8, false, 4)
            };
            (question.to_string(), entity)
        }
        EntityKind::NationalId => {
            let question = rng.pick(&["Can I have your social security number?", "What's your passport number?"]);
            let entity = if question.contains("passport") {
                say_random_digits(rng, 9, false, 3)
            } else {
                match rng.below(2) {
                    0 => format!("{}-{}-{}", rng.digits(3), rng.digits(2), rng.digits(4)),
                    _ => digit_words(&rng.digits(9), false).join(" "),
                }
            };
            (question.to_string(), entity)
        }
        EntityKind::Address => {
            let street = rng.pick(&["Baker Street", "Oak Lane", "Maple Avenue", "Station Road", "Park Drive"]).to_string();
            let number = 1 + rng.below(300);
            let question = rng.pick(&["What's the address on the account?", "Where should we send the new card?"]);
            let entity = if rng.below(2) == 0 { format!("{number} {street}") } else { format!("{} {street}", spoken_english_number(number)) };
            (question.to_string(), entity)
        }
    };
    let suffix = rng.pick(&["", "thanks.", "I think.", "okay?"]).to_string();
    Template { question, prefix: lead, entity, suffix, kind }
}

fn rng_pick_static(rng: &mut Rng, items: &[&'static str]) -> &'static str {
    items[rng.below(items.len())]
}

fn spoken_english_number(value: usize) -> String {
    match value {
        0..=9 => EN_DIGITS[value].to_string(),
        10..=19 => EN_TEENS[value - 10].to_string(),
        20..=99 if value.is_multiple_of(10) => EN_TENS[value / 10].to_string(),
        20..=99 => format!("{} {}", EN_TENS[value / 10], EN_DIGITS[value % 10]),
        _ => {
            let rest = value % 100;
            if rest == 0 {
                format!("{} hundred", EN_DIGITS[value / 100])
            } else {
                format!("{} {}", EN_DIGITS[value / 100], pair_words(&format!("{rest:02}"), false))
            }
        }
    }
}

fn russian_entity(rng: &mut Rng, kind: EntityKind) -> Template {
    let lead = rng.pick(&["", "Да,", "Конечно,", "Записывайте:", "Так,"]).to_string();
    let (question, entity) = match kind {
        EntityKind::CardNumber => {
            let prefix = rng_pick_static(rng, &["4", "5", "2202", "2200"]);
            let digits = luhn_complete(rng, prefix, 16);
            let question = rng.pick(&["Назовите, пожалуйста, номер карты.", "Продиктуйте номер вашей карты.", "Какой картой будете оплачивать? Нужен полный номер."]);
            (question.to_string(), say_digits(rng, &digits, true, 4))
        }
        EntityKind::SecurityCode => {
            let code = rng.digits(3);
            let question = rng.pick(&["И код безопасности с обратной стороны.", "Назовите CVV код."]);
            let entity = if rng.below(2) == 0 { code.clone() } else { digit_words(&code, true).join(" ") };
            (question.to_string(), entity)
        }
        EntityKind::ExpiryDate => {
            let (month, year) = (1 + rng.below(12), 25 + rng.below(8));
            let question = rng.pick(&["Срок действия карты?", "До какого числа действует карта? Срок действия."]);
            let entity = match rng.below(2) {
                0 => format!("{month:02}/{year}"),
                _ => format!("{} {}", pair_words(&format!("{month:02}"), true), pair_words(&year.to_string(), true)),
            };
            (question.to_string(), entity)
        }
        EntityKind::DateOfBirth => {
            let (day, month, year) = (1 + rng.below(28), 1 + rng.below(12), 1940 + rng.below(65) as u32);
            let question = rng.pick(&["Назовите дату рождения.", "Подтвердите, пожалуйста, дату рождения.", "Когда вы родились?"]);
            let entity = match rng.below(3) {
                0 => format!("{day:02}.{month:02}.{year}"),
                1 => format!("{day} {} {year}", RU_MONTHS_GENITIVE[month - 1]),
                _ => format!("{} {} {}", RU_ORDINALS_NEUTER[day], RU_MONTHS_GENITIVE[month - 1], year_words(year, true)),
            };
            (question.to_string(), entity)
        }
        EntityKind::PhoneNumber => {
            let question = rng.pick(&["Ваш контактный телефон?", "Продиктуйте номер мобильного телефона."]);
            let body = format!("9{}", rng.digits(9));
            let entity = match rng.below(3) {
                0 => format!("+7 {} {}-{}-{}", &body[..3], &body[3..6], &body[6..8], &body[8..]),
                1 => format!("8{body}"),
                _ => format!(
                    "восемь {} {} {} {}",
                    digit_words(&body[..3], true).join(" "),
                    digit_words(&body[3..6], true).join(" "),
                    pair_words(&body[6..8], true),
                    pair_words(&body[8..], true)
                ),
            };
            (question.to_string(), entity)
        }
        EntityKind::Email => {
            let question = rng.pick(&["Адрес электронной почты?", "Куда прислать чек? Нужна почта."]);
            let first = rng.pick(&["ivan", "olga", "petr", "anna"]).to_string();
            let entity = match rng.below(2) {
                0 => format!("{first}.{}@yandex.ru", rng.pick(&["petrov", "smirnova", "ivanov"])),
                _ => format!("{} точка {} собака мейл точка ру", rng.pick(&["иван", "ольга", "петр"]), rng.pick(&["петров", "смирнова"])),
            };
            (question.to_string(), entity)
        }
        EntityKind::BankAccount => {
            let question = rng.pick(&["Номер счета для возврата?", "Продиктуйте номер расчетного счета."]);
            let digits = format!("40817810{}", rng.digits(12));
            let entity = if rng.below(2) == 0 { digits } else { say_digits(rng, &digits, true, 4) };
            (question.to_string(), entity)
        }
        EntityKind::NationalId => {
            let question = rng.pick(&["Номер СНИЛС?", "Серия и номер паспорта?"]);
            let entity = if question.contains("СНИЛС") {
                format!("{}-{}-{} {}", rng.digits(3), rng.digits(3), rng.digits(3), rng.digits(2))
            } else {
                format!("{} {} {}", rng.digits(2), rng.digits(2), rng.digits(6))
            };
            (question.to_string(), entity)
        }
        EntityKind::Address => {
            let question = rng.pick(&["Ваш адрес?", "Куда доставить карту?"]);
            let entity = format!(
                "улица {} дом {} квартира {}",
                rng.pick(&["Ленина", "Мира", "Гагарина", "Садовая"]),
                1 + rng.below(90),
                1 + rng.below(200)
            );
            (question.to_string(), entity)
        }
    };
    let suffix = rng.pick(&["", "спасибо.", "вроде так."]).to_string();
    Template { question, prefix: lead, entity, suffix, kind }
}

fn english_decoy(rng: &mut Rng) -> (Speaker, String) {
    let amount = 20 + rng.below(900);
    let options = [
        (Speaker::Agent, format!("That will be {} dollars today.", spoken_english_number(amount))),
        (Speaker::Customer, format!("You charged me ${amount}.{:02} twice.", rng.below(100))),
        (Speaker::Customer, format!("I called at {}:{:02} pm yesterday.", 1 + rng.below(11), rng.below(60))),
        (Speaker::Customer, format!("I waited {} minutes on hold.", spoken_english_number(5 + rng.below(60)))),
        (Speaker::Agent, format!("Your reference number is {}.", say_random_digits(rng, 8, false, 4))),
        (Speaker::Agent, format!("The order number is {}.", rng.digits(10))),
        (Speaker::Customer, format!("I have {} cards with you.", spoken_english_number(2 + rng.below(3)))),
        (Speaker::Agent, format!("It will arrive in {} business days.", spoken_english_number(3 + rng.below(7)))),
        (Speaker::Agent, format!("The payment was due on {} {}.", EN_MONTHS[rng.below(12)], EN_ORDINALS[1 + rng.below(28)])),
        (Speaker::Customer, format!("The fee went up {} percent.", 2 + rng.below(20))),
        (Speaker::Agent, format!("Press {} for billing.", spoken_english_number(1 + rng.below(9)))),
        (Speaker::Agent, format!("Your case number is {}.", rng.digits(6))),
    ];
    rng.pick(&options).clone()
}

fn russian_decoy(rng: &mut Rng) -> (Speaker, String) {
    let options = [
        (Speaker::Agent, format!("Мы вернули {} рублей.", 100 + rng.below(5000))),
        (Speaker::Customer, format!("Я ждал {} минут.", RU_TENS[2 + rng.below(4)])),
        (Speaker::Customer, format!("Звонил в {} часа дня.", RU_DIGITS[2 + rng.below(3)])),
        (Speaker::Agent, format!("Номер вашей заявки {}.", rng.digits(8))),
        (Speaker::Agent, format!("Деньги придут через {} дней.", 5 + rng.below(5))),
        (Speaker::Customer, format!("Списали {} рублей дважды.", RU_TENS[2 + rng.below(7)])),
        (Speaker::Agent, format!("Номер обращения {}.", say_random_digits(rng, 6, true, 2))),
    ];
    rng.pick(&options).clone()
}

fn words_of(text: &str) -> usize {
    text.split_whitespace().count()
}

/// `n_calls` calls per language, each with four entity questions and three decoys.
pub fn generate_calls(seed: u64, n_calls_per_language: usize) -> Vec<LabelledCall> {
    let mut rng = Rng(seed.max(1));
    let mut calls = Vec::new();
    for language in ["en", "ru"] {
        let russian = language == "ru";
        for call_idx in 0..n_calls_per_language {
            let mut lines = vec![LabelledLine {
                speaker: Speaker::Agent,
                text: if russian { "Здравствуйте, служба поддержки, чем могу помочь?".into() } else { "Thank you for calling, how can I help?".into() },
                entity: None,
                decoy: false,
            }];
            let mut kinds: Vec<EntityKind> = EntityKind::ALL.to_vec();
            // Cards and dates of birth in every call: they carry the strictest target.
            let mut chosen = vec![EntityKind::CardNumber, EntityKind::DateOfBirth];
            kinds.retain(|k| !chosen.contains(k));
            for _ in 0..2 {
                let k = kinds.remove(rng.below(kinds.len()));
                chosen.push(k);
            }
            // Shuffle the order a little.
            let rotation = rng.below(chosen.len());
            chosen.rotate_left(rotation);
            let mut decoys_left = 3;
            for kind in chosen {
                if decoys_left > 0 && rng.below(2) == 0 {
                    let (speaker, text) = if russian { russian_decoy(&mut rng) } else { english_decoy(&mut rng) };
                    lines.push(LabelledLine { speaker, text, entity: None, decoy: true });
                    decoys_left -= 1;
                }
                let template = if russian { russian_entity(&mut rng, kind) } else { english_entity(&mut rng, kind) };
                lines.push(LabelledLine { speaker: Speaker::Agent, text: template.question, entity: None, decoy: false });
                let first = words_of(&template.prefix);
                let last = first + words_of(&template.entity) - 1;
                let text = [template.prefix.as_str(), template.entity.as_str(), template.suffix.as_str()]
                    .iter()
                    .filter(|p| !p.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ");
                lines.push(LabelledLine { speaker: Speaker::Customer, text, entity: Some((template.kind, first, last)), decoy: false });
            }
            for _ in 0..decoys_left {
                let (speaker, text) = if russian { russian_decoy(&mut rng) } else { english_decoy(&mut rng) };
                lines.push(LabelledLine { speaker, text, entity: None, decoy: true });
            }
            calls.push(LabelledCall { id: format!("{language}-{call_idx:03}"), language: language.to_string(), lines });
        }
    }
    calls
}

/// Counts of one type in one language.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SpanCounts {
    /// Labelled spans with a detection of the same type over them.
    pub true_positives: usize,
    /// Labelled spans missed (or found as another type).
    pub false_negatives: usize,
    /// Detections of this type over no labelled span of this type.
    pub false_positives: usize,
    /// Labelled spans whose every word was covered by some detection, of any type: the value
    /// does not leak even if the type is wrong.
    pub fully_covered: usize,
}

impl SpanCounts {
    pub fn recall(&self) -> f64 {
        let labelled = self.true_positives + self.false_negatives;
        if labelled == 0 { 1.0 } else { self.true_positives as f64 / labelled as f64 }
    }
    pub fn precision(&self) -> f64 {
        let detected = self.true_positives + self.false_positives;
        if detected == 0 { 1.0 } else { self.true_positives as f64 / detected as f64 }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RedactionEval {
    pub n_calls: usize,
    /// language → type → counts.
    pub counts: BTreeMap<String, BTreeMap<String, SpanCounts>>,
    /// Decoy lines with any detection in them, and all decoy lines.
    pub decoys_touched: usize,
    pub decoys: usize,
    /// (call id, line text, what was wrong) for the first misses, to read.
    pub errors: Vec<(String, String, String)>,
}

fn call_turns(call: &LabelledCall) -> Vec<Turn> {
    let mut at = 0.0;
    call.lines
        .iter()
        .map(|line| {
            let start = at;
            let words: Vec<Word> = line
                .text
                .split_whitespace()
                .map(|w| {
                    let word = Word { text: w.to_string(), start_secs: at, end_secs: at + 0.35, confidence: 0.9 };
                    at += 0.4;
                    word
                })
                .collect();
            at += 1.0;
            Turn { speaker: line.speaker, start_secs: start, end_secs: at - 1.0, text: line.text.clone(), words, sentiment: None }
        })
        .collect()
}

/// Runs the detector over the calls' text and scores its spans against the labels.
pub fn evaluate_text(calls: &[LabelledCall], config: &RedactionConfig) -> RedactionEval {
    let mut eval = RedactionEval { n_calls: calls.len(), ..RedactionEval::default() };
    for call in calls {
        let turns = call_turns(call);
        let found = find_entities(&turns, config);
        let per_language = eval.counts.entry(call.language.clone()).or_default();
        for (line_idx, line) in call.lines.iter().enumerate() {
            let in_line: Vec<_> = found.iter().filter(|e| e.turn_index == line_idx).collect();
            if line.decoy {
                eval.decoys += 1;
                if !in_line.is_empty() {
                    eval.decoys_touched += 1;
                }
            }
            let label = line.entity.filter(|(kind, _, _)| config.enables(*kind));
            if let Some((kind, first, last)) = label {
                let counts = per_language.entry(kind.as_str().to_string()).or_default();
                let hit = in_line.iter().any(|e| e.kind == kind && e.first_word <= last && first <= e.last_word);
                if hit {
                    counts.true_positives += 1;
                } else {
                    counts.false_negatives += 1;
                    if eval.errors.len() < 40 {
                        let got: Vec<&str> = in_line.iter().map(|e| e.kind.as_str()).collect();
                        eval.errors.push((call.id.clone(), line.text.clone(), format!("missed {} (found {got:?})", kind.as_str())));
                    }
                }
                if (first..=last).all(|w| in_line.iter().any(|e| e.first_word <= w && w <= e.last_word)) {
                    counts.fully_covered += 1;
                }
            }
            for entity in &in_line {
                let matches_label = label.is_some_and(|(kind, first, last)| {
                    entity.kind == kind && entity.first_word <= last && first <= entity.last_word
                });
                if !matches_label {
                    per_language.entry(entity.kind.as_str().to_string()).or_default().false_positives += 1;
                    if eval.errors.len() < 40 {
                        eval.errors.push((call.id.clone(), line.text.clone(), format!("false {}", entity.kind.as_str())));
                    }
                }
            }
        }
    }
    eval
}

/// A Markdown table: per language and type, recall, precision, counts.
pub fn render_markdown(eval: &RedactionEval, title: &str) -> String {
    let mut out = format!(
        "### {title}\n\n{} calls; decoy lines touched: {} of {}\n\n| language | type | recall | precision | TP | FN | FP | value fully covered |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
        eval.n_calls, eval.decoys_touched, eval.decoys
    );
    for (language, per_type) in &eval.counts {
        for (kind, counts) in per_type {
            out.push_str(&format!(
                "| {language} | {kind} | {:.3} | {:.3} | {} | {} | {} | {} |\n",
                counts.recall(),
                counts.precision(),
                counts.true_positives,
                counts.false_negatives,
                counts.false_positives,
                counts.fully_covered
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic_and_labels_point_at_the_entity() {
        let calls = generate_calls(7, 5);
        assert_eq!(calls, generate_calls(7, 5));
        assert_eq!(calls.len(), 10);
        for call in &calls {
            for line in &call.lines {
                if let Some((_, first, last)) = line.entity {
                    assert!(first <= last && last < words_of(&line.text), "{line:?}");
                }
            }
        }
    }

    #[test]
    fn spoken_forms() {
        assert_eq!(pair_words("41", false), "forty one");
        assert_eq!(pair_words("07", false), "oh seven");
        assert_eq!(pair_words("15", true), "пятнадцать");
        assert_eq!(year_words(1985, false), "nineteen eighty five");
        assert_eq!(year_words(1985, true), "тысяча девятьсот восемьдесят пятого");
        assert_eq!(year_words(1970, true), "тысяча девятьсот семидесятого");
        assert_eq!(year_words(1940, true), "тысяча девятьсот сорокового");
        assert_eq!(year_words(2003, true), "две тысячи третьего");
    }
}
