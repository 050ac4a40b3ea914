//! Script compliance: scripts of rules (phrases to say or avoid, their order, silence, talk-over,
//! customer sentiment) checked against a call's turns and metrics.
//!
//! - [`script`]: the JSON/YAML format, parsing, and validation with line numbers.
//! - [`matching`]: finding a phrase in a turn (fuzzy word match + optional sentence embeddings).
//! - [`evaluate`]: turning rules into pass/fail outcomes with evidence and reasons.
//!
//! Everything here is pure except [`load_script`], which reads one file.

pub mod evaluate;
pub mod matching;
pub mod script;

pub use evaluate::{ComplianceResult, Evidence, RuleOutcome, evaluate_script};
pub use matching::{MatchConfig, MatchMethod, PhraseMatch, PhraseMatcher};
pub use script::{
    Phrase, PhraseRule, Rule, RuleCheck, RuleKind, Script, SentimentPosition, Severity,
    SpeakerConstraint, TimeWindow, load_script, parse_script,
};
