//! The API token: where it comes from, how requests present it, and how failures are limited.
//!
//! Source, first found wins: the environment variable `EDGESIGHT_API_TOKEN`, then `http.token`
//! in the config (`${ENV_VAR}` allowed), then the sha256 kept in `{data}/api-token.sha256` by an
//! earlier start; with none of these, a random token is generated, its sha256 written to that
//! file (mode 0600), and the token itself handed back once for the log — it is never stored.
//! Only the sha256 is kept in memory.
//!
//! Requests: every call under `/api/` and to `/metrics` whose method is not GET or HEAD needs
//! the token; GET and HEAD need it too when `require_token_for_reads` (the default unless the
//! server is bound to loopback). `GET /api/openapi.json` and the console's static files never
//! need it. A request presents the token as `Authorization: Bearer TOKEN`; a WebSocket as a
//! `Sec-WebSocket-Protocol` entry `bearer.TOKEN` (browsers cannot set headers there); a GET as
//! the query parameter `access_token=TOKEN` (for `<img>` and MJPEG players; URLs end up in logs
//! and histories, so prefer the header).
//!
//! Checking hashes the presented token with sha256 and compares the 32 bytes in constant time
//! (`subtle`). A wrong token counts as a failure for the client's IP address; after
//! [`MAX_FAILURES`] failures within [`FAILURE_WINDOW`] the address gets 429 with `Retry-After`
//! until the window ends, whatever it sends. A missing token is not counted (the console's
//! first reads carry none). Bounded: at most [`MAX_TRACKED`] addresses are remembered; when that
//! many are limited at once, new addresses are refused too (fail closed). Behind a reverse proxy
//! every client has the proxy's address.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use warp::Filter;
use warp::http::{Method, StatusCode};

use crate::config::HttpConfig;

/// The environment variable that gives the token, ahead of the config.
pub const TOKEN_ENV: &str = "EDGESIGHT_API_TOKEN";
/// The file in the data folder that keeps a generated token's sha256.
pub const TOKEN_FILE: &str = "api-token.sha256";
/// Wrong tokens allowed per address within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: u32 = 10;
/// How long failures are remembered, counted from an address's first failure.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most.
pub const MAX_TRACKED: usize = 4096;
/// The `Sec-WebSocket-Protocol` entry that carries a token starts with this.
pub const WS_PROTOCOL_PREFIX: &str = "bearer.";

/// Why the token could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{TOKEN_ENV}: {0}; use a long random string, e.g. `openssl rand -hex 20`")]
    BadEnv(String),
    #[error(
        "{path}: not a sha256 hex digest; delete the file to generate a new token at the next start"
    )]
    BadFile { path: PathBuf },
    #[error("{path}: {source}; fix the data folder's permissions or `[store] path`")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot get random bytes for a token: {0}")]
    Random(String),
}

/// Where the token in use came from.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenSource {
    Env,
    Config,
    /// The sha256 kept by an earlier start.
    Stored(PathBuf),
    /// Generated now: the token (to print once) and where its sha256 was written.
    Generated {
        token: String,
        path: PathBuf,
    },
}

/// Failures of one address.
#[derive(Clone, Copy)]
struct Failures {
    since: Instant,
    count: u32,
}

/// The token check and the failure limiter.
pub struct Auth {
    hash: [u8; 32],
    reads_need_token: bool,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

/// What the check looks at in a request.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a Method,
    /// The URL path.
    pub path: &'a str,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The `Sec-WebSocket-Protocol` header.
    pub ws_protocol: Option<&'a str>,
    /// The raw query string (empty when none).
    pub query: &'a str,
    /// The client's address.
    pub client: Option<IpAddr>,
}

/// A refused request: the status, a stable code and a message.
#[derive(Debug)]
pub struct Denied {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds until the address may try again (429 only).
    pub retry_after_s: Option<u64>,
}

impl warp::reject::Reject for Denied {}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Auth {
    /// An `Auth` for a known token.
    pub fn with_token(token: &str, reads_need_token: bool) -> Self {
        Self::with_hash(sha256(token.as_bytes()), reads_need_token)
    }

