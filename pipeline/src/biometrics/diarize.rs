//! Diarization of mono calls into at most two speakers: embed short windows of the speech, split
//! them in two (spherical 2-means), keep one speaker when the halves sound alike, smooth, and map
//! the clusters to agent and customer.

use serde::{Deserialize, Serialize};

use super::{checked_embedding, cosine, l2_normalise};
use crate::error::Result;
use crate::speaker::SpeakerEmbedder;
use crate::types::{PIPELINE_SAMPLE_RATE_HZ, Speaker, TimeSpan};

const RATE_HZ: f64 = PIPELINE_SAMPLE_RATE_HZ as f64;

/// Window and decision settings. 1.5 s windows with 0.75 s hop are the usual choice for x-vector
/// style diarization (pyannote / VBx use 1.5–2 s); the cosines are model properties and should be
/// checked with the eval tool for each embedder.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiarizeConfig {
    pub window_secs: f64,
    pub hop_secs: f64,
    /// Two clusters whose centroids are at least this similar are one speaker.
    pub same_speaker_min_cosine: f32,
    /// A cluster with fewer windows than this share is noise, not a second speaker.
    pub min_speaker_share: f64,
    /// With only one voice on the call, it is the agent when this similar to the agent voiceprint.
    pub agent_min_cosine: f32,
}

impl Default for DiarizeConfig {
    fn default() -> Self {
        Self {
            window_secs: 1.5,
            hop_secs: 0.75,
            same_speaker_min_cosine: 0.6,
            min_speaker_share: 0.1,
            agent_min_cosine: 0.5,
        }
    }
}

/// Sample ranges of windows over `n_samples`: `window` long every `hop`, the last one aligned to
/// the end so the tail is covered; a stretch shorter than `window` but at least `min_len` is one
/// window; anything shorter gets none.
pub fn cut_windows(n_samples: usize, window: usize, hop: usize, min_len: usize) -> Vec<std::ops::Range<usize>> {
    if n_samples < min_len.max(1) || window == 0 {
        return Vec::new();
    }
    if n_samples <= window {
        return std::iter::once(0..n_samples).collect();
    }
    let hop = hop.max(1);
    let mut windows: Vec<std::ops::Range<usize>> = (0..)
        .map(|i| i * hop)
        .take_while(|&start| start + window <= n_samples)
        .map(|start| start..start + window)
        .collect();
    if windows.last().is_some_and(|last| last.end < n_samples) {
        windows.push(n_samples - window..n_samples);
    }
    windows
}

/// The best split of some embeddings into two groups.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoWaySplit {
    /// 0 or 1 per embedding.
    pub labels: Vec<usize>,
    pub centroids: [Vec<f32>; 2],
    pub sizes: [usize; 2],
    /// Cosine between the two centroids; 1 when one group is empty.
    pub centroid_cosine: f32,
}

impl TwoWaySplit {
    pub fn minor_share(&self) -> f64 {
        let total = self.sizes[0] + self.sizes[1];
        if total == 0 { 0.0 } else { self.sizes[0].min(self.sizes[1]) as f64 / total as f64 }
    }

    pub fn is_two_speakers(&self, same_speaker_min_cosine: f32, min_share: f64) -> bool {
        self.centroid_cosine < same_speaker_min_cosine && self.minor_share() >= min_share && self.minor_share() > 0.0
    }
}

/// Spherical 2-means, started from the sign of the first principal component (robust to a lone
/// outlier) and from the two mutually farthest embeddings; the tighter result is kept.
pub fn split_in_two(embeddings: &[Vec<f32>]) -> TwoWaySplit {
    let dimension = embeddings.first().map_or(0, Vec::len);
    let mut best: Option<(f64, TwoWaySplit)> = None;
    for initial in [principal_split(embeddings, dimension), farthest_pair_split(embeddings)] {
        let split = two_means(embeddings, initial, dimension);
        let cohesion: f64 =
            embeddings.iter().zip(&split.labels).map(|(e, &label)| f64::from(cosine(e, &split.centroids[label]))).sum();
        if best.as_ref().is_none_or(|(best_cohesion, _)| cohesion > *best_cohesion + 1e-9) {
            best = Some((cohesion, split));
        }
    }
    best.map(|(_, split)| split).unwrap_or_else(|| TwoWaySplit {
        labels: Vec::new(),
        centroids: [vec![0.0; dimension], vec![0.0; dimension]],
        sizes: [0, 0],
        centroid_cosine: 1.0,
    })
}

