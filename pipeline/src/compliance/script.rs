//! Compliance scripts: the file format (JSON or YAML), parsing, and validation with line numbers.
//!
//! A script file is read in two steps. Serde turns the text into [`ScriptFile`] (the on-disk shape,
//! `deny_unknown_fields` everywhere); syntax and type errors carry the line serde reports. Then
//! [`ScriptFile`] is validated into the typed [`Script`]. Serde keeps no positions after parsing,
//! so a semantic error (duplicate rule id, unknown kind, bad window, …) is placed by searching the
//! source text for the offending rule's id declaration: JSON `"id": "greeting"` or YAML
//! `id: greeting` / `id: "greeting"` / `- id: greeting`. The n-th rule with a given id maps to the
//! n-th such declaration. Known limit: if the script's own `id` equals a rule id, the line found
//! may be the script id's line. Several rules on one line (minified JSON) all report that line.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};
use crate::types::TimeSpan;

/// A validated compliance script. Serialises to, and deserialises from (with validation), the
/// file format [`ScriptFile`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ScriptFile", into = "ScriptFile")]
pub struct Script {
    pub id: String,
    pub name: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    pub rules: Vec<Rule>,
}

/// One rule of a script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub severity: Severity,
    pub description: Option<String>,
    pub check: RuleCheck,
}

impl Rule {
    pub fn kind(&self) -> RuleKind {
        self.check.kind()
    }
}

/// How much a rule weighs in the script score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    #[default]
    Medium,
    High,
}

impl Severity {
    /// Weight in the compliance score: low 1, medium 2, high 3.
    pub fn weight(self) -> f64 {
        match self {
            Severity::Low => 1.0,
            Severity::Medium => 2.0,
            Severity::High => 3.0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Required,
    Forbidden,
    Sequence,
    MaxSilence,
    MaxTalkOver,
    CustomerSentiment,
}

impl RuleKind {
    pub const ALL: [RuleKind; 6] = [
        RuleKind::Required,
        RuleKind::Forbidden,
        RuleKind::Sequence,
        RuleKind::MaxSilence,
        RuleKind::MaxTalkOver,
        RuleKind::CustomerSentiment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Required => "required",
            RuleKind::Forbidden => "forbidden",
            RuleKind::Sequence => "sequence",
            RuleKind::MaxSilence => "max_silence",
            RuleKind::MaxTalkOver => "max_talk_over",
            RuleKind::CustomerSentiment => "customer_sentiment",
        }
    }
}

/// What a rule checks, with the settings of its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleCheck {
    /// One of the phrases must be said.
    Required(PhraseRule),
    /// None of the phrases may be said.
    Forbidden(PhraseRule),
    /// The first occurrences of these required rules must come in this order.
    Sequence { rule_ids: Vec<String> },
    /// The longest silence of the call must not exceed `max_secs`.
    MaxSilence { max_secs: f64 },
    /// Total talk-over and/or the number of talk-overs must not exceed the limits given.
    MaxTalkOver {
        max_secs: Option<f64>,
        max_count: Option<u32>,
    },
    /// The customer's sentiment must not fall below `min_score` (-1..1).
    CustomerSentiment {
        at: SentimentPosition,
        min_score: f32,
    },
}

impl RuleCheck {
    pub fn kind(&self) -> RuleKind {
        match self {
            RuleCheck::Required(_) => RuleKind::Required,
            RuleCheck::Forbidden(_) => RuleKind::Forbidden,
            RuleCheck::Sequence { .. } => RuleKind::Sequence,
            RuleCheck::MaxSilence { .. } => RuleKind::MaxSilence,
            RuleCheck::MaxTalkOver { .. } => RuleKind::MaxTalkOver,
            RuleCheck::CustomerSentiment { .. } => RuleKind::CustomerSentiment,
        }
    }
}

/// Settings of a required or forbidden rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhraseRule {
    /// Who must (or must not) say it. Defaults to the agent.
    pub speaker: SpeakerConstraint,
    /// Any one of these counts. Never empty.
    pub phrases: Vec<Phrase>,
    /// Where on the call timeline the phrase counts; `None` means anywhere.
    pub within: Option<TimeWindow>,
    /// Match confidence needed (0..1]; `None` uses [`MatchConfig::threshold`].
    ///
    /// [`MatchConfig::threshold`]: super::matching::MatchConfig::threshold
    pub threshold: Option<f32>,
}

