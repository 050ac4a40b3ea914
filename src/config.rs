//! Configuration: defaults → config file (TOML) → environment (`CALLSIGHT__SECTION__KEY`), read
//! only here, validated at start. Unknown keys are rejected so a typo never silently falls back to
//! a default. Command-line flags override the result for the options they name.

use std::path::{Path, PathBuf};

use anyhow::Context;
use callsight_pipeline::biometrics::DiarizeConfig;
use callsight_pipeline::compliance::MatchConfig;
use callsight_pipeline::hallucination::HallucinationConfig;
use callsight_pipeline::metrics::MetricsConfig;
use callsight_pipeline::vad::VadConfig;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub use callsight_service::config::{BiometricsConfig, VoiceprintsConfig};

/// Environment variables `CALLSIGHT__ANALYSIS__LANGUAGES='["en","ru"]'` set `analysis.languages`.
pub const ENV_PREFIX: &str = "CALLSIGHT__";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub analysis: AnalysisConfig,
    pub biometrics: BiometricsConfig,
    pub server: ServerConfig,
    pub workers: WorkersConfig,
    pub voiceprints: VoiceprintsConfig,
    /// Live calls over `GET /v1/streams`.
    pub streams: crate::streams::StreamsConfig,
    /// PCI/PII redaction of transcripts, reports and recordings (docs/redaction.md).
    pub redaction: callsight_pipeline::redaction::RedactionConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// "base" (multilingual), "tiny.en", or their quantised files "base-q8_0", "base-q5_1",
    /// "tiny.en-q8_0".
    pub model: String,
    /// Languages detection may choose from (ISO 639-1); empty: any.
    pub languages: Vec<String>,
    pub vad: VadConfig,
    pub hallucination: HallucinationConfig,
    pub metrics: MetricsConfig,
    pub matching: MatchConfig,
    /// How mono calls are split into agent and customer by voice.
    pub diarization: DiarizeConfig,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            model: "base".into(),
            languages: Vec::new(),
            vad: VadConfig::default(),
            hallucination: HallucinationConfig::default(),
            metrics: MetricsConfig::default(),
            matching: MatchConfig::default(),
            diarization: DiarizeConfig::default(),
        }
    }
}


#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    /// SQLite file, audio and the embedded voiceprint index live here.
    pub data_dir: PathBuf,
    /// `postgres://...` to use PostgreSQL instead of SQLite under `data_dir`.
    pub database_url: Option<String>,
    pub max_upload_bytes: u64,
    /// Uploads are refused with 503 + Retry-After while this many jobs wait.
    pub max_queued_jobs: u64,
    pub request_timeout_secs: u64,
    /// Requests per minute per API key (kept in the database: shared by every API process).
    pub rate_limit_per_minute: u32,
    /// Audio hours each tenant may upload per hour (shared by every API process); unset or 0 =
    /// unlimited. Over it, uploads get 429 with Retry-After.
    pub upload_quota_audio_hours_per_hour: Option<f64>,
    /// Let webhooks reach loopback and private-network addresses (off: only public addresses,
    /// so a tenant cannot make the server call internal services).
    pub webhooks_allow_private_targets: bool,
    /// The operator's bearer token for `/metrics` (figures of every tenant); unset: `/metrics`
    /// answers 404. Tenant API keys never read metrics.
    pub metrics_token: Option<String>,
    /// A client must send a request's head within this time (and an idle keep-alive connection
    /// is closed after it).
    pub header_read_timeout_secs: u64,
    /// Connections open at once from one IP address; 0 = unlimited (behind a proxy).
    pub max_connections_per_peer: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            database_url: None,
            max_upload_bytes: callsight_api::server::DEFAULT_MAX_UPLOAD_BYTES,
            max_queued_jobs: 10_000,
            request_timeout_secs: callsight_api::server::DEFAULT_REQUEST_TIMEOUT_SECS,
            rate_limit_per_minute: callsight_api::server::DEFAULT_RATE_LIMIT_PER_MINUTE,
            upload_quota_audio_hours_per_hour: None,
            webhooks_allow_private_targets: false,
            metrics_token: None,
            header_read_timeout_secs: 10,
            max_connections_per_peer: 128,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkersConfig {
    /// Calls analysed at once by this process (0: none, e.g. an API-only node).
    pub concurrency: usize,
    /// Inference threads per job; concurrency × threads never exceeds the cores.
    pub threads_per_job: Option<usize>,
    pub lease_secs: u64,
    pub heartbeat_secs: u64,
    pub max_attempts: u32,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        Self { concurrency: 1, threads_per_job: None, lease_secs: 120, heartbeat_secs: 20, max_attempts: 3 }
    }
}


