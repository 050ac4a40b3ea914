//! Live calls: streaming transcription with partial and final results, turns with sentiment and
//! live compliance alerts, from raw sample bytes of any framing. No I/O and no async runtime:
//! the API drives a [`StreamSession`] on its blocking pool and sends the events on.
//!
//! - [`decode`]: raw bytes (PCM, G.711, float) into per-channel samples.
//! - [`commit`]: the LocalAgreement-2 commit policy over a bounded window.
//! - [`alerts`]: forbidden and missing phrases, silence, customer sentiment, as they happen.
//! - [`session`]: one stream's state and the order of the stages.
//! - [`recording`]: the received audio written out as it arrives (a WAV on the caller's writer).

pub mod alerts;
pub mod commit;
pub mod decode;
pub mod recording;
pub mod session;

use std::path::{Path, PathBuf};

pub use alerts::{AlertConfig, AlertKind, LiveAlert, LiveAlerts};
pub use decode::{SampleDecoder, SampleEncoding};
pub use recording::RecordingWriter;
pub use session::{StreamConfig, StreamEngines, StreamEvent, StreamSession, StreamSetup};

/// Where a streamed call's transcript is kept next to its stored audio, so the post-call
/// analysis runs from it instead of transcribing the audio a second time.
pub fn transcript_sidecar_path(audio_path: &Path) -> PathBuf {
    let mut name = audio_path.file_name().unwrap_or_default().to_os_string();
    name.push(".transcript.json");
    audio_path.with_file_name(name)
}
