//! Speaker-verification evaluation: VoxCeleb-style trial lists, EER / minDCF / threshold at a
//! target FAR, per-condition breakdowns, DET curves as standalone SVG, and the score calibration
//! fitted on the same trials (the file the app loads, see `callsight_pipeline::biometrics`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use callsight_pipeline::audio::decode_file;
use callsight_pipeline::audio::resample::resample;
use callsight_pipeline::biometrics::enrol::embed_speech;
use callsight_pipeline::biometrics::{
    Calibration, ModelId, SpeechClip, cosine, detect_speech, probit, threshold_at_far,
};
use callsight_pipeline::engines::VoiceActivityDetector;
use callsight_pipeline::speaker::SpeakerEmbedder;
use callsight_pipeline::types::PIPELINE_SAMPLE_RATE_HZ;
use callsight_pipeline::vad::VadConfig;
use serde::{Deserialize, Serialize};

/// One trial: is `test` spoken by the voice of `enrol`?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub target: bool,
    pub enrol: PathBuf,
    pub test: PathBuf,
    /// Optional fourth column, e.g. `same_language` / `cross_language`; VoxCeleb lists have none.
    pub condition: Option<String>,
}

/// Parses lines `1 a.wav b.wav [condition]` (1 = same speaker, 0 = different); relative paths are
/// resolved against `base_dir`. Blank lines and `#` comments are skipped.
pub fn parse_trials(text: &str, base_dir: &Path) -> Result<Vec<Trial>> {
    let mut trials = Vec::new();
    for (line_idx, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let target = match fields.first() {
            Some(&"1") | Some(&"target") => true,
            Some(&"0") | Some(&"nontarget") => false,
            _ => bail!(
                "line {}: expected `1|0 enrol.wav test.wav [condition]`",
                line_idx + 1
            ),
        };
        if !(3..=4).contains(&fields.len()) {
            bail!(
                "line {}: expected 3 or 4 fields, found {}",
                line_idx + 1,
                fields.len()
            );
        }
        trials.push(Trial {
            target,
            enrol: base_dir.join(fields[1]),
            test: base_dir.join(fields[2]),
            condition: fields.get(3).map(|c| (*c).to_owned()),
        });
    }
    Ok(trials)
}

/// Reads a trial list; paths are relative to the list's folder.
pub fn read_trials(path: &Path) -> Result<Vec<Trial>> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    parse_trials(&text, base_dir).with_context(|| format!("in {}", path.display()))
}

/// Miss and false-accept rates at every distinct threshold, from "accept all" to "reject all".
/// Accept when `score ≥ threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorPoint {
    pub threshold: f64,
    pub p_miss: f64,
    pub p_fa: f64,
}

pub fn error_curve(target: &[f64], nontarget: &[f64]) -> Vec<ErrorPoint> {
    let mut scores: Vec<(f64, bool)> = target
        .iter()
        .map(|&s| (s, true))
        .chain(nontarget.iter().map(|&s| (s, false)))
        .filter(|(s, _)| s.is_finite())
        .collect();
    scores.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n_target = scores.iter().filter(|(_, t)| *t).count().max(1) as f64;
    let n_nontarget = scores.iter().filter(|(_, t)| !*t).count().max(1) as f64;
    let mut points = Vec::with_capacity(scores.len() + 1);
    let (mut misses, mut false_accepts) = (0usize, scores.iter().filter(|(_, t)| !*t).count());
    let mut idx = 0;
    while idx < scores.len() {
        let threshold = scores[idx].0;
        points.push(ErrorPoint {
            threshold,
            p_miss: misses as f64 / n_target,
            p_fa: false_accepts as f64 / n_nontarget,
        });
        // Everything tied at this score moves from accepted to rejected together.
        while idx < scores.len() && scores[idx].0 == threshold {
            if scores[idx].1 {
                misses += 1
            } else {
                false_accepts -= 1
            }
            idx += 1;
        }
    }
    let above_all = scores.last().map_or(0.0, |s| s.0 + 1e-9);
    points.push(ErrorPoint {
        threshold: above_all,
        p_miss: misses as f64 / n_target,
        p_fa: false_accepts as f64 / n_nontarget,
    });
    points
}

