//! Callsight's edge: the wire formats clients see (the versioned JSON report, text summary,
//! subtitles). The HTTP service will live here too; pipeline types never leave without passing
//! through these explicit conversions.

pub mod report;
pub mod render;
pub mod server;
pub mod web;