fn mean_of(embeddings: &[Vec<f32>], dimension: usize, keep: impl Fn(usize) -> bool) -> (Vec<f32>, usize) {
    let mut mean = vec![0.0f32; dimension];
    let mut count = 0;
    for (idx, embedding) in embeddings.iter().enumerate() {
        if keep(idx) {
            count += 1;
            mean.iter_mut().zip(embedding).for_each(|(m, x)| *m += x);
        }
    }
    (mean, count)
}

fn principal_split(embeddings: &[Vec<f32>], dimension: usize) -> Vec<usize> {
    let (mut mean, count) = mean_of(embeddings, dimension, |_| true);
    mean.iter_mut().for_each(|m| *m /= count.max(1) as f32);
    let centred: Vec<Vec<f32>> = embeddings.iter().map(|e| e.iter().zip(&mean).map(|(x, m)| x - m).collect()).collect();
    // Power iteration on the scatter matrix, started from the point farthest from the mean.
    let mut direction =
        centred.iter().max_by(|a, b| cosine(a, a).total_cmp(&cosine(b, b))).cloned().unwrap_or_default();
    for _ in 0..50 {
        let mut next = vec![0.0f32; dimension];
        for row in &centred {
            let projection = cosine(row, &direction);
            next.iter_mut().zip(row).for_each(|(n, x)| *n += projection * x);
        }
        l2_normalise(&mut next);
        direction = next;
    }
    centred.iter().map(|row| usize::from(cosine(row, &direction) < 0.0)).collect()
}

fn farthest_pair_split(embeddings: &[Vec<f32>]) -> Vec<usize> {
    let Some(first) = embeddings.first() else { return Vec::new() };
    let farthest_from = |anchor: &[f32]| {
        embeddings.iter().min_by(|a, b| cosine(a, anchor).total_cmp(&cosine(b, anchor))).cloned().unwrap_or_default()
    };
    let seed_a = farthest_from(first);
    let seed_b = farthest_from(&seed_a);
    embeddings.iter().map(|e| usize::from(cosine(e, &seed_b) > cosine(e, &seed_a))).collect()
}

fn two_means(embeddings: &[Vec<f32>], mut labels: Vec<usize>, dimension: usize) -> TwoWaySplit {
    let mut centroids = [vec![0.0f32; dimension], vec![0.0f32; dimension]];
    let mut sizes = [0usize; 2];
    for _ in 0..50 {
        for cluster in 0..2 {
            let (mut centroid, count) = mean_of(embeddings, dimension, |idx| labels[idx] == cluster);
            l2_normalise(&mut centroid);
            centroids[cluster] = centroid;
            sizes[cluster] = count;
        }
        if sizes.contains(&0) {
            break;
        }
        let next: Vec<usize> =
            embeddings.iter().map(|e| usize::from(cosine(e, &centroids[1]) > cosine(e, &centroids[0]))).collect();
        if next == labels {
            break;
        }
        labels = next;
    }
    let centroid_cosine = if sizes.contains(&0) { 1.0 } else { cosine(&centroids[0], &centroids[1]) };
    TwoWaySplit { labels, centroids, sizes, centroid_cosine }
}

/// Speaker clusters of a call before they are named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diarization {
    /// Time-ordered spans with their cluster index (0 or 1).
    pub spans: Vec<(TimeSpan, usize)>,
    /// One unit-length centroid per cluster found: empty when nothing could be embedded.
    pub centroids: Vec<Vec<f32>>,
    /// Cosine between the two halves the speech split into, also when they were judged one voice.
    pub split_cosine: Option<f32>,
}

