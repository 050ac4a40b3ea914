//! Property-based API testing with schemathesis (installed by `./setup.sh` into
//! `~/.cache/callsight/venv`) against a running `callsight serve`: no request may get a 5xx, and
//! every documented response must match the OpenAPI schema served at `/v1/openapi.json`.
//! `CALLSIGHT_SCHEMATHESIS_{SEED,MAX_EXAMPLES,CHECKS}` widen a run by hand (defaults: 1, 20, the two checks).
//!
//! The server holds one analysed call and one script first, and schemathesis is told their ids,
//! so the report, transcript, audio, review and script operations answer with real data rather
//! than only `404`s. The worker that analysed the call is stopped before the run: re-analyses
//! and re-scores schemathesis asks for are queued, not run, so the run costs no inference.

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Database, agent, create_key, customer, http, start_server, start_worker, synthesize, upload_call, wait_for_call,
};

/// The run is bounded; past this the test fails with what schemathesis printed so far.
const SCHEMATHESIS_LIMIT: Duration = Duration::from_secs(480);

fn schemathesis_bin() -> PathBuf {
    if let Ok(path) = std::env::var("CALLSIGHT_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let home = std::env::var("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/callsight/venv/bin/schemathesis")
}

#[test]
fn schemathesis_finds_no_server_errors_and_no_schema_mismatches() {
    let schemathesis = schemathesis_bin();
    assert!(
        schemathesis.is_file(),
        "schemathesis is not installed at {}: run ./setup.sh (it creates ~/.cache/callsight/venv)",
        schemathesis.display()
    );

    let dir = tempfile::Builder::new().prefix("callsight-schemathesis-").tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).expect("create the data directory");
    let database = Database::Sqlite;
    let admin = create_key(&data_dir, &database, "tenant-a", "admin");
    let env = vec![
        ("CALLSIGHT__ANALYSIS__MODEL", "tiny.en".to_string()),
        // Thousands of requests from one key: the rate limiter is tested elsewhere.
        ("CALLSIGHT__SERVER__RATE_LIMIT_PER_MINUTE", "0".to_string()),
    ];
    let mut server = start_server(&data_dir, &database, 0, &env);
    let addr = server.addr.clone();
    let auth = format!("Bearer {admin}");

    // Real data to point schemathesis at: a script and an analysed call.
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let script = std::fs::read(format!("{root}/examples/card-services.json")).expect("read the example script");
    let created =
        http(&addr, "POST", "/v1/scripts", &[("Authorization", &auth), ("Content-Type", "application/json")], &script);
    assert_eq!(created.status, 201, "create the script: {}", created.text());
    let call = synthesize(
        dir.path(),
        "schemathesis-call",
        "en",
        &[
            agent(0.5, "Thank you for calling card services, my name is Sam."),
            customer(4.5, "Hi, I was charged twice for my order."),
            agent(8.0, "I have refunded the second charge for you."),
        ],
        1.0,
    );
    let audio = std::fs::read(&call.stereo_path).expect("read the synthesised call");
    let accepted = upload_call(
        &addr,
        &admin,
        &audio,
        Some(r#"{"agent_id": "agent-7", "channels": "agent,customer", "script_id": "card-services"}"#),
    );
    assert_eq!(accepted.status, 202, "upload: {}", accepted.text());
    let call_id = accepted.json()["call_id"].as_str().expect("call_id").to_string();
    {
        let worker = start_worker(&data_dir, &database, 1, &env);
        let view = wait_for_call(&addr, &admin, &call_id, Duration::from_secs(180), |s| s == "analyzed" || s == "failed");
        assert_eq!(view["status"], "analyzed", "{view}\n--- worker log ---\n{}", worker.log_tail());
    } // The worker is killed here: nothing schemathesis queues is analysed.

    let config_path = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config_path,
        format!(
            "[[operations]]\ninclude-path-regex = '^/v1/calls/\\{{id\\}}'\nparameters = {{ \"path.id\" = \"{call_id}\" }}\n\n\
             [[operations]]\ninclude-path-regex = '^/v1/scripts/\\{{id\\}}'\nparameters = {{ \"path.id\" = \"card-services\" }}\n"
        ),
    )
    .expect("write the schemathesis config");
    let seed = std::env::var("CALLSIGHT_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".into());
    let max_examples = std::env::var("CALLSIGHT_SCHEMATHESIS_MAX_EXAMPLES").unwrap_or_else(|_| "20".into());
    // Wider sweeps (e.g. `all`) can be asked for; the suite holds the API to these two.
    let checks = std::env::var("CALLSIGHT_SCHEMATHESIS_CHECKS")
        .unwrap_or_else(|_| "not_a_server_error,response_schema_conformance".into());
    let output_path = dir.path().join("schemathesis.out");
    let output_file = std::fs::File::create(&output_path).expect("create the schemathesis output file");
    let mut command = Command::new(&schemathesis);
    command
        .arg("--config-file")
        .arg(&config_path)
        .arg("run")
        .arg(format!("http://{addr}/v1/openapi.json"))
        .args(["--header", &format!("Authorization: {auth}")])
        .args(["--checks", &checks])
        .args(["--max-examples", &max_examples, "--seed", &seed])
        .args(["--continue-on-failure", "--workers", "1", "--no-color"])
        // Its cache (`.schemathesis/`, replayed failures) stays in the temporary directory, out of
        // the checkout and out of the next run.
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(output_file.try_clone().expect("clone the output file"))
        .stderr(output_file);
    let started = Instant::now();
    let mut child = command.spawn().unwrap_or_else(|e| panic!("run {}: {e}", schemathesis.display()));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for schemathesis") {
            break Some(status);
        }
        if started.elapsed() > SCHEMATHESIS_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read_to_string(&output_path).unwrap_or_default();
    let command_line = format!(
        "{} --config-file {} run http://{addr}/v1/openapi.json --header 'Authorization: Bearer …' \
         --checks {checks} --max-examples {max_examples} --seed {seed}",
        schemathesis.display(),
        config_path.display()
    );
    match status {
        Some(status) if status.success() => {
            eprintln!("{command_line}\nfinished in {:.0} s\n{output}", started.elapsed().as_secs_f64());
        }
        Some(status) => panic!(
            "schemathesis failed ({status}): {command_line}\n{output}\n--- server ({}) log ---\n{}",
            match server.exit_status() {
                Some(exit) => format!("exited: {exit}"),
                None => "still running".to_string(),
            },
            server.log_tail()
        ),
        None => panic!("schemathesis ran past {} s: {command_line}\n{output}", SCHEMATHESIS_LIMIT.as_secs()),
    }
    // The server survived all of it.
    let health = http(&addr, "GET", "/readyz", &[], &[]);
    assert_eq!(health.status, 200, "after schemathesis, /readyz: {}", health.text());
}
