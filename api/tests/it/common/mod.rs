//! Helpers shared by the API's integration tests: test audio and a worker's finished analysis.

#![allow(dead_code)]

use callsight_api::report::{
    CallReport, MetricsReport, ModelsUsed, PartyMetricsReport, SentimentReport, TimingsReport, TurnReport, WordReport,
};
use callsight_workers::store::{AnalysisRecord, CallSummary, RuleOutcome};
use callsight_workers::{JobKind, Store};

/// A PCM16 WAV of a 440 Hz tone.
pub fn wav(n_channels: u16, secs: f64) -> Vec<u8> {
    let rate: u32 = 8000;
    let n_frames = (f64::from(rate) * secs) as u32;
    let data_len = n_frames * u32::from(n_channels) * 2;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&n_channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(n_channels) * 2).to_le_bytes());
    out.extend_from_slice(&(n_channels * 2).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..n_frames {
        let sample = ((i as f64 * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin() * 8000.0) as i16;
        for _ in 0..n_channels {
            out.extend_from_slice(&sample.to_le_bytes());
        }
    }
    out
}

/// Finishes the call's queued analysis job as a worker would, with a small report.
pub async fn analyse(store: &Store, flagged: bool) {
    let job = store.claim("test-worker", 60, &[JobKind::Analyze]).await.expect("claim").expect("a queued job");
    let party = PartyMetricsReport {
        talk_secs: 1.0,
        talk_ratio: 0.5,
        words_per_minute: 120.0,
        interruptions: 0,
        loudness_dbfs: -20.0,
        clipping_ratio: 0.0,
    };
    let report = CallReport {
        schema: "callsight.report.v1".into(),
        source: "call.wav".into(),
        duration_secs: 2.0,
        sample_rate_hz: 8000,
        n_channels: 2,
        channel_layout: "agent_customer".into(),
        language: "en".into(),
        models: ModelsUsed { transcriber: "fake".into(), sentiment: "fake".into() },
        turns: vec![TurnReport {
            speaker: "agent".into(),
            start_secs: 0.25,
            end_secs: 1.5,
            text: "thank you for calling acme".into(),
            sentiment: None,
            words: vec![WordReport { text: "thank".into(), start_secs: 0.25, end_secs: 0.5, confidence: 0.9 }],
        }],
        sentiment: SentimentReport { agent: None, customer: None, unknown: None, customer_trajectory: None },
        compliance: None,
        metrics: MetricsReport {
            duration_secs: 2.0,
            agent: party.clone(),
            customer: party.clone(),
            unknown: party,
            non_talk_secs: 0.0,
            longest_silence_secs: 0.0,
            longest_silence: None,
            talk_over_secs: 0.0,
            talk_over_count: 0,
            holds: vec![],
        },
        flags: vec![],
        speech: vec![],
        timings: TimingsReport::default(),
        redactions: vec![],
        pauses: vec![],
    };
    let analysis = AnalysisRecord {
        report: serde_json::to_value(&report).expect("report json"),
        transcript_text: "thank you for calling acme".into(),
        rule_outcomes: vec![
            RuleOutcome { rule_id: "greeting".into(), passed: true, severity: Some("medium".into()), score: Some(0.9), evidence: None },
            RuleOutcome { rule_id: "no-guarantees".into(), passed: !flagged, severity: Some("high".into()), score: None, evidence: None },
        ],
        summary: CallSummary {
            duration_secs: 2.0,
            flagged,
            compliance_score: Some(if flagged { 0.4 } else { 1.0 }),
            customer_sentiment_label: Some("positive".into()),
            customer_sentiment_score: Some(0.5),
        },
    };
    store.complete_with_analysis(&job.id, "test-worker", &analysis).await.expect("complete job");
}
