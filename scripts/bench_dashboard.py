#!/usr/bin/env python3
"""Benchmark of the manager dashboard over 10 000 stored calls (issue 8). Not a test.

1. `callsight keys create` makes a fresh SQLite store (migrations applied) and a manager key.
2. 10 000 analysed calls are written straight into that store with the schema the service uses:
   a calls row (summary columns), a report (the `callsight.report.v1` shape, ~5-minute calls
   with words, so the report sizes are realistic), and one outcome row per script rule.
3. `callsight serve --workers 0` serves them; each `/v1/aggregates/*` request the dashboard makes
   is timed (median of several), then headless chromium (through chromedriver's WebDriver HTTP
   API, standard library only) signs in and opens `/app/dashboard`: the time from navigation to
   the figures drawn, and the page weight (bytes of every resource the page loaded).

Usage: source scripts/env.sh && python3 scripts/bench_dashboard.py [--calls 10000] [--runs 5]
Needs the release binary (`cargo build --release`), chromium and chromium-driver.
"""

import argparse
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/callsight/target"))
BINARY = os.path.join(TARGET, "release", "callsight")
TENANT = "bench"
RULES = [
    ("greeting", "required", "medium"), ("recording-disclosure", "required", "high"),
    ("identity-check", "required", "high"), ("closing", "required", "low"),
    ("no-guarantees", "forbidden", "high"), ("order", "sequence", "medium"),
    ("no-long-silence", "max_silence", "medium"), ("customer-not-left-negative", "customer_sentiment", "medium"),
]
VOCABULARY = ("thank you for calling card services my name is how can i help you today i was charged twice "
              "for my order and would like a refund let me check that for you please confirm your date of birth "
              "the second charge has been reversed is there anything else i can help you with").split()


def report_for(rng, duration_secs, sentiment_label, sentiment_score, outcomes, silence_secs):
    """A report in the stored shape, with ~2.3 words per second of speech."""
    turns, t, speaker = [], 0.5, "agent"
    while t < duration_secs - 3:
        n_words = rng.randint(6, 22)
        words, w_t = [], t
        for _ in range(n_words):
            text = rng.choice(VOCABULARY)
            words.append({"text": text, "start_secs": round(w_t, 2), "end_secs": round(w_t + 0.35, 2), "confidence": 0.93})
            w_t += 0.43
        score = rng.uniform(-1, 1) if speaker == "customer" else rng.uniform(0, 1)
        label = "negative" if score < -0.3 else "positive" if score > 0.3 else "neutral"
        turns.append({"speaker": speaker, "start_secs": round(t, 2), "end_secs": round(w_t, 2),
                      "text": " ".join(w["text"] for w in words), "sentiment": {"label": label, "score": score},
                      "words": words})
        t = w_t + rng.uniform(0.3, 2.5)
        speaker = "customer" if speaker == "agent" else "agent"
    party = {"talk_secs": 0.0, "talk_ratio": 0.0, "words_per_minute": 140.0, "interruptions": 0,
             "loudness_dbfs": -20.0, "clipping_ratio": 0.0}
    return {
        "schema": "callsight.report.v1", "source": "bench.wav", "duration_secs": duration_secs,
        "sample_rate_hz": 8000, "n_channels": 2, "channel_layout": "agent_customer", "language": "en",
        "models": {"transcriber": "bench", "sentiment": "bench"}, "turns": turns,
        "sentiment": {"agent": None, "customer": {"label": sentiment_label, "score": sentiment_score, "n_turns": 5},
                      "unknown": None, "customer_trajectory": None},
        "compliance": {"script_id": "script-a", "script_version": "1", "score": 0.8,
                       "rules": [{"id": rid, "kind": kind, "passed": passed, "confidence": 0.9, "severity": sev,
                                  "evidence": [], "reason": "bench"} for (rid, kind, sev), passed in outcomes]},
        "metrics": {"duration_secs": duration_secs, "agent": party, "customer": party, "unknown": party,
                    "non_talk_secs": silence_secs, "longest_silence_secs": 4.0, "longest_silence": None,
                    "talk_over_secs": 1.0, "talk_over_count": 2, "holds": []},
        "flags": [], "speech": [],
        "timings": {"decode_secs": 0, "resample_secs": 0, "vad_secs": 0, "transcribe_secs": 0, "sentiment_secs": 0,
                    "compliance_secs": 0, "metrics_secs": 0, "total_secs": 0, "real_time_factor": 0},
    }