/// A phrase and, when the script lists phrases by language, its ISO 639-1 code. All phrases of a
/// rule are tried whatever the call's language: a multilingual embedder matches across languages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phrase {
    pub text: String,
    pub language: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpeakerConstraint {
    Agent,
    Customer,
    Any,
}

impl SpeakerConstraint {
    pub fn as_str(self) -> &'static str {
        match self {
            SpeakerConstraint::Agent => "agent",
            SpeakerConstraint::Customer => "customer",
            SpeakerConstraint::Any => "any",
        }
    }
}

/// Which customer turns a sentiment rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentimentPosition {
    /// The end of the call: see [`MatchConfig::sentiment_end_fraction`].
    ///
    /// [`MatchConfig::sentiment_end_fraction`]: super::matching::MatchConfig::sentiment_end_fraction
    End,
    /// Every customer turn: the lowest one decides.
    Any,
}

/// A stretch of the call timeline. A negative `start_secs`/`end_secs` counts back from the end of
/// the call; `end_secs: None` is the end of the call. In a file it is written
/// `{"start_secs": 0, "end_secs": 20}`, `{"end_secs": -30}` or `{"last_secs": 60}` (the last
/// minute, stored as `start_secs: -60`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeWindow {
    pub start_secs: f64,
    pub end_secs: Option<f64>,
}

impl TimeWindow {
    /// The window on a call of `call_duration_secs`, clamped to the call.
    pub fn resolve(&self, call_duration_secs: f64) -> TimeSpan {
        let from_either_end = |secs: f64| {
            if secs < 0.0 {
                (call_duration_secs + secs).max(0.0)
            } else {
                secs
            }
        };
        TimeSpan {
            start_secs: from_either_end(self.start_secs),
            end_secs: self.end_secs.map_or(call_duration_secs, from_either_end),
        }
    }

    /// Words for a reason, e.g. "first 20 s", "last 60 s", "10-40 s".
    pub fn describe(&self) -> String {
        match (self.start_secs, self.end_secs) {
            (start, None) if start < 0.0 => format!("last {} s", -start),
            (start, None) => format!("from {start} s to the end"),
            (start, Some(end)) if start == 0.0 && end >= 0.0 => format!("first {end} s"),
            (start, Some(end)) if start >= 0.0 && end >= 0.0 => format!("{start}-{end} s"),
            (start, Some(end)) if start >= 0.0 => {
                format!("from {start} s to {} s before the end", -end)
            }
            (start, Some(end)) => format!("from {} s to {} s before the end", -start, -end),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The file format.

/// A script as written in a file. See the module documentation for how it is validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptFile {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub rules: Vec<RuleFile>,
}

/// A rule as written in a file: every field of every kind, checked against `kind` in validation
/// (so that an unknown kind or speaker is reported with the rule's line).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub id: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phrases: Option<PhrasesFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<WindowFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
    /// Rule ids of a sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f32>,
}

/// `["a", "b"]` or `{"en": ["a"], "ru": ["б"]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "phrases must be a list of strings or a map from language code to a list of strings"
)]
pub enum PhrasesFile {
    List(Vec<String>),
    ByLanguage(BTreeMap<String, Vec<String>>),
}

/// `{"start_secs": 0, "end_secs": 20}` (negative = from the end of the call) or `{"last_secs": 60}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_secs: Option<f64>,
}

// ---------------------------------------------------------------------------------------------
// Parsing.

/// Parses a script from JSON (text starting with `{` or `[`) or YAML (anything else) and validates
/// it. `source_name` names the text in errors (usually the file name).
pub fn parse_script(text: &str, source_name: &str) -> Result<Script> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let script_error = |line: usize, reason: String| PipelineError::Script {
        source_name: source_name.to_string(),
        line,
        reason,
    };
    let file: ScriptFile = if looks_like_json(text) {
        serde_json::from_str(text).map_err(|error| {
            script_error(error.line().max(1), strip_positions(&error.to_string()))
        })?
    } else {
        serde_yaml::from_str(text).map_err(|error| {
            let line = error
                .location()
                .map_or_else(|| last_line(text), |location| location.line());
            script_error(line, strip_positions(&error.to_string()))
        })?
    };
    let script_id = file.id.clone();
    validate_script(file).map_err(|issue| {
        let line = match &issue.rule_id {
            Some(rule_id) => lines_declaring_id(text, rule_id)
                .get(issue.id_occurrence)
                .copied(),
            None => lines_declaring_id(text, &script_id).first().copied(),
        };
        script_error(line.unwrap_or(1), issue.reason)
    })
}

