//! Audio input: decoding, G.711, resampling.
