//! A small Prometheus registry: labelled counters and histograms rendered in the text exposition
//! format (version 0.0.4). Enough for this service without a metrics crate.
//!
//! [`Metrics`] is a cheap clonable handle; the binary hands one to the job handler so analysis
//! timings land in the same `/metrics` output as the HTTP numbers.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// Latency buckets in seconds: HTTP requests and verification (fast) up to analysis stages (slow).
const LATENCY_BUCKETS_SECS: &[f64] =
    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];
/// Real-time factor buckets (processing seconds per audio second).
const RTF_BUCKETS: &[f64] = &[0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0];

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Histogram {
    /// Count per bucket (not cumulative; made cumulative when rendered).
    bucket_counts: Vec<u64>,
    sum: f64,
    count: u64,
}

struct HistogramFamily {
    help: &'static str,
    buckets: &'static [f64],
    series: BTreeMap<Labels, Histogram>,
}

struct CounterFamily {
    help: &'static str,
    series: BTreeMap<Labels, f64>,
}

#[derive(Default)]
struct Registry {
    counters: BTreeMap<&'static str, CounterFamily>,
    histograms: BTreeMap<&'static str, HistogramFamily>,
}

/// Handle to the process's metrics. Clone freely.
#[derive(Clone, Default)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    /// Live streams open now (a gauge kept here, not computed at scrape time).
    active_streams: Arc<std::sync::atomic::AtomicUsize>,
}

