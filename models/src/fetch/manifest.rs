//! The store's manifest (`manifest.json`): what each model file is, where it came from and its
//! sha256; plus the hashing and atomic-write helpers the fetch step writes every file through.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ModelError;

/// The file name of the manifest inside the store's root.
pub const MANIFEST_FILE_NAME: &str = "manifest.json";

/// Bumped when the manifest's JSON shape changes incompatibly.
pub const MANIFEST_FORMAT_VERSION: u32 = 1;

/// Everything the fetch step put into a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    /// UTC time of the write, RFC 3339 (`2025-11-23T14:05:09Z`).
    pub written_at: String,
    pub entries: Vec<ManifestEntry>,
}

/// One file of the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// The catalogue name of the model the file belongs to (`whisper-base`).
    pub name: String,
    /// The path relative to the store's root, `/`-separated (`whisper-base-ct2/model.bin`).
    pub file: String,
    pub sha256: String,
    pub size_bytes: u64,
    /// The packages or mirror file it came from (`pypi:silero-vad==6.2.3`, `mirror:…`, `url:…`).
    pub source: String,
    /// The model's version as the catalogue names it.
    pub version: String,
    /// How the file was made from its source (`extract`, `concatenate`, `ct2-to-ggml v1`, …).
    pub produced_by: String,
}

impl Manifest {
    /// A manifest holding `entries`, stamped with the current time.
    pub fn new(entries: Vec<ManifestEntry>) -> Self {
        Self { format_version: MANIFEST_FORMAT_VERSION, written_at: rfc3339_utc_now(), entries }
    }

    /// Reads `path`; [`ModelError::Missing`] if it does not exist, [`ModelError::Corrupt`] if it
    /// does not parse.
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(ModelError::Missing { path: path.to_path_buf() });
            }
            Err(error) => return Err(ModelError::Io(error)),
        };
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|error| ModelError::Corrupt { path: path.to_path_buf(), reason: error.to_string() })?;
        if manifest.format_version != MANIFEST_FORMAT_VERSION {
            return Err(ModelError::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "manifest format version {} is not the supported {MANIFEST_FORMAT_VERSION}",
                    manifest.format_version
                ),
            });
        }
        Ok(manifest)
    }

    /// Writes the manifest to `path` atomically (temporary file, then rename).
    pub fn write(&self, path: &Path) -> Result<(), ModelError> {
        let json = serde_json::to_vec_pretty(self).map_err(|error| ModelError::Fetch {
            what: path.display().to_string(),
            reason: format!("serialising the manifest: {error}"),
        })?;
        let mut file = AtomicFile::create(path)?;
        file.write_all(&json)?;
        file.write_all(b"\n")?;
        file.commit()?;
        Ok(())
    }

    /// The entry for `file` (a store-relative path), if any.
    pub fn entry(&self, file: &str) -> Option<&ManifestEntry> {
        self.entries.iter().find(|entry| entry.file == file)
    }
}

/// The sha256 of a file, as lowercase hex, streamed so large models need little memory.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 1 << 20];
    loop {
        let n_read = file.read(&mut buffer)?;
        if n_read == 0 {
            break;
        }
        hasher.update(&buffer[..n_read]);
    }
    Ok(hex_lower(&hasher.finalize()))
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A file written under a temporary name next to its destination and renamed into place by
/// [`AtomicFile::commit`], hashing what is written; dropped without a commit, it is removed. A crash
/// mid-fetch therefore never leaves a half-written file under the real name.
pub struct AtomicFile {
    destination: PathBuf,
    temporary: PathBuf,
    writer: Option<BufWriter<File>>,
    hasher: Sha256,
    size_bytes: u64,
}

/// What [`AtomicFile::commit`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    pub path: PathBuf,
    pub sha256: String,
    pub size_bytes: u64,
}

impl AtomicFile {
    /// Creates the temporary file (and the destination's parent directories).
    pub fn create(destination: &Path) -> Result<Self, ModelError> {
        let parent = destination.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let file_name = destination.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let temporary = parent.join(format!(".{file_name}.partial-{}", std::process::id()));
        let file = File::create(&temporary)?;
        Ok(Self {
            destination: destination.to_path_buf(),
            temporary,
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
            hasher: Sha256::new(),
            size_bytes: 0,
        })
    }

    /// The sha256 of what has been written so far.
    pub fn sha256_so_far(&self) -> String {
        hex_lower(&self.hasher.clone().finalize())
    }

    pub fn size_bytes_so_far(&self) -> u64 {
        self.size_bytes
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> Result<WrittenFile, ModelError> {
        let sha256 = self.sha256_so_far();
        if let Some(writer) = self.writer.take() {
            let file = writer.into_inner().map_err(|error| ModelError::Io(error.into_error()))?;
            file.sync_all()?;
        }
        std::fs::rename(&self.temporary, &self.destination)?;
        Ok(WrittenFile { path: self.destination.clone(), sha256, size_bytes: self.size_bytes })
    }
}

impl Write for AtomicFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let writer = self.writer.as_mut().ok_or_else(|| std::io::Error::other("file already committed"))?;
        let n_written = writer.write(bytes)?;
        self.hasher.update(&bytes[..n_written]);
        self.size_bytes += n_written as u64;
        Ok(n_written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.writer.as_mut() {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            // Not committed: the partial file must not survive. Nothing useful to do on failure.
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// The current UTC time as RFC 3339 with second precision.
fn rfc3339_utc_now() -> String {
    callsight_pipeline::calendar::rfc3339(callsight_pipeline::calendar::unix_now())
}
