//! Score calibration: cosine → log-likelihood ratio by linear logistic regression on trial scores
//! (as in BOSARIS/FoCal), and operating points chosen by a target false-accept rate.
//!
//! A calibration belongs to one model name and version. The app loads fitted calibrations from a
//! JSON file written by `callsight-eval` ([`CalibrationSet::from_json`]); the built-in set
//! ([`CalibrationSet::builtin`], `calibrations.json` next to this file) holds those fitted on the
//! Asterisk prompt trials and committed with the code.

use serde::{Deserialize, Serialize};

use super::ModelId;
use crate::error::{PipelineError, Result};

/// An empirical point of the non-target score distribution: accepting cosines ≥ `cosine` lets
/// `far` of impostor trials through.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FarPoint {
    pub far: f64,
    pub cosine: f64,
}

/// Linear calibration `llr = slope · cosine + offset` (natural log) of one model, with the
/// non-target statistics that place thresholds by false-accept rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub model_name: String,
    pub model_version: String,
    pub slope: f64,
    pub offset: f64,
    /// The target prior the logistic regression was weighted for (0.5: plain Cllr).
    pub fit_prior: f64,
    /// What the trials were, for people reading the file.
    pub fitted_on: String,
    pub n_target: usize,
    pub n_nontarget: usize,
    pub nontarget_cosine_mean: f64,
    pub nontarget_cosine_std: f64,
    /// Empirical thresholds, by increasing FAR; only FARs with at least
    /// [`MIN_FALSE_ACCEPTS_PER_POINT`] impostor trials above them are kept.
    pub far_points: Vec<FarPoint>,
}

/// An empirical FAR point needs this many impostor scores above it to be worth more than the
/// Gaussian tail.
pub const MIN_FALSE_ACCEPTS_PER_POINT: f64 = 10.0;
const STANDARD_FARS: [f64; 12] = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5];

impl Calibration {
    /// Fits slope and offset on cosines of target (same speaker) and non-target trials, and
    /// records the non-target distribution for [`Calibration::threshold_for_far`].
    pub fn fit(
        model: &ModelId,
        target_cosines: &[f64],
        nontarget_cosines: &[f64],
        fit_prior: f64,
        fitted_on: &str,
    ) -> Result<Self> {
        let (slope, offset) = fit_linear_calibration(target_cosines, nontarget_cosines, fit_prior)?;
        let n = nontarget_cosines.len() as f64;
        let mean = nontarget_cosines.iter().sum::<f64>() / n;
        let variance = nontarget_cosines.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        let far_points = STANDARD_FARS
            .iter()
            .filter(|&&far| far * n >= MIN_FALSE_ACCEPTS_PER_POINT)
            .map(|&far| FarPoint { far, cosine: threshold_at_far(nontarget_cosines, far) })
            .collect();
        Ok(Self {
            model_name: model.model_name.clone(),
            model_version: model.model_version.clone(),
            slope,
            offset,
            fit_prior,
            fitted_on: fitted_on.to_owned(),
            n_target: target_cosines.len(),
            n_nontarget: nontarget_cosines.len(),
            nontarget_cosine_mean: mean,
            nontarget_cosine_std: variance.sqrt(),
            far_points,
        })
    }

    pub fn model(&self) -> ModelId {
        ModelId { model_name: self.model_name.clone(), model_version: self.model_version.clone() }
    }

    /// Calibrated score: natural-log likelihood ratio of "same speaker" over "different speaker".
    pub fn llr(&self, cosine: f64) -> f64 {
        self.slope * cosine + self.offset
    }

    /// The cosine at which `far` of impostor trials would be accepted: interpolated (in log FAR)
    /// between the measured points, and from a Gaussian fitted to the non-target cosines outside
    /// the measured range, where too few impostor trials exist to count.
    pub fn cosine_threshold_for_far(&self, far: f64) -> f64 {
        let far = far.clamp(1e-9, 1.0 - 1e-9);
        let points = &self.far_points;
        if let (Some(first), Some(last)) = (points.first(), points.last())
            && far >= first.far
            && far <= last.far
        {
            for pair in points.windows(2) {
                let (low, high) = (pair[0], pair[1]);
                if far >= low.far && far <= high.far {
                    let t = (far.ln() - low.far.ln()) / (high.far.ln() - low.far.ln()).max(f64::EPSILON);
                    return low.cosine + t * (high.cosine - low.cosine);
                }
            }
            return first.cosine;
        }
        self.nontarget_cosine_mean + self.nontarget_cosine_std * probit(1.0 - far)
    }