/// Equal error rate and its threshold: where the miss and false-accept curves cross (the mean of
/// the two rates at the closest threshold).
pub fn equal_error_rate(target: &[f64], nontarget: &[f64]) -> (f64, f64) {
    let curve = error_curve(target, nontarget);
    let mut best = (f64::INFINITY, f64::NAN, f64::NAN);
    for pair in curve.windows(2) {
        // p_miss rises and p_fa falls along the curve; the crossing lies between two points.
        for point in pair {
            let gap = (point.p_miss - point.p_fa).abs();
            if gap < best.0 {
                best = (gap, 0.5 * (point.p_miss + point.p_fa), point.threshold);
            }
        }
        if pair[0].p_miss <= pair[0].p_fa && pair[1].p_miss >= pair[1].p_fa {
            // Interpolate linearly between the two operating points.
            let d0 = pair[0].p_fa - pair[0].p_miss;
            let d1 = pair[1].p_miss - pair[1].p_fa;
            let t = if d0 + d1 > 0.0 { d0 / (d0 + d1) } else { 0.0 };
            let eer = pair[0].p_miss + t * (pair[1].p_miss - pair[0].p_miss);
            let threshold = pair[0].threshold + t * (pair[1].threshold - pair[0].threshold);
            return (eer, threshold);
        }
    }
    (best.1, best.2)
}

