//! Finding personal and payment data in a call's tokens: number runs classified by their shape
//! (length, Luhn, date form) and by the cue said shortly before them by either party ("card
//! number", "security code", "date of birth", "номер телефона" …); e-mail addresses from "@" or
//! spoken "at … dot com"; street addresses from a number and a street word. A cue for a
//! reference, order or case number makes the number after it a decoy that stays.

use super::tokens::{NumberRun, Token, TokenKind, is_top_level_domain, looks_like_domain, number_runs};
use super::{EntityKind, RedactionConfig};

/// One entity found: the tokens it covers (inclusive) and its kind. Never carries the value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub kind: EntityKind,
    pub first_token: usize,
    pub last_token: usize,
}

/// What the words before a number say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    Card,
    /// "ends in", "last four": a part of a card number follows.
    CardEnding,
    SecurityCode,
    Expiry,
    Account,
    DateOfBirth,
    Phone,
    NationalId,
    /// Reference, order, case, ticket, confirmation numbers: not personal data.
    Reference,
}

/// Cue phrases: space-separated pieces; a piece ending in `*` matches any word it begins.
const CUES: &[(&str, Cue)] = &[
    ("card", Cue::Card),
    ("cards", Cue::Card),
    ("visa", Cue::Card),
    ("mastercard", Cue::Card),
    ("amex", Cue::Card),
    ("карт*", Cue::Card),
    ("карточк*", Cue::Card),
    ("ends in", Cue::CardEnding),
    ("ending in", Cue::CardEnding),
    ("ends with", Cue::CardEnding),
    ("ending with", Cue::CardEnding),
    ("last four", Cue::CardEnding),
    ("last 4", Cue::CardEnding),
    ("заканчива*", Cue::CardEnding),
    ("последние", Cue::CardEnding),
    ("security code", Cue::SecurityCode),
    ("cvv", Cue::SecurityCode),
    ("cvc", Cue::SecurityCode),
    ("cv2", Cue::SecurityCode),
    ("on the back", Cue::SecurityCode),
    ("код безопасности", Cue::SecurityCode),
    ("cvv код", Cue::SecurityCode),
    ("на обороте", Cue::SecurityCode),
    ("на обратной", Cue::SecurityCode),
    ("трехзначный", Cue::SecurityCode),
    ("expiry", Cue::Expiry),
    ("expiration", Cue::Expiry),
    ("expires", Cue::Expiry),
    ("expire", Cue::Expiry),
    ("valid until", Cue::Expiry),
    ("valid thru", Cue::Expiry),
    ("valid through", Cue::Expiry),
    ("срок действия", Cue::Expiry),
    ("действует до", Cue::Expiry),
    ("действительна до", Cue::Expiry),
    ("account number", Cue::Account),
    ("account", Cue::Account),
    ("sort code", Cue::Account),
    ("routing", Cue::Account),
    ("iban", Cue::Account),
    ("bic", Cue::Account),
    ("счет*", Cue::Account),
    ("счета", Cue::Account),
    ("бик", Cue::Account),
    ("date of birth", Cue::DateOfBirth),
    ("birth", Cue::DateOfBirth),
    ("birthday", Cue::DateOfBirth),
    ("born", Cue::DateOfBirth),
    ("dob", Cue::DateOfBirth),
    ("рождения", Cue::DateOfBirth),
    ("родил*", Cue::DateOfBirth),
    ("рожден*", Cue::DateOfBirth),
    ("phone", Cue::Phone),
    ("telephone", Cue::Phone),
    ("mobile", Cue::Phone),
    ("cell", Cue::Phone),
    ("call you back", Cue::Phone),
    ("reach you", Cue::Phone),
    ("contact number", Cue::Phone),
    ("телефон*", Cue::Phone),
    ("мобильн*", Cue::Phone),
    ("перезвон*", Cue::Phone),
    ("social security", Cue::NationalId),
    ("ssn", Cue::NationalId),
    ("social", Cue::NationalId),
    ("passport", Cue::NationalId),
    ("national insurance", Cue::NationalId),
    ("drivers license", Cue::NationalId),
    ("снилс*", Cue::NationalId),
    ("паспорт*", Cue::NationalId),
    ("инн", Cue::NationalId),
    ("серия", Cue::NationalId),
    ("reference", Cue::Reference),
    ("ref", Cue::Reference),
    ("order", Cue::Reference),
    ("case", Cue::Reference),
    ("ticket", Cue::Reference),
    ("confirmation", Cue::Reference),
    ("claim", Cue::Reference),
    ("tracking", Cue::Reference),
    ("invoice", Cue::Reference),
    ("обращени*", Cue::Reference),
    ("заявк*", Cue::Reference),
    ("заказ*", Cue::Reference),
    ("трек*", Cue::Reference),
];

