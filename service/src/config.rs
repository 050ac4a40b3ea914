//! Settings of the service layer, as the `[biometrics]` and `[voiceprints]` sections of the
//! binary's configuration file spell them (the binary validates them when it loads the file).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BiometricsConfig {
    /// "campplus" (default) or "dvector".
    pub model: String,
    /// Net speech an enrolment needs.
    pub min_enrol_net_speech_secs: f64,
    /// Below this net speech a verification is inconclusive.
    pub min_verify_net_speech_secs: f64,
    /// The operating point: the share of impostors that would be accepted.
    pub target_false_accept_rate: f64,
    /// Operating point of watchlist screening (lower: more alerts to review).
    pub watchlist_false_accept_rate: f64,
    /// Enrol/verify/identify requests computed at once by the API (the rest wait in arrival
    /// order) [default: the number of cores].
    pub max_concurrent_requests: Option<usize>,
}

impl Default for BiometricsConfig {
    fn default() -> Self {
        Self {
            model: "campplus".into(),
            min_enrol_net_speech_secs: 20.0,
            min_verify_net_speech_secs: 3.0,
            target_false_accept_rate: 0.01,
            watchlist_false_accept_rate: callsight_pipeline::biometrics::ScreenConfig::default().watchlist_far,
            max_concurrent_requests: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VoiceprintsConfig {
    /// "edge" (Qdrant in-process under the data directory) or "server" (a Qdrant server at `url`).
    pub backend: String,
    pub url: Option<String>,
    /// Name of the environment variable holding the Qdrant API key (never the key itself).
    pub api_key_env: Option<String>,
    pub collection_prefix: String,
}

impl Default for VoiceprintsConfig {
    fn default() -> Self {
        Self { backend: "edge".into(), url: None, api_key_env: None, collection_prefix: "callsight".into() }
    }
}
