//! One webhook endpoint: a tokio task that sends the endpoint's due outbox rows as signed POSTs
//! (Standard Webhooks) and records each attempt through the store writer.
//!
//! Inputs: outbox rows of sink `webhook:NAME` (read in batches of [`BATCH`] on its own
//! read-only connection), a wake-up after each commit that added rows, the stop signal.
//! Outputs: HTTP POSTs with `webhook-id` (the row's message id), `webhook-timestamp` (Unix
//! seconds of this attempt), `webhook-signature`, `content-type: application/json`, the
//! configured extra headers; one settlement per attempt (delivered / retry at / dead).
//!
//! Outcomes: 2xx is delivered. A connection failure, a timeout, or 408/429/502/503/504 means
//! the endpoint is unavailable: that message is retried later, the rest of the batch waits, and
//! the task pauses (0.5 s doubling to `backoff_max_s`) before trying again — one probe per
//! pause, not a storm. Any other status fails only that message; the batch goes on. A message
//! is retried after 1 s doubling to `backoff_max_s` (with jitter) until `max_attempts`, then it
//! is a dead letter. When a delivery succeeds after failures, the messages waiting for a retry
//! are made due at once (the receiver is back).
//!
//! Order: messages are tried in outbox order, but a failed one is retried later while newer
//! ones go on, so a receiver may see changes out of order; `data.last_seen_ms` and the
//! `{event_id}.{seq}` message id order them. Redirects are not followed.
//!
//! Failure: the endpoint's URL, secret and header values never appear in logs or in
//! `last_error` (errors are reduced to their kind, credentials redacted).

use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use tokio::sync::watch;

use super::config::{SnapshotMode, WebhookConfig};
use super::deliveries::{self, Delivery};
use super::outbox::{Attempt, OutboxOp, Route, Settlement};
use super::retry::{retry_delay, unit_random};
use super::stats::Outcome;
use super::{OutboxReader, SinkContext, sleep_or_stop, write_outbox};
use crate::config::redact_text;
use crate::frame::unix_ms;
use crate::ingest::Backoff;
use crate::store::StoreWriter;

/// Rows read per pass.
pub const BATCH: usize = 32;
/// The outbox is looked at this often even when nothing woke the task.
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Longest part of a receiver's answer kept in `last_error`.
const ERROR_BODY_CHARS: usize = 200;

/// Why an attempt failed.
#[derive(Debug)]
enum Failure {
    /// The endpoint is not answering usefully; pause the whole endpoint.
    Unavailable(String),
    /// The endpoint refused this message.
    Rejected(String),
}

/// The delivery task of one endpoint.
pub struct WebhookTask {
    config: WebhookConfig,
    route: Route,
    client: reqwest::Client,
    headers: HeaderMap,
    reader: OutboxReader,
    writer: StoreWriter,
    public_url: Option<url::Url>,
    stop: watch::Receiver<bool>,
}