impl Config {
    /// Loads defaults, then `file` (or `$CALLSIGHT_CONFIG`) when given, then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            anyhow::ensure!(path.is_file(), "config file {} does not exist", path.display());
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        let config: Config = figment.extract().map_err(|error| {
            let messages: Vec<String> = error.into_iter().map(|e| e.to_string()).collect();
            anyhow::anyhow!("invalid configuration: {}", messages.join("; "))
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let fail = |message: String| Err(anyhow::anyhow!("invalid configuration: {message}"));
        if crate::engines::WhisperModel::from_config(&self.analysis.model).is_err() {
            return fail(format!("analysis.model {:?}: expected one of {}", self.analysis.model, crate::engines::WhisperModel::NAMES));
        }
        for code in &self.analysis.languages {
            if !(2..=3).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_lowercase()) {
                return fail(format!("analysis.languages: {code:?} is not an ISO 639-1 code"));
            }
        }
        if !["campplus", "dvector"].contains(&self.biometrics.model.as_str()) {
            return fail(format!("biometrics.model {:?}: expected \"campplus\" or \"dvector\"", self.biometrics.model));
        }
        for (name, rate) in [
            ("biometrics.target_false_accept_rate", self.biometrics.target_false_accept_rate),
            ("biometrics.watchlist_false_accept_rate", self.biometrics.watchlist_false_accept_rate),
        ] {
            if !(rate > 0.0 && rate < 0.5) {
                return fail(format!("{name} {rate}: expected a rate between 0 and 0.5"));
            }
        }
        if self.biometrics.min_verify_net_speech_secs < 0.5 || self.biometrics.min_enrol_net_speech_secs < 1.0 {
            return fail("biometrics: net speech minimums must be at least 0.5 s (verify) and 1 s (enrol)".into());
        }
        if self.biometrics.max_concurrent_requests == Some(0) {
            return fail("biometrics.max_concurrent_requests: at least 1".into());
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return fail(format!("server.listen {:?}: expected an address such as 127.0.0.1:8080", self.server.listen));
        }
        if let Some(url) = &self.server.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://") || url.starts_with("sqlite:"))
        {
            return fail("server.database_url: expected postgres://… or sqlite:…".into());
        }
        if self.server.max_upload_bytes < 1024 {
            return fail("server.max_upload_bytes: at least 1024".into());
        }
        if self.workers.lease_secs <= self.workers.heartbeat_secs {
            return fail(format!(
                "workers.lease_secs ({}) must be longer than workers.heartbeat_secs ({})",
                self.workers.lease_secs, self.workers.heartbeat_secs
            ));
        }
        if let Some(quota) = self.server.upload_quota_audio_hours_per_hour
            && !(quota.is_finite() && quota >= 0.0)
        {
            return fail(format!("server.upload_quota_audio_hours_per_hour {quota}: expected a number of hours ≥ 0"));
        }
        if self.workers.max_attempts == 0 {
            return fail("workers.max_attempts: at least 1".into());
        }
        if let Some(model) = &self.streams.model
            && crate::engines::WhisperModel::from_config(model).is_err()
        {
            return fail(format!("streams.model {model:?}: expected one of {}", crate::engines::WhisperModel::NAMES));
        }
        if self.server.header_read_timeout_secs == 0 {
            return fail("server.header_read_timeout_secs: at least 1".into());
        }
        if self.server.metrics_token.as_ref().is_some_and(|token| token.trim().len() < 16) {
            return fail("server.metrics_token: at least 16 characters".into());
        }
        if self.streams.max_per_key == Some(0) || self.streams.idle_timeout_secs == 0 || self.streams.max_message_bytes < 1024 {
            return fail("streams.max_per_key and streams.idle_timeout_secs: at least 1; streams.max_message_bytes: at least 1024".into());
        }
        if self.streams.capacity == 0 || self.streams.threads_per_inference == 0 {
            return fail("streams.capacity and streams.threads_per_inference: at least 1".into());
        }
        if let Err(error) = self.redaction.validate() {
            return fail(error.to_string());
        }
        match (self.voiceprints.backend.as_str(), &self.voiceprints.url) {
            ("edge", _) | ("server", Some(_)) => {}
            ("server", None) => return fail("voiceprints.backend \"server\" needs voiceprints.url".into()),
            (other, _) => return fail(format!("voiceprints.backend {other:?}: expected \"edge\" or \"server\"")),
        }
        Ok(())
    }

