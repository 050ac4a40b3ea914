//! Runs the setup step without the `callsight` binary: `cargo run --release -p callsight-models
//! --example fetch_models [-- --force] [-- --only whisper-base,silero-vad]`, from the project root
//! so that the default mirror directory `../shared/models` resolves. The store is
//! `$CALLSIGHT_MODELS_DIR` or `~/.cache/callsight/models/v1`.

use callsight_models::fetch::{FetchEvent, FetchOptions, ModelStore, fetch_all};

fn main() -> anyhow::Result<()> {
    let mut options = FetchOptions::default();
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--force" => options.force = true,
            "--only" => {
                let names = arguments.next().ok_or_else(|| anyhow::anyhow!("--only needs a list of model names"))?;
                options.only = Some(names.split(',').map(str::to_string).collect());
            }
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let store = ModelStore::default_location();
    println!("store: {}", store.root().display());
    let started = std::time::Instant::now();
    let manifest = fetch_all(&store, &options, &mut |event| match event {
        FetchEvent::ModelFinished { model_name, elapsed_secs } => println!("{model_name}: done in {elapsed_secs:.1} s"),
        other => println!("  {other:?}"),
    })?;
    println!("fetched {} files in {:.1} s", manifest.entries.len(), started.elapsed().as_secs_f64());
    let verify_started = std::time::Instant::now();
    store.verify()?;
    println!("verified in {:.1} s", verify_started.elapsed().as_secs_f64());
    for entry in &manifest.entries {
        println!("{}  {:>11}  {}", entry.sha256, entry.size_bytes, entry.file);
    }
    Ok(())
}