/// How far back a cue still applies: tokens, and seconds of call time.
const CUE_LOOKBACK_TOKENS: usize = 14;
const CUE_LOOKBACK_SECS: f64 = 20.0;

fn piece_matches(pattern: &str, word: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(stem) => word.starts_with(stem),
        None => pattern == word,
    }
}

/// The cues before `token_index` (within the look-back) that no entity answered yet, nearest
/// first, each with the position of its last token; at each position the longest cue phrase.
fn cues_before(tokens: &[Token], consumed: &[bool], token_index: usize) -> Vec<(Cue, usize)> {
    let mut cues = Vec::new();
    let Some(run_start_secs) = tokens.get(token_index).map(|t| t.start_secs) else { return cues };
    let earliest = token_index.saturating_sub(CUE_LOOKBACK_TOKENS);
    for end in (earliest..token_index).rev() {
        if run_start_secs - tokens[end].start_secs > CUE_LOOKBACK_SECS {
            break;
        }
        if consumed.get(end).copied().unwrap_or(false) {
            continue;
        }
        let mut best: Option<(usize, Cue)> = None;
        for (phrase, cue) in CUES {
            let pieces: Vec<&str> = phrase.split(' ').collect();
            if pieces.len() > end + 1 {
                continue;
            }
            let start = end + 1 - pieces.len();
            let matched = pieces.iter().enumerate().all(|(offset, piece)| piece_matches(piece, &tokens[start + offset].text));
            if matched && best.is_none_or(|(len, _)| pieces.len() > len) {
                best = Some((pieces.len(), *cue));
            }
        }
        if let Some((_, cue)) = best {
            cues.push((cue, end));
        }
    }
    cues
}

/// Words right after a number that make it an amount, a time or a duration (a decoy).
fn is_unit_word(word: &str) -> bool {
    const UNITS: &[&str] = &[
        "dollar*", "buck*", "pound*", "euro*", "cent*", "pence", "p", "percent", "per", "%", "rubl*", "рубл*", "руб",
        "копе*", "евро", "доллар*", "процент*", "minute*", "min", "mins", "hour*", "second*", "sec", "secs", "day*",
        "week*", "month*", "year*", "минут*", "час*", "секунд*", "дн*", "день", "недел*", "месяц*", "лет", "am", "pm",
        "a.m", "p.m", "o'clock", "oclock", "oclock", "утра", "вечера", "дня", "ночи", "times", "раз*", "items",
        "people", "accounts", "payments", "transactions", "штук*", "человек", "платеж*",
    ];
    UNITS.iter().any(|unit| piece_matches(unit, word))
}

pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0;
    for (idx, c) in digits.chars().rev().enumerate() {
        let Some(mut digit) = c.to_digit(10) else { return false };
        if idx % 2 == 1 {
            digit *= 2;
            if digit > 9 {
                digit -= 9;
            }
        }
        sum += digit;
    }
    !digits.is_empty() && sum % 10 == 0
}

