//! `callsight migrate`, `callsight backup` and `callsight restore`: moving a data directory's
//! embedded stores (SQLite + the qdrant-edge voiceprint index) to PostgreSQL and a Qdrant server,
//! and backing them up. Every copy is verified (row counts and checksums per table, voiceprint
//! count and checksum) and resumable (re-running skips or replaces what is already there); the
//! source is only read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use callsight_models::voiceprints::transfer::{self, VoiceprintFingerprint};
use callsight_models::voiceprints::{EdgeVoiceprintIndex, ServerVoiceprintIndex};
use callsight_pipeline::speaker::VoiceprintIndex;
use callsight_workers::store::transfer::{TableCopy, TableFingerprint};
use callsight_workers::store::{QueueConfig, Store};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::config::Config;

const DATABASE_FILE: &str = "callsight.db";
const VOICEPRINTS_DIR: &str = "voiceprints";
const AUDIO_DIR: &str = "audio";
const MANIFEST_FILE: &str = "backup.json";

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The data directory whose embedded stores are copied [default: server.data_dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The PostgreSQL database to copy into (postgres://…); its schema is created if missing.
    #[arg(long, value_name = "URL")]
    pub to_database: String,
    /// The Qdrant server (gRPC URL, e.g. http://qdrant:6334) to copy the voiceprints into.
    #[arg(long, value_name = "URL", conflicts_with = "to_voiceprints_dir")]
    pub to_qdrant: Option<String>,
    /// Environment variable holding the Qdrant API key [default: voiceprints.api_key_env].
    #[arg(long, value_name = "NAME")]
    pub qdrant_api_key_env: Option<String>,
    /// Collection prefix on the Qdrant server [default: voiceprints.collection_prefix].
    #[arg(long, value_name = "PREFIX")]
    pub collection_prefix: Option<String>,
    /// Copy the voiceprints into another embedded index directory instead of a server.
    #[arg(long, value_name = "DIR")]
    pub to_voiceprints_dir: Option<PathBuf>,
    /// Copy only the database.
    #[arg(long, conflicts_with_all = ["to_qdrant", "to_voiceprints_dir"])]
    pub without_voiceprints: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The data directory to back up [default: server.data_dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A new (or empty) directory for the backup.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Leave the recordings out (the database still names them).
    #[arg(long)]
    pub without_audio: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A directory written by `callsight backup`.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The data directory to restore into; must not hold a database or voiceprint index yet.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// What `backup` wrote, checked by `restore`.
#[derive(Debug, Serialize, Deserialize)]
struct BackupManifest {
    format: u32,
    created_at_unix_secs: i64,
    /// The data directory backed up (absolute), to re-point audio paths on restore elsewhere.
    source_data_dir: String,
    tables: BTreeMap<String, TableEntry>,
    voiceprints: Option<TableEntry>,
    audio_files: u64,
    audio_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TableEntry {
    rows: u64,
    checksum: String,
}

impl From<&TableFingerprint> for TableEntry {
    fn from(fingerprint: &TableFingerprint) -> Self {
        TableEntry { rows: u64::try_from(fingerprint.rows).unwrap_or(0), checksum: fingerprint.checksum.clone() }
    }
}

impl From<&VoiceprintFingerprint> for TableEntry {
    fn from(fingerprint: &VoiceprintFingerprint) -> Self {
        TableEntry { rows: fingerprint.voiceprints, checksum: fingerprint.checksum.clone() }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

fn short(checksum: &str) -> &str {
    &checksum[..checksum.len().min(16)]
}

fn print_table(copy: &TableCopy) {
    eprintln!(
        "  {:<20} {:>8} rows  {:>8} copied now  checksum {} {} {}  {}",
        copy.table,
        copy.source.rows,
        copy.inserted_rows,
        short(&copy.source.checksum),
        if copy.verified() { "=" } else { "≠" },
        short(&copy.destination.checksum),
        if copy.verified() { "ok" } else { "MISMATCH" }
    );
}

/// Opens the data directory's embedded index, explaining the one reason it usually fails.
fn open_embedded_index(dir: &Path) -> anyhow::Result<EdgeVoiceprintIndex> {
    EdgeVoiceprintIndex::open(dir).with_context(|| {
        format!(
            "opening the voiceprint index in {} (stop `callsight serve` on this data directory first: \
             an embedded index is held by one process at a time)",
            dir.display()
        )
    })
}

/// Copies and verifies the voiceprints; `true` when the destination holds every source voiceprint
/// exactly.
fn copy_voiceprints(source: &dyn VoiceprintIndex, destination: &dyn VoiceprintIndex) -> anyhow::Result<(VoiceprintFingerprint, bool)> {
    let started = Instant::now();
    let copied = transfer::copy_all(source, destination, &mut |copied| {
        if copied % 10_000 == 0 {
            eprintln!("  voiceprints: {copied} copied");
        }
    })?;
    let (source_print, ids) = transfer::fingerprint(source, None)?;
    let (destination_print, _) = transfer::fingerprint(destination, Some(&ids))?;
    let verified = source_print == destination_print;
    eprintln!(
        "  {:<20} {:>8} voiceprints  {:>8} copied now  checksum {} {} {}  {}  ({:.1} s)",
        "voiceprints",
        source_print.voiceprints,
        copied,
        short(&source_print.checksum),
        if verified { "=" } else { "≠" },
        short(&destination_print.checksum),
        if verified { "ok" } else { "MISMATCH" },
        started.elapsed().as_secs_f64()
    );
    Ok((source_print, verified))
}

pub fn migrate(args: MigrateArgs, config: &Config) -> anyhow::Result<std::process::ExitCode> {
    let data_dir = args.data_dir.clone().unwrap_or_else(|| config.server.data_dir.clone());
    let database_path = data_dir.join(DATABASE_FILE);
    anyhow::ensure!(
        args.to_database.starts_with("postgres://") || args.to_database.starts_with("postgresql://"),
        "--to-database: expected a postgres://… URL"
    );
    let voiceprints_destination: Option<Arc<dyn VoiceprintIndex>> = if args.without_voiceprints {
        None
    } else if let Some(url) = &args.to_qdrant {
        let key_env = args.qdrant_api_key_env.clone().or_else(|| config.voiceprints.api_key_env.clone());
        let api_key = match key_env {
            Some(name) => Some(std::env::var(&name).with_context(|| format!("environment variable {name} is not set"))?),
            None => None,
        };
        let prefix = args.collection_prefix.clone().unwrap_or_else(|| config.voiceprints.collection_prefix.clone());
        let index = ServerVoiceprintIndex::connect(url, api_key, &prefix)
            .with_context(|| format!("the Qdrant server at {url} (--to-qdrant)"))?;
        Some(Arc::new(index))
    } else if let Some(dir) = &args.to_voiceprints_dir {
        anyhow::ensure!(
            dir.canonicalize().ok() != data_dir.join(VOICEPRINTS_DIR).canonicalize().ok(),
            "--to-voiceprints-dir is the data directory's own index"
        );
        Some(Arc::new(EdgeVoiceprintIndex::open(dir).with_context(|| format!("opening {}", dir.display()))?))
    } else {
        anyhow::bail!("say where the voiceprints go: --to-qdrant URL, --to-voiceprints-dir DIR, or --without-voiceprints");
    };

    let started = Instant::now();
    let runtime = runtime()?;
    let all_tables_verified = runtime.block_on(async {
        let source = Store::open_sqlite_read_only(&database_path)
            .await
            .with_context(|| format!("opening {}", database_path.display()))?;
        let destination = Store::connect_with(&args.to_database, QueueConfig::default())
            .await
            .context("connecting to --to-database (its schema is created by the migrations)")?;
        eprintln!("copying {} into PostgreSQL:", database_path.display());
        let copies = source.copy_sqlite_tables_into(&destination, &mut |copy| print_table(copy)).await?;
        source.close().await;
        destination.close().await;
        anyhow::Ok(copies.iter().all(TableCopy::verified))
    })?;
    let database_secs = started.elapsed().as_secs_f64();
    eprintln!("database copied in {database_secs:.1} s");

    let mut voiceprints_verified = true;
    if let Some(destination) = voiceprints_destination {
        let source_dir = data_dir.join(VOICEPRINTS_DIR);
        if source_dir.is_dir() {
            let source = open_embedded_index(&source_dir)?;
            eprintln!("copying the voiceprints in {} to {}:", source_dir.display(), destination.backend_name());
            voiceprints_verified = copy_voiceprints(&source, destination.as_ref())?.1;
        } else {
            eprintln!("no voiceprint index in {}: nothing to copy", source_dir.display());
        }
    }
    eprintln!("total {:.1} s; the data directory was only read", started.elapsed().as_secs_f64());
    if all_tables_verified && voiceprints_verified {
        println!("migration verified");
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        println!("migration NOT verified: see the mismatches above; re-run to resume");
        Ok(std::process::ExitCode::from(1))
    }
}

/// Copies every file under `from` into `to` (created), skipping the index's `.lock`; returns
/// (files, bytes).
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<(u64, u64)> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let mut totals = (0u64, 0u64);
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let (files, bytes) = copy_tree(&entry.path(), &target)?;
            totals = (totals.0 + files, totals.1 + bytes);
        } else if kind.is_file() {
            let bytes = std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {} to {}", entry.path().display(), target.display()))?;
            totals = (totals.0 + 1, totals.1 + bytes);
        }
    }
    Ok(totals)
}

fn is_empty_or_missing(dir: &Path) -> bool {
    std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()).unwrap_or(true)
}

pub fn backup(args: BackupArgs, config: &Config) -> anyhow::Result<std::process::ExitCode> {
    let data_dir = args.data_dir.clone().unwrap_or_else(|| config.server.data_dir.clone());
    let data_dir = data_dir.canonicalize().with_context(|| format!("data directory {}", data_dir.display()))?;
    anyhow::ensure!(is_empty_or_missing(&args.out), "{} exists and is not empty: back up into a new directory", args.out.display());
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let started = Instant::now();
    let database_path = data_dir.join(DATABASE_FILE);
    let backup_database = args.out.join(DATABASE_FILE);
    let runtime = runtime()?;
    let tables = runtime.block_on(async {
        let source = Store::open_sqlite_read_only(&database_path)
            .await
            .with_context(|| format!("opening {}", database_path.display()))?;
        // Online: `VACUUM INTO` reads one consistent snapshot while the service keeps running.
        source.sqlite_backup_into(&backup_database).await.context("VACUUM INTO the backup")?;
        source.close().await;
        let copy = Store::open_sqlite_read_only(&backup_database).await?;
        let fingerprints = copy.fingerprint_tables(&copy).await?;
        copy.close().await;
        anyhow::Ok(fingerprints)
    })?;
    for (table, fingerprint) in &tables {
        eprintln!("  {table:<20} {:>8} rows  checksum {}", fingerprint.rows, short(&fingerprint.checksum));
    }
    let source_dir = data_dir.join(VOICEPRINTS_DIR);
    let voiceprints = if source_dir.is_dir() {
        // Under the index's lock: nothing writes while it is read.
        let source = open_embedded_index(&source_dir)?;
        let copy = EdgeVoiceprintIndex::open(&args.out.join(VOICEPRINTS_DIR))?;
        let (fingerprint, verified) = copy_voiceprints(&source, &copy)?;
        anyhow::ensure!(verified, "the voiceprint copy does not match its source");
        Some(TableEntry::from(&fingerprint))
    } else {
        None
    };
    let (audio_files, audio_bytes) = if args.without_audio || !data_dir.join(AUDIO_DIR).is_dir() {
        (0, 0)
    } else {
        copy_tree(&data_dir.join(AUDIO_DIR), &args.out.join(AUDIO_DIR))?
    };
    let manifest = BackupManifest {
        format: 1,
        created_at_unix_secs: callsight_workers::store::now_secs(),
        source_data_dir: data_dir.display().to_string(),
        tables: tables.iter().map(|(table, fingerprint)| (table.clone(), TableEntry::from(fingerprint))).collect(),
        voiceprints,
        audio_files,
        audio_bytes,
    };
    std::fs::write(args.out.join(MANIFEST_FILE), serde_json::to_vec_pretty(&manifest)?)?;
    eprintln!("  audio: {audio_files} files, {audio_bytes} bytes");
    println!("backup of {} written to {} in {:.1} s", data_dir.display(), args.out.display(), started.elapsed().as_secs_f64());
    Ok(std::process::ExitCode::SUCCESS)
}

pub fn restore(args: RestoreArgs, config: &Config) -> anyhow::Result<std::process::ExitCode> {
    let data_dir = args.data_dir.clone().unwrap_or_else(|| config.server.data_dir.clone());
    let manifest_path = args.from.join(MANIFEST_FILE);
    let manifest: BackupManifest = serde_json::from_slice(
        &std::fs::read(&manifest_path).with_context(|| format!("reading {} (is this a backup?)", manifest_path.display()))?,
    )
    .with_context(|| format!("{} is not a backup manifest", manifest_path.display()))?;
    anyhow::ensure!(manifest.format == 1, "backup format {} is newer than this build", manifest.format);
    let target_database = data_dir.join(DATABASE_FILE);
    anyhow::ensure!(!target_database.exists(), "{} exists: restore into a new data directory", target_database.display());
    anyhow::ensure!(
        is_empty_or_missing(&data_dir.join(VOICEPRINTS_DIR)),
        "{} is not empty: restore into a new data directory",
        data_dir.join(VOICEPRINTS_DIR).display()
    );
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let data_dir = data_dir.canonicalize()?;
    let mut verified = true;

    std::fs::copy(args.from.join(DATABASE_FILE), &target_database).context("copying the database")?;
    let runtime = runtime()?;
    runtime.block_on(async {
        let restored = Store::open_sqlite_read_only(&target_database).await?;
        for (table, fingerprint) in restored.fingerprint_tables(&restored).await? {
            let expected = manifest.tables.get(&table);
            let matches = expected == Some(&TableEntry::from(&fingerprint));
            verified &= matches;
            eprintln!(
                "  {table:<20} {:>8} rows  checksum {}  {}",
                fingerprint.rows,
                short(&fingerprint.checksum),
                if matches { "ok" } else { "MISMATCH with the backup manifest" }
            );
        }
        restored.close().await;
        // Recordings are named by absolute path: point them at their new place.
        let store = Store::connect(&format!("sqlite://{}", target_database.display())).await?;
        let old_audio = format!("{}/{AUDIO_DIR}/", manifest.source_data_dir);
        let new_audio = format!("{}/{AUDIO_DIR}/", data_dir.display());
        let moved = store.rebase_audio_paths(&old_audio, &new_audio).await?;
        if moved > 0 {
            eprintln!("  audio paths of {moved} calls now under {new_audio}");
        }
        store.close().await;
        anyhow::Ok(())
    })?;
    if let Some(expected) = &manifest.voiceprints {
        let source = EdgeVoiceprintIndex::open(&args.from.join(VOICEPRINTS_DIR))?;
        let destination = EdgeVoiceprintIndex::open(&data_dir.join(VOICEPRINTS_DIR))?;
        let (fingerprint, copied_exactly) = copy_voiceprints(&source, &destination)?;
        let matches = copied_exactly && TableEntry::from(&fingerprint) == *expected;
        verified &= matches;
        if !matches {
            eprintln!("  voiceprints: MISMATCH with the backup manifest");
        }
    }
    let backup_audio = args.from.join(AUDIO_DIR);
    if backup_audio.is_dir() {
        let (files, bytes) = copy_tree(&backup_audio, &data_dir.join(AUDIO_DIR))?;
        let matches = files == manifest.audio_files && bytes == manifest.audio_bytes;
        verified &= matches;
        eprintln!("  audio: {files} files, {bytes} bytes  {}", if matches { "ok" } else { "MISMATCH with the backup manifest" });
    }
    if verified {
        println!("restored {} into {}", args.from.display(), data_dir.display());
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        println!("restore NOT verified: see the mismatches above");
        Ok(std::process::ExitCode::from(1))
    }
}