def populate(db_path, n_calls, seed=7):
    rng = random.Random(seed)
    now = int(time.time())
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    teams = [f"team-{i}" for i in range(8)]
    agents = [(f"agent-{i:02d}", teams[i % len(teams)]) for i in range(60)]
    scripts = ["script-a", "script-b", "script-c"]
    report_bytes = 0
    with db:
        for i in range(n_calls):
            call_id = str(uuid.uuid4())
            agent_id, team = rng.choice(agents)
            created = now - rng.randint(0, 30 * 86400)
            duration = rng.uniform(120, 480)
            outcomes = [(rule, rng.random() > (0.25 if rule[2] == "high" else 0.1)) for rule in RULES]
            failed = sum(1 for _, passed in outcomes if not passed)
            score = rng.uniform(-1, 1)
            label = "negative" if score < -0.3 else "positive" if score > 0.3 else "neutral"
            silence = rng.uniform(5, 60)
            report = report_for(rng, duration, label, score, outcomes, silence)
            report_text = json.dumps(report)
            report_bytes += len(report_text)
            transcript = " ".join(t["text"] for t in report["turns"])
            db.execute(
                "INSERT INTO calls (id, tenant, external_call_id, agent_id, team, customer_id, script_id, script_version, "
                "language_hint, channel_layout, metadata, audio_path, audio_bytes, audio_sha256, status, created_at, "
                "analyzed_at, duration_secs, flagged, compliance_score, failed_rules, customer_sentiment_label, "
                "customer_sentiment_score, rule_checks) VALUES (?, ?, ?, ?, ?, NULL, ?, 1, 'en', 'agent_customer', '{}', "
                "'/dev/null', 0, '', 'analyzed', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (call_id, TENANT, f"bench-{i}", agent_id, team, rng.choice(scripts), created, created + 60, duration,
                 failed > 0, 1 - failed / len(RULES), failed, label, score, len(outcomes)))
            db.execute("INSERT INTO reports (call_id, tenant, report, transcript_text, updated_at) VALUES (?, ?, ?, ?, ?)",
                       (call_id, TENANT, report_text, transcript, created + 60))
            db.executemany(
                "INSERT INTO call_rule_outcomes (call_id, tenant, rule_id, passed, severity, score, evidence) "
                "VALUES (?, ?, ?, ?, ?, 0.9, '[]')",
                [(call_id, TENANT, rid, passed, sev) for (rid, _, sev), passed in outcomes])
    db.close()
    return report_bytes


