//! Copying voiceprints between index backends (embedded → Qdrant server, or into a backup
//! directory) and verifying such a copy, all through the [`VoiceprintIndex`] trait: a page at a
//! time, so memory stays bounded whatever the index size.

use std::collections::HashSet;

use callsight_pipeline::error::Result;
use callsight_pipeline::speaker::{Voiceprint, VoiceprintIndex};
use sha2::{Digest, Sha256};

/// Count and order-independent checksum of a set of voiceprints (every payload field and every
/// vector component, bit for bit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceprintFingerprint {
    pub voiceprints: u64,
    pub checksum: String,
}

#[derive(Default)]
struct Accumulator {
    voiceprints: u64,
    lanes: [u64; 4],
}

impl Accumulator {
    fn add(&mut self, voiceprint: &Voiceprint) {
        let mut hasher = Sha256::new();
        for text in [
            &voiceprint.id,
            &voiceprint.tenant,
            &voiceprint.speaker_id,
            &voiceprint.model_name,
            &voiceprint.model_version,
        ] {
            hasher.update((text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        }
        hasher.update(voiceprint.kind.as_str().as_bytes());
        hasher.update(voiceprint.enrolled_at_unix_secs.to_le_bytes());
        hasher.update(voiceprint.net_speech_secs.to_bits().to_le_bytes());
        hasher.update((voiceprint.vector.len() as u64).to_le_bytes());
        for component in &voiceprint.vector {
            hasher.update(component.to_bits().to_le_bytes());
        }
        let digest = hasher.finalize();
        for (lane, chunk) in self.lanes.iter_mut().zip(digest.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            *lane = lane.wrapping_add(u64::from_le_bytes(bytes));
        }
        self.voiceprints += 1;
    }

    fn finish(&self) -> VoiceprintFingerprint {
        VoiceprintFingerprint {
            voiceprints: self.voiceprints,
            checksum: self
                .lanes
                .iter()
                .map(|lane| format!("{lane:016x}"))
                .collect(),
        }
    }
}

/// Fingerprint of every voiceprint in `index`, or only of those whose id is in `only_ids` (a
/// destination may hold more than was copied into it). Also returns the ids seen.
pub fn fingerprint(
    index: &dyn VoiceprintIndex,
    only_ids: Option<&HashSet<String>>,
) -> Result<(VoiceprintFingerprint, HashSet<String>)> {
    let mut accumulator = Accumulator::default();
    let mut ids = HashSet::new();
    index.for_each_page(&mut |page| {
        for voiceprint in page {
            if only_ids.is_some_and(|only| !only.contains(&voiceprint.id)) {
                continue;
            }
            accumulator.add(&voiceprint);
            ids.insert(voiceprint.id);
        }
        Ok(())
    })?;
    Ok((accumulator.finish(), ids))
}

/// Upserts every voiceprint of `source` into `destination`, a page at a time; returns how many.
/// Upserts replace by id, so running it again (after an interruption) is safe and complete.
pub fn copy_all(
    source: &dyn VoiceprintIndex,
    destination: &dyn VoiceprintIndex,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let mut copied = 0u64;
    source.for_each_page(&mut |page| {
        destination.upsert(&page)?;
        copied += page.len() as u64;
        progress(copied);
        Ok(())
    })?;
    Ok(copied)
}