    fn with_hash(hash: [u8; 32], reads_need_token: bool) -> Self {
        Self {
            hash,
            reads_need_token,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Finds the token (see the module doc); generates one when there is none.
    pub fn load(http: &HttpConfig, data_dir: &Path) -> Result<(Self, TokenSource), AuthError> {
        Self::load_with(http, data_dir, std::env::var(TOKEN_ENV).ok())
    }

    /// [`Auth::load`] with the environment variable's value given.
    fn load_with(
        http: &HttpConfig,
        data_dir: &Path,
        env: Option<String>,
    ) -> Result<(Self, TokenSource), AuthError> {
        let reads = http.reads_need_token();
        if let Some(token) = env
            && !token.is_empty()
        {
            crate::config::check_token(&token).map_err(AuthError::BadEnv)?;
            return Ok((Self::with_token(&token, reads), TokenSource::Env));
        }
        if let Some(token) = &http.token {
            return Ok((Self::with_token(&token.0, reads), TokenSource::Config));
        }
        let path = data_dir.join(TOKEN_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let hash = parse_hex(text.trim())
                    .ok_or_else(|| AuthError::BadFile { path: path.clone() })?;
                Ok((Self::with_hash(hash, reads), TokenSource::Stored(path)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let token = generate()?;
                write_hash_file(&path, &sha256(token.as_bytes()))?;
                Ok((
                    Self::with_token(&token, reads),
                    TokenSource::Generated { token, path },
                ))
            }
            Err(source) => Err(AuthError::Io { path, source }),
        }
    }

    /// Whether reads need the token.
    pub fn reads_need_token(&self) -> bool {
        self.reads_need_token
    }

    /// Decides one request.
    pub fn check(&self, req: &Request<'_>, now: Instant) -> Result<(), Denied> {
        let Request {
            method,
            path,
            authorization,
            ws_protocol,
            query,
            client,
        } = *req;
        let guarded = path == "/metrics" || path == "/api" || path.starts_with("/api/");
        if !guarded || path == "/api/openapi.json" {
            return Ok(());
        }
        let read = method == Method::GET || method == Method::HEAD;
        if read && !self.reads_need_token {
            return Ok(());
        }
        // An unknown address (no peer address: not a TCP client) shares one bucket.
        let client = client.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        if let Some(wait) = self.limited(client, now) {
            return Err(Denied {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "too_many_failures",
                message: format!(
                    "too many wrong tokens from {client}; try again in {} s",
                    wait.as_secs().max(1)
                ),
                retry_after_s: Some(wait.as_secs().max(1)),
            });
        }
        let presented = bearer(authorization)
            .or_else(|| ws_protocol.and_then(protocol_token))
            .or_else(|| read.then(|| query_token(query)).flatten());
        let Some(token) = presented else {
            let what = if read {
                "this server's reads"
            } else {
                "changes"
            };
            return Err(Denied {
                status: StatusCode::UNAUTHORIZED,
                code: "token_required",
                message: format!(
                    "{what} need the API token: send `Authorization: Bearer TOKEN` (the token is printed once in the log at first start, or set with http.token / {TOKEN_ENV})"
                ),
                retry_after_s: None,
            });
        };
        if bool::from(sha256(token.as_bytes()).ct_eq(&self.hash)) {
            return Ok(());
        }
        self.count_failure(client, now);
        Err(Denied {
            status: StatusCode::UNAUTHORIZED,
            code: "token_invalid",
            message: "the API token is wrong".into(),
            retry_after_s: None,
        })
    }

    /// How long `client` must still wait, when it is limited.
    fn limited(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(&f) = failures.get(&client) else {
            // Fail closed when every remembered address is within its window.
            return (!make_room(&mut failures, now)).then_some(FAILURE_WINDOW);
        };
        let age = now.saturating_duration_since(f.since);
        if age >= FAILURE_WINDOW {
            failures.remove(&client);
            return None;
        }
        (f.count >= MAX_FAILURES).then(|| FAILURE_WINDOW - age)
    }

    fn count_failure(&self, client: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if !failures.contains_key(&client) && !make_room(&mut failures, now) {
            // Full of live windows: `limited` refuses this address anyway.
            return;
        }
        let f = failures.entry(client).or_insert(Failures {
            since: now,
            count: 0,
        });
        if now.saturating_duration_since(f.since) >= FAILURE_WINDOW {
            *f = Failures {
                since: now,
                count: 0,
            };
        }
        f.count = f.count.saturating_add(1);
    }
}

/// Forgets ended windows when the map is full; whether there is room for one more address.
fn make_room(failures: &mut HashMap<IpAddr, Failures>, now: Instant) -> bool {
    if failures.len() >= MAX_TRACKED {
        failures.retain(|_, f| now.saturating_duration_since(f.since) < FAILURE_WINDOW);
    }
    failures.len() < MAX_TRACKED
}

fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn protocol_token(header: &str) -> Option<&str> {
    header
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix(WS_PROTOCOL_PREFIX))
        .filter(|t| !t.is_empty())
}

fn query_token(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("access_token="))
        .filter(|t| !t.is_empty())
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random token: 20 bytes (160 bits), hex.
fn generate() -> Result<String, AuthError> {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(hex(&bytes))
}

/// Writes `hash` as hex to `path` (mode 0600) through a temporary file and a rename.
fn write_hash_file(path: &Path, hash: &[u8; 32]) -> Result<(), AuthError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| AuthError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(format!("{}\n", hex(hash)).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The filter that guards the routes after it: passes a request the token check allows,
/// rejects with [`Denied`] otherwise.
pub fn guard(
    auth: Arc<Auth>,
) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>("sec-websocket-protocol"))
        .and(query)
        .and(warp::addr::remote())
        .and_then(
            move |method: Method,
                  path: warp::path::FullPath,
                  authorization: Option<String>,
                  protocol: Option<String>,
                  query: String,
                  remote: Option<SocketAddr>| {
                let auth = auth.clone();
                async move {
                    let request = Request {
                        method: &method,
                        path: path.as_str(),
                        authorization: authorization.as_deref(),
                        ws_protocol: protocol.as_deref(),
                        query: &query,
                        client: remote.map(|a| a.ip()),
                    };
                    auth.check(&request, Instant::now())
                        .map_err(warp::reject::custom)
                }
            },
        )
        .untuple_one()
}

/// Whether a WebSocket request offered the `edgesight` subprotocol (the console does, next to
/// its `bearer.` entry): the handshake must then name it in the reply.
pub fn offers_edgesight_protocol(header: Option<&str>) -> bool {
    header.is_some_and(|h| h.split(',').any(|p| p.trim() == "edgesight"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef-test";

    /// A request from `client` with the token (if any) in `authorization`.
    fn req<'a>(method: &'a Method, path: &'a str, authorization: Option<&'a str>) -> Request<'a> {
        Request {
            method,
            path,
            authorization,
            ws_protocol: None,
            query: "",
            client: Some(IpAddr::from([10, 0, 0, 1])),
        }
    }

    fn code(auth: &Auth, r: Request<'_>, now: Instant) -> Result<(), &'static str> {
        auth.check(&r, now).map_err(|d| d.code)
    }

    #[test]
    fn mutations_always_need_the_token_and_reads_only_when_configured() {
        let now = Instant::now();
        let (get, post, put, delete) = (Method::GET, Method::POST, Method::PUT, Method::DELETE);
        let good = format!("Bearer {TOKEN}");
        let open = Auth::with_token(TOKEN, false);
        assert_eq!(code(&open, req(&get, "/api/cameras", None), now), Ok(()));
        let missing = code(&open, req(&post, "/api/cameras", None), now);
        assert_eq!(missing, Err("token_required"));
        let wrong = req(&delete, "/api/events/x", Some("Bearer nope-nope-nope-nope"));
        assert_eq!(code(&open, wrong, now), Err("token_invalid"));
        assert_eq!(
            code(&open, req(&put, "/api/cameras/a", Some(&good)), now),
            Ok(())
        );
        let spaced = format!("bearer  {TOKEN} ");
        assert_eq!(
            code(&open, req(&put, "/api/cameras/a", Some(&spaced)), now),
            Ok(())
        );
        assert_eq!(
            code(&open, req(&post, "/", None), now),
            Ok(()),
            "not guarded"
        );

        let closed = Auth::with_token(TOKEN, true);
        for path in ["/api/cameras", "/metrics", "/api"] {
            assert_eq!(
                code(&closed, req(&get, path, None), now),
                Err("token_required")
            );
        }
        for path in ["/api/openapi.json", "/app.js", "/"] {
            assert_eq!(code(&closed, req(&get, path, None), now), Ok(()), "{path}");
        }
        assert_eq!(
            code(&closed, req(&get, "/api/cameras", Some(&good)), now),
            Ok(())
        );
        let ws = format!("edgesight, bearer.{TOKEN}");
        let by_protocol = Request {
            ws_protocol: Some(&ws),
            ..req(&get, "/api/ws", None)
        };
        assert_eq!(code(&closed, by_protocol, now), Ok(()));
        let q = format!("width=320&access_token={TOKEN}");
        let by_query = Request {
            query: &q,
            ..req(&get, "/api/cameras/a/frame.jpg", None)
        };
        assert_eq!(code(&closed, by_query, now), Ok(()));
        let change_by_query = Request {
            query: &q,
            ..req(&delete, "/api/events/x", None)
        };
        assert_eq!(
            code(&closed, change_by_query, now),
            Err("token_required"),
            "a query token never authorises a change"
        );
    }

    #[test]
    fn failures_are_limited_per_address_until_the_window_ends() {
        let auth = Auth::with_token(TOKEN, false);
        let t0 = Instant::now();
        let post = Method::POST;
        let wrong = Some("Bearer wrong-wrong-wrong-wrong");
        let right = format!("Bearer {TOKEN}");
        for _ in 0..MAX_FAILURES {
            let r = req(&post, "/api/cameras", wrong);
            assert_eq!(code(&auth, r, t0), Err("token_invalid"));
        }
        let denied = auth
            .check(&req(&post, "/api/cameras", Some(&right)), t0)
            .expect_err("limited");
        assert_eq!(
            (denied.status.as_u16(), denied.code),
            (429, "too_many_failures")
        );
        assert_eq!(denied.retry_after_s, Some(60));
        // Another address is not affected; missing tokens are not counted.
        let other = |authorization| Request {
            client: Some(IpAddr::from([10, 0, 0, 9])),
            ..req(&post, "/api/cameras", authorization)
        };
        for _ in 0..20 {
            assert_eq!(code(&auth, other(None), t0), Err("token_required"));
        }
        assert_eq!(code(&auth, other(Some(&right)), t0), Ok(()));
        // After the window the address may try again.
        let later = t0 + FAILURE_WINDOW;
        assert_eq!(
            code(&auth, req(&post, "/api/x", Some(&right)), later),
            Ok(())
        );
    }

    #[test]
    fn a_full_table_of_failing_addresses_fails_closed() {
        let auth = Auth::with_token(TOKEN, false);
        let t0 = Instant::now();
        let post = Method::POST;
        for i in 0..MAX_TRACKED as u32 {
            let r = Request {
                client: Some(IpAddr::from((i + 1).to_be_bytes())),
                ..req(&post, "/api/x", Some("Bearer wrong-wrong-wrong-wrong"))
            };
            assert_eq!(code(&auth, r, t0), Err("token_invalid"));
        }
        let right = format!("Bearer {TOKEN}");
        let newcomer = Request {
            client: Some(IpAddr::from([192, 0, 2, 1])),
            ..req(&post, "/api/x", Some(&right))
        };
        assert_eq!(code(&auth, newcomer, t0), Err("too_many_failures"));
        assert_eq!(code(&auth, newcomer, t0 + FAILURE_WINDOW), Ok(()));
    }

    #[test]
    fn tokens_come_from_env_config_or_the_data_folder_and_generated_ones_are_kept_hashed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut http = crate::config::Config::from_toml(
            "[model]\npath = \"m.onnx\"\nfamily = \"ssd\"\nlabels = \"l.txt\"\n",
            "test",
            dir.path(),
        )
        .expect("config")
        .http;
        let (auth, source) = Auth::load_with(&http, dir.path(), None).expect("generated");
        let TokenSource::Generated { token, path } = source else {
            panic!("expected a generated token, got {source:?}");
        };
        assert_eq!(token.len(), 40);
        let stored = std::fs::read_to_string(&path).expect("hash file");
        assert!(!stored.contains(&token), "only the hash is stored");
        assert_eq!(stored.trim(), hex(&sha256(token.as_bytes())));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let now = Instant::now();
        let post = Method::POST;
        let header = format!("Bearer {token}");
        let with_it = req(&post, "/api/x", Some(&header));
        assert_eq!(code(&auth, with_it, now), Ok(()));

        let (again, source) =
            Auth::load_with(&http, dir.path(), Some(String::new())).expect("stored");
        assert_eq!(source, TokenSource::Stored(path.clone()));
        assert_eq!(code(&again, with_it, now), Ok(()));

        http.token = Some(crate::config::Secret(TOKEN.into()));
        let (configured, source) = Auth::load_with(&http, dir.path(), None).expect("config");
        assert_eq!(source, TokenSource::Config);
        assert_eq!(code(&configured, with_it, now), Err("token_invalid"));
        let (env, source) = Auth::load_with(&http, dir.path(), Some(token.clone())).expect("env");
        assert_eq!(source, TokenSource::Env);
        assert_eq!(code(&env, with_it, now), Ok(()));
        assert!(matches!(
            Auth::load_with(&http, dir.path(), Some("short".into())),
            Err(AuthError::BadEnv(_))
        ));

        std::fs::write(&path, "not a hash").expect("write");
        http.token = None;
        assert!(matches!(
            Auth::load_with(&http, dir.path(), None),
            Err(AuthError::BadFile { .. })
        ));
    }
}