struct Window {
    segment_idx: usize,
    centre_secs: f64,
    embedding: Vec<f32>,
}

/// Clusters the speech of a mono call into at most two speakers. `speech_segments` are in seconds
/// from the start of `samples_16k`. Segments too short to embed take the cluster of the nearest
/// embedded speech in time.
pub fn diarize_clusters(
    samples_16k: &[f32],
    speech_segments: &[TimeSpan],
    embedder: &dyn SpeakerEmbedder,
    config: &DiarizeConfig,
) -> Result<Diarization> {
    diarize_clusters_of_ranges(
        samples_16k.len(),
        &mut |start, end, out| {
            out.extend_from_slice(&samples_16k[start..end]);
            Ok(())
        },
        speech_segments,
        embedder,
        config,
    )
}

/// `copy_samples(start, end, out)`: appends samples `start..end` of a 16 kHz signal to `out`.
pub type CopySamples<'a> = dyn FnMut(usize, usize, &mut Vec<f32>) -> Result<()> + 'a;

/// [`diarize_clusters`] over a signal of `n_samples_16k` samples that is read segment by segment:
/// `copy_samples(start, end, out)` appends samples `start..end` to `out`, asked in increasing
/// order, so a long call need not be held whole at 16 kHz.
pub fn diarize_clusters_of_ranges(
    n_samples_16k: usize,
    copy_samples: &mut CopySamples<'_>,
    speech_segments: &[TimeSpan],
    embedder: &dyn SpeakerEmbedder,
    config: &DiarizeConfig,
) -> Result<Diarization> {
    let window = ((config.window_secs * RATE_HZ) as usize).max(1);
    let hop = ((config.hop_secs * RATE_HZ) as usize).max(1);
    let mut segments: Vec<TimeSpan> = speech_segments.iter().copied().filter(|s| s.duration_secs() > 0.0).collect();
    segments.sort_by(|a, b| a.start_secs.total_cmp(&b.start_secs));
    let mut windows: Vec<Window> = Vec::new();
    for (segment_idx, segment) in segments.iter().enumerate() {
        let start = ((segment.start_secs.max(0.0) * RATE_HZ) as usize).min(n_samples_16k);
        let end = ((segment.end_secs * RATE_HZ) as usize).clamp(start, n_samples_16k);
        let ranges = cut_windows(end - start, window, hop, embedder.min_samples());
        if ranges.is_empty() {
            continue;
        }
        let mut segment_samples = Vec::with_capacity(end - start);
        copy_samples(start, end, &mut segment_samples)?;
        segment_samples.resize(end - start, 0.0);
        for range in ranges {
            let embedding = checked_embedding(embedder, embedder.embed(&segment_samples[range.start..range.end])?)?;
            let centre_samples = start + (range.start + range.end) / 2;
            windows.push(Window { segment_idx, centre_secs: centre_samples as f64 / RATE_HZ, embedding });
        }
    }
    if windows.is_empty() {
        return Ok(Diarization {
            spans: segments.into_iter().map(|s| (s, 0)).collect(),
            centroids: Vec::new(),
            split_cosine: None,
        });
    }

    let embeddings: Vec<Vec<f32>> = windows.iter().map(|w| w.embedding.clone()).collect();
    let split = split_in_two(&embeddings);
    let two_speakers = split.is_two_speakers(config.same_speaker_min_cosine, config.min_speaker_share);
    let mut labels = if two_speakers { split.labels.clone() } else { vec![0; windows.len()] };
    smooth_labels(&windows, &mut labels);
    let centroids = if two_speakers {
        split.centroids.to_vec()
    } else {
        let (mut centroid, _) = mean_of(&embeddings, embeddings.first().map_or(0, Vec::len), |_| true);
        l2_normalise(&mut centroid);
        vec![centroid]
    };

    let mut spans: Vec<(TimeSpan, usize)> = Vec::new();
    for (segment_idx, segment) in segments.iter().enumerate() {
        let members: Vec<usize> = (0..windows.len()).filter(|&i| windows[i].segment_idx == segment_idx).collect();
        if members.is_empty() {
            let middle = 0.5 * (segment.start_secs + segment.end_secs);
            let nearest = (0..windows.len())
                .min_by(|&a, &b| {
                    (windows[a].centre_secs - middle).abs().total_cmp(&(windows[b].centre_secs - middle).abs())
                })
                .map_or(0, |i| labels[i]);
            push_span(&mut spans, *segment, nearest);
            continue;
        }
        // Each window owns the time up to half way to its neighbours' centres.
        for (position, &i) in members.iter().enumerate() {
            let start_secs = if position == 0 {
                segment.start_secs
            } else {
                0.5 * (windows[members[position - 1]].centre_secs + windows[i].centre_secs)
            };
            let end_secs = match members.get(position + 1) {
                Some(&next) => 0.5 * (windows[i].centre_secs + windows[next].centre_secs),
                None => segment.end_secs,
            };
            push_span(&mut spans, TimeSpan { start_secs, end_secs }, labels[i]);
        }
    }
    Ok(Diarization { spans, centroids, split_cosine: Some(split.centroid_cosine) })
}

