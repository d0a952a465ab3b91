//! Frames for people: the newest analysed frame of a camera as a JPEG, and an MJPEG stream.
//!
//! | route | does |
//! |---|---|
//! | `GET /api/cameras/{name}/frame.jpg?width=` | the newest analysed frame (headers `x-frame`: its sequence number, which `detections/latest` and the WebSocket's `frame` messages name; `x-frame-timestamp-ms`) |
//! | `GET /api/cameras/{name}/stream.mjpg?fps=&width=` | `multipart/x-mixed-replace` JPEGs, `fps` 1 to 30 (default 5) |
//!
//! Inputs: the frame the analysis thread keeps on the camera record (an `Arc`, at analysis
//! size: what the detector saw). `width` scales down (never up), keeping the aspect; 16 px at
//! least. Encoding runs on the blocking pool and is cached per camera, frame and width, so many
//! viewers of one camera cost one encode per frame.
//!
//! Back-pressure: a stream is pulled by the connection — the next part is made only when the
//! previous one was taken, from the newest frame at that moment, so a slow client skips frames
//! and never holds the pipeline (which never waits on a reader). A frame that did not change is
//! not sent again except every [`RESEND_AFTER`], so a client can tell a stalled camera from a
//! dead connection. At most `http.max_streams` streams at once (503 `too_many_streams`
//! beyond). A stream ends when its camera is removed or changed, or the server closes.
//! Failure: `camera_not_found`, `no_frame_yet` (404), `bad_query` (400).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use image::RgbImage;
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{ApiState, error_reply, with_state};
use crate::cameras::CameraRecord;
use crate::frame::Frame;

/// JPEG quality of frames and streams.
pub const QUALITY: u8 = 75;
/// Narrowest frame served.
pub const MIN_WIDTH: u32 = 16;
/// Stream rates accepted, frames per second.
pub const FPS_RANGE: std::ops::RangeInclusive<f32> = 1.0..=30.0;
/// Stream rate when the request names none.
pub const DEFAULT_FPS: f32 = 5.0;
/// An unchanged frame is sent again after this long.
pub const RESEND_AFTER: Duration = Duration::from_secs(2);
/// Encoded frames kept at most (camera × width).
const CACHE_ENTRIES: usize = 64;

/// Streams and the encode cache, shared by all requests.
pub struct Media {
    max_streams: usize,
    streams: Arc<AtomicUsize>,
    encoded: AtomicU64,
    cache: Mutex<HashMap<(u64, u32), (u64, Bytes)>>,
}

/// Counters for `/api/stats`.
#[derive(serde::Serialize)]
pub struct MediaStats {
    pub mjpeg_streams: usize,
    pub max_streams: usize,
    pub jpegs_encoded: u64,
}

impl Media {
    pub fn new(max_streams: usize) -> Self {
        Self {
            max_streams,
            streams: Arc::new(AtomicUsize::new(0)),
            encoded: AtomicU64::new(0),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn stats(&self) -> MediaStats {
        MediaStats {
            mjpeg_streams: self.streams.load(Ordering::Relaxed),
            max_streams: self.max_streams,
            jpegs_encoded: self.encoded.load(Ordering::Relaxed),
        }
    }

    /// The JPEG of `frame` of `camera` at `width`, from the cache or encoded now.
    async fn jpeg(
        &self,
        camera: &CameraRecord,
        frame: Arc<Frame>,
        width: Option<u32>,
    ) -> Result<Bytes, String> {
        let width = target_width(frame.width, width);
        let key = (camera.id, width);
        if let Some((seq, bytes)) = self.cache_get(key)
            && seq == frame.seq
        {
            return Ok(bytes);
        }
        let seq = frame.seq;
        let bytes = tokio::task::spawn_blocking(move || encode(&frame, width))
            .await
            .map_err(|e| e.to_string())??;
        self.encoded.fetch_add(1, Ordering::Relaxed);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_ENTRIES && !cache.contains_key(&key) {
            cache.clear();
        }
        cache.insert(key, (seq, bytes.clone()));
        Ok(bytes)
    }

    fn cache_get(&self, key: (u64, u32)) -> Option<(u64, Bytes)> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned()
    }

    /// Takes a stream slot; `None` when all are taken.
    fn open_stream(&self) -> Option<StreamSlot> {
        self.streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_streams).then_some(n + 1)
            })
            .ok()
            .map(|_| StreamSlot(self.streams.clone()))
    }
}

