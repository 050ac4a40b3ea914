//! 1:N searches of a probe: the tenant's fraudster watchlist, voice reuse (the same voice under
//! other customer ids), and identification among customers.
//!
//! Each search runs whenever the probe could be embedded, also when a quality gate failed: a
//! watchlist hit on poor audio is still worth an analyst's look, and the probe's quality report
//! travels with it.

use serde::{Deserialize, Serialize};

use super::calibration::Calibration;
use super::verify::Probe;
use crate::error::Result;
use crate::speaker::{Voiceprint, VoiceprintIndex, VoiceprintKind};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScreenConfig {
    /// Operating point of the watchlist, per comparison. Stricter than verification because one
    /// call is compared with every entry: with N entries about N·FAR innocent calls alert.
    pub watchlist_far: f64,
    /// Operating point of the voice-reuse search, per comparison (same reasoning).
    pub reuse_far: f64,
    /// At most this many hits are returned.
    pub max_hits: usize,
}

impl Default for ScreenConfig {
    fn default() -> Self {
        Self { watchlist_far: 0.001, reuse_far: 0.001, max_hits: 5 }
    }
}

/// A stored voiceprint the probe matched above a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceMatch {
    pub speaker_id: String,
    pub voiceprint_id: String,
    /// Calibrated score (natural-log likelihood ratio).
    pub score: f64,
    pub cosine: f64,
    pub threshold: f64,
}

/// A watchlist entry the probe matched; any hit is an alert.
pub type WatchlistHit = VoiceMatch;

/// Another customer id whose voiceprint matches the probe.
pub type VoiceReuse = VoiceMatch;

/// One identification candidate, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub speaker_id: String,
    pub voiceprint_id: String,
    pub score: f64,
    pub cosine: f64,
    /// Whether the score passes the verification threshold of the configured FAR.
    pub above_threshold: bool,
}

/// The best voiceprint per speaker among the `limit` nearest, best first.
fn best_per_speaker(
    index: &dyn VoiceprintIndex,
    probe: &Probe,
    tenant: &str,
    kind: VoiceprintKind,
    limit: usize,
    exclude_speaker_id: Option<&str>,
) -> Result<Vec<(Voiceprint, f64)>> {
    let Some(embedding) = probe.embedding.as_ref() else { return Ok(Vec::new()) };
    // Room for the excluded speaker's and duplicate speakers' voiceprints.
    let hits = index.search(embedding, &probe.model.filter(tenant, Some(kind), None), limit.saturating_mul(2) + 8)?;
    let mut best: Vec<(Voiceprint, f64)> = Vec::new();
    for hit in hits {
        if exclude_speaker_id == Some(hit.voiceprint.speaker_id.as_str()) || hit.voiceprint.kind != kind {
            continue;
        }
        if best.iter().any(|(v, _)| v.speaker_id == hit.voiceprint.speaker_id) {
            continue;
        }
        best.push((hit.voiceprint, f64::from(hit.cosine)));
    }
    best.sort_by(|a, b| b.1.total_cmp(&a.1));
    best.truncate(limit);
    Ok(best)
}

/// Fraudster entries of `tenant` that score above the watchlist threshold, best first.
pub fn screen_watchlist(
    probe: &Probe,
    tenant: &str,
    index: &dyn VoiceprintIndex,
    calibration: &Calibration,
    config: &ScreenConfig,
) -> Result<Vec<WatchlistHit>> {
    calibration.ensure_model(&probe.model)?;
    let threshold = calibration.threshold_for_far(config.watchlist_far);
    let hits = best_per_speaker(index, probe, tenant, VoiceprintKind::Fraudster, config.max_hits, None)?;
    let alerts = matches_above(hits, calibration, threshold);
    if !alerts.is_empty() {
        tracing::warn!(tenant, n_hits = alerts.len(), best = %alerts[0].speaker_id, "watchlist hit");
    }
    Ok(alerts)
}

/// Customers of `tenant` other than `claimed_speaker_id` whose voice matches the probe above the
/// reuse threshold: one voice behind several customer ids.
pub fn find_voice_reuse(
    probe: &Probe,
    tenant: &str,
    claimed_speaker_id: &str,
    index: &dyn VoiceprintIndex,
    calibration: &Calibration,
    config: &ScreenConfig,
) -> Result<Vec<VoiceReuse>> {
    calibration.ensure_model(&probe.model)?;
    let threshold = calibration.threshold_for_far(config.reuse_far);
    let hits =
        best_per_speaker(index, probe, tenant, VoiceprintKind::Customer, config.max_hits, Some(claimed_speaker_id))?;
    Ok(matches_above(hits, calibration, threshold))
}

/// The hits whose calibrated score reaches `threshold`, in the order given.
fn matches_above(hits: Vec<(Voiceprint, f64)>, calibration: &Calibration, threshold: f64) -> Vec<VoiceMatch> {
    hits.into_iter()
        .map(|(voiceprint, cosine)| VoiceMatch {
            speaker_id: voiceprint.speaker_id,
            voiceprint_id: voiceprint.id,
            score: calibration.llr(cosine),
            cosine,
            threshold,
        })
        .filter(|hit| hit.score >= threshold)
        .collect()
}

