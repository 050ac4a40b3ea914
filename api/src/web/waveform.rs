//! Waveform peaks for the call review page: the stored recording decoded on the server (the same
//! decoder the analysis uses, so G.711 and every accepted format work in any browser) and reduced
//! to a min/max pair per column and channel.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use callsight_pipeline::audio::{AudioSample, DecodeLimits, decode_bytes_with_limits};
use serde::{Deserialize, Serialize};

use crate::server::AppState;
use crate::server::auth::{Action, Caller};
use crate::server::error::{ApiError, ApiResult};
use crate::server::util::write_durably;

const DEFAULT_COLUMNS: usize = 800;
const MAX_COLUMNS: usize = 4000;

#[derive(Debug, Deserialize)]
pub struct WaveformQuery {
    /// Columns of the drawing (min/max pairs per channel).
    pub columns: Option<usize>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ChannelPeaks {
    pub min: Vec<f32>,
    pub max: Vec<f32>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Waveform {
    pub duration_secs: f64,
    pub sample_rate_hz: u32,
    /// What each channel is, from the upload's `channels` (`agent_customer`, ...), if given.
    pub channel_layout: Option<String>,
    pub channels: Vec<ChannelPeaks>,
}

/// Min/max of each of `columns` equal slices of `samples` (fewer columns for very short audio).
pub fn peaks<S: AudioSample>(samples: &[S], columns: usize) -> ChannelPeaks {
    let columns = columns.clamp(1, samples.len().max(1));
    let mut min = Vec::with_capacity(columns);
    let mut max = Vec::with_capacity(columns);
    for column in 0..columns {
        let start = column * samples.len() / columns;
        let end = ((column + 1) * samples.len() / columns).max(start + 1).min(samples.len());
        let slice = &samples[start.min(end)..end];
        let (lo, hi) = slice.iter().fold((0.0f32, 0.0f32), |(lo, hi), &s| (lo.min(s.to_f32()), hi.max(s.to_f32())));
        min.push(lo);
        max.push(hi);
    }
    ChannelPeaks { min, max }
}

/// `GET /web/calls/{id}/waveform?columns=N` (same auth and role as reading the call).
pub(crate) async fn waveform(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<WaveformQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Action::ReadCalls)?;
    let Path(id) = id.map_err(|rejection| ApiError::BadRequest(format!("invalid path: {}", rejection.body_text())))?;
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let columns = query.columns.unwrap_or(DEFAULT_COLUMNS);
    if columns == 0 || columns > MAX_COLUMNS {
        return Err(ApiError::BadRequest(format!("columns must be between 1 and {MAX_COLUMNS}")));
    }
    let call = state.store.get_call(&caller.tenant, &id).await?.ok_or(ApiError::NotFound("call"))?;
    // Stored audio never changes, so the peaks are computed once per width and kept beside it
    // (a `<audio>.*` sidecar: deleting the call deletes it too).
    let cache_path = format!("{}.waveform-{columns}.json", call.audio_path);
    let body = match tokio::fs::read(&cache_path).await {
        Ok(cached) => cached,
        Err(_) => {
            let bytes = tokio::fs::read(&call.audio_path)
                .await
                .map_err(|e| ApiError::Internal(format!("audio of call {id} at {}: {e}", call.audio_path)))?;
            let limits = DecodeLimits::with_max_duration_secs(state.config.max_audio_duration_secs);
            let decoded = tokio::task::spawn_blocking(move || decode_bytes_with_limits(&bytes, "stored audio", &limits))
                .await
                .map_err(|e| ApiError::Internal(format!("waveform task: {e}")))?
                .map_err(|e| ApiError::Internal(format!("stored audio of call {id} does not decode: {e}")))?;
            let waveform = Waveform {
                duration_secs: decoded.duration_secs(),
                sample_rate_hz: decoded.sample_rate_hz,
                channel_layout: call.channel_layout,
                channels: decoded.channels.iter().map(|samples| peaks(samples, columns)).collect(),
            };
            let body = serde_json::to_vec(&waveform).map_err(|e| ApiError::Internal(format!("waveform JSON: {e}")))?;
            let (path, bytes) = (cache_path.clone(), body.clone());
            match tokio::task::spawn_blocking(move || write_durably(std::path::Path::new(&path), &bytes)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, path = %cache_path, "waveform not cached"),
                Err(error) => tracing::warn!(%error, path = %cache_path, "waveform cache task failed"),
            }
            body
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "private, max-age=86400")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_keep_the_extremes_of_each_slice() {
        let samples = [0.1, -0.5, 0.2, 0.9, -0.1, 0.0];
        let peaks = peaks(&samples, 2);
        assert_eq!(peaks.min, vec![-0.5, -0.1]);
        assert_eq!(peaks.max, vec![0.2, 0.9]);
    }

    #[test]
    fn short_audio_gets_one_column_per_sample() {
        assert_eq!(peaks(&[0.5, -0.25], 10).max.len(), 2);
        assert_eq!(peaks::<f32>(&[], 10).max, vec![0.0]);
    }
}
