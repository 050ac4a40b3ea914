//! The pages' files, compiled into the binary so an air-gapped site needs nothing else.

pub(crate) const SIGN_IN_HTML: &str = include_str!("assets/sign-in.html");
pub(crate) const APP_HTML: &str = include_str!("assets/app.html");

/// `(name, content type, bytes)` of everything under `/assets/`.
const FILES: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("assets/app.css")),
    ("core.js", "text/javascript; charset=utf-8", include_str!("assets/core.js")),
    ("queue.js", "text/javascript; charset=utf-8", include_str!("assets/queue.js")),
    ("call.js", "text/javascript; charset=utf-8", include_str!("assets/call.js")),
    ("dashboard.js", "text/javascript; charset=utf-8", include_str!("assets/dashboard.js")),
    ("scripts.js", "text/javascript; charset=utf-8", include_str!("assets/scripts.js")),
    ("search.js", "text/javascript; charset=utf-8", include_str!("assets/search.js")),
    ("main.js", "text/javascript; charset=utf-8", include_str!("assets/main.js")),
];

pub(crate) fn find(name: &str) -> Option<(&'static str, &'static str)> {
    FILES.iter().find(|(file, _, _)| *file == name).map(|(_, content_type, body)| (*content_type, *body))
}
