//! Fetching, converting and verifying model files.
