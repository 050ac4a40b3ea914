//! The web pages in a real headless browser: Debian's `chromium` driven through `chromedriver`
//! (WebDriver, from Rust with fantoccini) against the real `callsight serve` binary, SQLite, the
//! real models and a synthesised call whose agent breaks a script rule.
//!
//! One server and one analysis carry every assertion: a QA reviewer signs in, finds the flagged
//! call in the queue, jumps to a rule's evidence (the audio element's position moves there),
//! saves a verdict (read back through the API), edits a script (the error is shown at its line),
//! re-scores; a manager's dashboard figures match `/v1/aggregates/*`; an `ivr` key gets no page;
//! another tenant sees none of these calls; a cookie request without the CSRF token is refused.
//! The pages are photographed into `docs/screenshots/`.
//!
//! Skips (with a message) only when chromium or chromedriver is not installed; `setup.sh`
//! installs both.

use crate::common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Database, agent, create_key, customer, get, http, multipart, start_server, synthesize, upload_call, wait_for_call,
};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const ANALYSIS_LIMIT: Duration = Duration::from_secs(240);
const PAGE_LIMIT: Duration = Duration::from_secs(30);

const SCRIPT: &str = r#"{
  "id": "web-test",
  "name": "Web test script",
  "rules": [
    {"id": "greeting", "kind": "required", "speaker": "agent", "severity": "medium",
     "phrases": ["thank you for calling"]},
    {"id": "no-guarantees", "kind": "forbidden", "speaker": "agent", "severity": "high",
     "phrases": ["i guarantee"]},
    {"id": "identity-check", "kind": "required", "speaker": "agent", "severity": "high",
     "phrases": ["please confirm your date of birth"]}
  ]
}"#;

fn chromium_path() -> PathBuf {
    std::env::var_os("CALLSIGHT_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn chromedriver_path() -> PathBuf {
    std::env::var_os("CALLSIGHT_CHROMEDRIVER").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// chromedriver on its own port, killed on drop.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_chromedriver(log_dir: &Path) -> Chromedriver {
    let port = free_port();
    let log = std::fs::File::create(log_dir.join("chromedriver.log")).expect("create the chromedriver log");
    let child = Command::new(chromedriver_path())
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log)
        .spawn()
        .expect("start chromedriver");
    let driver = Chromedriver { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let status = http(&format!("127.0.0.1:{port}"), "GET", "/status", &[], &[]);
            if status.status == 200 && status.json()["value"]["ready"] == json!(true) {
                return driver;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("chromedriver did not become ready on port {port}");
}

async fn start_browser(driver: &Chromedriver, profile_dir: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium_path(),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1280,800",
                format!("--user-data-dir={}", profile_dir.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("open a chromium session through chromedriver")
}

/// Where screenshots go (committed, linked from the README).
fn screenshot_dir() -> PathBuf {
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    PathBuf::from(root).join("docs").join("screenshots")
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("take a screenshot");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("create docs/screenshots");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write the screenshot");
}

async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    match client.wait().at_most(PAGE_LIMIT).for_element(Locator::Css(css)).await {
        Ok(element) => element,
        Err(error) => {
            let url = client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let text = client.find(Locator::Css("body")).await.ok();
            let body = match text {
                Some(body) => body.text().await.unwrap_or_default(),
                None => String::new(),
            };
            panic!("{css} did not appear on {url}: {error}\n--- page text ---\n{body}");
        }
    }
}

async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("run {script:?} in the page: {e}"))
}

