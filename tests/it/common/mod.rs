//! Test calls made on the spot: each party's lines spoken by espeak-ng with its own voice, placed
//! at known times on its own channel, then turned into telephone audio with sox.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const SYNTH_RATE_HZ: u32 = 22_050;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Agent,
    Customer,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub party: Party,
    pub start_secs: f64,
    pub text: &'static str,
}

pub fn agent(start_secs: f64, text: &'static str) -> Line {
    Line { party: Party::Agent, start_secs, text }
}

pub fn customer(start_secs: f64, text: &'static str) -> Line {
    Line { party: Party::Customer, start_secs, text }
}

/// Where each line actually landed (espeak decides the duration).
#[derive(Debug, Clone)]
pub struct PlacedLine {
    pub party: Party,
    pub start_secs: f64,
    pub end_secs: f64,
    pub text: &'static str,
}

pub struct SynthCall {
    pub stereo_path: PathBuf,
    pub lines: Vec<PlacedLine>,
    pub duration_secs: f64,
}

fn voice(party: Party, language: &str) -> String {
    match (language, party) {
        ("ru", Party::Agent) => "ru".into(),
        ("ru", Party::Customer) => "ru+f3".into(),
        // Both parties in the US voice: whisper base hears the British voice's spoken digits
        // badly ("five" as "time", "seven" as "heaven").
        ("en-us", Party::Agent) => "en-us".into(),
        ("en-us", Party::Customer) => "en-us+f3".into(),
        (_, Party::Agent) => "en-us".into(),
        (_, Party::Customer) => "en-gb-x-rp+f3".into(),
    }
}

fn speak(text: &str, voice: &str, path: &Path) -> Vec<f32> {
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "155", "-w"])
        .arg(path)
        .arg(text)
        .status()
        .expect("espeak-ng is installed by the setup step");
    assert!(status.success(), "espeak-ng failed for {text:?}");
    let mut reader = hound::WavReader::open(path).expect("espeak-ng writes WAV");
    assert_eq!(reader.spec().sample_rate, SYNTH_RATE_HZ);
    reader.samples::<i16>().map(|s| s.expect("valid sample") as f32 / 32768.0).collect()
}

/// Synthesises `lines` into `dir/name.wav`: stereo (agent left, customer right), 8 kHz G.711 µ-law,
/// `tail_secs` of silence after the last line. Also writes `name-mono16k.wav` (both mixed, 16 kHz PCM).
pub fn synthesize(dir: &Path, name: &str, language: &str, lines: &[Line], tail_secs: f64) -> SynthCall {
    let mut placed = Vec::new();
    let mut tracks: [Vec<f32>; 2] = [Vec::new(), Vec::new()];
    for (idx, line) in lines.iter().enumerate() {
        let samples = speak(line.text, &voice(line.party, language), &dir.join(format!("{name}-line{idx}.wav")));
        let track = &mut tracks[line.party as usize];
        let start = (line.start_secs * SYNTH_RATE_HZ as f64) as usize;
        if track.len() < start + samples.len() {
            track.resize(start + samples.len(), 0.0);
        }
        for (slot, sample) in track[start..].iter_mut().zip(&samples) {
            *slot += sample;
        }
        // espeak pads its output with a little silence; find where the voice really is.
        let threshold = 0.01;
        let first = samples.iter().position(|s| s.abs() > threshold).unwrap_or(0);
        let last = samples.iter().rposition(|s| s.abs() > threshold).unwrap_or(samples.len());
        placed.push(PlacedLine {
            party: line.party,
            start_secs: line.start_secs + first as f64 / SYNTH_RATE_HZ as f64,
            end_secs: line.start_secs + last as f64 / SYNTH_RATE_HZ as f64,
            text: line.text,
        });
    }
    let n_samples = tracks.iter().map(Vec::len).max().unwrap_or(0) + (tail_secs * SYNTH_RATE_HZ as f64) as usize;
    for track in &mut tracks {
        track.resize(n_samples, 0.0);
    }
    let raw_path = dir.join(format!("{name}-raw.wav"));
    let spec = hound::WavSpec { channels: 2, sample_rate: SYNTH_RATE_HZ, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut writer = hound::WavWriter::create(&raw_path, spec).expect("create wav");
    for idx in 0..n_samples {
        for track in &tracks {
            writer.write_sample((track[idx].clamp(-1.0, 1.0) * 32767.0) as i16).expect("write");
        }
    }
    writer.finalize().expect("finalize wav");
    let stereo_path = dir.join(format!("{name}.wav"));
    sox(&[raw_path.to_str().unwrap_or_default(), "-r", "8000", "-e", "u-law", "-b", "8", stereo_path.to_str().unwrap_or_default()]);
    let mono_path = dir.join(format!("{name}-mono16k.wav"));
    sox(&[raw_path.to_str().unwrap_or_default(), "-r", "16000", "-c", "1", "-b", "16", mono_path.to_str().unwrap_or_default()]);
    SynthCall { stereo_path, lines: placed, duration_secs: n_samples as f64 / SYNTH_RATE_HZ as f64 }
}

pub fn sox(args: &[&str]) {
    let status = Command::new("sox").args(args).status().expect("sox is installed by the setup step");
    assert!(status.success(), "sox {args:?} failed");
}

/// The `callsight` binary under test.
pub fn callsight() -> Command {
    Command::new(env!("CARGO_BIN_EXE_callsight"))
}

// ---------------------------------------------------------------------------------------------
// The service under test: `callsight serve` / `callsight worker` processes on real ports, and a
// small std-only HTTP/1.1 client (no client crate: the root package's dependency features stay
// as the binary has them, so building the tests never rebuilds the binary differently).
// ---------------------------------------------------------------------------------------------

use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Environment that makes a `callsight` process use a database: nothing for SQLite under the
/// data directory, or `CALLSIGHT__SERVER__DATABASE_URL` for PostgreSQL.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite,
    Postgres { url: String },
}