    /// The calibrated-score threshold for a target false-accept rate.
    pub fn threshold_for_far(&self, far: f64) -> f64 {
        self.llr(self.cosine_threshold_for_far(far))
    }

    /// Refuses to score a model this calibration was not fitted for.
    pub fn ensure_model(&self, model: &ModelId) -> Result<()> {
        if self.model_name != model.model_name || self.model_version != model.model_version {
            return Err(PipelineError::InvalidOption(format!(
                "calibration is for {} {}, the speaker model is {model}",
                self.model_name, self.model_version
            )));
        }
        Ok(())
    }
}

/// Calibrations of several models, as stored in a calibration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationSet {
    pub calibrations: Vec<Calibration>,
}

const BUILTIN_CALIBRATIONS: &str = include_str!("calibrations.json");

impl CalibrationSet {
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|error| PipelineError::InvalidOption(format!("calibration file: {error}")))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The calibrations committed with the code.
    pub fn builtin() -> Self {
        // The file is ours and is parsed by a unit test; an empty set is the safe fallback.
        Self::from_json(BUILTIN_CALIBRATIONS).unwrap_or_default()
    }

    pub fn get(&self, model: &ModelId) -> Option<&Calibration> {
        self.calibrations.iter().find(|c| c.model_name == model.model_name && c.model_version == model.model_version)
    }

    /// The calibration of `model`, or an error telling the operator how to make one.
    pub fn require(&self, model: &ModelId) -> Result<&Calibration> {
        self.get(model).ok_or_else(|| {
            PipelineError::InvalidOption(format!(
                "no score calibration for speaker model {model}; fit one with `callsight eval speaker-verification`"
            ))
        })
    }

    /// Adds `calibration`, replacing one of the same model.
    pub fn insert(&mut self, calibration: Calibration) {
        self.calibrations.retain(|c| c.model() != calibration.model());
        self.calibrations.push(calibration);
    }
}

/// Linear logistic regression of trial labels on scores, weighted so targets and non-targets
/// count as `prior` and `1 - prior` whatever their numbers (BOSARIS `train_llr_fusion`): minimises
/// `prior·mean(log(1+e^-(s_t))) + (1-prior)·mean(log(1+e^(s_n)))` over `s = a·x + b + logit(prior)`.
/// Returns `(a, b)` so that `a·x + b` is an LLR. Newton's method with step halving.
pub fn fit_linear_calibration(target: &[f64], nontarget: &[f64], prior: f64) -> Result<(f64, f64)> {
    if target.is_empty() || nontarget.is_empty() {
        return Err(PipelineError::InvalidOption("calibration needs target and non-target trials".to_owned()));
    }
    if !(prior > 0.0 && prior < 1.0) || target.iter().chain(nontarget).any(|x| !x.is_finite()) {
        return Err(PipelineError::InvalidOption("calibration prior must be in (0, 1) and scores finite".to_owned()));
    }
    let logit_prior = (prior / (1.0 - prior)).ln();
    let weight_target = prior / target.len() as f64;
    let weight_nontarget = (1.0 - prior) / nontarget.len() as f64;
    // A little ridge keeps perfectly separated trials (toy data) from driving the slope to infinity.
    let ridge = 1e-6;
    let objective = |a: f64, b: f64| -> f64 {
        let t: f64 = target.iter().map(|&x| softplus(-(a * x + b + logit_prior))).sum::<f64>() * weight_target;
        let n: f64 = nontarget.iter().map(|&x| softplus(a * x + b + logit_prior)).sum::<f64>() * weight_nontarget;
        t + n + 0.5 * ridge * a * a
    };
    let (mut a, mut b) = (1.0f64, 0.0f64);
    let mut current = objective(a, b);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (ridge * a, 0.0, ridge, 0.0, 0.0);
        for (scores, weight, sign) in [(target, weight_target, -1.0), (nontarget, weight_nontarget, 1.0)] {
            for &x in scores {
                let z = a * x + b + logit_prior;
                // d/dz softplus(sign·z) = sign·σ(sign·z); the curvature σ(z)σ(-z) is the same for both.
                let p = sigmoid(sign * z);
                let curvature = weight * p * (1.0 - p);
                ga += weight * sign * p * x;
                gb += weight * sign * p;
                haa += curvature * x * x;
                hab += curvature * x;
                hbb += curvature;
            }
        }
        let determinant = haa * hbb - hab * hab;
        if determinant.abs() < 1e-300 {
            break;
        }
        let step_a = (hbb * ga - hab * gb) / determinant;
        let step_b = (haa * gb - hab * ga) / determinant;
        let mut scale = 1.0;
        let mut improved = false;
        while scale > 1e-6 {
            let candidate = objective(a - scale * step_a, b - scale * step_b);
            if candidate <= current {
                a -= scale * step_a;
                b -= scale * step_b;
                improved = current - candidate > 1e-14;
                current = candidate;
                break;
            }
            scale *= 0.5;
        }
        if !improved {
            break;
        }
    }
    if !a.is_finite() || !b.is_finite() {
        return Err(PipelineError::InvalidOption("calibration did not converge".to_owned()));
    }
    Ok((a, b))
}

