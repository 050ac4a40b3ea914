//! Script compliance.