/// Reads and parses a script file.
pub fn load_script(path: impl AsRef<Path>) -> Result<Script> {
    let path = path.as_ref();
    let source_name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| PipelineError::Script {
        source_name: source_name.clone(),
        line: 0,
        reason: format!("cannot read the file: {error}"),
    })?;
    parse_script(&text, &source_name)
}

fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start().chars().next(), Some('{') | Some('['))
}

fn last_line(text: &str) -> usize {
    text.lines().count().max(1)
}

/// Removes serde's " at line L column C" (the line is reported separately).
fn strip_positions(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(found) = rest.find(" at line ") {
        let after = &rest[found + " at line ".len()..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        let tail = &after[digits..];
        match tail.strip_prefix(" column ") {
            Some(column_tail) if digits > 0 => {
                let column_digits = column_tail.chars().take_while(char::is_ascii_digit).count();
                out.push_str(&rest[..found]);
                rest = &column_tail[column_digits..];
            }
            _ => {
                out.push_str(&rest[..found + " at line ".len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// 1-based lines holding an `id` key whose value is `id`, in order, JSON or YAML style.
fn lines_declaring_id(source: &str, id: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    for (line_idx, line) in source.lines().enumerate() {
        let mut search_from = 0;
        while let Some(found) = line[search_from..].find("id") {
            let key_start = search_from + found;
            let key_end = key_start + 2;
            search_from = key_end;
            let before = line[..key_start].chars().next_back();
            let quote = match before {
                None => None,
                Some(c @ ('"' | '\'')) => Some(c),
                Some(c) if c.is_whitespace() || c == '{' || c == ',' => None,
                Some(_) => continue,
            };
            let mut rest = &line[key_end..];
            if let Some(quote) = quote {
                match rest.strip_prefix(quote) {
                    Some(after_quote) => rest = after_quote,
                    None => continue,
                }
            }
            let Some(after_colon) = rest.trim_start().strip_prefix(':') else {
                continue;
            };
            let value_text = after_colon.trim_start();
            let value = match value_text.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let inner = &value_text[1..];
                    inner.find(q).map(|end| &inner[..end])
                }
                Some(_) => {
                    let end = value_text
                        .find(|c: char| c.is_whitespace() || c == ',' || c == '}' || c == '#')
                        .unwrap_or(value_text.len());
                    Some(&value_text[..end])
                }
                None => None,
            };
            if value == Some(id) {
                lines.push(line_idx + 1);
            }
        }
    }
    lines
}

// ---------------------------------------------------------------------------------------------
// Validation.

/// A semantic problem, placed later by the id of the rule it concerns.
#[derive(Debug)]
struct ValidationIssue {
    /// `None`: the problem is with the script as a whole.
    rule_id: Option<String>,
    /// How many rules before this one have the same id (to pick the right declaration).
    id_occurrence: usize,
    reason: String,
}

impl TryFrom<ScriptFile> for Script {
    type Error = String;

    fn try_from(file: ScriptFile) -> std::result::Result<Self, Self::Error> {
        validate_script(file).map_err(|issue| issue.reason)
    }
}

impl From<Script> for ScriptFile {
    fn from(script: Script) -> Self {
        ScriptFile {
            id: script.id,
            name: script.name,
            version: script.version,
            description: script.description,
            rules: script.rules.into_iter().map(RuleFile::from).collect(),
        }
    }
}

impl From<Rule> for RuleFile {
    fn from(rule: Rule) -> Self {
        let mut file = RuleFile {
            id: rule.id,
            kind: rule.check.kind().as_str().to_string(),
            severity: Some(rule.severity.as_str().to_string()),
            description: rule.description,
            ..RuleFile::default()
        };
        match rule.check {
            RuleCheck::Required(phrase_rule) | RuleCheck::Forbidden(phrase_rule) => {
                file.speaker = Some(phrase_rule.speaker.as_str().to_string());
                file.threshold = phrase_rule.threshold;
                file.within = phrase_rule.within.map(|window| WindowFile {
                    start_secs: Some(window.start_secs),
                    end_secs: window.end_secs,
                    last_secs: None,
                });
                file.phrases = Some(phrases_to_file(phrase_rule.phrases));
            }
            RuleCheck::Sequence { rule_ids } => file.rules = Some(rule_ids),
            RuleCheck::MaxSilence { max_secs } => file.max_secs = Some(max_secs),
            RuleCheck::MaxTalkOver {
                max_secs,
                max_count,
            } => {
                file.max_secs = max_secs;
                file.max_count = max_count;
            }
            RuleCheck::CustomerSentiment { at, min_score } => {
                file.at = Some(match at {
                    SentimentPosition::End => "end".to_string(),
                    SentimentPosition::Any => "any".to_string(),
                });
                file.min_score = Some(min_score);
            }
        }
        file
    }
}

fn phrases_to_file(phrases: Vec<Phrase>) -> PhrasesFile {
    if phrases.iter().all(|phrase| phrase.language.is_none()) {
        return PhrasesFile::List(phrases.into_iter().map(|phrase| phrase.text).collect());
    }
    let mut by_language: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for phrase in phrases {
        let language = phrase.language.unwrap_or_default();
        by_language.entry(language).or_default().push(phrase.text);
    }
    PhrasesFile::ByLanguage(by_language)
}

fn validate_script(file: ScriptFile) -> std::result::Result<Script, ValidationIssue> {
    let script_issue = |reason: String| ValidationIssue {
        rule_id: None,
        id_occurrence: 0,
        reason,
    };
    if file.id.trim().is_empty() {
        return Err(script_issue("the script id is empty".to_string()));
    }
    if file.rules.is_empty() {
        return Err(script_issue("the script has no rules".to_string()));
    }

    // Kinds first, so that sequences can check what they refer to.
    let mut kind_by_id: HashMap<&str, RuleKind> = HashMap::new();
    let mut seen_count_by_id: HashMap<&str, usize> = HashMap::new();
    for rule in &file.rules {
        let seen_count = seen_count_by_id.entry(rule.id.as_str()).or_insert(0);
        let id_occurrence = *seen_count;
        *seen_count += 1;
        let issue = |reason: String| ValidationIssue {
            rule_id: Some(rule.id.clone()),
            id_occurrence,
            reason,
        };
        if rule.id.trim().is_empty() {
            return Err(issue("a rule has an empty id".to_string()));
        }
        if id_occurrence > 0 {
            return Err(issue(format!("duplicate rule id '{}'", rule.id)));
        }
        let kind = parse_kind(&rule.kind)
            .map_err(|reason| issue(format!("rule '{}': {reason}", rule.id)))?;
        kind_by_id.insert(rule.id.as_str(), kind);
    }

    let mut rules = Vec::with_capacity(file.rules.len());
    for rule_file in &file.rules {
        let rule = validate_rule(rule_file, &kind_by_id).map_err(|reason| ValidationIssue {
            rule_id: Some(rule_file.id.clone()),
            id_occurrence: 0,
            reason: format!("rule '{}': {reason}", rule_file.id),
        })?;
        rules.push(rule);
    }
    Ok(Script {
        id: file.id,
        name: file.name,
        version: file.version,
        description: file.description,
        rules,
    })
}

fn parse_kind(kind: &str) -> std::result::Result<RuleKind, String> {
    RuleKind::ALL
        .into_iter()
        .find(|candidate| candidate.as_str() == kind)
        .ok_or_else(|| {
            let known: Vec<&str> = RuleKind::ALL.iter().map(|kind| kind.as_str()).collect();
            format!(
                "unknown kind '{kind}', expected one of {}",
                known.join(", ")
            )
        })
}

fn validate_rule(
    file: &RuleFile,
    kind_by_id: &HashMap<&str, RuleKind>,
) -> std::result::Result<Rule, String> {
    let kind = parse_kind(&file.kind)?;
    let severity = match file.severity.as_deref() {
        None | Some("medium") => Severity::Medium,
        Some("low") => Severity::Low,
        Some("high") => Severity::High,
        Some(other) => {
            return Err(format!(
                "unknown severity '{other}', expected low, medium or high"
            ));
        }
    };

    let present_fields = [
        ("speaker", file.speaker.is_some()),
        ("phrases", file.phrases.is_some()),
        ("within", file.within.is_some()),
        ("threshold", file.threshold.is_some()),
        ("rules", file.rules.is_some()),
        ("max_secs", file.max_secs.is_some()),
        ("max_count", file.max_count.is_some()),
        ("at", file.at.is_some()),
        ("min_score", file.min_score.is_some()),
    ];
    let allowed_fields: &[&str] = match kind {
        RuleKind::Required | RuleKind::Forbidden => &["speaker", "phrases", "within", "threshold"],
        RuleKind::Sequence => &["rules"],
        RuleKind::MaxSilence => &["max_secs"],
        RuleKind::MaxTalkOver => &["max_secs", "max_count"],
        RuleKind::CustomerSentiment => &["at", "min_score"],
    };
    if let Some((field, _)) = present_fields
        .iter()
        .find(|(field, present)| *present && !allowed_fields.contains(field))
    {
        return Err(format!(
            "field '{field}' does not apply to a {} rule",
            kind.as_str()
        ));
    }

    let check = match kind {
        RuleKind::Required => RuleCheck::Required(validate_phrase_rule(file, kind)?),
        RuleKind::Forbidden => RuleCheck::Forbidden(validate_phrase_rule(file, kind)?),
        RuleKind::Sequence => {
            let rule_ids = file.rules.clone().ok_or("a sequence rule needs 'rules'")?;
            if rule_ids.len() < 2 {
                return Err("a sequence needs at least two rules".to_string());
            }
            for (position, referenced) in rule_ids.iter().enumerate() {
                match kind_by_id.get(referenced.as_str()) {
                    None => return Err(format!("sequence refers to unknown rule '{referenced}'")),
                    Some(RuleKind::Required) => {}
                    Some(other) => {
                        return Err(format!(
                            "sequence refers to rule '{referenced}', a {} rule; only required rules can be ordered",
                            other.as_str()
                        ));
                    }
                }
                if rule_ids[..position].contains(referenced) {
                    return Err(format!("sequence lists rule '{referenced}' twice"));
                }
            }
            RuleCheck::Sequence { rule_ids }
        }
        RuleKind::MaxSilence => {
            let max_secs = file.max_secs.ok_or("a max_silence rule needs 'max_secs'")?;
            check_max_secs(max_secs)?;
            RuleCheck::MaxSilence { max_secs }
        }
        RuleKind::MaxTalkOver => {
            if file.max_secs.is_none() && file.max_count.is_none() {
                return Err("a max_talk_over rule needs 'max_secs' or 'max_count'".to_string());
            }
            if let Some(max_secs) = file.max_secs {
                check_max_secs(max_secs)?;
            }
            RuleCheck::MaxTalkOver {
                max_secs: file.max_secs,
                max_count: file.max_count,
            }
        }
        RuleKind::CustomerSentiment => {
            let at = match file.at.as_deref() {
                None | Some("end") => SentimentPosition::End,
                Some("any") => SentimentPosition::Any,
                Some(other) => {
                    return Err(format!("unknown 'at' value '{other}', expected end or any"));
                }
            };
            let min_score = file
                .min_score
                .ok_or("a customer_sentiment rule needs 'min_score'")?;
            if !(-1.0..=1.0).contains(&min_score) {
                return Err(format!("min_score {min_score} is outside -1..1"));
            }
            RuleCheck::CustomerSentiment { at, min_score }
        }
    };
    Ok(Rule {
        id: file.id.clone(),
        severity,
        description: file.description.clone(),
        check,
    })
}

fn check_max_secs(max_secs: f64) -> std::result::Result<(), String> {
    if !max_secs.is_finite() || max_secs < 0.0 {
        return Err(format!(
            "max_secs must be a non-negative number of seconds, got {max_secs}"
        ));
    }
    Ok(())
}

fn validate_phrase_rule(
    file: &RuleFile,
    kind: RuleKind,
) -> std::result::Result<PhraseRule, String> {
    let speaker = match file.speaker.as_deref() {
        None | Some("agent") => SpeakerConstraint::Agent,
        Some("customer") => SpeakerConstraint::Customer,
        Some("any") => SpeakerConstraint::Any,
        Some(other) => {
            return Err(format!(
                "unknown speaker '{other}', expected agent, customer or any"
            ));
        }
    };
    let phrases = match &file.phrases {
        None => return Err(format!("a {} rule needs 'phrases'", kind.as_str())),
        Some(PhrasesFile::List(texts)) => texts
            .iter()
            .map(|text| Phrase {
                text: text.clone(),
                language: None,
            })
            .collect(),
        Some(PhrasesFile::ByLanguage(by_language)) => {
            let mut phrases = Vec::new();
            for (language, texts) in by_language {
                if texts.is_empty() {
                    return Err(format!(
                        "the phrase list for language '{language}' is empty"
                    ));
                }
                phrases.extend(texts.iter().map(|text| Phrase {
                    text: text.clone(),
                    language: Some(language.clone()),
                }));
            }
            phrases
        }
    };
    let phrases: Vec<Phrase> = phrases;
    if phrases.is_empty() {
        return Err("the phrase list is empty".to_string());
    }
    if let Some(position) = phrases
        .iter()
        .position(|phrase| phrase.text.trim().is_empty())
    {
        return Err(format!("phrase {} is empty", position + 1));
    }
    if let Some(threshold) = file.threshold
        && !(threshold > 0.0 && threshold <= 1.0)
    {
        return Err(format!("threshold {threshold} is outside 0..1"));
    }
    let within = file.within.map(validate_window).transpose()?;
    Ok(PhraseRule {
        speaker,
        phrases,
        within,
        threshold: file.threshold,
    })
}

fn validate_window(window: WindowFile) -> std::result::Result<TimeWindow, String> {
    for (name, value) in [
        ("start_secs", window.start_secs),
        ("end_secs", window.end_secs),
        ("last_secs", window.last_secs),
    ] {
        if let Some(value) = value
            && !value.is_finite()
        {
            return Err(format!("window {name} is not a finite number"));
        }
    }
    if let Some(last_secs) = window.last_secs {
        if window.start_secs.is_some() || window.end_secs.is_some() {
            return Err(
                "window 'last_secs' cannot be combined with 'start_secs' or 'end_secs'".to_string(),
            );
        }
        if last_secs <= 0.0 {
            return Err(format!(
                "window last_secs must be positive, got {last_secs}"
            ));
        }
        return Ok(TimeWindow {
            start_secs: -last_secs,
            end_secs: None,
        });
    }
    let start_secs = window.start_secs.unwrap_or(0.0);
    match window.end_secs {
        None if window.start_secs.is_none() => {
            Err("window needs 'start_secs', 'end_secs' or 'last_secs'".to_string())
        }
        Some(end_secs) if start_secs < 0.0 && end_secs >= 0.0 => Err(format!(
            "window starts {} s before the end of the call but ends {end_secs} s after its start; \
             use negative end_secs too",
            -start_secs
        )),
        Some(end_secs) if (start_secs >= 0.0) == (end_secs >= 0.0) && end_secs <= start_secs => {
            Err(format!(
                "window ends ({end_secs} s) before it starts ({start_secs} s)"
            ))
        }
        end_secs => Ok(TimeWindow {
            start_secs,
            end_secs,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_stripped_from_serde_messages() {
        assert_eq!(
            strip_positions("unknown field `x`, expected `id` at line 3 column 5"),
            "unknown field `x`, expected `id`"
        );
        assert_eq!(strip_positions("at line of fire"), "at line of fire");
    }

    #[test]
    fn id_declarations_are_found_in_json_and_yaml() {
        let source = "{\"id\": \"a\",\n  \"rules\": [{\"id\":\"b\"},\n {\"kind\": \"x\", \"id\": \"b\"}]}\n- id: b\n  rule_id: b\n  id: 'b' # c\n";
        assert_eq!(lines_declaring_id(source, "b"), vec![2, 3, 4, 6]);
        assert_eq!(lines_declaring_id(source, "a"), vec![1]);
    }
}