/// A taken stream slot, given back when the stream ends.
struct StreamSlot(Arc<AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The width to encode: the request's, clamped to `MIN_WIDTH..=frame_width`.
fn target_width(frame_width: u32, asked: Option<u32>) -> u32 {
    asked
        .unwrap_or(frame_width)
        .clamp(MIN_WIDTH.min(frame_width), frame_width.max(1))
}

/// Encodes `frame` as a JPEG `width` pixels wide (aspect kept).
pub fn encode(frame: &Frame, width: u32) -> Result<Bytes, String> {
    let packed = frame.to_rgb()?;
    let mut image = RgbImage::from_raw(frame.width, frame.height, packed)
        .ok_or_else(|| "frame buffer does not match its size".to_string())?;
    if width < frame.width {
        let height = ((frame.height as u64 * width as u64) / frame.width as u64).max(1) as u32;
        image = image::imageops::thumbnail(&image, width, height);
    }
    let out = crate::jpeg::encode_rgb(image.as_raw(), image.width(), image.height(), QUALITY)
        .map_err(|e| format!("jpeg: {e}"))?;
    Ok(Bytes::from(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrameParams {
    width: Option<u32>,
    /// Accepted (and ignored) on every GET: see `auth.rs`.
    #[serde(rename = "access_token")]
    _access_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamParams {
    fps: Option<f32>,
    width: Option<u32>,
    #[serde(rename = "access_token")]
    _access_token: Option<String>,
}

/// The frame routes.
pub fn routes(
    state: Arc<ApiState>,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    let frame = warp::path!("api" / "cameras" / String / "frame.jpg")
        .and(warp::get())
        .and(warp::query::<FrameParams>())
        .and(with_state(&state))
        .and_then(
            |name: String, p: FrameParams, s: Arc<ApiState>| async move {
                Ok::<_, warp::Rejection>(frame_jpg(&s, &name, p.width).await)
            },
        );
    let stream = warp::path!("api" / "cameras" / String / "stream.mjpg")
        .and(warp::get())
        .and(warp::query::<StreamParams>())
        .and(with_state(&state))
        .map(|name: String, p: StreamParams, s: Arc<ApiState>| mjpeg(s, &name, p));
    frame.or(stream).unify()
}

fn camera_not_found(name: &str) -> Response {
    error_reply(
        StatusCode::NOT_FOUND,
        "camera_not_found",
        format!("no camera named `{name}`"),
    )
}

fn no_frame(name: &str) -> Response {
    error_reply(
        StatusCode::NOT_FOUND,
        "no_frame_yet",
        format!("camera `{name}` has no analysed frame yet"),
    )
}

async fn frame_jpg(s: &ApiState, name: &str, width: Option<u32>) -> Response {
    let Some(camera) = s.cameras().get(name) else {
        return camera_not_found(name);
    };
    let Some(frame) = camera.latest_frame() else {
        return no_frame(name);
    };
    let (seq, timestamp) = (frame.seq, frame.timestamp_ms);
    match s.media.jpeg(&camera, frame, width).await {
        Ok(bytes) => {
            let mut reply = warp::reply::with_header(bytes.to_vec(), "content-type", "image/jpeg")
                .into_response();
            let headers = reply.headers_mut();
            headers.insert("x-frame", seq.into());
            headers.insert("x-frame-timestamp-ms", timestamp.into());
            headers.insert(
                "cache-control",
                warp::http::HeaderValue::from_static("no-store"),
            );
            reply
        }
        Err(e) => error_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "encode_failed",
            format!("cannot encode the frame: {e}"),
        ),
    }
}

/// What one stream carries between parts.
struct StreamState {
    state: Arc<ApiState>,
    camera: Arc<CameraRecord>,
    width: Option<u32>,
    every: Duration,
    due: tokio::time::Instant,
    last_seq: u64,
    last_sent: Option<tokio::time::Instant>,
    _slot: StreamSlot,
}

fn mjpeg(s: Arc<ApiState>, name: &str, p: StreamParams) -> Response {
    let fps = p.fps.unwrap_or(DEFAULT_FPS);
    if !FPS_RANGE.contains(&fps) {
        return error_reply(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!(
                "fps {fps} is out of range; use {} to {}",
                FPS_RANGE.start(),
                FPS_RANGE.end()
            ),
        );
    }
    let Some(camera) = s.cameras().get(name) else {
        return camera_not_found(name);
    };
    let Some(slot) = s.media.open_stream() else {
        return error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            format!(
                "{} MJPEG streams are open, the most allowed (`http.max_streams`); close one or use frame.jpg",
                s.media.max_streams
            ),
        );
    };
    let closed = s.closed();
    let first = StreamState {
        state: s,
        camera,
        width: p.width,
        every: Duration::from_secs_f32(1.0 / fps),
        due: tokio::time::Instant::now(),
        last_seq: 0,
        last_sent: None,
        _slot: slot,
    };
    let parts = futures_util::stream::unfold(first, next_part);
    let parts = futures_util::StreamExt::take_until(parts, Box::pin(closed));
    let mut reply = warp::reply::stream(parts).into_response();
    let headers = reply.headers_mut();
    headers.insert(
        "content-type",
        warp::http::HeaderValue::from_static("multipart/x-mixed-replace; boundary=frame"),
    );
    headers.insert(
        "cache-control",
        warp::http::HeaderValue::from_static("no-store"),
    );
    reply
}

/// Waits for the next due, new frame and makes its part; `None` ends the stream.
async fn next_part(mut st: StreamState) -> Option<(Result<Bytes, std::io::Error>, StreamState)> {
    loop {
        tokio::time::sleep_until(st.due).await;
        let now = tokio::time::Instant::now();
        // Counted from when the previous part was taken: a slow client gets fewer parts.
        st.due = now + st.every;
        let current = st.state.cameras().get(st.camera.name());
        if current.is_none_or(|c| c.id != st.camera.id) {
            return None;
        }
        let Some(frame) = st.camera.latest_frame() else {
            continue;
        };
        let fresh = frame.seq != st.last_seq;
        let resend = st.last_sent.is_some_and(|t| now - t >= RESEND_AFTER);
        if !fresh && !resend {
            continue;
        }
        st.last_seq = frame.seq;
        st.last_sent = Some(now);
        let jpeg = match st.state.media.jpeg(&st.camera, frame, st.width).await {
            Ok(jpeg) => jpeg,
            Err(e) => {
                tracing::warn!(camera = st.camera.name(), "mjpeg: {e}");
                return None;
            }
        };
        let mut part = Vec::with_capacity(jpeg.len() + 100);
        part.extend_from_slice(
            format!(
                "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                jpeg.len()
            )
            .as_bytes(),
        );
        part.extend_from_slice(&jpeg);
        part.extend_from_slice(b"\r\n");
        return Some((Ok(Bytes::from(part)), st));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_encode_at_the_asked_width_never_wider() {
        let (w, h) = (64u32, 48u32);
        let mut data = vec![0u8; (w * 3 + 6) as usize * h as usize];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let mut frame = Frame::from_rgb(w, h, data);
        frame.planes[0].stride = w as usize * 3 + 6;
        for (asked, want) in [(None, 64), (Some(32), 32), (Some(1000), 64), (Some(1), 16)] {
            let jpeg = encode(&frame, target_width(w, asked)).expect("encodes");
            let img = image::load_from_memory(&jpeg).expect("decodes");
            assert_eq!(img.width(), want, "asked {asked:?}");
            assert_eq!(img.height(), want * 3 / 4);
        }
        let short = Frame::from_rgb(w, h, vec![0; 10]);
        assert!(encode(&short, 64).is_err());
    }
}
