//! Text normalisation as WER scoring sees it: numbers, punctuation, case, contractions, Russian ё.

use callsight_eval::{normalize, normalize_basic, normalize_english, normalize_russian};

fn assert_english(cases: &[(&str, &str)]) {
    for (input, expected) in cases {
        assert_eq!(normalize_english(input), *expected, "input {input:?}");
    }
}

#[test]
fn english_numbers_become_digits() {
    assert_english(&[
        ("Twenty one", "21"),
        ("twenty-one", "21"),
        ("One hundred.", "100"),
        ("one hundred and twenty three", "123"),
        (
            "Press 1 for sales, press two for support.",
            "press one for sales press 2 for support",
        ),
        (
            "Your balance is one thousand, two hundred dollars.",
            "your balance is $1200",
        ),
        ("call 555-0199", "call 555 0199"),
        ("five five five oh one nine nine", "5550199"),
        ("It costs $1,200.", "it costs $1200"),
        ("ten percent off", "10% off"),
        ("The first option", "the first option"),
        ("on the twenty first of June", "on the 21st of june"),
        ("the 21st of June", "the 21st of june"),
        ("the fifth", "the 5th"),
        ("one moment please", "one moment please"),
        ("oh no", "oh no"),
    ]);
}

#[test]
fn english_numbers_agree_in_words_and_digits() {
    let pairs = [
        ("twenty one", "21"),
        ("one hundred", "100"),
        ("one", "1"),
        ("first", "1st"),
        ("nineteen ninety nine", "1999"),
        ("two point five", "2.5"),
        ("seven dollars fifty cents", "$7.50"),
        ("twelve hundred", "1200"),
    ];
    for (in_words, in_digits) in pairs {
        assert_eq!(
            normalize_english(in_words),
            normalize_english(in_digits),
            "{in_words:?} vs {in_digits:?}"
        );
    }
}

#[test]
fn english_punctuation_case_and_brackets() {
    assert_english(&[
        ("Hello, World!", "hello world"),
        ("  Thank   you.  ", "thank you"),
        ("[beep] Please hold (music) now", "please hold now"),
        ("<noise> um, I think uh so", "i think so"),
        ("at [@]", "at"),
        ("at 5 o'clock", "at 5 o'clock"),
        ("the agents' desk", "the agents desk"),
        ("Café déjà vu", "cafe deja vu"),
        ("Call-Forward on No Answer.", "call forward on no answer"),
        ("...the time will be exactly...", "the time will be exactly"),
    ]);
}

#[test]
fn english_contractions_expand() {
    assert_english(&[
        ("I won't go", "i will not go"),
        ("you can't", "you can not"),
        ("don't", "do not"),
        ("I don’t know", "i do not know"),
        (
            "we're here and they'll see",
            "we are here and they will see",
        ),
        ("it's been fine", "it has been fine"),
        ("it's fine", "it is fine"),
        ("I'm sure you've heard", "i am sure you have heard"),
        ("let's go, gonna be ok", "let us go going to be ok"),
        ("Mr Smith and Dr. Jones", "mister smith and doctor jones"),
        ("okay", "ok"),
    ]);
}

#[test]
fn basic_normaliser_for_russian() {
    let cases = [
        ("Ещё раз, пожалуйста!", "еще раз пожалуйста"),
        ("ЁЛКА", "елка"),
        ("Нажмите 1, затем #.", "нажмите 1 затем"),
        (
            "Переадресация вызовов если «занято»",
            "переадресация вызовов если занято",
        ),
        ("[beep] Спасибо (пауза) вам", "спасибо вам"),
        ("Добавлено  —  всё", "добавлено все"),
        ("Йогурт", "йогурт"),
    ];
    for (input, expected) in cases {
        assert_eq!(normalize_basic(input), expected, "input {input:?}");
        assert_eq!(normalize(input, "ru"), expected, "input {input:?}");
    }
}

#[test]
fn russian_number_words_become_digits() {
    let cases = [
        ("Нажмите один, затем решётку.", "нажмите 1 затем решетку"),
        (
            "Для связи с оператором, нажмите 0.",
            "для связи с оператором нажмите 0",
        ),
        ("Сто двадцать три рубля", "123 рубля"),
        ("две тысячи двадцать четыре", "2024"),
        ("Семнадцатый", "семнадцатый"),
    ];
    for (input, expected) in cases {
        assert_eq!(normalize_russian(input), expected, "input {input:?}");
        assert_eq!(normalize(input, "ru-RU"), expected, "input {input:?}");
    }
    assert_eq!(
        normalize_russian("нажмите два"),
        normalize_russian("Нажмите 2.")
    );
}

#[test]
fn language_picks_the_normaliser() {
    assert_eq!(normalize("Twenty one", "en"), "21");
    assert_eq!(normalize("Twenty one", "EN-gb"), "21");
    assert_eq!(normalize("Twenty one", "de"), "twenty one");
    assert_eq!(normalize("Двадцать один", "ru"), "21");
    assert_eq!(normalize("Двадцать один", "uk"), "двадцать один");
    assert_eq!(normalize("", "en"), "");
    assert_eq!(normalize("?!", "ru"), "");
}
