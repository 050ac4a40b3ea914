#!/bin/sh
# Regenerates the compressed-audio fixtures used by pipeline/tests/audio_compressed.rs.
# Each is one second of a 440 Hz sine on the first channel and 880 Hz on the second, at half scale.
# Requires sox with libsox-fmt-all (FLAC, Vorbis and LAME MP3 support).
set -eu
cd "$(dirname "$0")"
sox -n -r 16000 -c 2 -b 16 sine_440_880_16k_stereo.flac synth 1 sine 440 sine 880 vol 0.5
sox -n -r 44100 -c 2 sine_440_880_44k_stereo.ogg synth 1 sine 440 sine 880 vol 0.5
sox -n -r 44100 -c 2 sine_440_880_44k_stereo.mp3 synth 1 sine 440 sine 880 vol 0.5
sox -n -r 8000 -c 1 sine_440_8k_mono.mp3 synth 1 sine 440 vol 0.5
