//! The console: the static files of `web/` (HTML, CSS, JavaScript modules, an icon), embedded
//! into the binary at build time, so the appliance serves them with no files beside it.
//!
//! `GET /` is `index.html`; every other file by its path under `web/`. Nothing else: an unknown
//! path falls through to the API's routes (and so to a JSON `not_found`). Replies carry
//! `Cache-Control: no-cache` (the browser revalidates, so an upgraded appliance serves its own
//! console) and headers that keep the page to its own origin: a Content-Security-Policy allowing
//! only this server's scripts, styles, images and connections, `X-Content-Type-Options: nosniff`
//! and `Referrer-Policy: no-referrer` (URLs may carry `access_token`).

use warp::reply::Response;
use warp::{Filter, Reply};

/// Path under `web/`, contents, content type.
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", include_str!("../../web/index.html"), HTML),
    ("style.css", include_str!("../../web/style.css"), CSS),
    ("favicon.svg", include_str!("../../web/favicon.svg"), SVG),
    ("js/app.js", include_str!("../../web/js/app.js"), JS),
    ("js/api.js", include_str!("../../web/js/api.js"), JS),
    ("js/store.js", include_str!("../../web/js/store.js"), JS),
    ("js/ui.js", include_str!("../../web/js/ui.js"), JS),
    ("js/health.js", include_str!("../../web/js/health.js"), JS),
    ("js/draw.js", include_str!("../../web/js/draw.js"), JS),
    ("js/live.js", include_str!("../../web/js/live.js"), JS),
    ("js/events.js", include_str!("../../web/js/events.js"), JS),
    ("js/editor.js", include_str!("../../web/js/editor.js"), JS),
    ("js/charts.js", include_str!("../../web/js/charts.js"), JS),
    (
        "js/settings.js",
        include_str!("../../web/js/settings.js"),
        JS,
    ),
];

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; \
                   style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'; form-action 'self'";

/// The file served for `path` (relative to `web/`, `""` for the index).
fn lookup(path: &str) -> Option<(&'static str, &'static str)> {
    let path = if path.is_empty() { "index.html" } else { path };
    FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, body, kind)| (*body, *kind))
}

/// The console's routes.
pub fn routes()
-> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    warp::get()
        .and(warp::path::tail())
        .and_then(|tail: warp::path::Tail| async move {
            let (body, kind) = lookup(tail.as_str()).ok_or_else(warp::reject::not_found)?;
            let mut reply = warp::reply::with_header(body, "content-type", kind).into_response();
            let headers = reply.headers_mut();
            for (name, value) in [
                ("cache-control", "no-cache"),
                ("content-security-policy", CSP),
                ("x-content-type-options", "nosniff"),
                ("referrer-policy", "no-referrer"),
            ] {
                headers.insert(name, warp::http::HeaderValue::from_static(value));
            }
            Ok::<_, warp::Rejection>(reply)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_web_is_served_and_every_module_import_resolves() {
        let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut on_disk = Vec::new();
        for dir in [web.clone(), web.join("js")] {
            for entry in std::fs::read_dir(&dir).expect("web folder") {
                let path = entry.expect("entry").path();
                if path.is_file() {
                    let rel = path.strip_prefix(&web).expect("under web");
                    on_disk.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut served: Vec<String> = FILES.iter().map(|(p, _, _)| p.to_string()).collect();
        served.sort();
        assert_eq!(served, on_disk, "web/ and FILES differ");
        assert!(lookup("").is_some());
        assert!(lookup("../Cargo.toml").is_none());
        for (path, body, _) in FILES.iter().filter(|(p, _, _)| p.ends_with(".js")) {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let target = line
                    .split(['"', '\''])
                    .nth(1)
                    .unwrap_or_else(|| panic!("{path}: cannot read `{line}`"));
                let target = target.strip_prefix("./").expect("relative import");
                assert!(
                    lookup(&format!("js/{target}")).is_some(),
                    "{path}: `{line}`"
                );
            }
        }
    }
}
