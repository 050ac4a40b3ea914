//! The `callsight` binary: command-line definition and glue. It parses configuration, sets up
//! tracing, loads models once and hands them to the library crates.

mod cli;
mod config;
mod engines;
mod eval_cmd;
mod migrate_cmd;
mod models_cmd;
mod redaction_eval;
mod serve_cmd;
mod speakers_cmd;
mod stream_cmd;
mod streams;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(1)
        }
    }
}

fn init_tracing(verbose: u8) {
    let default_level = match verbose {
        // qdrant-edge warns about process-wide flags it expects a Qdrant server to set.
        0 => "warn,qdrant_edge=error",
        1 => "info,whisper_rs=warn,qdrant_edge=error",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CALLSIGHT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn run(cli: cli::Cli) -> anyhow::Result<std::process::ExitCode> {
    let config = config::Config::load(cli.config.as_deref())?;
    match cli.command {
        cli::Command::Analyze(args) => cli::analyze(args, &cli.models, &config),
        cli::Command::Serve(args) => serve_cmd::serve(args, &cli.models, &config),
        cli::Command::Stream(args) => stream_cmd::run(args),
        cli::Command::Worker(args) => serve_cmd::worker(args, &cli.models, &config),
        cli::Command::Keys { command } => serve_cmd::keys(command, &config),
        cli::Command::Migrate(args) => migrate_cmd::migrate(args, &config),
        cli::Command::Backup(args) => migrate_cmd::backup(args, &config),
        cli::Command::Restore(args) => migrate_cmd::restore(args, &config),
        cli::Command::Speakers(args) => speakers_cmd::run(args, &cli.models, &config),
        cli::Command::Config => {
            print!("{}", config.to_toml()?);
            Ok(std::process::ExitCode::SUCCESS)
        }
        cli::Command::Models { command } => models_cmd::run(command, &cli.models),
        cli::Command::Eval { command } => eval_cmd::run(command, &cli.models, &config),
    }
}
