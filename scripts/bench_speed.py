#!/usr/bin/env python3
"""Speed side by side: Callsight's pipeline, whisper.cpp alone and faster-whisper (int8, fp32) on
the same audio, the same Whisper base weights, the same thread count and beam size; optionally the
pipeline again on quantised ggml weights (--quantized-models base-q8_0 base-q5_1).

  run          the comparison; writes speed.json (see callsight_eval::report::SpeedResults)
  transcribe   one faster-whisper pass over a manifest (the process `run` times)

Each timed pass is its own process under /usr/bin/time -v (wall time, peak RSS); the processing
time (model loading excluded) comes from the process itself. Systems take turns within each
repeat, so a burst of other work on the machine hits them alike. WER/CER of every system are
scored by `callsight eval asr` with the same normaliser.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from bench_common import read_manifest


def transcribe(args):
    from faster_whisper import WhisperModel

    model = WhisperModel(args.model_dir, device="cpu", compute_type=args.compute_type, cpu_threads=args.threads, num_workers=1)
    rows = read_manifest(args.manifest)
    started = time.perf_counter()
    with open(args.hypotheses, "w", encoding="utf-8") as out:
        for row in rows:
            segments, _info = model.transcribe(
                row["audio_abs"],
                language=args.language,
                beam_size=args.beam_size,
                best_of=1,
                vad_filter=args.vad,
            )
            text = " ".join(segment.text.strip() for segment in segments)
            out.write(json.dumps({"id": row["id"], "text": text}, ensure_ascii=False) + "\n")
    print(json.dumps({"processing_secs": time.perf_counter() - started}))


def timed(command):
    """Runs `command` under /usr/bin/time -v; returns (stdout, wall secs, peak RSS MiB)."""
    started = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    peak_rss_mib = int(match.group(1)) / 1024.0 if match else float("nan")
    return result.stdout, wall, peak_rss_mib


def score(callsight, manifest, json_path, hypotheses=None, extra=()):
    """WER/CER from an `eval asr` JSON (running it on `hypotheses` first if given)."""
    if hypotheses is not None:
        subprocess.run(
            [callsight, "eval", "asr", "--manifest", manifest, "--hypotheses", hypotheses, "--json-out", json_path, *extra],
            check=True,
            capture_output=True,
        )
    with open(json_path, encoding="utf-8") as handle:
        run = json.load(handle)
    languages = run["report"]["languages"]
    edits = sum(l["word_counts"]["substitutions"] + l["word_counts"]["deletions"] + l["word_counts"]["insertions"] for l in languages)
    words = sum(l["word_counts"]["reference_len"] for l in languages)
    char_edits = sum(l["char_counts"]["substitutions"] + l["char_counts"]["deletions"] + l["char_counts"]["insertions"] for l in languages)
    chars = sum(l["char_counts"]["reference_len"] for l in languages)
    return run, edits / max(words, 1), char_edits / max(chars, 1)


def run(args):
    manifest = os.path.abspath(args.manifest)
    rows = read_manifest(manifest)
    audio_secs = 0.0
    for row in rows:
        out = subprocess.run(["soxi", "-D", row["audio_abs"]], check=True, capture_output=True, text=True).stdout
        audio_secs += float(out)
    work = tempfile.mkdtemp(prefix="callsight-speed-")
    threads = str(args.threads)
    callsight = args.callsight
    hint = ["--language-hint"]
    systems = [
        {
            "name": "Callsight analyze pipeline",
            "weights": "ggml-base.bin (f16, whisper.cpp)",
            "kind": "callsight",
            "command": [callsight, "--threads", threads, "eval", "asr", "--manifest", manifest, *hint],
        },
        {
            "name": "whisper.cpp alone (whisper-rs)",
            "weights": "ggml-base.bin (f16, whisper.cpp)",
            "kind": "callsight",
            "command": [callsight, "--threads", threads, "eval", "asr", "--manifest", manifest, *hint, "--engine", "whisper"],
        },
    ]
    # The pipeline again on quantised Whisper weights (`callsight models fetch` makes them).
    for model in args.quantized_models:
        systems.append(
            {
                "name": f"Callsight analyze pipeline, {model}",
                "weights": f"ggml-{model}.bin ({model.rsplit('-', 1)[-1]}, whisper.cpp)",
                "kind": "callsight",
                "command": [callsight, "--threads", threads, "eval", "asr", "--manifest", manifest, *hint, "--model", model],
            }
        )
    for compute_type in args.compute_types:
        systems.append(
            {
                "name": f"faster-whisper {compute_type}",
                "weights": f"whisper-base-ct2 (CTranslate2, {compute_type})",
                "kind": "faster-whisper",
                "command": [
                    sys.executable, os.path.abspath(__file__), "transcribe", "--manifest", manifest,
                    "--model-dir", args.model_dir, "--compute-type", compute_type, "--threads", threads,
                    "--beam-size", str(args.beam_size), "--language", args.language,
                ] + (["--vad"] if args.vad else []),
            }
        )
    results = {system["name"]: [] for system in systems}
    last_output = {}
    for repeat in range(args.repeats):
        for idx, system in enumerate(systems):
            output_path = os.path.join(work, f"{idx}-{repeat}.json" if system["kind"] == "callsight" else f"{idx}-{repeat}.jsonl")
            command = list(system["command"])
            command += ["--json-out", output_path] if system["kind"] == "callsight" else ["--hypotheses", output_path]
            stdout, wall, rss = timed(command)
            if system["kind"] == "callsight":
                with open(output_path, encoding="utf-8") as handle:
                    processing = json.load(handle)["processing_secs"]
            else:
                processing = json.loads(stdout.strip().splitlines()[-1])["processing_secs"]
            results[system["name"]].append({"wall_secs": wall, "processing_secs": processing, "peak_rss_mib": rss})
            last_output[system["name"]] = output_path
            print(f"repeat {repeat + 1}: {system['name']}: processing {processing:.1f} s, wall {wall:.1f} s, RSS {rss:.0f} MiB", flush=True)
    out_systems = []
    for idx, system in enumerate(systems):
        output_path = last_output[system["name"]]
        if system["kind"] == "callsight":
            _, wer, cer = score(callsight, manifest, output_path)
        else:
            _, wer, cer = score(callsight, manifest, os.path.join(work, f"score-{idx}.json"), hypotheses=output_path)
        shown = " ".join(system["command"]).replace(os.getcwd() + os.sep, "").replace(os.path.expanduser("~"), "~")
        out_systems.append(
            {"name": system["name"], "weights": system["weights"], "runs": results[system["name"]], "wer": wer, "cer": cer, "command": shown}
        )
    speed = {
        "manifest": manifest,
        "n_files": len(rows),
        "audio_secs": audio_secs,
        "threads": args.threads,
        "beam_size": args.beam_size,
        "vad": "Silero VAD in the pipeline and in faster-whisper (vad_filter, its default parameters); none for whisper.cpp alone" if args.vad else "off",
        "language": args.language,
        "systems": out_systems,
    }
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(speed, handle, indent=2)
    print(args.out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    tr = commands.add_parser("transcribe")
    tr.add_argument("--manifest", required=True)
    tr.add_argument("--model-dir", required=True)
    tr.add_argument("--compute-type", required=True)
    tr.add_argument("--threads", type=int, default=2)
    tr.add_argument("--beam-size", type=int, default=1)
    tr.add_argument("--language", default="en")
    tr.add_argument("--vad", action="store_true")
    tr.add_argument("--hypotheses", required=True)
    tr.set_defaults(run=transcribe)
    rn = commands.add_parser("run")
    rn.add_argument("--manifest", required=True)
    rn.add_argument("--model-dir", required=True)
    rn.add_argument("--callsight", required=True)
    rn.add_argument("--compute-types", nargs="+", default=["int8", "float32"])
    rn.add_argument("--quantized-models", nargs="*", default=[], help="Callsight --model values with quantised weights, e.g. base-q8_0 base-q5_1")
    rn.add_argument("--threads", type=int, default=2)
    rn.add_argument("--beam-size", type=int, default=1)
    rn.add_argument("--language", default="en")
    rn.add_argument("--vad", action="store_true", default=True)
    rn.add_argument("--repeats", type=int, default=3)
    rn.add_argument("--out", required=True)
    rn.set_defaults(run=run)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
