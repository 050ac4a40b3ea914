#!/usr/bin/env python3
"""Open-loop load against a running `callsight serve` from a second process (standard library).

Requests are sent on a fixed schedule (RATE per second, whatever the server's latency: an
open-loop generator, so a slow server meets more concurrent requests, as in production), each
on its own connection, and every answer is recorded.

  verify URL KEY SPEAKER_ID PROBE.wav --rate R --secs S
      POST /v1/speakers/{id}/verify at R requests/s for S seconds; prints the status counts and
      latency percentiles. "held" means: every answer 200, p99 under --max-p99-secs.
  verify-search URL KEY SPEAKER_ID PROBE.wav --probe-secs 10 --secs 60
      The highest rate held: short probes of --probe-secs at doubling, then bisected, rates;
      the best one is then run for --secs and reported.
  upload URL KEY CALL.wav --rate 50 --secs 60
      POST /v1/calls at R requests/s for S seconds; every answer must be 202, or 429/503 with
      Retry-After; then polls every accepted call until none is queued or running and checks
      each one was analysed.

Each mode prints one JSON line with the figures last.
"""

import argparse
import concurrent.futures
import json
import sys
import threading
import time
import urllib.error
import urllib.request

from bench_common import multipart, percentile


def send(url, key, method="GET", body=None, content_type=None, timeout=120):
    """(status, headers, body bytes, seconds); status 0 for a connection error or timeout."""
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if content_type:
        req.add_header("Content-Type", content_type)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read(), time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read(), time.monotonic() - started
    except Exception as error:  # connection refused, reset, timeout: all count as errors
        return 0, {}, str(error).encode(), time.monotonic() - started


def open_loop(rate, secs, make_request):
    """Calls make_request() at `rate` per second for `secs` seconds; returns its results."""
    n_requests = max(1, int(round(rate * secs)))
    results, lock = [], threading.Lock()

    def run_one():
        result = make_request()
        with lock:
            results.append(result)

    with concurrent.futures.ThreadPoolExecutor(max_workers=min(512, n_requests)) as pool:
        started = time.monotonic()
        for idx in range(n_requests):
            delay = started + idx / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(run_one)
        send_secs = time.monotonic() - started
    return results, send_secs


def verify_run(args, rate, secs):
    audio = open(args.probe, "rb").read()
    body, content_type = multipart({"audio": ("probe.wav", audio, "audio/wav")})
    url = f"{args.url}/v1/speakers/{args.speaker_id}/verify"
    decisions, lock = {}, threading.Lock()

    def one():
        status, _, payload, secs_taken = send(url, args.key, "POST", body, content_type)
        if status == 200:
            decision = json.loads(payload).get("decision")
            with lock:
                decisions[decision] = decisions.get(decision, 0) + 1
        return status, secs_taken

    results, send_secs = open_loop(rate, secs, one)
    statuses = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    latencies = [secs_taken for status, secs_taken in results if status == 200]
    summary = {
        "mode": "verify",
        "rate_per_sec": rate,
        "secs": secs,
        "requests": len(results),
        "send_secs": round(send_secs, 2),
        "statuses": statuses,
        "decisions": decisions,
        "p50_secs": round(percentile(latencies, 50) or 0, 3),
        "p99_secs": round(percentile(latencies, 99) or 0, 3),
        "max_secs": round(max(latencies, default=0), 3),
    }
    summary["held"] = (
        statuses.get("200", 0) == len(results)
        and summary["p99_secs"] < args.max_p99_secs
        # The generator itself kept the schedule (else the rate was not offered).
        and send_secs < secs * 1.05 + 1
    )
    return summary


def cmd_verify(args):
    summary = verify_run(args, args.rate, args.secs)
    print(json.dumps(summary))
    return 0 if summary["held"] else 1


def cmd_verify_search(args):
    probes = []

    def held(rate):
        summary = verify_run(args, rate, args.probe_secs)
        probes.append(summary)
        print(json.dumps(summary), file=sys.stderr, flush=True)
        # Let the server drain before the next probe.
        time.sleep(2)
        return summary["held"]

    low, high = 0.0, args.start_rate
    while held(high):
        low, high = high, high * 2
        if high > args.max_rate:
            break
    # Bisect between the last rate held and the first that failed, to 10 %.
    while low > 0 and high - low > max(0.1 * low, 0.25):
        middle = round((low + high) / 2, 2)
        if held(middle):
            low = middle
        else:
            high = middle
    if low == 0:
        print(json.dumps({"mode": "verify-search", "held_rate_per_sec": 0, "probes": probes}))
        return 1
    # Confirm for the full duration, stepping down 10 % at a time if the long run does not hold.
    rate = low
    while rate >= args.start_rate / 4:
        final = verify_run(args, rate, args.secs)
        print(json.dumps(final), file=sys.stderr, flush=True)
        if final["held"]:
            print(json.dumps({"mode": "verify-search", "held_rate_per_sec": rate, "final": final, "n_probes": len(probes)}))
            return 0
        rate = round(rate * 0.9, 2)
        time.sleep(2)
    print(json.dumps({"mode": "verify-search", "held_rate_per_sec": 0, "n_probes": len(probes)}))
    return 1


