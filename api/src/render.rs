//! Human formats of a report: a summary readable in ten seconds, and SRT / WebVTT subtitles.

use std::fmt::Write;

use crate::report::CallReport;

/// Formats seconds as `h:mm:ss` for people.
fn clock(secs: f64) -> String {
    let total = secs.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", total / 3600, (total / 60) % 60, total % 60)
}

fn subtitle_time(secs: f64, decimal_separator: char) -> String {
    let millis_total = (secs.max(0.0) * 1000.0).round() as u64;
    let (hours, minutes) = (millis_total / 3_600_000, (millis_total / 60_000) % 60);
    let (seconds, millis) = ((millis_total / 1000) % 60, millis_total % 1000);
    format!("{hours:02}:{minutes:02}:{seconds:02}{decimal_separator}{millis:03}")
}

pub fn to_srt(report: &CallReport) -> String {
    let mut out = String::new();
    for (idx, turn) in report.turns.iter().enumerate() {
        let _ = writeln!(out, "{}", idx + 1);
        let _ = writeln!(out, "{} --> {}", subtitle_time(turn.start_secs, ','), subtitle_time(turn.end_secs, ','));
        let _ = writeln!(out, "[{}] {}\n", turn.speaker, turn.text);
    }
    out
}

pub fn to_vtt(report: &CallReport) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for turn in &report.turns {
        let _ = writeln!(out, "{} --> {}", subtitle_time(turn.start_secs, '.'), subtitle_time(turn.end_secs, '.'));
        let _ = writeln!(out, "<v {}>{}\n", turn.speaker, turn.text);
    }
    out
}

/// The ten-second summary: verdict first, then the evidence a reviewer would check.
pub fn to_text(report: &CallReport) -> String {
    let mut out = String::new();
    let verdict = if report.flags.is_empty() { "OK" } else { "FLAGGED" };
    let _ = writeln!(
        out,
        "{}  {}  {} · {} · {} turns · language {}",
        verdict,
        report.source,
        clock(report.duration_secs),
        report.channel_layout.replace('_', "/"),
        report.turns.len(),
        if report.language.is_empty() { "?" } else { &report.language }
    );
    if let Some(compliance) = &report.compliance {
        let passed = compliance.rules.iter().filter(|r| r.passed).count();
        let _ = writeln!(
            out,
            "Script {}: {}/{} rules passed (score {:.0} %)",
            compliance.script_id,
            passed,
            compliance.rules.len(),
            compliance.score * 100.0
        );
        for rule in &compliance.rules {
            let mark = if rule.passed { "✓" } else { "✗" };
            let _ = writeln!(out, "  {mark} {:<24} {:.2}  {}", rule.id, rule.confidence, rule.reason);
        }
    }
    let s = &report.sentiment;
    let describe = |p: &Option<crate::report::PartySentimentReport>| match p {
        Some(p) => format!("{} ({:+.2})", p.label, p.score),
        None => "–".into(),
    };
    let _ = write!(out, "Sentiment: agent {}, customer {}", describe(&s.agent), describe(&s.customer));
    if s.unknown.is_some() {
        let _ = write!(out, ", call {}", describe(&s.unknown));
    }
    if let Some(t) = &s.customer_trajectory {
        let _ = write!(out, "; customer {} → {}", t.start.label, t.end.label);
    }
    out.push('\n');
    let m = &report.metrics;
    let _ = writeln!(
        out,
        "Talk: agent {:.0} s ({:.0} wpm), customer {:.0} s ({:.0} wpm); silence {:.0} s, longest {:.1} s; talk-over {:.1} s × {}; holds {}",
        m.agent.talk_secs,
        m.agent.words_per_minute,
        m.customer.talk_secs,
        m.customer.words_per_minute,
        m.non_talk_secs,
        m.longest_silence_secs,
        m.talk_over_secs,
        m.talk_over_count,
        m.holds.len()
    );
    for flag in &report.flags {
        let at = flag.start_secs.map(|s| format!(" at {}", clock(s))).unwrap_or_default();
        let _ = writeln!(out, "  ⚑ [{}] {}{}: {}", flag.severity, flag.rule_id.as_deref().unwrap_or(&flag.kind), at, flag.reason);
    }
    let _ = writeln!(
        out,
        "Processed in {:.1} s (real-time factor {:.2}; whisper {:.1} s)",
        report.timings.total_secs, report.timings.real_time_factor, report.timings.transcribe_secs
    );
    out
}