impl WebhookTask {
    pub fn new(
        config: WebhookConfig,
        route: Route,
        ctx: &SinkContext,
        stop: watch::Receiver<bool>,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("edgesight/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("http client: {}", error_chain(&e)))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("header `{name}` is not a valid name"))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| format!("header `{name}` has an invalid value"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(Self {
            config,
            route,
            client,
            headers,
            reader: OutboxReader::new(ctx.data_dir.clone()),
            writer: ctx.writer.clone(),
            public_url: ctx.public_url.clone(),
            stop,
        })
    }

    /// Sends until stopped; on stop, sends what is due, then returns.
    pub async fn run(mut self) {
        tracing::info!(
            url = %redact_text(self.config.url.as_str()),
            "webhook endpoint ready"
        );
        let mut pause = Backoff::new(self.config.backoff_max);
        let mut retrying = false;
        let mut down = false;
        loop {
            let stopping = *self.stop.borrow();
            let sink = self.route.sink.clone();
            let now = unix_ms();
            let rows = match self
                .reader
                .run(move |r| deliveries::due(r, &sink, now, BATCH, &[]))
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!("outbox not readable: {e}");
                    if sleep_or_stop(&mut self.stop, Duration::from_secs(1)).await && stopping {
                        return;
                    }
                    continue;
                }
            };
            if rows.is_empty() {
                if stopping {
                    return;
                }
                self.idle().await;
                continue;
            }
            let (settlements, unavailable) = self.attempt(&rows).await;
            let delivered = settlements.iter().any(|s| s.attempt == Attempt::Delivered);
            match (&unavailable, down) {
                (Some(e), false) => tracing::warn!("endpoint unavailable: {e}; pausing, retrying"),
                (None, true) if delivered => tracing::info!("endpoint reachable again"),
                _ => {}
            }
            down = unavailable.is_some() || (down && !delivered);
            retrying |= settlements
                .iter()
                .any(|s| matches!(s.attempt, Attempt::Retry { .. }));
            self.settle(&rows, settlements).await;
            if delivered && retrying {
                retrying = false;
                let op = OutboxOp::Revive {
                    sink: self.route.sink.clone(),
                    now_ms: unix_ms(),
                };
                if let Err(e) = write_outbox(&self.writer, op).await {
                    tracing::warn!("waiting retries not brought forward: {e}");
                }
            }
            if unavailable.is_some() {
                if stopping || sleep_or_stop(&mut self.stop, pause.next_wait()).await {
                    return;
                }
            } else {
                pause.reset();
            }
        }
    }

    /// Waits for a wake-up, the next retry, the stop signal or [`IDLE_POLL`].
    async fn idle(&mut self) {
        let sink = self.route.sink.clone();
        let next = self
            .reader
            .run(move |r| deliveries::next_due_ms(r, &sink))
            .await
            .ok()
            .flatten();
        let wait = next
            .map(|due| Duration::from_millis(due.saturating_sub(unix_ms())))
            .unwrap_or(IDLE_POLL)
            .min(IDLE_POLL);
        let wake = self.route.wake.clone();
        tokio::select! {
            _ = wake.notified() => {}
            _ = sleep_or_stop(&mut self.stop, wait) => {}
        }
    }

    /// Tries `rows` in order; stops at the first sign that the endpoint is unavailable.
    /// Returns one settlement per row tried, and why it stopped early, if it did.
    async fn attempt(&mut self, rows: &[Delivery]) -> (Vec<Settlement>, Option<String>) {
        let mut settlements = Vec::with_capacity(rows.len());
        for row in rows {
            let result = self.deliver(row).await;
            let at_ms = unix_ms();
            let (error, unavailable) = match result {
                Ok(()) => {
                    settlements.push(Settlement {
                        id: row.id,
                        at_ms,
                        attempt: Attempt::Delivered,
                    });
                    continue;
                }
                Err(Failure::Unavailable(e)) => (e, true),
                Err(Failure::Rejected(e)) => (e, false),
            };
            let why = unavailable.then(|| error.clone());
            let failures = row.attempts + 1;
            let attempt = if failures >= self.config.max_attempts {
                tracing::warn!(
                    message = %row.message_id,
                    attempts = failures,
                    "dead letter: {error}"
                );
                Attempt::Dead { error }
            } else {
                let wait = retry_delay(failures, self.config.backoff_max, unit_random());
                tracing::debug!(message = %row.message_id, ?wait, "attempt failed: {error}");
                Attempt::Retry {
                    next_attempt_ms: at_ms + wait.as_millis() as u64,
                    error,
                }
            };
            settlements.push(Settlement {
                id: row.id,
                at_ms,
                attempt,
            });
            if why.is_some() {
                return (settlements, why);
            }
        }
        (settlements, None)
    }

    /// Records the attempts; counts and latency once the writer has them.
    async fn settle(&mut self, rows: &[Delivery], settlements: Vec<Settlement>) {
        let stats = self.route.stats.clone();
        let outcomes: Vec<(Outcome, u64)> = settlements
            .iter()
            .map(|s| {
                let created = rows
                    .iter()
                    .find(|r| r.id == s.id)
                    .map_or(s.at_ms, |r| r.created_ms);
                let outcome = match s.attempt {
                    Attempt::Delivered => Outcome::Delivered,
                    Attempt::Retry { .. } => Outcome::Retried,
                    Attempt::Dead { .. } => Outcome::Dead,
                };
                (outcome, s.at_ms.saturating_sub(created))
            })
            .collect();
        if let Err(e) = write_outbox(&self.writer, OutboxOp::Settle(settlements)).await {
            // The rows stay as they were: sent again later, with the same ids.
            tracing::warn!("attempts not recorded: {e}");
            sleep_or_stop(&mut self.stop, Duration::from_secs(1)).await;
            return;
        }
        for (outcome, latency_ms) in outcomes {
            stats.add(outcome, 1);
            if outcome == Outcome::Delivered {
                stats.observe_latency(latency_ms as f64 / 1000.0);
            }
        }
        let sink = self.route.sink.clone();
        if let Ok(n) = self
            .reader
            .run(move |r| deliveries::count(r, &sink, deliveries::State::Pending))
            .await
        {
            stats.set_pending(n);
        }
    }

    /// One attempt of one row.
    async fn deliver(&mut self, row: &Delivery) -> Result<(), Failure> {
        let body = self.body(row).await;
        let timestamp = unix_ms() / 1000;
        let signature = self
            .config
            .key
            .sign(&row.message_id, timestamp, body.as_bytes());
        let mut response = self
            .client
            .post(self.config.url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &row.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::Unavailable(error_chain(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let mut answer = String::new();
        if let Ok(Some(chunk)) = response.chunk().await {
            answer = String::from_utf8_lossy(&chunk)
                .chars()
                .take(ERROR_BODY_CHARS)
                .collect();
        }
        let error = if answer.trim().is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {}", answer.trim())
        };
        match status.as_u16() {
            408 | 429 | 502 | 503 | 504 => Err(Failure::Unavailable(error)),
            _ => Err(Failure::Rejected(error)),
        }
    }

    /// The stored body, with the snapshot added when the endpoint asks for one.
    async fn body(&mut self, row: &Delivery) -> String {
        if self.config.snapshot == SnapshotMode::None {
            return row.payload.clone();
        }
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&row.payload) else {
            return row.payload.clone();
        };
        if value["data"]["has_snapshot"] != true {
            return row.payload.clone();
        }
        let (key, snapshot) = match self.config.snapshot {
            SnapshotMode::Url => {
                let Some(base) = &self.public_url else {
                    return row.payload.clone();
                };
                let url = format!(
                    "{}/api/events/{}/snapshot.jpg",
                    base.as_str().trim_end_matches('/'),
                    row.event_id
                );
                ("snapshot_url", url)
            }
            _ => match self.read_snapshot(&row.event_id).await {
                Some(jpeg) => (
                    "snapshot_jpeg",
                    base64::engine::general_purpose::STANDARD.encode(jpeg),
                ),
                None => return row.payload.clone(),
            },
        };
        value[key] = serde_json::Value::String(snapshot);
        serde_json::to_string(&value).unwrap_or_else(|_| row.payload.clone())
    }

    /// The event's full snapshot JPEG, read now; `None` when it has none (any more).
    async fn read_snapshot(&mut self, event_id: &str) -> Option<Vec<u8>> {
        let id = event_id.to_string();
        self.reader
            .run(move |r| {
                Ok(r.snapshot_paths(&id)?
                    .and_then(|paths| std::fs::read(paths.full).ok()))
            })
            .await
            .ok()
            .flatten()
    }
}

/// An error and its causes, one line, without the URL and with credentials redacted.
fn error_chain(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    redact_text(&text)
}
