//! `callsight stream FILE --url ws://… --key K`: plays a recording to `GET /v1/streams` (at
//! real-time speed or as fast as possible) and prints the events as they arrive. With
//! `--concurrency N` it plays N copies at once and reports audio-to-final-word latency: the load
//! test behind `scripts/stream_bench.sh`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use callsight_pipeline::audio::decode_file;
use clap::{Args, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum EventFormat {
    /// One JSON event per line, as received.
    Json,
    /// Finals, alerts and verifications for people.
    Text,
}

#[derive(Debug, Args)]
pub struct StreamArgs {
    /// Recording to play (any format `analyze` reads); sent as 16-bit PCM at its own rate.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The server's stream endpoint, e.g. ws://127.0.0.1:8080/v1/streams.
    #[arg(long)]
    pub url: String,
    /// API key (role ingest or admin) [env: CALLSIGHT_API_KEY].
    #[arg(long, env = "CALLSIGHT_API_KEY", hide_env_values = true)]
    pub key: String,
    /// Send audio at real-time speed (default: as fast as the connection takes it).
    #[arg(long)]
    pub realtime: bool,
    #[arg(long, value_enum, default_value_t = EventFormat::Json)]
    pub format: EventFormat,
    /// Party per channel [default: agent,customer for stereo, mixed for mono].
    #[arg(long, value_name = "ROLES")]
    pub channels: Option<String>,
    #[arg(long)]
    pub script_id: Option<String>,
    #[arg(long)]
    pub claimed_customer_id: Option<String>,
    #[arg(long)]
    pub external_call_id: Option<String>,
    /// Milliseconds of audio per binary message.
    #[arg(long, default_value_t = 100)]
    pub frame_ms: u64,
    /// Cut the audio into messages of random sizes (1 byte to two frames), split anywhere.
    #[arg(long)]
    pub random_frames: bool,
    /// Drop the connection without `stop` or a close frame after this much audio (seconds).
    #[arg(long, value_name = "SECS")]
    pub disconnect_after: Option<f64>,
    /// PCI pause: send {"type":"pause"} at the first time and {"type":"resume"} at the second
    /// (seconds of audio, e.g. 12.5,20); the server stores and transcribes silence in between.
    #[arg(long, value_name = "START,END", value_delimiter = ',', num_args = 1)]
    pub pause: Vec<f64>,
    /// Play this many copies at once and print latency statistics instead of events.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
}

/// What one played stream measured.
#[derive(Debug, Default)]
struct StreamStats {
    /// Seconds from the moment a final word's end was sent to the moment its final arrived.
    final_word_latencies_secs: Vec<f64>,
    refused: Option<String>,
    summary: Option<Value>,
}

pub fn run(args: StreamArgs) -> anyhow::Result<std::process::ExitCode> {
    let audio = decode_file(&args.file)?;
    let n_channels = audio.n_channels().min(2);
    let roles: Vec<String> = match &args.channels {
        Some(text) => text.split(',').map(|r| r.trim().to_string()).collect(),
        None if n_channels == 2 => vec!["agent".into(), "customer".into()],
        None => vec!["mixed".into()],
    };
    anyhow::ensure!(roles.len() == n_channels, "--channels names {} parties for {n_channels} channel(s)", roles.len());
    let mut pcm = Vec::with_capacity(audio.n_frames() * n_channels * 2);
    for frame_idx in 0..audio.n_frames() {
        for channel in &audio.channels[..n_channels] {
            pcm.extend_from_slice(&channel.get(frame_idx).copied().unwrap_or(0).to_le_bytes());
        }
    }
    let mut start = serde_json::json!({
        "type": "start",
        "encoding": "pcm_s16le",
        "sample_rate": audio.sample_rate_hz,
        "channels": roles,
    });
    for (field, value) in [
        ("script_id", &args.script_id),
        ("claimed_customer_id", &args.claimed_customer_id),
        ("external_call_id", &args.external_call_id),
    ] {
        if let Some(value) = value {
            start[field] = Value::String(value.clone());
        }
    }
    let bytes_per_sec = f64::from(audio.sample_rate_hz) * n_channels as f64 * 2.0;
    let pause_bytes = match args.pause.as_slice() {
        [] => None,
        [pause_secs, resume_secs] if pause_secs < resume_secs && *pause_secs >= 0.0 => {
            let block = n_channels * 2;
            let at = |secs: f64| (secs * bytes_per_sec) as usize / block * block;
            Some((at(*pause_secs), at(*resume_secs)))
        }
        other => anyhow::bail!("--pause takes START,END in seconds with START < END, got {other:?}"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let concurrency = args.concurrency.max(1);
    let all_stats = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for stream_idx in 0..concurrency {
            let mut start = start.clone();
            if concurrency > 1
                && let Some(id) = args.external_call_id.as_deref()
            {
                start["external_call_id"] = Value::String(format!("{id}-{stream_idx}"));
            }
            let pcm = pcm.clone();
            let options = PlayOptions {
                url: args.url.clone(),
                key: args.key.clone(),
                realtime: args.realtime,
                print: (concurrency == 1).then_some(args.format),
                frame_bytes: frame_bytes(bytes_per_sec, args.frame_ms, n_channels),
                random_frames: args.random_frames,
                disconnect_after_bytes: args.disconnect_after.map(|secs| (secs * bytes_per_sec) as usize),
                bytes_per_sec,
                seed: 0x5EED_0000 + stream_idx as u64,
                pause_bytes,
            };
            tasks.spawn(async move { play(start, pcm, options).await });
        }
        let mut all = Vec::new();
        while let Some(done) = tasks.join_next().await {
            all.push(done.context("stream task failed")??);
        }
        anyhow::Ok(all)
    })?;
    let refused = all_stats.iter().filter(|s| s.refused.is_some()).count();
    let mut latencies: Vec<f64> = all_stats.iter().flat_map(|s| s.final_word_latencies_secs.iter().copied()).collect();
    latencies.sort_by(f64::total_cmp);
    if concurrency > 1 || args.realtime {
        let stats = serde_json::json!({
            "type": "client_stats",
            "streams": concurrency,
            "refused": refused,
            "final_words": latencies.len(),
            "latency_p50_secs": percentile(&latencies, 0.50),
            "latency_p95_secs": percentile(&latencies, 0.95),
            "latency_max_secs": latencies.last(),
        });
        match args.format {
            EventFormat::Json => println!("{stats}"),
            EventFormat::Text => eprintln!(
                "{} stream(s), {refused} refused; audio-to-final-word latency p50 {:.2} s, p95 {:.2} s over {} words",
                concurrency,
                percentile(&latencies, 0.50).unwrap_or(f64::NAN),
                percentile(&latencies, 0.95).unwrap_or(f64::NAN),
                latencies.len()
            ),
        }
    }
    if let Some(reason) = all_stats.iter().find_map(|s| s.refused.clone()) {
        eprintln!("refused: {reason}");
        return Ok(std::process::ExitCode::from(3));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn frame_bytes(bytes_per_sec: f64, frame_ms: u64, n_channels: usize) -> usize {
    let block = n_channels * 2;
    ((bytes_per_sec * frame_ms.max(1) as f64 / 1000.0) as usize / block).max(1) * block
}

fn percentile(sorted: &[f64], quantile: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((sorted.len() - 1) as f64 * quantile).round() as usize;
    sorted.get(idx).copied()
}

struct PlayOptions {
    url: String,
    key: String,
    realtime: bool,
    print: Option<EventFormat>,
    frame_bytes: usize,
    random_frames: bool,
    disconnect_after_bytes: Option<usize>,
    bytes_per_sec: f64,
    seed: u64,
    /// Byte offsets where `pause` and `resume` are sent.
    pause_bytes: Option<(usize, usize)>,
}

/// Plays one stream: a sender task paces the audio, this task reads events until `summary`.
async fn play(start: Value, pcm: Vec<u8>, options: PlayOptions) -> anyhow::Result<StreamStats> {
    let mut request = options.url.as_str().into_client_request().context("--url is not a WebSocket URL")?;
    request.headers_mut().insert(
        "Authorization",
        HeaderValue::from_str(&format!("Bearer {}", options.key)).context("the key is not a valid header value")?,
    );
    let mut stats = StreamStats::default();
    let (socket, _) = match tokio_tungstenite::connect_async(request).await {
        Ok(connected) => connected,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response.body().as_ref().map(|b| String::from_utf8_lossy(b).to_string()).unwrap_or_default();
            stats.refused = Some(format!("HTTP {}: {body}", response.status()));
            return Ok(stats);
        }
        Err(error) => return Err(error).context("connecting to the stream endpoint"),
    };
    let (mut sink, mut source) = socket.split();
    sink.send(Message::Text(start.to_string().into())).await?;
    let started_at = Instant::now();
    let mut sender = tokio::spawn(async move {
        let mut offset = 0;
        let mut seed = options.seed;
        let limit = options.disconnect_after_bytes.unwrap_or(usize::MAX).min(pcm.len());
        while offset < limit {
            let size = if options.random_frames {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                1 + (seed >> 33) as usize % (2 * options.frame_bytes)
            } else {
                options.frame_bytes
            };
            let mut end = (offset + size).min(limit);
            if let Some((pause_at, resume_at)) = options.pause_bytes {
                for (boundary, control) in [(pause_at, "pause"), (resume_at, "resume")] {
                    if offset == boundary {
                        sink.send(Message::Text(serde_json::json!({"type": control}).to_string().into())).await?;
                    }
                    if offset < boundary && boundary < end {
                        end = boundary;
                    }
                }
            }
            if options.realtime {
                // Audio up to `offset` may be sent once that much real time has passed.
                let due = started_at + Duration::from_secs_f64(offset as f64 / options.bytes_per_sec);
                tokio::time::sleep_until(due.into()).await;
            }
            sink.send(Message::Binary(pcm[offset..end].to_vec().into())).await?;
            offset = end;
        }
        if options.disconnect_after_bytes.is_some() {
            // Abrupt: no stop, no close frame; the TCP connection just goes away.
            drop(sink);
            return anyhow::Ok(true);
        }
        sink.send(Message::Text(serde_json::json!({"type": "stop"}).to_string().into())).await?;
        // Keep the sink (and the connection) open until the server has said everything.
        std::future::pending::<()>().await;
        anyhow::Ok(false)
    });
    let mut sender_done = false;
    loop {
        let message = tokio::select! {
            message = source.next() => message,
            sent = &mut sender, if !sender_done => {
                sender_done = true;
                match sent {
                    // Disconnected on purpose: drop the reading half too, so the socket closes.
                    Ok(Ok(true)) => break,
                    Ok(Ok(false)) => continue,
                    Ok(Err(error)) => return Err(error.context("sending audio")),
                    Err(error) => return Err(anyhow::anyhow!("sender task failed: {error}")),
                }
            }
        };
        let Some(message) = message else { break };
        let text = match message {
            Ok(Message::Text(text)) => text.to_string(),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let received_secs = started_at.elapsed().as_secs_f64();
        let Ok(event) = serde_json::from_str::<Value>(&text) else { continue };
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("").to_string();
        if kind == "final"
            && let Some(words) = event.get("words").and_then(Value::as_array)
        {
            // Only meaningful at real-time pace: the word's end was sent at (about) its audio time.
            if options.realtime {
                for word in words {
                    if let Some(end_secs) = word.get("end_secs").and_then(Value::as_f64) {
                        stats.final_word_latencies_secs.push(received_secs - end_secs);
                    }
                }
            }
        }
        match options.print {
            Some(EventFormat::Json) => println!("{text}"),
            Some(EventFormat::Text) => print_text(&event),
            None => {}
        }
        if kind == "error" && event.get("fatal").and_then(Value::as_bool) == Some(true) && stats.summary.is_none() {
            let code = event.get("code").and_then(Value::as_str).unwrap_or("");
            if matches!(code, "at_capacity" | "bad_start" | "duplicate") {
                stats.refused = Some(event.get("message").and_then(Value::as_str).unwrap_or(code).to_string());
            }
        }
        if kind == "summary" {
            stats.summary = Some(event);
            break;
        }
    }
    if !sender_done {
        sender.abort();
    }
    drop(source);
    Ok(stats)
}

fn print_text(event: &Value) {
    let text = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let secs = |key: &str| event.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    match event.get("type").and_then(Value::as_str) {
        Some("final") => println!("[{:7.2}-{:7.2}] {:8} {}", secs("start_secs"), secs("end_secs"), text("speaker"), text("text")),
        Some("alert") => println!("ALERT {} ({}): {}", text("kind"), text("severity"), text("message")),
        Some("verification") => println!(
            "VERIFY {}: {} (score {}, {:.1} s of speech)",
            text("speaker_id"),
            text("decision"),
            event.get("score").map_or("-".to_string(), Value::to_string),
            secs("net_speech_secs")
        ),
        Some("watchlist_hit") => println!("WATCHLIST {} (score {:.2})", text("speaker_id"), secs("score")),
        Some("error") => println!("ERROR {}: {}", text("code"), text("message")),
        Some("summary") => println!("call {} stored; {:.1} s of audio", text("call_id"), secs("duration_secs")),
        _ => {}
    }
}