/// Signs in on the sign-in page with `key`; returns the page's path afterwards.
async fn sign_in(client: &Client, base: &str, key: &str) -> String {
    client.delete_all_cookies().await.ok();
    client.goto(&format!("{base}/")).await.expect("open the sign-in page");
    let input = wait_for(client, "#api_key").await;
    input.send_keys(key).await.expect("type the key");
    client.find(Locator::Css("#sign-in-submit")).await.expect("sign-in button").click().await.expect("click sign in");
    // Either the app (nav appears) or the sign-in page again with an error.
    let deadline = Instant::now() + PAGE_LIMIT;
    loop {
        let url = client.current_url().await.expect("current url");
        // `/app/` is the shell the sign-in redirects to; its script then routes to the page.
        if url.path().starts_with("/app/") && url.path() != "/app/" && client.find(Locator::Css("#nav a")).await.is_ok() {
            return url.path().to_string();
        }
        if client.find(Locator::Css("#sign-in-error")).await.is_ok() {
            // The error belongs to the page the form posted to; the URL read above may still
            // have been the form's own page if the navigation finished in between.
            return client.current_url().await.expect("current url").path().to_string();
        }
        assert!(Instant::now() < deadline, "sign-in did not finish; at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn attr_number(value: Option<String>, what: &str) -> f64 {
    value.and_then(|v| v.parse::<f64>().ok()).unwrap_or_else(|| panic!("{what} has no numeric value"))
}

/// The session cookie value from a `Set-Cookie` header.
fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().and_then(|pair| pair.split_once('=')).map(|(_, v)| v.to_string()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qa_and_manager_pages_in_a_real_browser() {
    if !chromium_path().exists() || !chromedriver_path().exists() {
        eprintln!(
            "SKIPPED tests/web.rs: chromium ({}) or chromedriver ({}) is not installed; run ./setup.sh \
             (apt packages chromium chromium-driver) or set CALLSIGHT_CHROMIUM / CALLSIGHT_CHROMEDRIVER",
            chromium_path().display(),
            chromedriver_path().display()
        );
        return;
    }
    let dir = tempfile::Builder::new().prefix("callsight-web-").tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let database = Database::Sqlite;
    std::fs::create_dir_all(&data_dir).expect("create data dir");
    let admin = create_key(&data_dir, &database, "acme", "admin");
    let qa = create_key(&data_dir, &database, "acme", "qa");
    let manager = create_key(&data_dir, &database, "acme", "manager");
    let ivr = create_key(&data_dir, &database, "acme", "ivr");
    let other_qa = create_key(&data_dir, &database, "globex", "qa");
    let server = start_server(&data_dir, &database, 1, &[("CALLSIGHT__ANALYSIS__MODEL", "tiny.en".into())]);
    let addr = server.addr.clone();
    let base = format!("http://{addr}");

    // A call in which the agent promises an outcome ("I guarantee"): the forbidden rule fails
    // with the words and their time as evidence.
    let synth_dir = dir.path().join("synth");
    std::fs::create_dir_all(&synth_dir).expect("create synth dir");
    let call = synthesize(
        &synth_dir,
        "web-call",
        "en",
        &[
            agent(0.5, "Thank you for calling card services, my name is Sam."),
            customer(4.5, "Hi, I was charged twice for my order and I would like a refund."),
            agent(9.5, "I guarantee you will get your money back today."),
            customer(14.0, "Thank you, that is great."),
        ],
        1.5,
    );
    let audio = std::fs::read(&call.stereo_path).expect("read the synthesised call");
    let created = http(
        &addr,
        "POST",
        "/v1/scripts",
        &[("Authorization", &format!("Bearer {admin}")), ("Content-Type", "application/json")],
        SCRIPT.as_bytes(),
    );
    server.expect_status("create the script", &created, 201);
    let metadata = r#"{"external_call_id": "web-call-1", "agent_id": "agent-7", "team": "blue",
        "script_id": "web-test", "channels": "agent,customer", "customer_id": "cust-42"}"#;
    let accepted = upload_call(&addr, &qa, &audio, Some(metadata));
    server.expect_status("upload", &accepted, 202);
    let call_id = accepted.json()["call_id"].as_str().expect("call id").to_string();
    // The IVR tried to verify the caller before the call (the customer has no voiceprint yet):
    // the decision is audited, and the reviewer sees it on the call page.
    let (probe, probe_type) = multipart(&[("audio", Some("probe.wav"), Some("audio/wav"), &audio)]);
    let verified = http(
        &addr,
        "POST",
        "/v1/speakers/cust-42/verify",
        &[("Authorization", &format!("Bearer {ivr}")), ("Content-Type", &probe_type)],
        &probe,
    );
    server.expect_status("IVR verification of an unenrolled customer", &verified, 404);

    // The pages need no browser for these: cookie attributes, CSRF, roles.
    let refused = http(&addr, "POST", "/web/session", &[("Content-Type", "application/x-www-form-urlencoded")], format!("api_key={ivr}").as_bytes());
    server.expect_status("ivr sign-in", &refused, 403);
    assert!(refused.text().contains("no web pages"), "ivr sign-in should say why: {}", refused.text());
    assert!(refused.header("set-cookie").is_none(), "an ivr key must get no session cookie");
    let signed_in = http(&addr, "POST", "/web/session", &[("Content-Type", "application/x-www-form-urlencoded")], format!("api_key={qa}").as_bytes());
    server.expect_status("qa sign-in", &signed_in, 303);
    let set_cookie = signed_in.header("set-cookie").expect("a session cookie").to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "session cookie lacks {attribute}: {set_cookie}");
    }
    let cookie = format!("callsight_session={}", cookie_value(&set_cookie));
    let me = http(&addr, "GET", "/web/me", &[("Cookie", &cookie)], &[]);
    server.expect_status("GET /web/me", &me, 200);
    assert_eq!(me.json()["role"], "qa");
    assert_eq!(me.json()["tenant"], "acme");
    let csrf = me.json()["csrf_token"].as_str().expect("csrf token").to_string();
    let cross_site = http(
        &addr,
        "POST",
        "/web/session",
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Origin", "https://evil.example")],
        format!("api_key={qa}").as_bytes(),
    );
    server.expect_status("cross-site sign-in", &cross_site, 403);

    let view = wait_for_call(&addr, &qa, &call_id, ANALYSIS_LIMIT, |s| s == "analyzed" || s == "failed");
    assert_eq!(view["status"], "analyzed", "analysis failed: {view}\n{}", server.log_tail());
    assert_eq!(view["summary"]["flagged"], true, "the call should be flagged: {view}");
    let report = get(&addr, &format!("/v1/calls/{call_id}/report"), &qa).json();
    let rules = report["compliance"]["rules"].as_array().expect("rule outcomes").clone();
    let guarantee = rules.iter().find(|r| r["id"] == "no-guarantees").expect("no-guarantees outcome");
    assert_eq!(guarantee["passed"], false, "the agent said \"I guarantee\": {guarantee}\ntranscript: {}", report["turns"]);
    let evidence_start = guarantee["evidence"][0]["start_secs"].as_f64().expect("evidence start");

    // CSRF: the same cookie, an unsafe method, no token → refused; with the token → accepted.
    let review_body = br#"{"verdicts": {"greeting": "agree"}}"#;
    let no_token = http(
        &addr,
        "POST",
        &format!("/v1/calls/{call_id}/reviews"),
        &[("Cookie", &cookie), ("Content-Type", "application/json")],
        review_body,
    );
    server.expect_status("cookie POST without CSRF token", &no_token, 403);
    assert_eq!(no_token.json()["error"]["code"], "csrf");
    let wrong_token = http(
        &addr,
        "POST",
        &format!("/v1/calls/{call_id}/reviews"),
        &[("Cookie", &cookie), ("Content-Type", "application/json"), ("X-CSRF-Token", "0000")],
        review_body,
    );
    server.expect_status("cookie POST with a wrong CSRF token", &wrong_token, 403);
    let reviews = get(&addr, &format!("/v1/calls/{call_id}/reviews"), &qa).json();
    assert_eq!(reviews["reviews"].as_array().map(Vec::len), Some(0), "refused requests must store nothing");
    let cookie_get = http(&addr, "GET", &format!("/v1/calls/{call_id}"), &[("Cookie", &cookie)], &[]);
    server.expect_status("cookie GET (safe, no token needed)", &cookie_get, 200);
    let cookie_aggregates = http(&addr, "GET", "/v1/aggregates/compliance", &[("Cookie", &cookie)], &[]);
    server.expect_status("a qa cookie has the qa role (no aggregates)", &cookie_aggregates, 403);
    let _ = csrf;

    // ---------------------------------------------------------------- the browser, as qa
    let driver = start_chromedriver(dir.path());
    let profile = dir.path().join("chromium-profile");
    let client = start_browser(&driver, &profile).await;
    client.set_window_size(1280, 800).await.ok();

    client.goto(&format!("{base}/")).await.expect("open /");
    wait_for(&client, "#api_key").await;
    screenshot(&client, "sign-in").await;

    let landed = sign_in(&client, &base, &qa).await;
    assert_eq!(landed, "/app/queue", "a reviewer lands on the queue");
    let row = wait_for(&client, &format!("#queue-table tr[data-call-id=\"{call_id}\"]")).await;
    assert!(row.text().await.unwrap_or_default().contains("web-call-1"), "the queue row names the call");
    screenshot(&client, "queue").await;

    // Filters live in the URL: a shared link with another rule shows nothing of this call.
    client.goto(&format!("{base}/app/queue?rule_failed=greeting&flagged=")).await.expect("open a filtered queue");
    let count = wait_for(&client, "#queue-count").await;
    let greeting_failed = rules.iter().any(|r| r["id"] == "greeting" && r["passed"] == false);
    assert_eq!(count.attr("data-total").await.ok().flatten().as_deref(), Some(if greeting_failed { "1" } else { "0" }));
    client.goto(&format!("{base}/app/queue?rule_failed=no-guarantees&agent=agent-7")).await.expect("open a filtered queue");
    wait_for(&client, &format!("#queue-table tr[data-call-id=\"{call_id}\"]")).await;

    // Open the call from the queue, jump to the evidence of the failed rule.
    client.find(Locator::Css(&format!("tr[data-call-id=\"{call_id}\"] a.call-link"))).await.expect("call link").click().await.expect("open the call");
    let evidence = wait_for(&client, "#evidence-no-guarantees-0").await;
    wait_for(&client, "#waveform svg").await;
    let shown_start = attr_number(evidence.attr("data-start").await.ok().flatten(), "evidence button");
    assert!((shown_start - evidence_start).abs() < 1e-6, "the page shows the report's evidence time");
    // The recording must really load in the browser (metadata, duration) before seeking.
    let deadline = Instant::now() + PAGE_LIMIT;
    loop {
        let ready = js(&client, "const p = document.getElementById('player'); return [p.readyState, p.duration, p.error && p.error.message];").await;
        if ready[0].as_f64().unwrap_or(0.0) >= 1.0 {
            let duration = ready[1].as_f64().unwrap_or(0.0);
            assert!((duration - call.duration_secs).abs() < 0.5, "audio duration {duration} vs call {}", call.duration_secs);
            break;
        }
        assert!(Instant::now() < deadline, "the audio element never loaded: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    js(&client, "document.getElementById('player').muted = true; return null;").await;
    let before = js(&client, "return document.getElementById('player').currentTime;").await.as_f64().unwrap_or(-1.0);
    assert!(before < 1.0, "the player starts at the beginning (at {before})");
    evidence.click().await.expect("click the evidence");
    let position = js(&client, "return document.getElementById('player').currentTime;").await.as_f64().expect("currentTime");
    assert!(
        position >= evidence_start - 0.05 && position < evidence_start + 2.0,
        "after clicking the evidence at {evidence_start:.2} s the audio is at {position:.2} s"
    );
    // A word of the transcript seeks too.
    let first_word = wait_for(&client, "#transcript button.word").await;
    let word_start = attr_number(first_word.attr("data-start").await.ok().flatten(), "first word");
    first_word.click().await.expect("click a word");
    let position = js(&client, "return document.getElementById('player').currentTime;").await.as_f64().expect("currentTime");
    assert!(position >= word_start - 0.05 && position < word_start + 2.0, "word at {word_start:.2} s, audio at {position:.2} s");
    js(&client, "document.getElementById('player').pause(); return null;").await;
    // The IVR's verification attempt for this call's customer, though qa may not read the audit trail.
    let verification = wait_for(&client, "#verification li[data-action=\"verify\"]").await;
    assert_eq!(verification.attr("data-outcome").await.ok().flatten().as_deref(), Some("error_unknown_speaker"));
    // Failed-rule evidence is highlighted in the transcript.
    assert!(client.find(Locator::Css("#transcript .evidence-fail")).await.is_ok(), "evidence words are highlighted");

    // Record a verdict and a note; read them back through the API.
    client.find(Locator::Css("#verdict-no-guarantees-agree")).await.expect("verdict radio").click().await.expect("agree");
    client.find(Locator::Css("#verdict-identity-check-disagree")).await.expect("verdict radio").click().await.expect("disagree");
    client.find(Locator::Css("#review-note")).await.expect("note").send_keys("Agent promised the refund outcome.").await.expect("type note");
    client.find(Locator::Css("#review-save")).await.expect("save").click().await.expect("save the review");
    wait_for(&client, "#review-history .past-review").await;
    screenshot(&client, "call-verdict").await;
    js(&client, "window.scrollTo(0, 0); return null;").await;
    screenshot(&client, "call-review").await;
    let reviews = get(&addr, &format!("/v1/calls/{call_id}/reviews"), &qa).json();
    let stored = &reviews["reviews"][0];
    assert_eq!(stored["verdicts"]["no-guarantees"], "agree", "{reviews}");
    assert_eq!(stored["verdicts"]["identity-check"], "disagree", "{reviews}");
    assert_eq!(stored["note"], "Agent promised the refund outcome.");

    // The same page at tablet width.
    client.set_window_size(820, 1180).await.ok();
    client.goto(&format!("{base}/app/calls/{call_id}")).await.expect("reload the call");
    wait_for(&client, "#review-history .past-review").await;
    wait_for(&client, "#waveform svg").await;
    screenshot(&client, "call-review-tablet").await;
    client.set_window_size(1280, 800).await.ok();

    // Search: hits in context, linked to the moment in the call.
    client.goto(&format!("{base}/app/search?q=guarantee")).await.expect("open search");
    let moment = wait_for(&client, "#search-hits a.moment-link").await;
    let href = moment.attr("href").await.ok().flatten().unwrap_or_default();
    assert!(href.starts_with(&format!("/app/calls/{call_id}?t=")), "the hit links to the moment: {href}");
    assert!(client.find(Locator::Css("#search-hits mark")).await.is_ok(), "the match is marked in the excerpt");
    screenshot(&client, "search").await;

    // Scripts: an invalid edit is shown at its line; a valid one becomes version 2; re-score.
    client.goto(&format!("{base}/app/scripts/web-test")).await.expect("open the script");
    wait_for(&client, "#script-editor").await;
    let original = js(&client, "return document.getElementById('script-editor').value;").await.as_str().unwrap_or_default().to_string();
    js(
        &client,
        r#"const e = document.getElementById('script-editor'); e.value = e.value.replace('"forbidden"', '"forbiden"');
           e.dispatchEvent(new Event('input')); return null;"#,
    )
    .await;
    client.find(Locator::Css("#script-save")).await.expect("save").click().await.expect("save the script");
    let error = wait_for(&client, "#script-error").await;
    let error_line = attr_number(error.attr("data-line").await.ok().flatten(), "script error") as usize;
    let edited: Vec<String> = original.replace("\"forbidden\"", "\"forbiden\"").lines().map(str::to_string).collect();
    let line_text = edited.get(error_line.saturating_sub(1)).cloned().unwrap_or_default();
    assert!(
        line_text.contains("forbiden") || line_text.contains("no-guarantees"),
        "the error should point at the broken rule, got line {error_line}: {line_text:?}"
    );
    assert!(client.find(Locator::Css("#script-gutter .error-line")).await.is_ok(), "the line is marked in the gutter");
    screenshot(&client, "script-error").await;
    js(&client, "const e = document.getElementById('script-editor'); e.value = e.value.replace('\"forbiden\"', '\"forbidden\"'); e.dispatchEvent(new Event('input')); return null;").await;
    client.find(Locator::Css("#script-save")).await.expect("save").click().await.expect("save the script");
    wait_for(&client, "#script-status .msg.info").await;
    let latest = get(&addr, "/v1/scripts/web-test", &qa).json();
    assert_eq!(latest["version"], 2, "saving makes version 2: {latest}");
    client.find(Locator::Css("#script-rescore")).await.expect("rescore").click().await.expect("re-score");
    let deadline = Instant::now() + ANALYSIS_LIMIT;
    loop {
        let status = client.find(Locator::Css("#rescore-status")).await;
        let text = match status {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains("Re-scored 1 of 1") {
            break;
        }
        assert!(Instant::now() < deadline, "re-scoring did not finish: {text:?}\n{}", server.log_tail());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    screenshot(&client, "scripts").await;

    // Sign out: the session is gone on the server, not only in the browser.
    let browser_session = client.get_named_cookie("callsight_session").await.expect("the browser's session cookie");
    let browser_session = format!("callsight_session={}", browser_session.value());
    client.find(Locator::Css("#sign-out")).await.expect("sign out").click().await.expect("sign out");
    wait_for(&client, "#api_key").await;
    let browser_cookie = client.get_named_cookie("callsight_session").await.ok().map(|c| c.value().to_string());
    assert!(browser_cookie.is_none_or(|v| v.is_empty()), "sign-out clears the cookie");
    let after = http(&addr, "GET", "/v1/calls", &[("Cookie", &browser_session)], &[]);
    assert_eq!(after.status, 401, "the signed-out session must not authenticate: {}", after.text());
    let other = http(&addr, "GET", "/v1/calls", &[("Cookie", &cookie)], &[]);
    assert_eq!(other.status, 200, "another session of the same key is still valid: {}", other.text());

    // ---------------------------------------------------------------- manager
    let landed = sign_in(&client, &base, &manager).await;
    assert_eq!(landed, "/app/dashboard", "a manager lands on the dashboard");
    let kpi_calls = wait_for(&client, "#kpi-calls").await;
    wait_for(&client, "#by-team").await;
    let by_day = get(&addr, "/v1/aggregates/compliance?group_by=day", &manager).json();
    let api_calls: i64 = by_day["buckets"].as_array().into_iter().flatten().map(|b| b["calls"].as_i64().unwrap_or(0)).sum();
    let checks: i64 = by_day["buckets"].as_array().into_iter().flatten().map(|b| b["rule_checks"].as_i64().unwrap_or(0)).sum();
    let failures: i64 = by_day["buckets"].as_array().into_iter().flatten().map(|b| b["rule_failures"].as_i64().unwrap_or(0)).sum();
    assert_eq!(attr_number(kpi_calls.attr("data-value").await.ok().flatten(), "#kpi-calls") as i64, api_calls);
    let page_rate = attr_number(client.find(Locator::Css("#kpi-compliance")).await.expect("kpi").attr("data-value").await.ok().flatten(), "#kpi-compliance");
    let api_rate = (checks - failures) as f64 / checks as f64;
    assert!((page_rate - api_rate).abs() < 1e-9, "dashboard compliance {page_rate} vs API {api_rate}");
    let by_team = get(&addr, "/v1/aggregates/compliance?group_by=team", &manager).json();
    let blue = by_team["buckets"].as_array().into_iter().flatten().find(|b| b["key"] == "blue").expect("team blue bucket");
    let blue_row = wait_for(&client, "#by-team tr[data-key=\"blue\"]").await;
    assert_eq!(blue_row.attr("data-calls").await.ok().flatten(), Some(blue["calls"].to_string()));
    let handling = get(&addr, "/v1/aggregates/handling?group_by=team", &manager).json();
    let blue_handling = handling["buckets"].as_array().into_iter().flatten().find(|b| b["key"] == "blue").expect("handling of team blue");
    let mean_duration = blue_handling["mean_duration_secs"].as_f64().expect("mean duration");
    assert!((mean_duration - call.duration_secs).abs() < 0.5, "handle time {mean_duration} vs call {}", call.duration_secs);
    let top_rule = wait_for(&client, "#top-rules tr[data-rule=\"no-guarantees\"]").await;
    assert_eq!(top_rule.attr("data-failures").await.ok().flatten().as_deref(), Some("1"));
    screenshot(&client, "dashboard").await;
    // Drill down from the team's flagged figure to the call behind it.
    client
        .find(Locator::Css("#by-team tr[data-key=\"blue\"] td:nth-child(3) a"))
        .await
        .expect("flagged drill-down link")
        .click()
        .await
        .expect("drill down");
    wait_for(&client, &format!("#queue-table tr[data-call-id=\"{call_id}\"]")).await;
    // Managers read calls but record no verdicts.
    client.goto(&format!("{base}/app/calls/{call_id}")).await.expect("open the call as manager");
    wait_for(&client, "#review-history .past-review").await;
    assert!(client.find(Locator::Css("#review-form")).await.is_err(), "a manager gets no review form");
    // One team's compliance over time: the dashboard scoped to team blue, against all calls.
    client.goto(&format!("{base}/app/dashboard")).await.expect("back to the dashboard");
    wait_for(&client, "#by-team tr[data-key=\"blue\"] a.trend").await.click().await.expect("open team blue over time");
    wait_for(&client, "#clear-scope").await;
    let scoped_calls = wait_for(&client, "#kpi-calls").await;
    let blue_days = get(&addr, "/v1/aggregates/compliance?group_by=day&team=blue&rules=false", &manager).json();
    let blue_calls: i64 = blue_days["buckets"].as_array().into_iter().flatten().map(|b| b["calls"].as_i64().unwrap_or(0)).sum();
    assert_eq!(attr_number(scoped_calls.attr("data-value").await.ok().flatten(), "#kpi-calls") as i64, blue_calls);
    let heading = client.find(Locator::Css("h1")).await.expect("heading").text().await.unwrap_or_default();
    assert!(heading.contains("team blue"), "the scoped dashboard says what it shows: {heading}");
    wait_for(&client, "#compliance-reference").await;
    screenshot(&client, "dashboard-team").await;

    // ---------------------------------------------------------------- ivr and another tenant
    let landed = sign_in(&client, &base, &ivr).await;
    assert_eq!(landed, "/web/session", "an ivr key stays on the sign-in page");
    let message = client.find(Locator::Css("#sign-in-error")).await.expect("error").text().await.unwrap_or_default();
    assert!(message.contains("no web pages"), "ivr refusal message: {message}");
    client.goto(&format!("{base}/app/queue")).await.expect("try the queue");
    wait_for(&client, "#api_key").await;
    assert_eq!(client.current_url().await.expect("url").path(), "/", "no page without a session");

    let landed = sign_in(&client, &base, &other_qa).await;
    assert_eq!(landed, "/app/queue");
    let count = wait_for(&client, "#queue-count").await;
    assert_eq!(count.attr("data-total").await.ok().flatten().as_deref(), Some("0"), "another tenant sees no calls");
    client.goto(&format!("{base}/app/queue?flagged=")).await.expect("all calls");
    let count = wait_for(&client, "#queue-count").await;
    assert_eq!(count.attr("data-total").await.ok().flatten().as_deref(), Some("0"), "another tenant sees no calls at all");
    client.goto(&format!("{base}/app/calls/{call_id}")).await.expect("open the other tenant's call");
    let message = wait_for(&client, "main .msg.error").await.text().await.unwrap_or_default();
    assert!(message.contains("not found"), "another tenant's call is not found: {message}");
    assert!(client.find(Locator::Css("#player")).await.is_err(), "nothing of the call is shown");
    client.goto(&format!("{base}/app/search?q=guarantee")).await.expect("search as the other tenant");
    let found = wait_for(&client, "#search-count").await.text().await.unwrap_or_default();
    assert!(found.starts_with("0 calls"), "another tenant's search finds nothing: {found}");

    client.close().await.ok();
    drop(driver);
    drop(server);
}