/// Finds every entity of an enabled kind in the tokens of a call.
pub fn detect(tokens: &[Token], config: &RedactionConfig) -> Vec<Detection> {
    let runs = number_runs(tokens);
    let mut pass = Pass {
        tokens,
        run_used: vec![false; runs.len()],
        runs,
        cue_consumed: vec![false; tokens.len()],
        found: Vec::new(),
    };
    emails(tokens, &mut pass.found);
    addresses(tokens, &pass.runs, &mut pass.run_used, &mut pass.found);
    // Numbers and month names in call order, so a cue is answered by the first entity after it
    // ("date of birth?" makes one date a birth date, not every date said later).
    let mut items: Vec<(usize, Option<usize>)> = pass.runs.iter().enumerate().map(|(idx, run)| (run.first_token, Some(idx))).collect();
    items.extend(tokens.iter().enumerate().filter(|(_, t)| matches!(t.kind, TokenKind::Month(_))).map(|(idx, _)| (idx, None)));
    items.sort_by_key(|(position, run)| (*position, run.is_some()));
    for (position, run) in items {
        match run {
            Some(run_idx) if !pass.run_used[run_idx] => pass.run(run_idx),
            Some(_) => {}
            None => pass.month_date(position),
        }
    }
    let mut found = pass.found;
    found.retain(|d| config.enables(d.kind));
    found.sort_by_key(|d| (d.first_token, d.last_token));
    found
}

/// One pass over a call: which number runs are taken and which cues were answered.
struct Pass<'a> {
    tokens: &'a [Token],
    runs: Vec<NumberRun>,
    run_used: Vec<bool>,
    /// Cue positions an entity already answered.
    cue_consumed: Vec<bool>,
    found: Vec<Detection>,
}