def cmd_upload(args):
    audio = open(args.call, "rb").read()
    url = f"{args.url}/v1/calls"

    def one():
        body, content_type = multipart({"audio": ("call.wav", audio, "audio/wav")})
        status, headers, payload, secs_taken = send(url, args.key, "POST", body, content_type)
        headers = {k.lower(): v for k, v in headers.items()}
        call_id = json.loads(payload).get("call_id") if status == 202 else None
        return status, headers.get("retry-after"), call_id, secs_taken

    results, send_secs = open_loop(args.rate, args.secs, one)
    statuses = {}
    for status, _, _, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    unexpected = [r for r in results if r[0] not in (202, 429, 503)]
    missing_retry_after = [r for r in results if r[0] in (429, 503) and not r[1]]
    accepted = [call_id for status, _, call_id, _ in results if status == 202]
    latencies = [secs_taken for *_, secs_taken in results]
    print(json.dumps({"phase": "uploaded", "statuses": statuses, "send_secs": round(send_secs, 2)}), file=sys.stderr, flush=True)

    # Poll until every accepted call has left queued/running.
    started = time.monotonic()
    pending = set(accepted)
    final_status = {}
    while pending and time.monotonic() - started < args.drain_timeout_secs:
        for call_id in list(pending):
            status, _, payload, _ = send(f"{args.url}/v1/calls/{call_id}", args.poll_key or args.key)
            if status == 200:
                call_status = json.loads(payload).get("status")
                if call_status not in ("queued", "running"):
                    final_status[call_id] = call_status
                    pending.discard(call_id)
        if pending:
            print(json.dumps({"phase": "draining", "pending": len(pending)}), file=sys.stderr, flush=True)
            time.sleep(5)
    drain_secs = time.monotonic() - started
    outcomes = {}
    for call_status in final_status.values():
        outcomes[call_status] = outcomes.get(call_status, 0) + 1
    summary = {
        "mode": "upload",
        "rate_per_sec": args.rate,
        "secs": args.secs,
        "requests": len(results),
        "send_secs": round(send_secs, 2),
        "statuses": statuses,
        "unexpected_statuses": len(unexpected),
        "back_pressure_without_retry_after": len(missing_retry_after),
        "p50_secs": round(percentile(latencies, 50) or 0, 3),
        "p99_secs": round(percentile(latencies, 99) or 0, 3),
        "accepted": len(accepted),
        "analysed": outcomes.get("analyzed", 0),
        "final_statuses": outcomes,
        "still_pending": len(pending),
        "drain_secs": round(drain_secs, 1),
    }
    summary["ok"] = (
        not unexpected and not missing_retry_after and not pending and summary["analysed"] == len(accepted)
    )
    print(json.dumps(summary))
    return 0 if summary["ok"] else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    for name in ("verify", "verify-search"):
        p = sub.add_parser(name)
        p.add_argument("url")
        p.add_argument("key")
        p.add_argument("speaker_id")
        p.add_argument("probe")
        p.add_argument("--secs", type=float, default=60)
        p.add_argument("--max-p99-secs", type=float, default=1.0)
        if name == "verify":
            p.add_argument("--rate", type=float, required=True)
        else:
            p.add_argument("--probe-secs", type=float, default=10)
            p.add_argument("--start-rate", type=float, default=1)
            p.add_argument("--max-rate", type=float, default=256)
    p = sub.add_parser("upload")
    p.add_argument("url")
    p.add_argument("key")
    p.add_argument("call")
    p.add_argument("--rate", type=float, default=50)
    p.add_argument("--secs", type=float, default=60)
    p.add_argument("--drain-timeout-secs", type=float, default=1800)
    p.add_argument("--poll-key", help="key that polls the calls (default KEY; a separate key keeps polling out of KEY's rate limit)")
    args = parser.parse_args()
    return {"verify": cmd_verify, "verify-search": cmd_verify_search, "upload": cmd_upload}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