/// A window whose neighbours in the same segment both carry the other label takes theirs: a
/// speaker change shorter than one hop is more likely an embedding wobble than a turn.
fn smooth_labels(windows: &[Window], labels: &mut [usize]) {
    let original = labels.to_vec();
    for i in 1..windows.len().saturating_sub(1) {
        let same_segment = windows[i - 1].segment_idx == windows[i].segment_idx
            && windows[i + 1].segment_idx == windows[i].segment_idx;
        if same_segment && original[i - 1] == original[i + 1] && original[i] != original[i - 1] {
            labels[i] = original[i - 1];
        }
    }
}

fn push_span(spans: &mut Vec<(TimeSpan, usize)>, span: TimeSpan, cluster: usize) {
    match spans.last_mut() {
        Some((last, last_cluster)) if *last_cluster == cluster && span.start_secs <= last.end_secs + 1e-9 => {
            last.end_secs = last.end_secs.max(span.end_secs);
        }
        _ => spans.push((span, cluster)),
    }
}

/// Names the clusters. With the agent's voiceprint: the cluster closest to it is the agent (with
/// one cluster, only if at least `agent_min_cosine` similar; otherwise it is the customer).
/// Without: on two clusters the one that speaks first is the agent — call-centre agents open the
/// call with the greeting — and a lone cluster stays [`Speaker::Unknown`].
pub fn label_parties(
    diarization: &Diarization,
    agent_voiceprint: Option<&[f32]>,
    agent_min_cosine: f32,
) -> Vec<(TimeSpan, Speaker)> {
    let agent_cluster: Option<usize> = match (diarization.centroids.len(), agent_voiceprint) {
        (0, _) => None,
        (1, Some(agent)) => (cosine(&diarization.centroids[0], agent) >= agent_min_cosine).then_some(0),
        (1, None) => None,
        (_, Some(agent)) => {
            Some(usize::from(cosine(&diarization.centroids[1], agent) > cosine(&diarization.centroids[0], agent)))
        }
        (_, None) => diarization.spans.first().map(|(_, cluster)| *cluster),
    };
    let unknown_when_unlabelled = diarization.centroids.len() != 1 || agent_voiceprint.is_none();
    diarization
        .spans
        .iter()
        .map(|&(span, cluster)| {
            let speaker = match agent_cluster {
                Some(agent) if agent == cluster => Speaker::Agent,
                Some(_) => Speaker::Customer,
                None if unknown_when_unlabelled => Speaker::Unknown,
                None => Speaker::Customer,
            };
            (span, speaker)
        })
        .collect()
}

/// Diarizes a mono call (16 kHz samples and its VAD speech segments) into agent/customer spans.
/// See [`diarize_clusters`] and [`label_parties`] for the rules.
pub fn diarize(
    samples_16k: &[f32],
    speech_segments: &[TimeSpan],
    embedder: &dyn SpeakerEmbedder,
    agent_voiceprint: Option<&[f32]>,
    config: &DiarizeConfig,
) -> Result<Vec<(TimeSpan, Speaker)>> {
    let diarization = diarize_clusters(samples_16k, speech_segments, embedder, config)?;
    Ok(label_parties(&diarization, agent_voiceprint, config.agent_min_cosine))
}

