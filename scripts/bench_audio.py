#!/usr/bin/env python3
"""Audio sets the benchmark builds from the Debian evaluation data (sox does the audio work).

  telephone   a manifest's audio converted to 8 kHz mu-law (band-limited), as a new manifest
  long-form   long recordings made of consecutive manifest utterances, with their references
  probes      an enrolment recording and 3/10/30 s probes of one voice, disjoint utterances

Standard library only: it runs before the bench venv exists.
"""
import argparse
import json
import os
import random
import subprocess
import sys

from bench_common import duration_secs, read_manifest


def write_manifest(path, rows):
    base = os.path.dirname(os.path.abspath(path))
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            line = {"id": row["id"], "audio": os.path.relpath(row["audio_abs"], base), "text": row["text"], "language": row["language"]}
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")


def telephone(args):
    """8 kHz mu-law copies: 300-3400 Hz band-pass like a phone line, then G.711 mu-law."""
    rows = read_manifest(args.manifest)
    os.makedirs(args.audio_dir, exist_ok=True)
    out_rows = []
    for row in rows:
        target = os.path.join(args.audio_dir, row["id"].replace("/", "_") + ".wav")
        if not os.path.isfile(target):
            subprocess.run(
                ["sox", row["audio_abs"], "-r", "8000", "-c", "1", "-e", "mu-law", "-b", "8", target, "sinc", "300-3400"],
                check=True,
            )
        out_rows.append(dict(row, audio_abs=target))
    write_manifest(args.out, out_rows)
    print(args.out)


def concatenate(sources, target, gap_secs, sample_rate_hz):
    """Concatenates `sources` with `gap_secs` of silence between them, as 16-bit mono."""
    parts = []
    silence = target + ".gap.wav"
    subprocess.run(["sox", "-n", "-r", str(sample_rate_hz), "-c", "1", "-b", "16", silence, "trim", "0", str(gap_secs)], check=True)
    for idx, source in enumerate(sources):
        if idx:
            parts.append(silence)
        parts.append(source)
    subprocess.run(["sox", *parts, "-r", str(sample_rate_hz), "-c", "1", "-b", "16", target], check=True)
    os.remove(silence)


def long_form(args):
    """Files of at least --secs seconds, each a run of seeded-shuffled utterances of >= 3 words."""
    rows = [row for row in read_manifest(args.manifest) if len(row["text"].split()) >= 3]
    random.Random(args.seed).shuffle(rows)
    os.makedirs(args.audio_dir, exist_ok=True)
    out_rows = []
    cursor = 0
    for file_idx in range(args.files):
        picked, total = [], 0.0
        while total < args.secs and cursor < len(rows):
            row = rows[cursor]
            cursor += 1
            picked.append(row)
            total += duration_secs(row["audio_abs"]) + args.gap
        if not picked:
            break
        target = os.path.join(args.audio_dir, f"long-{file_idx + 1:02d}.wav")
        concatenate([row["audio_abs"] for row in picked], target, args.gap, 8000)
        text = " ".join(row["text"].strip() for row in picked)
        out_rows.append({"id": f"long-{file_idx + 1:02d}", "audio_abs": target, "text": text, "language": picked[0]["language"]})
    write_manifest(args.out, out_rows)
    print(args.out)


def probes(args):
    """Enrolment (>= --enrol-secs) and probes of the given lengths from disjoint utterances."""
    rows = [row for row in read_manifest(args.manifest) if len(row["text"].split()) >= 2]
    random.Random(args.seed).shuffle(rows)
    os.makedirs(args.out_dir, exist_ok=True)
    cursor = 0

    def take(secs, name):
        nonlocal cursor
        picked, total = [], 0.0
        while total < secs and cursor < len(rows):
            picked.append(rows[cursor]["audio_abs"])
            total += duration_secs(rows[cursor]["audio_abs"]) + 0.2
            cursor += 1
        if total < secs:
            sys.exit(f"not enough audio for {name}")
        target = os.path.join(args.out_dir, f"{name}.wav")
        concatenate(picked, target + ".long.wav", 0.2, 8000)
        subprocess.run(["sox", target + ".long.wav", target, "trim", "0", str(secs)], check=True)
        os.remove(target + ".long.wav")
        return target

    outputs = {"enrol": take(args.enrol_secs, "enrol")}
    for secs in args.probe_secs:
        outputs[f"probe-{secs:g}s"] = take(secs, f"probe-{secs:g}s")
    print(json.dumps(outputs))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    tel = commands.add_parser("telephone")
    tel.add_argument("--manifest", required=True)
    tel.add_argument("--audio-dir", required=True)
    tel.add_argument("--out", required=True)
    tel.set_defaults(run=telephone)
    lf = commands.add_parser("long-form")
    lf.add_argument("--manifest", required=True)
    lf.add_argument("--audio-dir", required=True)
    lf.add_argument("--out", required=True)
    lf.add_argument("--files", type=int, default=3)
    lf.add_argument("--secs", type=float, default=40.0)
    lf.add_argument("--gap", type=float, default=0.4)
    lf.add_argument("--seed", type=int, default=20261123)
    lf.set_defaults(run=long_form)
    pr = commands.add_parser("probes")
    pr.add_argument("--manifest", required=True)
    pr.add_argument("--out-dir", required=True)
    pr.add_argument("--enrol-secs", type=float, default=45.0)
    pr.add_argument("--probe-secs", type=float, nargs="+", default=[3.0, 10.0, 30.0])
    pr.add_argument("--seed", type=int, default=20261124)
    pr.set_defaults(run=probes)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