impl Database {
    pub fn name(&self) -> &'static str {
        match self {
            Database::Sqlite => "sqlite",
            Database::Postgres { .. } => "postgres",
        }
    }

    pub fn apply(&self, command: &mut Command) {
        command.env_remove("CALLSIGHT__SERVER__DATABASE_URL");
        if let Database::Postgres { url } = self {
            command.env("CALLSIGHT__SERVER__DATABASE_URL", url);
        }
    }
}

/// `callsight keys create`: the new key (the last line of stdout).
pub fn create_key(data_dir: &Path, database: &Database, tenant: &str, role: &str) -> String {
    let mut command = callsight();
    database.apply(&mut command);
    let output = command
        .args(["keys", "create", "--tenant", tenant, "--role", role, "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("run callsight keys create");
    assert!(
        output.status.success(),
        "callsight keys create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout.lines().last().map(|line| line.trim().to_string()).filter(|key| !key.is_empty()).unwrap_or_else(|| {
        panic!("callsight keys create printed no key; stderr: {}", String::from_utf8_lossy(&output.stderr))
    })
}

/// A running `callsight` process, killed (SIGKILL) and reaped on drop so a failing test never
/// leaves one behind. Its stderr goes to a log file, shown when something goes wrong.
pub struct ServiceProcess {
    child: Child,
    pub log_path: PathBuf,
    /// `127.0.0.1:PORT` for a server; empty for a worker.
    pub addr: String,
}

impl ServiceProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the process's log when a response does not have the expected status.
    #[track_caller]
    pub fn expect_status(&self, what: &str, response: &HttpResponse, status: u16) {
        assert_eq!(
            response.status,
            status,
            "{what}: expected {status}, got {} with body {}\n--- server log ---\n{}",
            response.status,
            response.text(),
            self.log_tail()
        );
    }

    /// The last lines of the process's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// SIGKILL (`kill -9`) and reap; returns how it ended.
    pub fn kill_9(&mut self) -> std::process::ExitStatus {
        self.child.kill().expect("send SIGKILL");
        self.child.wait().expect("reap the killed process")
    }

    pub fn has_exited(&mut self) -> bool {
        self.exit_status().is_some()
    }

    /// How the process ended, if it has (a signal shows as e.g. `signal: 11 (SIGSEGV)`).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends SIGTERM (`kill -TERM PID`): a graceful shutdown, as a service manager does.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// Waits up to `limit` for the process to exit; how it ended, or `None` if it is still running.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A webhook receiver on a real port (`http://127.0.0.1:PORT/hook`): answers 200 to every POST
/// and keeps `(X-Callsight-Event, JSON body)` of each.
pub struct WebhookReceiver {
    pub url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
}

impl WebhookReceiver {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the webhook receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("receiver address"));
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for connection in listener.incoming() {
                let Ok(connection) = connection else { continue };
                let sink = sink.clone();
                std::thread::spawn(move || receive_webhook(connection, &sink));
            }
        });
        WebhookReceiver { url, received }
    }

    /// Every delivery so far: `(event, body)`.
    pub fn received(&self) -> Vec<(String, serde_json::Value)> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits up to `limit` for a delivery that `matches`; every delivery so far when none did.
    pub fn wait_for(
        &self,
        limit: Duration,
        matches: impl Fn(&str, &serde_json::Value) -> bool,
    ) -> Result<(String, serde_json::Value), Vec<(String, serde_json::Value)>> {
        let deadline = Instant::now() + limit;
        loop {
            let received = self.received();
            if let Some(found) = received.iter().find(|(event, body)| matches(event, body)) {
                return Ok(found.clone());
            }
            if Instant::now() > deadline {
                return Err(received);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Reads requests from one connection (keep-alive) and answers each with 200.
fn receive_webhook(connection: TcpStream, sink: &std::sync::Mutex<Vec<(String, serde_json::Value)>>) {
    let _ = connection.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = connection.try_clone() else { return };
    let mut reader = BufReader::new(connection);
    loop {
        let mut event = String::new();
        let mut content_length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => content_length = value.trim().parse().unwrap_or(0),
                    "x-callsight-event" => event = value.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0_u8; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if let (Ok(json), Ok(mut received)) = (serde_json::from_slice(&body), sink.lock()) {
            received.push((event, json));
        }
        if writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err() {
            return;
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The operator's `/metrics` token every test server is started with (tenant keys cannot read
/// metrics): scrape with `get(addr, "/metrics", METRICS_TOKEN)`.
pub const METRICS_TOKEN: &str = "test-operator-metrics-token";

/// The Qdrant server the service tests use instead of the embedded index when
/// `CALLSIGHT_TEST_QDRANT_URL` is set (its gRPC URL, e.g. `http://127.0.0.1:6334`).
pub fn test_qdrant_url() -> Option<String> {
    std::env::var("CALLSIGHT_TEST_QDRANT_URL").ok().map(|url| url.trim().to_string()).filter(|url| !url.is_empty())
}

/// With a test Qdrant server: the environment that points a process at it, with collections of
/// its own per data directory (every process of one test shares them, no two tests do).
pub fn server_voiceprints_env(data_dir: &Path) -> Vec<(&'static str, String)> {
    let Some(url) = test_qdrant_url() else { return Vec::new() };
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    let mut env = vec![
        ("CALLSIGHT__VOICEPRINTS__BACKEND", "server".to_string()),
        ("CALLSIGHT__VOICEPRINTS__URL", url),
        ("CALLSIGHT__VOICEPRINTS__COLLECTION_PREFIX", format!("cs_test_{:016x}_", hasher.finish())),
    ];
    if std::env::var("CALLSIGHT_TEST_QDRANT_API_KEY").is_ok() {
        env.push(("CALLSIGHT__VOICEPRINTS__API_KEY_ENV", "CALLSIGHT_TEST_QDRANT_API_KEY".to_string()));
    }
    env
}

fn service_command(subcommand: &str, data_dir: &Path, database: &Database, env: &[(&str, String)]) -> (Command, PathBuf) {
    let mut command = callsight();
    database.apply(&mut command);
    command.arg(subcommand).arg("--data-dir").arg(data_dir);
    command.env("CALLSIGHT__SERVER__METRICS_TOKEN", METRICS_TOKEN);
    // The test's own voiceprint settings (below) win over these.
    for (name, value) in server_voiceprints_env(data_dir) {
        command.env(name, value);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let log_path = data_dir.join(format!(
        "{subcommand}-{}.log",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    ));
    let log = std::fs::File::create(&log_path).expect("create the process log");
    command.stdin(Stdio::null()).stderr(log);
    (command, log_path)
}

/// Starts `callsight serve --listen 127.0.0.1:0 --workers N` and waits (up to 3 minutes: the
/// models load first) for its `listening on http://ADDR` line.
pub fn start_server(data_dir: &Path, database: &Database, workers: usize, env: &[(&str, String)]) -> ServiceProcess {
    std::fs::create_dir_all(data_dir).expect("create the data directory");
    let (mut command, log_path) = service_command("serve", data_dir, database, env);
    command.args(["--listen", "127.0.0.1:0", "--workers", &workers.to_string()]).stdout(Stdio::piped());
    let mut child = command.spawn().expect("spawn callsight serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.trim().strip_prefix("listening on http://") {
                let _ = sender.send(addr.to_string());
            }
        }
    });
    let mut process = ServiceProcess { child, log_path, addr: String::new() };
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        match receiver.recv_timeout(Duration::from_millis(200)) {
            Ok(addr) => {
                process.addr = addr;
                return process;
            }
            Err(_) if process.has_exited() => {
                panic!("callsight serve exited before listening; log:\n{}", process.log_tail())
            }
            Err(_) if Instant::now() > deadline => {
                panic!("callsight serve did not print `listening on` within 3 minutes; log:\n{}", process.log_tail())
            }
            Err(_) => {}
        }
    }
}

/// Starts a standalone `callsight worker --concurrency N --without-biometrics` on the same data
/// directory/database (the server holds the embedded voiceprint index, which serves one process).
pub fn start_worker(data_dir: &Path, database: &Database, concurrency: usize, env: &[(&str, String)]) -> ServiceProcess {
    start_worker_with(data_dir, database, concurrency, WorkerBiometrics::Off, env)
}

/// Whether a standalone worker screens and enrols voices (it needs its own voiceprint index:
/// a Qdrant server, since the embedded one serves one process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerBiometrics {
    On,
    Off,
}

/// Starts a standalone `callsight worker --concurrency N`, with `--without-biometrics` when
/// `biometrics` is off.
pub fn start_worker_with(
    data_dir: &Path,
    database: &Database,
    concurrency: usize,
    biometrics: WorkerBiometrics,
    env: &[(&str, String)],
) -> ServiceProcess {
    let (mut command, log_path) = service_command("worker", data_dir, database, env);
    command.args(["--concurrency", &concurrency.to_string()]).stdout(Stdio::null());
    if biometrics == WorkerBiometrics::Off {
        command.arg("--without-biometrics");
    }
    let child = command.spawn().expect("spawn callsight worker");
    ServiceProcess { child, log_path, addr: String::new() }
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response ({}) is not JSON: {e}; body: {}", self.status, self.text()))
    }

    /// The `error.message` of the JSON error envelope.
    pub fn error_message(&self) -> String {
        self.json()["error"]["message"].as_str().unwrap_or_default().to_string()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`). The body is written on its
/// own thread while the response is read, so a server that answers early (413) and stops
/// reading is seen answering, not as a broken pipe.
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(120))).expect("set read timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap_or_else(|e| panic!("send {method} {path}: {e}"));
    let mut writer = stream.try_clone().expect("clone the connection");
    let body = body.to_vec();
    let sender = std::thread::spawn(move || {
        // Ignored: a server may answer and close before reading the whole body (413).
        let _ = writer.write_all(&body);
    });
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    let _ = sender.join();
    if let Err(error) = read
        && raw.is_empty()
    {
        panic!("{method} {path}: no response: {error}");
    }
    parse_response(&raw).unwrap_or_else(|| panic!("{method} {path}: malformed response: {:?}", String::from_utf8_lossy(&raw)))
}

fn parse_response(raw: &[u8]) -> Option<HttpResponse> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[head_end + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Some(HttpResponse { status, headers, body })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// `GET path` with a bearer key.
pub fn get(addr: &str, path: &str, key: &str) -> HttpResponse {
    http(addr, "GET", path, &[("Authorization", &format!("Bearer {key}"))], &[])
}

/// One part of a `multipart/form-data` body: name, file name, content type, bytes.
pub type FormPart<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// A `multipart/form-data` body from its parts; returns the body and its content type.
pub fn multipart(parts: &[FormPart<'_>]) -> (Vec<u8>, String) {
    let boundary = "callsight-test-boundary-7c1f2a";
    let mut body = Vec::new();
    for (name, file_name, content_type, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
        if let Some(file_name) = file_name {
            body.extend_from_slice(format!("; filename=\"{file_name}\"").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        if let Some(content_type) = content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={boundary}"))
}

/// `POST /v1/calls` with an `audio` part (audio/wav) and optionally a `metadata` part.
pub fn upload_call(addr: &str, key: &str, audio: &[u8], metadata: Option<&str>) -> HttpResponse {
    let mut parts: Vec<FormPart<'_>> =
        vec![("audio", Some("call.wav"), Some("audio/wav"), audio)];
    if let Some(metadata) = metadata {
        parts.push(("metadata", None, Some("application/json"), metadata.as_bytes()));
    }
    let (body, content_type) = multipart(&parts);
    http(addr, "POST", "/v1/calls", &[("Authorization", &format!("Bearer {key}")), ("Content-Type", &content_type)], &body)
}

/// Polls `GET /v1/calls/{id}` until `done(status)` or `limit` passes; returns the last view.
pub fn wait_for_call(addr: &str, key: &str, call_id: &str, limit: Duration, done: impl Fn(&str) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let response = get(addr, &format!("/v1/calls/{call_id}"), key);
        if response.status == 429 && Instant::now() < deadline {
            // The key's rate limit (shared by every API process): wait as a client would.
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        assert_eq!(response.status, 200, "GET /v1/calls/{call_id}: {}", response.text());
        let view = response.json();
        let status = view["status"].as_str().unwrap_or_default().to_string();
        if done(&status) || Instant::now() > deadline {
            return view;
        }
        // Under the default 600 requests per minute of one key, so a long wait never uses it up.
        std::thread::sleep(Duration::from_millis(150));
    }
}