/// Minimum normalised detection cost `min_t (C_miss·P_miss·p + C_fa·P_fa·(1-p)) / min(C_miss·p,
/// C_fa·(1-p))` (NIST SRE / VoxSRC definition) and its threshold.
pub fn min_dcf(
    target: &[f64],
    nontarget: &[f64],
    p_target: f64,
    c_miss: f64,
    c_fa: f64,
) -> (f64, f64) {
    let normaliser = (c_miss * p_target).min(c_fa * (1.0 - p_target));
    error_curve(target, nontarget)
        .iter()
        .map(|point| {
            (
                (c_miss * point.p_miss * p_target + c_fa * point.p_fa * (1.0 - p_target))
                    / normaliser,
                point.threshold,
            )
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or((f64::NAN, f64::NAN))
}

/// One system's scores for a DET plot.
pub struct DetSystem<'a> {
    pub name: &'a str,
    pub target: &'a [f64],
    pub nontarget: &'a [f64],
}

/// A DET plot (miss rate over false-accept rate, both on normal-deviate axes from 0.1 % to 50 %)
/// of several systems, as a standalone SVG document.
pub fn det_svg(title: &str, systems: &[DetSystem<'_>]) -> String {
    const SIZE: f64 = 480.0;
    const MARGIN: f64 = 60.0;
    const TICKS: [f64; 9] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5];
    const COLOURS: [&str; 6] = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
    ];
    let (low, high) = (probit(TICKS[0]), probit(TICKS[TICKS.len() - 1]));
    let scale =
        |p: f64| (probit(p.clamp(1e-6, 1.0 - 1e-6)).clamp(low, high) - low) / (high - low) * SIZE;
    let x_of = |p_fa: f64| MARGIN + scale(p_fa);
    let y_of = |p_miss: f64| MARGIN + SIZE - scale(p_miss);
    let width = SIZE + 2.0 * MARGIN + 180.0;
    let height = SIZE + 2.0 * MARGIN;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        MARGIN + SIZE / 2.0,
        xml_escape(title)
    );
    for &tick in &TICKS {
        let label = format!("{}", tick * 100.0);
        let (x, y) = (x_of(tick), y_of(tick));
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{MARGIN}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            MARGIN + SIZE
        );
        let _ = writeln!(
            svg,
            r##"<line x1="{MARGIN}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
            MARGIN + SIZE
        );
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            MARGIN + SIZE + 16.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"#,
            MARGIN - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{MARGIN}" y="{MARGIN}" width="{SIZE}" height="{SIZE}" fill="none" stroke="#333"/>"##
    );
    let _ = writeln!(
        svg,
        r##"<line x1="{MARGIN}" y1="{:.1}" x2="{:.1}" y2="{MARGIN}" stroke="#999" stroke-dasharray="4 4"/>"##,
        MARGIN + SIZE,
        MARGIN + SIZE
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">False accept rate (%)</text>"#,
        MARGIN + SIZE / 2.0,
        height - 14.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">Miss rate (%)</text>"#,
        MARGIN + SIZE / 2.0,
        MARGIN + SIZE / 2.0
    );
    for (system_idx, system) in systems.iter().enumerate() {
        let colour = COLOURS[system_idx % COLOURS.len()];
        let mut points = String::new();
        let mut last: Option<(f64, f64)> = None;
        for point in error_curve(system.target, system.nontarget) {
            let xy = (x_of(point.p_fa), y_of(point.p_miss));
            // Consecutive points on the same pixel add nothing but bytes.
            if last.is_some_and(|(x, y)| (x - xy.0).abs() < 0.5 && (y - xy.1).abs() < 0.5) {
                continue;
            }
            last = Some(xy);
            let _ = write!(points, "{:.1},{:.1} ", xy.0, xy.1);
        }
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.trim_end()
        );
        let (eer, _) = equal_error_rate(system.target, system.nontarget);
        let legend_y = MARGIN + 10.0 + 20.0 * system_idx as f64;
        let legend_x = MARGIN + SIZE + 14.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{legend_x}" y1="{legend_y}" x2="{}" y2="{legend_y}" stroke="{colour}" stroke-width="3"/>"#,
            legend_x + 20.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{:.1}">{} (EER {:.2} %)</text>"#,
            legend_x + 26.0,
            legend_y + 4.0,
            xml_escape(system.name),
            eer * 100.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One trial with its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredTrial {
    pub target: bool,
    pub enrol: PathBuf,
    pub test: PathBuf,
    pub condition: Option<String>,
    pub cosine: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdAtFar {
    pub far: f64,
    pub cosine: f64,
    /// Share of target trials rejected at this threshold.
    pub frr: f64,
}

/// Scores of the trials of one condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionReport {
    pub condition: String,
    pub n_target: usize,
    pub n_nontarget: usize,
    /// Within this condition; `None` when it has only one kind of trial.
    pub eer: Option<f64>,
    pub mean_target_cosine: Option<f64>,
    pub mean_nontarget_cosine: Option<f64>,
    /// At the threshold that gives 1 % FAR over all trials.
    pub frr_at_global_1pct_far: Option<f64>,
    pub far_at_global_1pct_far: Option<f64>,
}

/// The outcome of [`evaluate_speaker_verification`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SvReport {
    pub model: ModelId,
    pub n_files: usize,
    pub n_failed_files: usize,
    pub n_target: usize,
    pub n_nontarget: usize,
    /// Trials left out because a file could not be embedded.
    pub n_skipped_trials: usize,
    pub eer: f64,
    pub eer_threshold: f64,
    /// Normalised minDCF at p_target 0.01, C_miss = C_fa = 1.
    pub min_dcf: f64,
    pub min_dcf_threshold: f64,
    pub thresholds: Vec<ThresholdAtFar>,
    pub conditions: Vec<ConditionReport>,
    /// Linear calibration fitted on these trials; drop it into a calibration file to use it.
    pub calibration: Calibration,
    /// The first failures' messages.
    pub failures: Vec<String>,
    pub scores: Vec<ScoredTrial>,
}

pub const MIN_DCF_P_TARGET: f64 = 0.01;
const REPORTED_FARS: [f64; 4] = [0.001, 0.005, 0.01, 0.05];
const MAX_RECORDED_FAILURES: usize = 20;

