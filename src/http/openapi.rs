//! `GET /api/openapi.json`: the OpenAPI 3 description of every route, a static file in the
//! repository (`src/http/openapi.json`) embedded at build time. It needs no token. The
//! integration tests check that it names exactly the routes the server answers.

use warp::reply::Response;
use warp::{Filter, Reply};

/// The document.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The OpenAPI route.
pub fn routes()
-> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    warp::path!("api" / "openapi.json")
        .and(warp::get())
        .map(|| {
            warp::reply::with_header(OPENAPI_JSON, "content-type", "application/json")
                .into_response()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_and_names_its_version() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        let paths = doc["paths"].as_object().expect("paths");
        assert!(
            paths
                .keys()
                .all(|p| p.starts_with("/api/") || p == "/metrics")
        );
        // Every operation has an id, a summary and at least one response.
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("path item") {
                if method == "parameters" {
                    continue;
                }
                assert!(
                    op["operationId"].is_string(),
                    "{method} {path}: operationId"
                );
                assert!(op["summary"].is_string(), "{method} {path}: summary");
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path}"
                );
            }
        }
    }
}