/// The `limit` customers of `tenant` most like the probe, best first, each marked whether it
/// passes the verification threshold at `target_far`.
pub fn identify(
    probe: &Probe,
    tenant: &str,
    index: &dyn VoiceprintIndex,
    calibration: &Calibration,
    target_far: f64,
    limit: usize,
) -> Result<Vec<Candidate>> {
    calibration.ensure_model(&probe.model)?;
    let threshold = calibration.threshold_for_far(target_far);
    let hits = best_per_speaker(index, probe, tenant, VoiceprintKind::Customer, limit, None)?;
    Ok(hits
        .into_iter()
        .map(|(voiceprint, cosine)| {
            let score = calibration.llr(cosine);
            Candidate {
                speaker_id: voiceprint.speaker_id,
                voiceprint_id: voiceprint.id,
                score,
                cosine,
                above_threshold: score >= threshold,
            }
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;
    use crate::biometrics::ModelId;
    use crate::biometrics::quality::QualityReport;
    use crate::biometrics::testing::{MemoryIndex, Rng, ToneEmbedder, tone, tone_calibration};
    use crate::speaker::SpeakerEmbedder;

    fn voiceprint(tenant: &str, speaker_id: &str, kind: VoiceprintKind, hz: f64, rng: &mut Rng) -> Voiceprint {
        Voiceprint {
            id: format!("vp-{tenant}-{speaker_id}"),
            tenant: tenant.into(),
            speaker_id: speaker_id.into(),
            kind,
            model_name: "tone".into(),
            model_version: "1".into(),
            enrolled_at_unix_secs: 0,
            net_speech_secs: 30.0,
            source_call_ids: Vec::new(),
            vector: ToneEmbedder.embed(&tone(hz, 3.0, 0.3, rng)).unwrap(),
        }
    }

    fn probe(hz: f64, rng: &mut Rng) -> Probe {
        Probe {
            model: ModelId { model_name: "tone".into(), model_version: "1".into() },
            embedding: Some(ToneEmbedder.embed(&tone(hz, 4.0, 0.3, rng)).unwrap()),
            quality: QualityReport {
                net_speech_secs: 4.0,
                required_net_speech_secs: 3.0,
                missing_speech_secs: 0.0,
                snr_db: None,
                clipping_ratio: 0.0,
                speaker_split_cosine: None,
                reasons: Vec::new(),
            },
        }
    }

    fn populated_index(rng: &mut Rng) -> MemoryIndex {
        let index = MemoryIndex::default();
        index
            .upsert(&[
                voiceprint("bank", "fraud-7", VoiceprintKind::Fraudster, 500.0, rng),
                voiceprint("bank", "fraud-8", VoiceprintKind::Fraudster, 900.0, rng),
                voiceprint("other-bank", "fraud-1", VoiceprintKind::Fraudster, 300.0, rng),
                voiceprint("bank", "cust-1", VoiceprintKind::Customer, 300.0, rng),
                voiceprint("bank", "cust-2", VoiceprintKind::Customer, 300.0, rng),
                voiceprint("bank", "cust-3", VoiceprintKind::Customer, 700.0, rng),
            ])
            .unwrap();
        index
    }

    #[test]
    fn watchlist_alerts_on_a_matching_fraudster_of_the_same_tenant_only() {
        let mut rng = Rng::new(1);
        let index = populated_index(&mut rng);
        let calibration = tone_calibration();
        let config = ScreenConfig::default();
        let hits = screen_watchlist(&probe(500.0, &mut rng), "bank", &index, &calibration, &config).unwrap();
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!((hits[0].speaker_id.as_str(), hits[0].voiceprint_id.as_str()), ("fraud-7", "vp-bank-fraud-7"));
        assert!(hits[0].score >= hits[0].threshold);
        assert!((hits[0].threshold - calibration.threshold_for_far(0.001)).abs() < 1e-12);
        // The other tenant's fraudster has this customer's voice, but is never searched.
        assert!(screen_watchlist(&probe(300.0, &mut rng), "bank", &index, &calibration, &config).unwrap().is_empty());
        let filters = index.seen_filters.lock().unwrap();
        assert!(filters.iter().all(|f| f.tenant == "bank" && f.kind == Some(VoiceprintKind::Fraudster)));
    }

    #[test]
    fn voice_reuse_finds_other_ids_with_the_same_voice() {
        let mut rng = Rng::new(2);
        let index = populated_index(&mut rng);
        let calibration = tone_calibration();
        let reuse =
            find_voice_reuse(&probe(300.0, &mut rng), "bank", "cust-1", &index, &calibration, &ScreenConfig::default())
                .unwrap();
        assert_eq!(reuse.iter().map(|r| r.speaker_id.as_str()).collect::<Vec<_>>(), vec!["cust-2"]);
        let none =
            find_voice_reuse(&probe(700.0, &mut rng), "bank", "cust-3", &index, &calibration, &ScreenConfig::default())
                .unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn identify_ranks_customers() {
        let mut rng = Rng::new(3);
        let index = populated_index(&mut rng);
        let candidates = identify(&probe(700.0, &mut rng), "bank", &index, &tone_calibration(), 0.01, 3).unwrap();
        assert_eq!(candidates.len(), 3);
        assert_eq!(candidates[0].speaker_id, "cust-3");
        assert!(candidates[0].above_threshold);
        assert!(!candidates[1].above_threshold);
        assert!(candidates.windows(2).all(|pair| pair[0].score >= pair[1].score));
    }
}