impl Pass<'_> {
    fn cues(&self, token_index: usize) -> Vec<(Cue, usize)> {
        cues_before(self.tokens, &self.cue_consumed, token_index)
    }

    fn push(&mut self, kind: EntityKind, first_token: usize, last_token: usize, cue_position: Option<usize>) {
        self.found.push(Detection { kind, first_token, last_token });
        if let Some(position) = cue_position
            && let Some(consumed) = self.cue_consumed.get_mut(position)
        {
            *consumed = true;
        }
    }

    /// A number that is no entity stays free: it may be the day of a month name after it.
    fn run(&mut self, run_idx: usize) {
        if self.written_date(run_idx) || self.written_shape(run_idx) || self.classify_run(run_idx) {
            self.run_used[run_idx] = true;
        }
    }

    /// Dates written in one word: 03/15/1985, 15.03.1985, 1985-03-15, 04/27.
    fn written_date(&mut self, run_idx: usize) -> bool {
        let tokens = self.tokens;
        let run = &self.runs[run_idx];
        let word_of = |t: usize| (tokens[t].turn_index, tokens[t].word_index);
        let one_word = word_of(run.first_token) == word_of(run.last_token);
        if !one_word || run.groups.len() < 2 || run.groups.len() > 3 {
            return false;
        }
        let values: Vec<u64> = run.groups.iter().map(|g| g.value).collect();
        let lens: Vec<usize> = run.groups.iter().map(|g| g.digits.len()).collect();
        let cues = self.cues(run.first_token);
        let decided = match (values.as_slice(), lens.as_slice()) {
            ([a, b, year], [1 | 2, 1 | 2, 2 | 4]) if (*a <= 31 && *b <= 31) && (*a <= 12 || *b <= 12) => {
                date_kind(&cues, Some(*year), true)
            }
            ([year, month, day], [4, 1 | 2, 1 | 2]) if *month <= 12 && *day <= 31 => date_kind(&cues, Some(*year), true),
            ([month, _year], [1 | 2, 2 | 4]) if (1..=12).contains(month) && !tokens[run.first_token].clock_time => {
                date_kind(&cues, None, false)
            }
            _ => None,
        };
        let (first, last) = (run.first_token, run.last_token);
        match decided {
            Some((kind, cue)) => {
                self.push(kind, first, last, cue);
                true
            }
            None => false,
        }
    }

    /// Numbers whose written form says what they are: "555-123-4567", "123-45-6789", "+7 …".
    fn written_shape(&mut self, run_idx: usize) -> bool {
        let tokens = self.tokens;
        let run = &self.runs[run_idx];
        let (first, last) = (run.first_token, run.last_token);
        let plus_before = first > 0
            && tokens[first - 1].turn_index == tokens[first].turn_index
            && matches!(tokens[first - 1].text.as_str(), "+" | "plus" | "плюс");
        let n_digits = run.n_digits();
        if plus_before && (10..=15).contains(&n_digits) {
            self.push(EntityKind::PhoneNumber, first - 1, last, None);
            return true;
        }
        let shape: Vec<usize> = run.groups.iter().map(|g| g.digits.len()).collect();
        let all_written = run.groups.iter().all(|g| matches!(tokens[g.first_token].kind, TokenKind::Digits(_)));
        if !all_written || self.cues(first).first().is_some_and(|(cue, _)| *cue == Cue::Reference) {
            return false;
        }
        let kind = match shape.as_slice() {
            [3, 3, 4] | [3, 4] if n_digits == 10 || n_digits == 7 => Some(EntityKind::PhoneNumber),
            [1, 3, 3, 4] | [1, 3, 3, 2, 2] | [3, 3, 2, 2] => Some(EntityKind::PhoneNumber),
            [3, 2, 4] | [3, 3, 3, 2] => Some(EntityKind::NationalId),
            _ => None,
        };
        match kind {
            Some(kind) => {
                self.push(kind, first, last, None);
                true
            }
            None => false,
        }
    }

    fn classify_run(&mut self, run_idx: usize) -> bool {
        let tokens = self.tokens;
        let run = self.runs[run_idx].clone();
        let digits = run.digits();
        let n_digits = digits.len();
        let cues = self.cues(run.first_token);
        let nearest = cues.first().map(|(cue, _)| *cue);
        if nearest == Some(Cue::Reference) || is_decoy_context(tokens, &run) {
            return false;
        }
        // A card number, perhaps with the expiry and code said straight after it.
        let other_number_cue = matches!(nearest, Some(Cue::Account | Cue::NationalId | Cue::Phone));
        if (13..=23).contains(&n_digits)
            && !other_number_cue
            && let Some(split_group) = luhn_prefix(&run)
        {
            let card_cue = cues.iter().find(|(cue, _)| *cue == Cue::Card).map(|(_, position)| *position);
            self.push(EntityKind::CardNumber, run.first_token, run.groups[split_group - 1].last_token, card_cue);
            card_tail(&run.groups[split_group..], &mut self.found);
            return true;
        }
        // The nearest cue whose type fits the number's length decides.
        for (cue, position) in &cues {
            let kind = match cue {
                Cue::Reference => return false,
                Cue::SecurityCode if (3..=4).contains(&n_digits) => EntityKind::SecurityCode,
                Cue::CardEnding if (2..=6).contains(&n_digits) => EntityKind::CardNumber,
                Cue::Expiry if (3..=6).contains(&n_digits) => EntityKind::ExpiryDate,
                // Up to 24: a recogniser that hears "one one one one" as five ones adds digits.
                Cue::Card if (12..=24).contains(&n_digits) => EntityKind::CardNumber,
                Cue::Account if (6..=34).contains(&n_digits) => EntityKind::BankAccount,
                Cue::DateOfBirth if (6..=8).contains(&n_digits) => EntityKind::DateOfBirth,
                // From 6: a number partly misheard after the question is still the phone number.
                Cue::Phone if (6..=15).contains(&n_digits) => EntityKind::PhoneNumber,
                Cue::NationalId if (6..=12).contains(&n_digits) => EntityKind::NationalId,
                _ => continue,
            };
            self.push(kind, run.first_token, run.last_token, Some(*position));
            return true;
        }
        let kind = match n_digits {
            20 => Some(EntityKind::BankAccount),
            11 if digits.starts_with("79") || digits.starts_with("89") => Some(EntityKind::PhoneNumber),
            13..=19 | 21..=24 => Some(EntityKind::CardNumber),
            _ => None,
        };
        match kind {
            Some(kind) => {
                self.push(kind, run.first_token, run.last_token, None);
                true
            }
            None => false,
        }
    }

    /// Dates around a month name: "March 15th 1985", "the fourth of July nineteen eighty",
    /// "пятнадцатого марта тысяча девятьсот восемьдесят пятого года", "April twenty thirty".
    fn month_date(&mut self, month_token: usize) {
        let tokens = self.tokens;
        let runs = &self.runs;
        let token = &tokens[month_token];
        let same_turn = |t: &Token| t.turn_index == token.turn_index;
        // The run right after the month, and the one right before it ("of" may be between).
        let after = runs.iter().position(|r| r.first_token == month_token + 1 && same_turn(&tokens[r.first_token]));
        let before = runs.iter().position(|r| {
            same_turn(&tokens[r.last_token])
                && (r.last_token + 1 == month_token
                    || (r.last_token + 2 == month_token && tokens[r.last_token + 1].text == "of"))
        });
        let mut first_token = month_token;
        let mut last_token = month_token;
        let mut day_before = None;
        let mut day_after = false;
        let mut year = None;
        let mut after_run = None;
        let mut year_of_whole_run = None;
        if let Some(b) = before
            && !self.run_used[b]
            && runs[b].groups.len() == 1
            && (1..=31).contains(&runs[b].groups[0].value)
        {
            day_before = Some(b);
            first_token = runs[b].first_token;
        }
        if let Some(a) = after
            && !self.run_used[a]
        {
            let run = &runs[a];
            let groups = &run.groups;
            // With no day before: the first group is the day when it fits and more follows, or
            // when it is an ordinal.
            day_after = day_before.is_none()
                && (1..=31).contains(&groups[0].value)
                && groups[0].digits.len() <= 2
                && (groups.len() > 1 || groups[0].ordinal);
            let year_groups = if day_after { &groups[1..] } else { &groups[..] };
            let year_digits: String = year_groups.iter().map(|g| g.digits.as_str()).collect();
            if year_digits.len() == 2 || year_digits.len() == 4 {
                year = year_digits.parse::<u64>().ok();
            }
            let all_digits = run.digits();
            if day_before.is_none() && !groups.iter().any(|g| g.ordinal) && (all_digits.len() == 2 || all_digits.len() == 4) {
                year_of_whole_run = all_digits.parse::<u64>().ok();
            }
            if year.is_some() {
                last_token = run.last_token;
                after_run = Some(a);
            } else if day_after {
                last_token = groups[0].last_token;
                after_run = Some(a);
            }
        }
        let has_day = day_before.is_some() || day_after;
        if !has_day && year.is_none() && year_of_whole_run.is_none() {
            return;
        }
        let cues = self.cues(first_token);
        // After an expiry cue, "September twenty thirty one" is a month and a year, not a day.
        let expiry_cue = cues
            .iter()
            .find(|(cue, _)| matches!(cue, Cue::Expiry | Cue::DateOfBirth | Cue::Reference))
            .filter(|(cue, _)| *cue == Cue::Expiry);
        if let (Some((_, position)), Some(_), Some(a)) = (expiry_cue, year_of_whole_run, after) {
            let last = runs[a].last_token;
            self.push(EntityKind::ExpiryDate, month_token, last, Some(*position));
            self.run_used[a] = true;
            return;
        }
        if !has_day && year.is_none() {
            return;
        }
        if let Some((kind, cue)) = date_kind(&cues, year, has_day) {
            for used in [day_before, after_run].into_iter().flatten() {
                self.run_used[used] = true;
            }
            self.push(kind, first_token, last_token, cue);
        }
    }
}