impl SvReport {
    pub fn target_scores(&self) -> Vec<f64> {
        self.scores
            .iter()
            .filter(|s| s.target)
            .map(|s| s.cosine)
            .collect()
    }
    pub fn nontarget_scores(&self) -> Vec<f64> {
        self.scores
            .iter()
            .filter(|s| !s.target)
            .map(|s| s.cosine)
            .collect()
    }

    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let pct = |x: f64| format!("{:.2} %", x * 100.0);
        let opt_pct =
            |x: Option<f64>| x.map_or("–".to_owned(), |x| format!("{:.2} %", x * 100.0));
        let opt_num = |x: Option<f64>| x.map_or("–".to_owned(), |x| format!("{x:.3}"));
        let _ = writeln!(md, "### Speaker verification: {}\n", self.model);
        let _ = writeln!(
            md,
            "{} target and {} non-target trials over {} files ({} failed, {} trials skipped).\n",
            self.n_target,
            self.n_nontarget,
            self.n_files,
            self.n_failed_files,
            self.n_skipped_trials
        );
        let _ = writeln!(md, "| metric | value | cosine threshold |\n|---|---|---|");
        let _ = writeln!(
            md,
            "| EER | {} | {:.3} |",
            pct(self.eer),
            self.eer_threshold
        );
        let _ = writeln!(
            md,
            "| minDCF (p=0.01) | {:.3} | {:.3} |",
            self.min_dcf, self.min_dcf_threshold
        );
        for threshold in &self.thresholds {
            let _ = writeln!(
                md,
                "| FRR at FAR {} | {} | {:.3} |",
                pct(threshold.far),
                pct(threshold.frr),
                threshold.cosine
            );
        }
        let _ = writeln!(
            md,
            "\n| condition | targets | non-targets | EER | mean target cos | mean non-target cos | FRR @1% FAR | FAR @1% FAR |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
        for condition in &self.conditions {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                condition.condition,
                condition.n_target,
                condition.n_nontarget,
                opt_pct(condition.eer),
                opt_num(condition.mean_target_cosine),
                opt_num(condition.mean_nontarget_cosine),
                opt_pct(condition.frr_at_global_1pct_far),
                opt_pct(condition.far_at_global_1pct_far),
            );
        }
        let _ = writeln!(
            md,
            "\nCalibration: llr = {:.3} · cos + {:.3}; LLR threshold at 1 % FAR {:.2}.",
            self.calibration.slope,
            self.calibration.offset,
            self.calibration.threshold_for_far(0.01)
        );
        if !self.failures.is_empty() {
            let _ = writeln!(md, "\nFailures:");
            for failure in &self.failures {
                let _ = writeln!(md, "- {failure}");
            }
        }
        md
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Loads a file as 16 kHz mono, runs the VAD and embeds its speech (all of it if the VAD finds
/// none long enough: prompts are clean studio speech, and a missed VAD should not drop a trial).
fn embed_file(
    path: &Path,
    embedder: &dyn SpeakerEmbedder,
    vad: &dyn VoiceActivityDetector,
    vad_config: &VadConfig,
) -> Result<Vec<f32>> {
    let audio = decode_file(path)?;
    let samples_16k = resample(
        &audio.mixed_to_mono(),
        audio.sample_rate_hz,
        PIPELINE_SAMPLE_RATE_HZ,
    )?;
    let speech = detect_speech(&samples_16k, vad, vad_config)?;
    let clip = SpeechClip {
        samples_16k: &samples_16k,
        speech,
    };
    if let Some(embedding) = embed_speech(std::slice::from_ref(&clip), embedder, 30.0)? {
        return Ok(embedding);
    }
    if samples_16k.len() >= embedder.min_samples() {
        let mut embedding = embedder.embed(&samples_16k)?;
        callsight_pipeline::biometrics::l2_normalise(&mut embedding);
        return Ok(embedding);
    }
    bail!(
        "{}: too short to embed ({} samples at 16 kHz)",
        path.display(),
        samples_16k.len()
    )
}

/// Embeds every file of `trials` once (speech only, see the VAD), scores each trial by cosine,
/// and measures EER, minDCF, FRR at fixed FARs, per condition, and fits the calibration.
/// `progress(done, total)` is called per file. A file that fails is recorded and its trials
/// skipped.
pub fn evaluate_speaker_verification(
    trials: &[Trial],
    embedder: &dyn SpeakerEmbedder,
    vad: &dyn VoiceActivityDetector,
    vad_config: &VadConfig,
    fitted_on: &str,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<SvReport> {
    let mut files: Vec<&Path> = trials
        .iter()
        .flat_map(|t| [t.enrol.as_path(), t.test.as_path()])
        .collect();
    files.sort();
    files.dedup();
    let mut embeddings: HashMap<&Path, Vec<f32>> = HashMap::new();
    let mut failures = Vec::new();
    let mut n_failed_files = 0;
    for (file_idx, file) in files.iter().enumerate() {
        match embed_file(file, embedder, vad, vad_config) {
            Ok(embedding) => {
                embeddings.insert(file, embedding);
            }
            Err(error) => {
                n_failed_files += 1;
                if failures.len() < MAX_RECORDED_FAILURES {
                    failures.push(format!("{error:#}"));
                }
            }
        }
        progress(file_idx + 1, files.len());
    }
    let mut scores = Vec::with_capacity(trials.len());
    let mut n_skipped_trials = 0;
    for trial in trials {
        match (
            embeddings.get(trial.enrol.as_path()),
            embeddings.get(trial.test.as_path()),
        ) {
            (Some(enrol), Some(test)) => scores.push(ScoredTrial {
                target: trial.target,
                enrol: trial.enrol.clone(),
                test: trial.test.clone(),
                condition: trial.condition.clone(),
                cosine: f64::from(cosine(enrol, test)),
            }),
            _ => n_skipped_trials += 1,
        }
    }
    let target: Vec<f64> = scores
        .iter()
        .filter(|s| s.target)
        .map(|s| s.cosine)
        .collect();
    let nontarget: Vec<f64> = scores
        .iter()
        .filter(|s| !s.target)
        .map(|s| s.cosine)
        .collect();
    if target.is_empty() || nontarget.is_empty() {
        bail!(
            "need scored target and non-target trials, have {} and {}",
            target.len(),
            nontarget.len()
        );
    }
    let (eer, eer_threshold) = equal_error_rate(&target, &nontarget);
    let (min_dcf_value, min_dcf_threshold) =
        min_dcf(&target, &nontarget, MIN_DCF_P_TARGET, 1.0, 1.0);
    let frr_at = |threshold: f64, values: &[f64]| {
        values.iter().filter(|&&s| s < threshold).count() as f64 / values.len() as f64
    };
    let thresholds = REPORTED_FARS
        .iter()
        .map(|&far| {
            let cosine = threshold_at_far(&nontarget, far);
            ThresholdAtFar {
                far,
                cosine,
                frr: frr_at(cosine, &target),
            }
        })
        .collect();
    let global_threshold = threshold_at_far(&nontarget, 0.01);
    let mut by_condition: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for score in &scores {
        let entry = by_condition
            .entry(score.condition.clone().unwrap_or_else(|| "all".to_owned()))
            .or_default();
        if score.target {
            entry.0.push(score.cosine)
        } else {
            entry.1.push(score.cosine)
        }
    }
    let conditions = by_condition
        .into_iter()
        .map(|(condition, (target, nontarget))| ConditionReport {
            n_target: target.len(),
            n_nontarget: nontarget.len(),
            eer: (!target.is_empty() && !nontarget.is_empty())
                .then(|| equal_error_rate(&target, &nontarget).0),
            mean_target_cosine: mean(&target),
            mean_nontarget_cosine: mean(&nontarget),
            frr_at_global_1pct_far: (!target.is_empty()).then(|| frr_at(global_threshold, &target)),
            far_at_global_1pct_far: (!nontarget.is_empty()).then(|| {
                nontarget.iter().filter(|&&s| s >= global_threshold).count() as f64
                    / nontarget.len() as f64
            }),
            condition,
        })
        .collect();
    let model = ModelId::of(embedder);
    let calibration = Calibration::fit(&model, &target, &nontarget, 0.5, fitted_on)?;
    Ok(SvReport {
        model,
        n_files: files.len(),
        n_failed_files,
        n_target: target.len(),
        n_nontarget: nontarget.len(),
        n_skipped_trials,
        eer,
        eer_threshold,
        min_dcf: min_dcf_value,
        min_dcf_threshold,
        thresholds,
        conditions,
        calibration,
        failures,
        scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_voxceleb_lists_relative_to_the_list() -> Result<()> {
        let trials = parse_trials(
            "1 a/x.wav a/y.wav\n# comment\n\n0 a/x.wav b/z.wav cross_language\n",
            Path::new("/data"),
        )?;
        assert_eq!(trials.len(), 2);
        assert!(trials[0].target && !trials[1].target);
        assert_eq!(trials[0].enrol, PathBuf::from("/data/a/x.wav"));
        assert_eq!(trials[1].condition.as_deref(), Some("cross_language"));
        assert!(parse_trials("2 a b\n", Path::new(".")).is_err());
        assert!(parse_trials("1 a\n", Path::new(".")).is_err());
        Ok(())
    }

    #[test]
    fn eer_and_min_dcf_on_known_scores() {
        // Perfect separation: EER 0, minDCF 0.
        let (eer, threshold) = equal_error_rate(&[0.8, 0.9], &[0.1, 0.2, 0.3]);
        assert_eq!(eer, 0.0);
        assert!(threshold > 0.3 && threshold <= 0.8);
        assert_eq!(min_dcf(&[0.8, 0.9], &[0.1, 0.2], 0.01, 1.0, 1.0).0, 0.0);
        // One target below one non-target: EER 25 % at 0.65; minDCF at p=0.01 rejects that
        // target rather than accept the impostor: 0.25 at 0.7.
        let (target, nontarget) = ([0.6, 0.7, 0.8, 0.9], [0.1, 0.2, 0.3, 0.65]);
        let (eer, threshold) = equal_error_rate(&target, &nontarget);
        assert!(
            (eer - 0.25).abs() < 1e-12 && (threshold - 0.65).abs() < 1e-12,
            "{eer} at {threshold}"
        );
        let (dcf, dcf_threshold) = min_dcf(&target, &nontarget, 0.01, 1.0, 1.0);
        assert!(
            (dcf - 0.25).abs() < 1e-12 && (dcf_threshold - 0.7).abs() < 1e-12,
            "{dcf} at {dcf_threshold}"
        );
        // All scores equal: chance.
        let (eer, _) = equal_error_rate(&[0.5; 10], &[0.5; 10]);
        assert!((eer - 0.5).abs() < 1e-9);
    }

    #[test]
    fn gaussian_scores_give_the_analytic_eer() {
        // Targets N(1,1), non-targets N(-1,1): EER = Φ(-1) ≈ 15.87 %.
        let n = 20_000;
        let grid = |shift: f64| -> Vec<f64> {
            (1..n)
                .map(|i| probit(i as f64 / n as f64) + shift)
                .collect()
        };
        let (eer, threshold) = equal_error_rate(&grid(1.0), &grid(-1.0));
        assert!((eer - 0.1587).abs() < 0.002, "eer {eer}");
        assert!(threshold.abs() < 0.01);
    }

    #[test]
    fn det_svg_is_a_standalone_document_with_every_system() {
        let svg = det_svg(
            "test <DET>",
            &[
                DetSystem {
                    name: "a",
                    target: &[0.9, 0.8, 0.4],
                    nontarget: &[0.1, 0.5, 0.2],
                },
                DetSystem {
                    name: "b & c",
                    target: &[0.7],
                    nontarget: &[0.3],
                },
            ],
        );
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("b &amp; c") && svg.contains("test &lt;DET&gt;"));
    }
}
