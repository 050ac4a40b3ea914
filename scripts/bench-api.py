#!/usr/bin/env python3
"""Bounded load against a running `callsight serve` (standard library only).

  verify: POST /v1/speakers/{id}/verify with one WAV from N concurrent clients; prints latency
          percentiles (the IVR's critical path).
  calls:  uploads the same recording M times and waits until every call is analysed; prints
          calls per hour.

Usage:
  scripts/bench-api.py verify URL KEY SPEAKER_ID AUDIO.wav [--concurrency 20] [--requests 200]
  scripts/bench-api.py calls URL KEY AUDIO.wav [--calls 6]
"""

import argparse
import json
import statistics
import threading
import time
import urllib.request

from bench_common import multipart, percentile


def request(url, key, method="GET", body=None, content_type=None):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if content_type:
        req.add_header("Content-Type", content_type)
    with urllib.request.urlopen(req, timeout=600) as response:
        return response.status, json.loads(response.read() or b"null")


def bench_verify(args):
    audio = open(args.audio, "rb").read()
    body, content_type = multipart({"audio": ("probe.wav", audio, "audio/wav")})
    url = f"{args.url}/v1/speakers/{args.speaker_id}/verify"
    latencies, decisions, lock = [], {}, threading.Lock()
    remaining = [args.requests]

    def client():
        while True:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            started = time.perf_counter()
            _, answer = request(url, args.key, "POST", body, content_type)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                decisions[answer["decision"]] = decisions.get(answer["decision"], 0) + 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    result = {
        "requests": len(latencies),
        "concurrency": args.concurrency,
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p90_ms": round(percentile(latencies, 90) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "mean_ms": round(statistics.mean(latencies) * 1000, 1),
        "throughput_per_s": round(len(latencies) / wall, 2),
        "decisions": decisions,
    }
    print(json.dumps(result))


def bench_calls(args):
    audio = open(args.audio, "rb").read()
    started = time.perf_counter()
    ids = []
    for _ in range(args.calls):
        body, content_type = multipart({"audio": ("call.wav", audio, "audio/wav")})
        _, answer = request(f"{args.url}/v1/calls", args.key, "POST", body, content_type)
        ids.append(answer["call_id"])
    pending = set(ids)
    while pending:
        time.sleep(2)
        for call_id in list(pending):
            _, call = request(f"{args.url}/v1/calls/{call_id}", args.key)
            if call["status"] in ("analyzed", "failed"):
                pending.discard(call_id)
    wall = time.perf_counter() - started
    print(json.dumps({"calls": args.calls, "wall_secs": round(wall, 1), "calls_per_hour": round(args.calls / wall * 3600, 1)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify")
    verify.add_argument("url")
    verify.add_argument("key")
    verify.add_argument("speaker_id")
    verify.add_argument("audio")
    verify.add_argument("--concurrency", type=int, default=20)
    verify.add_argument("--requests", type=int, default=200)
    calls = sub.add_parser("calls")
    calls.add_argument("url")
    calls.add_argument("key")
    calls.add_argument("audio")
    calls.add_argument("--calls", type=int, default=6)
    args = parser.parse_args()
    {"verify": bench_verify, "calls": bench_calls}[args.command](args)


if __name__ == "__main__":
    main()