fn is_decoy_context(tokens: &[Token], run: &NumberRun) -> bool {
    let first = &tokens[run.first_token];
    let last = &tokens[run.last_token];
    if first.currency_sign || first.clock_time || last.clock_time {
        return true;
    }
    if let Some(next) = tokens.get(run.last_token + 1)
        && next.turn_index == last.turn_index
        && is_unit_word(&next.text)
    {
        return true;
    }
    false
}

/// The number of leading groups that make a Luhn-valid 13..=19 digit card number, longest first.
/// 16 digits (the common length) are preferred, then 15, then the longest.
fn luhn_prefix(run: &NumberRun) -> Option<usize> {
    let mut valid: Vec<(usize, usize)> = Vec::new();
    let mut digits = String::new();
    for (idx, group) in run.groups.iter().enumerate() {
        digits.push_str(&group.digits);
        if (13..=19).contains(&digits.len()) && luhn_valid(&digits) {
            valid.push((digits.len(), idx + 1));
        }
    }
    let preference = |len: usize| match len {
        16 => 100,
        15 => 99,
        other => other,
    };
    valid.into_iter().max_by_key(|(len, _)| preference(*len)).map(|(_, groups)| groups)
}

/// What follows a card number in the same breath: "04 27 123" → expiry and code.
fn card_tail(rest: &[super::tokens::NumberGroup], found: &mut Vec<Detection>) {
    if rest.is_empty() {
        return;
    }
    let total: usize = rest.iter().map(|g| g.digits.len()).sum();
    let mut taken = 0;
    let mut digits = String::new();
    let mut expiry_end = None;
    for (idx, group) in rest.iter().enumerate() {
        digits.push_str(&group.digits);
        taken += group.digits.len();
        if taken == 4 && total > 4 {
            let month: u32 = digits[..2].parse().unwrap_or(0);
            if (1..=12).contains(&month) {
                expiry_end = Some(idx);
            }
            break;
        }
        if taken > 4 {
            break;
        }
    }
    let code_start = match expiry_end {
        Some(end) => {
            found.push(Detection { kind: EntityKind::ExpiryDate, first_token: rest[0].first_token, last_token: rest[end].last_token });
            end + 1
        }
        None => 0,
    };
    if let (Some(first), Some(last)) = (rest.get(code_start), rest.last()) {
        let kind = if total - rest[..code_start].iter().map(|g| g.digits.len()).sum::<usize>() <= 4 {
            EntityKind::SecurityCode
        } else {
            EntityKind::CardNumber
        };
        found.push(Detection { kind, first_token: first.first_token, last_token: last.last_token });
    }
}