    /// The effective configuration as TOML, for `callsight config show`.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        toml::to_string_pretty(self).context("rendering the configuration as TOML")
    }
}

#[cfg(test)]
mod tests {
    // figment's test jail returns its own (large) error type; tests only.
    #![allow(clippy::result_large_err)]
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().expect("defaults validate");
    }

    #[test]
    fn file_then_environment_override_defaults_and_unknown_keys_are_rejected() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[analysis]\nlanguages = [\"en\", \"ru\"]\n[workers]\nconcurrency = 2\n")?;
            jail.set_env("CALLSIGHT__WORKERS__CONCURRENCY", "3");
            let config = Config::load(Some(Path::new("c.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.analysis.languages, ["en", "ru"]);
            assert_eq!(config.workers.concurrency, 3);

            jail.set_env("CALLSIGHT__WORKERS__CONCURENCY", "3");
            let error = Config::load(None).expect_err("typo rejected").to_string();
            assert!(error.contains("concurency"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn redaction_settings_from_file_and_environment() {
        use callsight_pipeline::redaction::{AudioMask, EntityKind};
        figment::Jail::expect_with(|jail| {
            jail.create_file("r.toml", "[redaction]\nenabled = true\ntypes = [\"card\", \"dob\"]\naudio = \"tone\"\n")?;
            let config = Config::load(Some(Path::new("r.toml"))).map_err(|e| e.to_string())?;
            assert!(config.redaction.enabled);
            assert_eq!(config.redaction.types, [EntityKind::CardNumber, EntityKind::DateOfBirth]);
            assert_eq!(config.redaction.audio, AudioMask::Tone);

            jail.set_env("CALLSIGHT__REDACTION__TYPES", "[\"card\", \"ssn\"]");
            let error = Config::load(None).expect_err("unknown type rejected").to_string();
            assert!(error.contains("ssn"), "{error}");
            jail.set_env("CALLSIGHT__REDACTION__TYPES", "[]");
            jail.set_env("CALLSIGHT__REDACTION__MARGIN_SECS", "5");
            let error = Config::load(None).expect_err("margin out of range").to_string();
            assert!(error.contains("redaction.margin_secs"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn invalid_values_say_which_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CALLSIGHT__BIOMETRICS__TARGET_FALSE_ACCEPT_RATE", "2");
            let error = Config::load(None).expect_err("rate out of range").to_string();
            assert!(error.contains("biometrics.target_false_accept_rate"), "{error}");
            Ok(())
        });
    }
}