def http(method, url, headers=None, body=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, response.read()


def webdriver(port, method, path, payload=None):
    body = json.dumps(payload).encode() if payload is not None else None
    _, data = http(method, f"http://127.0.0.1:{port}{path}", {"Content-Type": "application/json"}, body)
    return json.loads(data)["value"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="callsight-bench-dashboard-")
    data_dir = os.path.join(work, "data")
    env = dict(os.environ)
    env.pop("CALLSIGHT__SERVER__DATABASE_URL", None)
    key = subprocess.run([BINARY, "keys", "create", "--tenant", TENANT, "--role", "manager", "--data-dir", data_dir],
                         check=True, capture_output=True, text=True, env=env).stdout.strip().splitlines()[-1]
    db_path = next(os.path.join(root, f) for root, _, files in os.walk(data_dir) for f in files if f.endswith(".db") or f.endswith(".sqlite"))
    started = time.time()
    report_bytes = populate(db_path, args.calls)
    print(f"inserted {args.calls} calls ({report_bytes / 1e6:.0f} MB of reports) in {time.time() - started:.1f} s "
          f"into {db_path} ({os.path.getsize(db_path) / 1e6:.0f} MB)")

    server = subprocess.Popen([BINARY, "serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0", "--workers", "0"],
                              stdout=subprocess.PIPE, stderr=open(os.path.join(work, "serve.log"), "w"), text=True, env=env)
    driver = None
    try:
        addr = None
        for line in server.stdout:
            if line.strip().startswith("listening on http://"):
                addr = line.strip()[len("listening on http://"):]
                break
        if addr is None:
            sys.exit(f"server did not start; see {work}/serve.log")
        base = f"http://{addr}"
        auth = {"Authorization": f"Bearer {key}"}
        # The requests the dashboard makes (dashboard.js): rates only, except per script.
        endpoints = [f"/v1/aggregates/compliance?group_by={g}&rules=false" for g in ("day", "team", "agent")]
        endpoints += ["/v1/aggregates/compliance?group_by=script"]
        endpoints += ["/v1/aggregates/sentiment"]
        endpoints += [f"/v1/aggregates/handling?group_by={g}" for g in ("day", "team", "agent", "script")]
        print(f"\nAPI (median of {args.runs} after one warm-up), {args.calls} calls:")
        total = 0.0
        for path in endpoints:
            http("GET", base + path, auth)
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                http("GET", base + path, auth)
                times.append(time.perf_counter() - t0)
            total += statistics.median(times)
            print(f"  {path:45s} {statistics.median(times) * 1000:8.1f} ms")
        print(f"  {'sum (the page requests them in parallel)':45s} {total * 1000:8.1f} ms")

        port = free_port()
        driver = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                if webdriver(port, "GET", "/status")["ready"]:
                    break
            except OSError:
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,800",
                     f"--user-data-dir={os.path.join(work, 'profile')}"]}}}}
        session = webdriver(port, "POST", "/session", caps)["sessionId"]
        wd = lambda method, path, payload=None: webdriver(port, method, f"/session/{session}{path}", payload)
        script = lambda source: wd("POST", "/execute/sync", {"script": source, "args": []})
        wd("POST", "/url", {"url": base + "/"})
        element = wd("POST", "/element", {"using": "css selector", "value": "#api_key"})
        element_id = next(iter(element.values()))
        wd("POST", f"/element/{element_id}/value", {"text": key})
        submit = next(iter(wd("POST", "/element", {"using": "css selector", "value": "#sign-in-submit"}).values()))
        wd("POST", f"/element/{submit}/click", {})
        time.sleep(1.0)
        print(f"\nBrowser (headless chromium, 1280x800), /app/dashboard over {args.calls} calls:")
        renders, drawn, weights = [], [], []
        for run in range(args.runs + 1):
            t0 = time.perf_counter()
            wd("POST", "/url", {"url": base + "/app/dashboard"})
            while True:
                done = script("const e = document.getElementById('dashboard-timing'); return e ? e.dataset.ms : null;")
                if done is not None:
                    break
                time.sleep(0.01)
            elapsed = time.perf_counter() - t0
            nav = script("const n = performance.getEntriesByType('navigation')[0]; "
                         "const r = performance.getEntriesByType('resource'); "
                         "return {start: n.startTime, weight: r.reduce((a, e) => a + e.transferSize, n.transferSize), "
                         "body: r.reduce((a, e) => a + e.decodedBodySize, n.decodedBodySize), "
                         "static: r.filter(e => e.name.includes('/assets/')).reduce((a, e) => a + e.decodedBodySize, n.decodedBodySize), "
                         "now: performance.now()};")
            if run == 0:
                continue  # warm-up
            renders.append(nav["now"])
            drawn.append(float(done))
            weights.append(nav)
        print(f"  navigation → figures drawn (performance.now at completion): median {statistics.median(renders):.0f} ms, "
              f"max {max(renders):.0f} ms")
        print(f"  of which aggregates fetched + drawn (page's own timer):    median {statistics.median(drawn):.0f} ms")
        w = weights[-1]
        print(f"  page weight: {w['static'] / 1024:.1f} KiB of HTML/CSS/JS (uncompressed), "
              f"{w['body'] / 1024:.1f} KiB including the aggregate JSON; {w['weight'] / 1024:.1f} KiB transferred")
        import base64
        shots = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "screenshots")
        os.makedirs(shots, exist_ok=True)
        with open(os.path.join(shots, "dashboard-10k.png"), "wb") as f:
            f.write(base64.b64decode(wd("GET", "/screenshot")))
        wd("DELETE", "")
    finally:
        if driver:
            driver.kill()
            driver.wait()
        server.kill()
        server.wait()
    print(f"\n(work directory {work}; delete it when done)")


if __name__ == "__main__":
    main()