/// What a date is, from the cues before it (nearest first) and its shape, and the cue that
/// decided. A date of birth after a birth cue, or a full date whose year makes it one
/// (1900..=2012); an expiry after an expiry or card cue; anything else stays.
fn date_kind(cues: &[(Cue, usize)], year: Option<u64>, has_day: bool) -> Option<(EntityKind, Option<usize>)> {
    let year = year.map(|y| match y {
        0..=30 => 2000 + y,
        31..=99 => 1900 + y,
        _ => y,
    });
    for (cue, position) in cues {
        match cue {
            Cue::Reference => return None,
            Cue::DateOfBirth if year.is_none_or(|y| y <= 2015) => return Some((EntityKind::DateOfBirth, Some(*position))),
            Cue::Expiry if !has_day || year.is_some_and(|y| y >= 2000) => return Some((EntityKind::ExpiryDate, Some(*position))),
            Cue::Card if !has_day => return Some((EntityKind::ExpiryDate, Some(*position))),
            _ => {}
        }
    }
    (has_day && year.is_some_and(|y| (1900..=2012).contains(&y))).then_some((EntityKind::DateOfBirth, None))
}

/// "john.smith@example.com", "john dot smith at example dot com", "иван собака мейл точка ру".
fn emails(tokens: &[Token], found: &mut Vec<Detection>) {
    let mut idx = 0;
    while idx < tokens.len() {
        let token = &tokens[idx];
        if token.text.contains('@') && token.text.len() > 2 {
            found.push(Detection { kind: EntityKind::Email, first_token: idx, last_token: idx });
            idx += 1;
            continue;
        }
        if !matches!(token.text.as_str(), "at" | "собака" | "эт") || idx == 0 {
            idx += 1;
            continue;
        }
        let turn = token.turn_index;
        // The domain: words joined by "dot" ending in a top-level domain, or "example.com".
        let mut end = None;
        let mut cursor = idx + 1;
        while cursor < tokens.len() && cursor <= idx + 7 && tokens[cursor].turn_index == turn {
            let text = tokens[cursor].text.as_str();
            if looks_like_domain(text) {
                end = Some(cursor);
                break;
            }
            if matches!(text, "dot" | "точка")
                && let Some(next) = tokens.get(cursor + 1)
                    && next.turn_index == turn
                    && is_top_level_domain(&next.text)
                {
                    end = Some(cursor + 1);
                    break;
                }
            cursor += 1;
        }
        let Some(end) = end else {
            idx += 1;
            continue;
        };
        // The local part: words before "at", joined by "dot", "underscore", digits, up to four.
        let mut start = idx;
        let mut n_words = 0;
        while start > 0 && tokens[start - 1].turn_index == turn && n_words < 5 {
            let text = tokens[start - 1].text.as_str();
            let is_stop = matches!(
                text,
                "is" | "it's" | "its" | "email" | "e" | "mail" | "address" | "me" | "my" | "it" | "the" | "that"
                    | "это" | "почта" | "адрес" | "почты" | "моя" | "мой" | "называется" | "my's" | "sure" | "yes" | "да"
                    | "so" | "ok" | "okay" | "хорошо" | "was"
            );
            if is_stop || tokens[start - 1].ends_sentence {
                break;
            }
            start -= 1;
            if !matches!(text, "dot" | "underscore" | "dash" | "точка" | "нижнее" | "подчеркивание") {
                n_words += 1;
            }
        }
        if start < idx {
            found.push(Detection { kind: EntityKind::Email, first_token: start, last_token: end });
        }
        idx = end + 1;
    }
}