/// The lowest score threshold (accept when `score ≥ threshold`) at which at most `far` of
/// `nontarget` scores are accepted. `NaN` for an empty list.
pub fn threshold_at_far(nontarget: &[f64], far: f64) -> f64 {
    let mut sorted: Vec<f64> = nontarget.iter().copied().filter(|x| x.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(|x, y| y.total_cmp(x));
    let allowed = (far.max(0.0) * sorted.len() as f64).floor() as usize;
    if allowed >= sorted.len() {
        return sorted[sorted.len() - 1];
    }
    // Just above the first score that may not pass, and above all its ties.
    let blocked = sorted[allowed];
    match sorted[..allowed].iter().rev().find(|&&x| x > blocked) {
        Some(&above) => 0.5 * (blocked + above),
        None => blocked + 1e-9 * blocked.abs().max(1.0),
    }
}

fn softplus(z: f64) -> f64 {
    if z > 30.0 { z } else { z.exp().ln_1p() }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, relative error below
/// 1.2e-9: ample for thresholds and DET-plot axes).
pub fn probit(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    const P_LOW: f64 = 0.02425;
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    if p < P_LOW {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -probit(1.0 - p)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test reports failure
mod tests {
    use super::*;
    use crate::biometrics::testing::Rng;

    fn gaussian_scores(rng: &mut Rng, mean: f64, std: f64, n: usize) -> Vec<f64> {
        (0..n).map(|_| mean + std * rng.gaussian()).collect()
    }

    #[test]
    fn fit_recovers_the_llr_of_equal_variance_gaussians() {
        // For N(μt, σ²) vs N(μn, σ²) the true LLR is linear: a = (μt-μn)/σ², b = (μn²-μt²)/(2σ²).
        let (mean_target, mean_nontarget, std) = (0.6, 0.1, 0.15);
        let mut rng = Rng::new(7);
        let target = gaussian_scores(&mut rng, mean_target, std, 20_000);
        let nontarget = gaussian_scores(&mut rng, mean_nontarget, std, 20_000);
        let (a, b) = fit_linear_calibration(&target, &nontarget, 0.5).unwrap();
        let true_a = (mean_target - mean_nontarget) / (std * std);
        let true_b = (mean_nontarget * mean_nontarget - mean_target * mean_target) / (2.0 * std * std);
        assert!((a - true_a).abs() / true_a < 0.05, "slope {a} vs {true_a}");
        assert!((b - true_b).abs() / true_b.abs() < 0.05, "offset {b} vs {true_b}");
        // The prior weighting must not move the LLR (it only reweights the objective).
        let (a_low, b_low) = fit_linear_calibration(&target, &nontarget, 0.01).unwrap();
        assert!((a_low - true_a).abs() / true_a < 0.1, "slope at prior 0.01: {a_low}");
        assert!((b_low - true_b).abs() / true_b.abs() < 0.1, "offset at prior 0.01: {b_low}");
    }

    #[test]
    fn unbalanced_trial_counts_do_not_shift_the_llr() {
        let mut rng = Rng::new(11);
        let target = gaussian_scores(&mut rng, 0.6, 0.15, 2_000);
        let nontarget = gaussian_scores(&mut rng, 0.1, 0.15, 40_000);
        let (a, b) = fit_linear_calibration(&target, &nontarget, 0.5).unwrap();
        // LLR is zero half way between the means.
        assert!((a * 0.35 + b).abs() < 0.3, "llr at midpoint {}", a * 0.35 + b);
    }

    #[test]
    fn threshold_gives_the_target_far() {
        let mut rng = Rng::new(3);
        let nontarget = gaussian_scores(&mut rng, 0.1, 0.1, 50_000);
        for far in [0.001, 0.01, 0.05] {
            let threshold = threshold_at_far(&nontarget, far);
            let accepted = nontarget.iter().filter(|&&x| x >= threshold).count() as f64 / nontarget.len() as f64;
            assert!(accepted <= far && accepted > far * 0.95, "far {far}: accepted {accepted}");
            // And on fresh impostors the rate holds.
            let fresh = gaussian_scores(&mut rng, 0.1, 0.1, 50_000);
            let fresh_rate = fresh.iter().filter(|&&x| x >= threshold).count() as f64 / fresh.len() as f64;
            assert!((fresh_rate - far).abs() < far * 0.3 + 2e-4, "far {far}: fresh {fresh_rate}");
        }
    }

    #[test]
    fn threshold_steps_over_ties() {
        let scores = [0.5, 0.5, 0.5, 0.1];
        let threshold = threshold_at_far(&scores, 0.3);
        assert!(threshold > 0.5);
        assert_eq!(threshold_at_far(&scores, 1.0), 0.1);
    }

    #[test]
    fn calibration_thresholds_interpolate_and_fall_back_to_gaussian() {
        let mut rng = Rng::new(5);
        let target = gaussian_scores(&mut rng, 0.7, 0.1, 3_000);
        let nontarget = gaussian_scores(&mut rng, 0.1, 0.1, 5_000);
        let model = ModelId { model_name: "m".into(), model_version: "1".into() };
        let calibration = Calibration::fit(&model, &target, &nontarget, 0.5, "synthetic").unwrap();
        // 5000 impostors: 1e-3 .. 0.5 measured; 1e-4 and 2e-4, 5e-4 not (fewer than 10 above).
        assert_eq!(calibration.far_points.first().unwrap().far, 2e-3);
        let at_one_percent = calibration.cosine_threshold_for_far(0.01);
        assert!((at_one_percent - threshold_at_far(&nontarget, 0.01)).abs() < 1e-9);
        // Gaussian tail: 0.1 + 0.1·probit(0.9999) ≈ 0.472.
        assert!((calibration.cosine_threshold_for_far(1e-4) - 0.472).abs() < 0.02);
        // Monotone: a stricter FAR is a higher threshold.
        assert!(calibration.threshold_for_far(0.001) > calibration.threshold_for_far(0.01));
        let json = CalibrationSet { calibrations: vec![calibration.clone()] }.to_json();
        let set = CalibrationSet::from_json(&json).unwrap();
        // serde_json may change the last bit of a float, so compare what matters.
        let loaded = set.require(&model).unwrap();
        assert!((loaded.threshold_for_far(0.01) - calibration.threshold_for_far(0.01)).abs() < 1e-9);
        assert_eq!(loaded.far_points.len(), calibration.far_points.len());
        assert!(set.require(&ModelId { model_name: "m".into(), model_version: "2".into() }).is_err());
    }

    #[test]
    fn builtin_calibrations_parse() {
        assert!(CalibrationSet::from_json(BUILTIN_CALIBRATIONS).is_ok());
    }

    #[test]
    fn probit_matches_known_quantiles() {
        assert!(probit(0.5).abs() < 1e-9);
        assert!((probit(0.975) - 1.959964).abs() < 1e-5);
        assert!((probit(0.01) + 2.326348).abs() < 1e-5);
        assert!((probit(1e-6) + 4.753424).abs() < 1e-4);
    }
}
