"""Helpers shared by the benchmark scripts (bench_audio.py, bench_speed.py, bench_compliance.py, bench_load.py, bench-api.py)."""

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


def multipart(fields):
    """A multipart/form-data body of {name: (filename or None, bytes, content type)}, and its
    Content-Type header."""
    import uuid
    boundary = uuid.uuid4().hex
    body = b""
    for name, (filename, content, content_type) in fields.items():
        body += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"Content-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        body += content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def percentile(values, p):
    """The p-th percentile (nearest rank) of values; None for no values."""
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]