impl Metrics {
    fn with_registry<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        // Metrics must never take a request down: a poisoned lock is still a usable registry.
        let mut registry = self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut registry)
    }

    fn add_counter(&self, name: &'static str, help: &'static str, labels: Labels, value: f64) {
        self.with_registry(|r| {
            let family = r.counters.entry(name).or_insert_with(|| CounterFamily { help, series: BTreeMap::new() });
            *family.series.entry(labels).or_insert(0.0) += value;
        });
    }

    fn observe(&self, name: &'static str, help: &'static str, buckets: &'static [f64], labels: Labels, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.with_registry(|r| {
            let family =
                r.histograms.entry(name).or_insert_with(|| HistogramFamily { help, buckets, series: BTreeMap::new() });
            let histogram = family.series.entry(labels).or_insert_with(|| Histogram {
                bucket_counts: vec![0; buckets.len()],
                ..Histogram::default()
            });
            if let Some(idx) = buckets.iter().position(|upper| value <= *upper) {
                histogram.bucket_counts[idx] += 1;
            }
            histogram.sum += value;
            histogram.count += 1;
        });
    }

    /// One HTTP request: `route` is the matched route template (`/v1/calls/{id}`), never the raw
    /// path, so label cardinality stays bounded.
    pub fn record_request(&self, method: &str, route: &str, status: u16, secs: f64) {
        let labels = vec![("method", method.to_string()), ("route", route.to_string()), ("status", status.to_string())];
        self.add_counter("callsight_http_requests_total", "HTTP requests by route and status.", labels.clone(), 1.0);
        self.observe(
            "callsight_http_request_duration_seconds",
            "HTTP request latency by route and status.",
            LATENCY_BUCKETS_SECS,
            labels,
            secs,
        );
    }

    /// One speaker verification (the IVR's critical path), end to end inside the server.
    pub fn record_verification(&self, decision: &str, secs: f64) {
        self.observe(
            "callsight_verification_duration_seconds",
            "Speaker verification latency by decision.",
            LATENCY_BUCKETS_SECS,
            vec![("decision", decision.to_string())],
            secs,
        );
    }

    /// One pipeline stage of one call (`decode`, `vad`, `transcribe`, `sentiment`, ...).
    pub fn record_stage(&self, stage: &str, secs: f64) {
        self.observe(
            "callsight_stage_duration_seconds",
            "Analysis stage durations.",
            LATENCY_BUCKETS_SECS,
            vec![("stage", stage.to_string())],
            secs,
        );
    }

    /// A finished analysis: audio length and wall time; also records the real-time factor.
    pub fn record_analysis(&self, audio_secs: f64, processing_secs: f64) {
        self.observe(
            "callsight_analysis_duration_seconds",
            "Wall time of whole call analyses.",
            LATENCY_BUCKETS_SECS,
            Vec::new(),
            processing_secs,
        );
        self.add_counter("callsight_analysed_audio_seconds_total", "Seconds of audio analysed.", Vec::new(), audio_secs);
        if audio_secs > 0.0 {
            self.observe(
                "callsight_analysis_real_time_factor",
                "Processing seconds per audio second.",
                RTF_BUCKETS,
                Vec::new(),
                processing_secs / audio_secs,
            );
        }
    }

    /// A job finished by a worker: `kind` (`analyze`, `rescore`), `outcome` (`done`, `retry`, `dead`).
    pub fn record_job(&self, kind: &str, outcome: &str) {
        self.add_counter(
            "callsight_jobs_finished_total",
            "Jobs finished by workers, by kind and outcome.",
            vec![("kind", kind.to_string()), ("outcome", outcome.to_string())],
            1.0,
        );
    }

    /// A webhook delivery attempt: `outcome` is `delivered`, `retry` or `dead`.
    pub fn record_webhook_delivery(&self, outcome: &str) {
        self.add_counter(
            "callsight_webhook_deliveries_total",
            "Webhook delivery attempts by outcome.",
            vec![("outcome", outcome.to_string())],
            1.0,
        );
    }

    pub(crate) fn set_active_streams(&self, n_streams: usize) {
        self.active_streams.store(n_streams, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn stream_refused(&self) {
        self.add_counter("callsight_streams_refused_total", "Live streams refused at capacity.", Vec::new(), 1.0);
    }

    pub(crate) fn rate_limited(&self) {
        self.add_counter("callsight_rate_limited_total", "Requests refused by the per-key rate limit.", Vec::new(), 1.0);
    }

    /// The registry in Prometheus text format, with `gauges` (computed at scrape time) first.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP callsight_streams_active Live streams open now.");
        let _ = writeln!(out, "# TYPE callsight_streams_active gauge");
        let _ = writeln!(out, "callsight_streams_active {}", self.active_streams.load(std::sync::atomic::Ordering::SeqCst));
        let mut last_name = "";
        for gauge in gauges {
            if gauge.name != last_name {
                let _ = writeln!(out, "# HELP {} {}", gauge.name, gauge.help);
                let _ = writeln!(out, "# TYPE {} gauge", gauge.name);
                last_name = gauge.name;
            }
            let _ = writeln!(out, "{}{} {}", gauge.name, format_labels(&gauge.labels, None), format_value(gauge.value));
        }
        self.with_registry(|r| {
            for (name, family) in &r.counters {
                let _ = writeln!(out, "# HELP {name} {}", family.help);
                let _ = writeln!(out, "# TYPE {name} counter");
                for (labels, value) in &family.series {
                    let _ = writeln!(out, "{name}{} {}", format_labels(labels, None), format_value(*value));
                }
            }
            for (name, family) in &r.histograms {
                let _ = writeln!(out, "# HELP {name} {}", family.help);
                let _ = writeln!(out, "# TYPE {name} histogram");
                for (labels, histogram) in &family.series {
                    let mut cumulative = 0u64;
                    for (upper, count) in family.buckets.iter().zip(&histogram.bucket_counts) {
                        cumulative += count;
                        let le = format_value(*upper);
                        let _ = writeln!(out, "{name}_bucket{} {cumulative}", format_labels(labels, Some(&le)));
                    }
                    let _ = writeln!(out, "{name}_bucket{} {}", format_labels(labels, Some("+Inf")), histogram.count);
                    let _ = writeln!(out, "{name}_sum{} {}", format_labels(labels, None), format_value(histogram.sum));
                    let _ = writeln!(out, "{name}_count{} {}", format_labels(labels, None), histogram.count);
                }
            }
        });
        out
    }
}

/// A value read at scrape time (queue depth, jobs by state).
#[derive(Debug, Clone)]
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

fn format_value(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{value}")
    }
}

fn format_labels(labels: &[(&'static str, String)], le: Option<&str>) -> String {
    if labels.is_empty() && le.is_none() {
        return String::new();
    }
    let mut parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    format!("{{{}}}", parts.join(","))
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Middleware: counts and times every request by matched route and status.
pub async fn track_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(request).await;
    state.metrics.record_request(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let metrics = Metrics::default();
        metrics.record_request("GET", "/v1/calls", 200, 0.003);
        metrics.record_request("GET", "/v1/calls", 200, 0.2);
        let text = metrics.render(&[Gauge { name: "q", help: "h", labels: vec![], value: 3.0 }]);
        assert!(text.contains("q 3"));
        assert!(text.contains("callsight_http_requests_total{method=\"GET\",route=\"/v1/calls\",status=\"200\"} 2"));
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("le=\"0.25\"} 2"));
        assert!(text.contains("le=\"+Inf\"} 2"));
    }
}
