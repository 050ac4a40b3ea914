"""Helpers shared by the benchmark scripts (bench_audio.py, bench_speed.py, bench_compliance.py)."""

import json
import os
import subprocess


def read_manifest(path):
    """Rows of an ASR manifest (JSON Lines), each with `audio_abs` resolved against the manifest's
    folder and an `id` (the audio path when the row has none)."""
    base = os.path.dirname(os.path.abspath(path))
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                row["audio_abs"] = os.path.join(base, row["audio"])
                row.setdefault("id", row["audio"])
                rows.append(row)
    return rows


def duration_secs(path):
    """Length of an audio file in seconds (sox's soxi)."""
    return float(subprocess.run(["soxi", "-D", path], check=True, capture_output=True, text=True).stdout.strip())


def run(command):
    """Runs a command, failing loudly; its output is captured, not printed."""
    subprocess.run(command, check=True, capture_output=True)
