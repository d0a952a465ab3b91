//! `GET /api/model`: the loaded detector, its settings, its labels and the inference backend
//! serving it — what the console shows on its settings page and offers in its label pickers.

use std::sync::Arc;

use serde_json::json;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{ApiState, with_state};

/// The model route.
pub fn routes(
    state: Arc<ApiState>,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    warp::path!("api" / "model")
        .and(warp::get())
        .and(with_state(&state))
        .map(|s: Arc<ApiState>| {
            let m = &s.config.model;
            warp::reply::json(&json!({
                "model": &s.model,
                "settings": {
                    "score_threshold": m.score_threshold,
                    "nms_iou": m.nms_iou,
                    "max_detections": m.max_detections,
                    "only_labels": m.only_labels,
                    "threads": m.threads,
                    "input_size": m.input_size.map(|(w, h)| [w, h]),
                },
                "labels": &s.labels,
                // One backend is built in today; the list leaves room for the GPU ones.
                "backends": [{
                    "name": s.model.backend,
                    "device": "cpu",
                    "active": true,
                }],
            }))
            .into_response()
        })
}