const STREET_WORDS: &[&str] = &[
    "street", "st", "avenue", "ave", "road", "rd", "lane", "drive", "boulevard", "blvd", "way", "court", "place",
    "close", "crescent", "terrace", "square", "highway",
];

/// "221 Baker Street", "twelve Oak Lane"; "улица Ленина, дом пять, квартира двенадцать".
fn addresses(tokens: &[Token], runs: &[NumberRun], run_used: &mut [bool], found: &mut Vec<Detection>) {
    for (run_idx, run) in runs.iter().enumerate() {
        if run_used[run_idx] || run.n_digits() > 5 {
            continue;
        }
        let turn = tokens[run.last_token].turn_index;
        let street_at = (run.last_token + 2..=run.last_token + 4).find(|&t| {
            tokens.get(t).is_some_and(|tok| tok.turn_index == turn && STREET_WORDS.contains(&tok.text.as_str()))
        });
        let Some(street_at) = street_at else { continue };
        let between_are_words =
            (run.last_token + 1..street_at).all(|t| matches!(tokens[t].kind, TokenKind::Word) && tokens[t].capitalized);
        if !between_are_words {
            continue;
        }
        found.push(Detection { kind: EntityKind::Address, first_token: run.first_token, last_token: street_at });
        run_used[run_idx] = true;
    }
    // Russian: a street word, its name, then "дом N" and perhaps "квартира N".
    for (idx, token) in tokens.iter().enumerate() {
        if !(token.text.starts_with("улиц") || token.text.starts_with("проспект") || token.text.starts_with("переул") || token.text == "ул") {
            continue;
        }
        let turn = token.turn_index;
        let mut last = None;
        let mut cursor = idx + 1;
        while cursor < tokens.len() && cursor <= idx + 12 && tokens[cursor].turn_index == turn {
            let text = tokens[cursor].text.as_str();
            if matches!(text, "дом" | "д" | "квартира" | "кв" | "корпус" | "строение") {
                if let Some(run_idx) = runs.iter().position(|r| r.first_token == cursor + 1) {
                    last = Some(runs[run_idx].last_token);
                    run_used[run_idx] = true;
                    cursor = runs[run_idx].last_token + 1;
                    continue;
                }
            } else if let Some(run_idx) = runs.iter().position(|r| r.first_token == cursor) {
                if last.is_none() && runs[run_idx].n_digits() <= 4 {
                    last = Some(runs[run_idx].last_token);
                    run_used[run_idx] = true;
                    cursor = runs[run_idx].last_token + 1;
                    continue;
                }
                break;
            } else if last.is_some() {
                break;
            }
            cursor += 1;
        }
        if let Some(last) = last {
            found.push(Detection { kind: EntityKind::Address, first_token: idx, last_token: last });
        }
    }
}