/// [`diarize`] over a signal read segment by segment (see [`diarize_clusters_of_ranges`]).
pub fn diarize_ranges(
    n_samples_16k: usize,
    copy_samples: &mut CopySamples<'_>,
    speech_segments: &[TimeSpan],
    embedder: &dyn SpeakerEmbedder,
    agent_voiceprint: Option<&[f32]>,
    config: &DiarizeConfig,
) -> Result<Vec<(TimeSpan, Speaker)>> {
    let diarization = diarize_clusters_of_ranges(n_samples_16k, copy_samples, speech_segments, embedder, config)?;
    Ok(label_parties(&diarization, agent_voiceprint, config.agent_min_cosine))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;
    use crate::biometrics::testing::{Rng, ToneEmbedder, noise, tone};
    use crate::speaker::SpeakerEmbedder;

    fn span(start_secs: f64, end_secs: f64) -> TimeSpan {
        TimeSpan { start_secs, end_secs }
    }

    /// Agent (300 Hz) 0–4 s, pause, customer (700 Hz) 5–9 s, pause, agent 10–13 s, then the
    /// customer 13–16 s straight after (no pause: a turn change inside one VAD segment).
    fn two_party_call(rng: &mut Rng) -> (Vec<f32>, Vec<TimeSpan>) {
        let mut samples = tone(300.0, 4.0, 0.3, rng);
        samples.extend(noise(1.0, 0.001, rng));
        samples.extend(tone(700.0, 4.0, 0.3, rng));
        samples.extend(noise(1.0, 0.001, rng));
        samples.extend(tone(300.0, 3.0, 0.3, rng));
        samples.extend(tone(700.0, 3.0, 0.3, rng));
        (samples, vec![span(0.0, 4.0), span(5.0, 9.0), span(10.0, 16.0)])
    }

    fn speaker_at(spans: &[(TimeSpan, Speaker)], secs: f64) -> Option<Speaker> {
        spans.iter().find(|(s, _)| s.start_secs <= secs && secs < s.end_secs).map(|(_, speaker)| *speaker)
    }

    #[test]
    fn windows_cover_the_tail_and_skip_short_stretches() {
        assert_eq!(cut_windows(100, 40, 20, 10), vec![0..40, 20..60, 40..80, 60..100]);
        assert_eq!(cut_windows(110, 40, 20, 10).last(), Some(&(70..110)));
        assert_eq!(cut_windows(30, 40, 20, 10), vec![0..30]);
        assert!(cut_windows(5, 40, 20, 10).is_empty());
    }

    #[test]
    fn separates_two_voices_and_labels_the_first_speaker_agent() {
        let mut rng = Rng::new(1);
        let (samples, segments) = two_party_call(&mut rng);
        let spans = diarize(&samples, &segments, &ToneEmbedder, None, &DiarizeConfig::default()).unwrap();
        assert_eq!(speaker_at(&spans, 2.0), Some(Speaker::Agent));
        assert_eq!(speaker_at(&spans, 7.0), Some(Speaker::Customer));
        assert_eq!(speaker_at(&spans, 11.0), Some(Speaker::Agent));
        assert_eq!(speaker_at(&spans, 15.0), Some(Speaker::Customer));
        // The turn change inside the last segment lands within a window of the truth.
        let change =
            spans.iter().find(|(s, sp)| s.start_secs >= 10.0 && *sp == Speaker::Customer).unwrap().0.start_secs;
        assert!((change - 13.0).abs() <= 0.75, "change at {change}");
        assert!(spans.windows(2).all(|pair| pair[0].0.end_secs <= pair[1].0.start_secs + 1e-9));
    }

    #[test]
    fn agent_voiceprint_decides_who_is_agent_even_if_the_customer_speaks_first() {
        let mut rng = Rng::new(2);
        let (samples, segments) = two_party_call(&mut rng);
        // The agent here is the 700 Hz voice.
        let agent_voiceprint = ToneEmbedder.embed(&tone(700.0, 3.0, 0.3, &mut rng)).unwrap();
        let spans =
            diarize(&samples, &segments, &ToneEmbedder, Some(&agent_voiceprint), &DiarizeConfig::default()).unwrap();
        assert_eq!(speaker_at(&spans, 2.0), Some(Speaker::Customer));
        assert_eq!(speaker_at(&spans, 7.0), Some(Speaker::Agent));
    }

    #[test]
    fn one_voice_stays_one_speaker() {
        let mut rng = Rng::new(3);
        let mut samples = tone(400.0, 5.0, 0.3, &mut rng);
        samples.extend(noise(1.0, 0.001, &mut rng));
        samples.extend(tone(400.0, 5.0, 0.2, &mut rng));
        let segments = [span(0.0, 5.0), span(6.0, 11.0)];
        let diarization = diarize_clusters(&samples, &segments, &ToneEmbedder, &DiarizeConfig::default()).unwrap();
        assert_eq!(diarization.centroids.len(), 1);
        assert!(diarization.spans.iter().all(|(_, cluster)| *cluster == 0));
        let unlabelled = label_parties(&diarization, None, 0.5);
        assert!(unlabelled.iter().all(|(_, s)| *s == Speaker::Unknown));
        let agent = ToneEmbedder.embed(&tone(400.0, 2.0, 0.3, &mut rng)).unwrap();
        assert!(label_parties(&diarization, Some(&agent), 0.5).iter().all(|(_, s)| *s == Speaker::Agent));
        let other = ToneEmbedder.embed(&tone(800.0, 2.0, 0.3, &mut rng)).unwrap();
        assert!(label_parties(&diarization, Some(&other), 0.5).iter().all(|(_, s)| *s == Speaker::Customer));
    }

    #[test]
    fn split_separates_synthetic_clusters_despite_an_outlier() {
        let mut rng = Rng::new(4);
        let mut point = |centre: &[f32], spread: f32| -> Vec<f32> {
            let mut v: Vec<f32> = centre.iter().map(|c| c + spread * rng.gaussian() as f32).collect();
            l2_normalise(&mut v);
            v
        };
        let (a, b, outlier) = ([1.0, 0.2, 0.0, 0.0], [0.0, 0.2, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]);
        let mut embeddings: Vec<Vec<f32>> = (0..30).map(|_| point(&a, 0.2)).collect();
        embeddings.extend((0..20).map(|_| point(&b, 0.2)));
        embeddings.push(point(&outlier, 0.0));
        let split = split_in_two(&embeddings);
        assert!(split.is_two_speakers(0.6, 0.1), "{split:?}");
        assert!(split.labels[..30].iter().all(|&l| l == split.labels[0]));
        assert!(split.labels[30..50].iter().all(|&l| l != split.labels[0]));
        // One cluster alone: the halves are alike, so it stays one speaker.
        let single: Vec<Vec<f32>> = (0..40).map(|_| point(&a, 0.05)).collect();
        assert!(!split_in_two(&single).is_two_speakers(0.6, 0.1));
    }

    #[test]
    fn short_segments_take_the_nearest_cluster_and_nothing_embeddable_is_one_cluster() {
        let mut rng = Rng::new(5);
        let (mut samples, mut segments) = two_party_call(&mut rng);
        samples.extend(noise(0.5, 0.001, &mut rng));
        samples.extend(tone(700.0, 0.1, 0.3, &mut rng));
        segments.push(span(16.5, 16.6));
        let spans = diarize(&samples, &segments, &ToneEmbedder, None, &DiarizeConfig::default()).unwrap();
        assert_eq!(speaker_at(&spans, 16.55), Some(Speaker::Customer));
        let tiny = diarize(&samples, &[span(16.5, 16.6)], &ToneEmbedder, None, &DiarizeConfig::default()).unwrap();
        assert_eq!(tiny, vec![(span(16.5, 16.6), Speaker::Unknown)]);
    }
}
