//! `[[webhooks]]`, `[mqtt]` and `http.public_url` → validated sink settings
//! ([`crate::sinks::WebhookConfig`], [`crate::sinks::MqttConfig`]); no I/O.
//!
//! Errors name the field (`webhooks[1].secret`, `mqtt.port`) and the fix; they never repeat a
//! secret, a header value or a password.

use std::collections::HashSet;
use std::time::Duration;

use super::ConfigError;
use super::raw::{RawMqtt, RawWebhook};
use super::validate::{substitute_env, valid_name};
use crate::event::ChangeKind;
use crate::sinks::sign::SigningKey;
use crate::sinks::{MqttConfig, SinkFilter, SnapshotMode, WebhookConfig};

/// Headers edgesight sets itself; a webhook's `headers` may not replace them.
pub const RESERVED_HEADERS: [&str; 6] = [
    "content-type",
    "content-length",
    "host",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];
/// Default messages waiting per sink before the oldest become dead letters.
pub const DEFAULT_MAX_PENDING: u64 = 10_000;
/// Largest `max_pending` accepted.
pub const MAX_MAX_PENDING: u64 = 1_000_000;

const SECRET_FIX: &str =
    "write `whsec_` followed by base64, e.g. the output of: echo whsec_$(openssl rand -base64 32)";

/// Checks every webhook; `public_url` is `http.public_url` (needed by `snapshot = "url"`).
pub fn validate_webhooks(
    raw: &[RawWebhook],
    source: &str,
    public_url: Option<&url::Url>,
) -> Result<Vec<WebhookConfig>, ConfigError> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, w) in raw.iter().enumerate() {
        let prefix = format!("webhooks[{i}]");
        let hook = validate_webhook(w, &prefix, source, public_url)?;
        if !names.insert(hook.name.clone()) {
            return Err(ConfigError::new(
                source,
                format!("{prefix}.name"),
                format!("`{}` is used by another webhook", hook.name),
            )
            .fix("give every webhook a unique name"));
        }
        out.push(hook);
    }
    Ok(out)
}

/// Checks one webhook; `prefix` names it in errors (`webhooks[0]`, `--webhook #1`).
pub fn validate_webhook(
    w: &RawWebhook,
    prefix: &str,
    source: &str,
    public_url: Option<&url::Url>,
) -> Result<WebhookConfig, ConfigError> {
    let err = |field: &str, problem: String| {
        ConfigError::new(source, format!("{prefix}.{field}"), problem)
    };
    check_name(&w.name).map_err(|p| err("name", p).fix("use 1-64 letters, digits, `-` or `_`"))?;
    let url_text = env(source, prefix, "url", &w.url)?;
    let url = url::Url::parse(&url_text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            err(
                "url",
                format!("`{}` is not an http(s) URL", super::redact_text(&url_text)),
            )
            .fix("write e.g. \"https://example.com/hooks/edgesight\"")
        })?;
    let secret = env(source, prefix, "secret", &w.secret)?;
    let key =
        SigningKey::parse(&secret).map_err(|e| err("secret", e.to_string()).fix(SECRET_FIX))?;
    let filter = filter(
        source,
        prefix,
        &w.cameras,
        &w.labels,
        &w.zones,
        &w.types,
        w.min_score,
    )?;
    let mut headers = Vec::new();
    for (name, value) in w.headers.iter().flatten() {
        let field = format!("headers.{name}");
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(err(&field, format!("`{name}` is set by edgesight"))
                .fix("remove it; edgesight sends content-type and the webhook-* headers itself"));
        }
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(err(&field, format!("`{name}` is not a header name"))
                .fix("use letters, digits and `-`, e.g. \"Authorization\""));
        }
        let value = env(source, prefix, &field, value)?;
        if reqwest::header::HeaderValue::from_str(&value).is_err() {
            return Err(err(&field, "the value is not a valid header value".into())
                .fix("use visible ASCII characters only"));
        }
        headers.push((lower, value));
    }
    let snapshot = match w.snapshot.as_deref().unwrap_or("none") {
        "none" => SnapshotMode::None,
        "inline" => SnapshotMode::Inline,
        "url" if public_url.is_some() => SnapshotMode::Url,
        "url" => {
            return Err(err("snapshot", "\"url\" needs the appliance's public address".into())
                .fix("set `public_url` in [http] (e.g. \"http://edgesight.local:8080\"), or use \"inline\""));
        }
        other => {
            return Err(err("snapshot", format!("`{other}` is not a snapshot mode"))
                .fix("use \"none\", \"url\" or \"inline\""));
        }
    };
    let max_attempts = w.max_attempts.unwrap_or(20);
    if !(1..=1000).contains(&max_attempts) {
        return Err(err("max_attempts", format!("{max_attempts} attempts")).fix("use 1 to 1000"));
    }
    Ok(WebhookConfig {
        name: w.name.clone(),
        url,
        key,
        filter,
        headers,
        snapshot,
        timeout: seconds(source, prefix, "timeout_s", w.timeout_s, 10.0, 0.5, 300.0)?,
        max_attempts,
        backoff_max: seconds(
            source,
            prefix,
            "backoff_max_s",
            w.backoff_max_s,
            600.0,
            1.0,
            86_400.0,
        )?,
        max_pending: max_pending(source, prefix, w.max_pending)?,
    })
}

/// Checks `[mqtt]`.
pub fn validate_mqtt(m: &RawMqtt, source: &str) -> Result<MqttConfig, ConfigError> {
    let prefix = "mqtt";
    let err = |field: &str, problem: String| {
        ConfigError::new(source, format!("{prefix}.{field}"), problem)
    };
    let host = env(source, prefix, "host", &m.host)?;
    if host.is_empty() || host.contains(['/', ' ']) {
        return Err(err("host", format!("`{host}` is not a host name or address"))
            .fix("write the broker's host, e.g. \"192.168.1.10\" or \"broker.local\", and its port in `port`"));
    }
    let port = m.port.unwrap_or(1883);
    if port == 0 {
        return Err(err("port", "port 0".into()).fix("give the broker's port, e.g. 1883"));
    }
    let client_id = m.client_id.clone().unwrap_or_else(|| "edgesight".into());
    check_name(&client_id).map_err(|p| {
        err("client_id", p).fix("use 1-64 letters, digits, `-` or `_`, unique on the broker")
    })?;
    let credentials = match (&m.username, &m.password) {
        (None, None) => None,
        (Some(user), password) => Some((
            env(source, prefix, "username", user)?,
            match password {
                Some(p) => env(source, prefix, "password", p)?,
                None => String::new(),
            },
        )),
        (None, Some(_)) => {
            return Err(
                err("password", "a password without a username".into()).fix("add `username`")
            );
        }
    };
    let topic_prefix = topic_level(
        source,
        "topic_prefix",
        m.topic_prefix.as_deref(),
        "edgesight",
    )?;
    let discovery_prefix = topic_level(
        source,
        "discovery_prefix",
        m.discovery_prefix.as_deref(),
        "homeassistant",
    )?;
    let keepalive = m.keepalive_s.unwrap_or(30);
    if !(5..=3600).contains(&keepalive) {
        return Err(err("keepalive_s", format!("{keepalive} seconds"))
            .fix("use 5 to 3600 (the broker declares the appliance gone after 1.5 times this)"));
    }
    Ok(MqttConfig {
        host,
        port,
        client_id,
        credentials,
        topic_prefix,
        keepalive: Duration::from_secs(u64::from(keepalive)),
        reconnect_max: seconds(
            source,
            prefix,
            "reconnect_max_s",
            m.reconnect_max_s,
            30.0,
            0.5,
            3600.0,
        )?,
        discovery: m.discovery.unwrap_or(true),
        discovery_prefix,
        snapshots: m.snapshots.unwrap_or(true),
        filter: filter(
            source,
            prefix,
            &m.cameras,
            &m.labels,
            &m.zones,
            &m.types,
            m.min_score,
        )?,
        max_pending: max_pending(source, prefix, m.max_pending)?,
    })
}

/// Checks `http.public_url`.
pub fn validate_public_url(
    text: Option<&str>,
    source: &str,
) -> Result<Option<url::Url>, ConfigError> {
    let Some(text) = text else {
        return Ok(None);
    };
    url::Url::parse(text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .map(Some)
        .ok_or_else(|| {
            ConfigError::new(
                source,
                "http.public_url",
                format!("`{text}` is not an http(s) URL"),
            )
            .fix("write how receivers reach the appliance, e.g. \"http://edgesight.local:8080\"")
        })
}

fn check_name(name: &str) -> Result<(), String> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(format!("`{name}` is not a valid name"))
    }
}

/// `${ENV}` substitution; the error names the variable, never the value.
fn env(source: &str, prefix: &str, field: &str, text: &str) -> Result<String, ConfigError> {
    substitute_env(text).map_err(|var| {
        ConfigError::new(
            source,
            format!("{prefix}.{field}"),
            format!("environment variable `{var}` is not set"),
        )
        .fix(format!(
            "export {var}=… before starting, or write the value"
        ))
    })
}

#[allow(clippy::too_many_arguments)]
fn seconds(
    source: &str,
    prefix: &str,
    field: &str,
    value: Option<f32>,
    default: f32,
    min: f32,
    max: f32,
) -> Result<Duration, ConfigError> {
    let v = value.unwrap_or(default);
    if (min..=max).contains(&v) {
        Ok(Duration::from_secs_f32(v))
    } else {
        Err(
            ConfigError::new(source, format!("{prefix}.{field}"), format!("{v} seconds"))
                .fix(format!("use {min} to {max}, e.g. {default}")),
        )
    }
}

fn max_pending(source: &str, prefix: &str, value: Option<u64>) -> Result<u64, ConfigError> {
    let v = value.unwrap_or(DEFAULT_MAX_PENDING);
    if (1..=MAX_MAX_PENDING).contains(&v) {
        Ok(v)
    } else {
        Err(ConfigError::new(
            source,
            format!("{prefix}.max_pending"),
            format!("{v} messages"),
        )
        .fix(format!(
            "use 1 to {MAX_MAX_PENDING}, e.g. {DEFAULT_MAX_PENDING}"
        )))
    }
}

fn topic_level(
    source: &str,
    field: &str,
    value: Option<&str>,
    default: &str,
) -> Result<String, ConfigError> {
    let v = value.unwrap_or(default);
    let ok = !v.is_empty()
        && !v.starts_with('/')
        && !v.ends_with('/')
        && !v.contains(['+', '#', ' '])
        && !v.contains("//");
    if ok {
        Ok(v.to_string())
    } else {
        Err(ConfigError::new(
            source,
            format!("mqtt.{field}"),
            format!("`{v}` is not a topic prefix"),
        )
        .fix(format!(
            "use levels without wildcards or spaces, e.g. \"{default}\""
        )))
    }
}

#[allow(clippy::too_many_arguments)]
fn filter(
    source: &str,
    prefix: &str,
    cameras: &Option<Vec<String>>,
    labels: &Option<Vec<String>>,
    zones: &Option<Vec<String>>,
    types: &Option<Vec<String>>,
    min_score: Option<f32>,
) -> Result<SinkFilter, ConfigError> {
    let mut f = SinkFilter {
        cameras: cameras.clone().unwrap_or_default(),
        labels: labels.clone().unwrap_or_default(),
        zones: zones.clone().unwrap_or_default(),
        ..SinkFilter::default()
    };
    if let Some(types) = types {
        f.types = types
            .iter()
            .map(|t| match t.as_str() {
                "new" => Ok(ChangeKind::New),
                "update" => Ok(ChangeKind::Update),
                "end" => Ok(ChangeKind::End),
                other => Err(ConfigError::new(
                    source,
                    format!("{prefix}.types"),
                    format!("`{other}` is not a change type"),
                )
                .fix("use \"new\", \"update\" and/or \"end\"")),
            })
            .collect::<Result<_, _>>()?;
        if f.types.is_empty() {
            return Err(ConfigError::new(
                source,
                format!("{prefix}.types"),
                "no type: nothing would be sent",
            )
            .fix("list at least one of \"new\", \"update\", \"end\", or remove the key"));
        }
    }
    let min = min_score.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&min) {
        return Err(ConfigError::new(
            source,
            format!("{prefix}.min_score"),
            format!("{min} is outside 0..1"),
        )
        .fix("use a score between 0 and 1, e.g. 0.6"));
    }
    f.min_score = min;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::{Config, ConfigError};
    use crate::event::ChangeKind;
    use crate::sinks::SnapshotMode;

    const MODEL: &str = "[model]\npath = \"m.onnx\"\nfamily = \"ssd\"\nlabels = \"l.txt\"\n";
    const SECRET: &str = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=";

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        Config::from_toml(&format!("{MODEL}{extra}"), "t.toml", Path::new("/base"))
    }

    fn hook(extra: &str) -> String {
        format!(
            "[[webhooks]]\nname = \"door\"\nurl = \"https://example.com/h\"\nsecret = \"{SECRET}\"\n{extra}"
        )
    }

    #[test]
    fn webhook_defaults_are_filled_in() {
        let c = parse(&hook("")).expect("valid");
        let w = &c.webhooks[0];
        assert_eq!(w.sink(), "webhook:door");
        assert_eq!(w.timeout, Duration::from_secs(10));
        assert_eq!(w.max_attempts, 20);
        assert_eq!(w.backoff_max, Duration::from_secs(600));
        assert_eq!(w.max_pending, 10_000);
        assert_eq!(w.snapshot, SnapshotMode::None);
        assert_eq!(w.filter.types.len(), 3);
        assert!(c.mqtt.is_none());
    }

    #[test]
    fn every_webhook_key_is_read() {
        let c = parse(&format!(
            "[http]\npublic_url = \"http://es.local:8080\"\n{}",
            hook(
                "cameras = [\"door\"]\nlabels = [\"person\"]\nzones = [\"porch\"]\ntypes = [\"new\", \"end\"]\nmin_score = 0.7\nsnapshot = \"url\"\ntimeout_s = 2.5\nmax_attempts = 3\nbackoff_max_s = 30\nmax_pending = 50\n[webhooks.headers]\nAuthorization = \"Bearer ${HOME}\"\n"
            )
        ))
        .expect("valid");
        let w = &c.webhooks[0];
        assert_eq!(w.filter.cameras, ["door"]);
        assert_eq!(w.filter.labels, ["person"]);
        assert_eq!(w.filter.zones, ["porch"]);
        assert_eq!(w.filter.types, [ChangeKind::New, ChangeKind::End]);
        assert_eq!(w.filter.min_score, 0.7);
        assert_eq!(w.snapshot, SnapshotMode::Url);
        assert_eq!(w.timeout, Duration::from_millis(2500));
        assert_eq!((w.max_attempts, w.max_pending), (3, 50));
        assert_eq!(w.backoff_max, Duration::from_secs(30));
        let home = std::env::var("HOME").expect("HOME is set in tests");
        assert_eq!(
            w.headers,
            [("authorization".to_string(), format!("Bearer {home}"))]
        );
        assert_eq!(
            c.http.public_url.as_ref().map(|u| u.as_str()),
            Some("http://es.local:8080/")
        );
    }

    #[test]
    fn webhook_errors_name_the_field_and_never_the_secret() {
        let cases = [
            (hook("").replace(SECRET, "c2VjcmV0"), "webhooks[0].secret"),
            (hook("").replace(SECRET, "whsec_!!!"), "webhooks[0].secret"),
            (
                hook("").replace("https://example.com/h", "ftp://x"),
                "webhooks[0].url",
            ),
            (hook("").replace("\"door\"", "\"a b\""), "webhooks[0].name"),
            (hook("types = [\"begin\"]"), "webhooks[0].types"),
            (hook("types = []"), "webhooks[0].types"),
            (hook("min_score = 2"), "webhooks[0].min_score"),
            (hook("snapshot = \"url\""), "webhooks[0].snapshot"),
            (hook("snapshot = \"gif\""), "webhooks[0].snapshot"),
            (hook("timeout_s = 0"), "webhooks[0].timeout_s"),
            (hook("max_attempts = 0"), "webhooks[0].max_attempts"),
            (hook("backoff_max_s = 0.1"), "webhooks[0].backoff_max_s"),
            (hook("max_pending = 0"), "webhooks[0].max_pending"),
            (
                hook("[webhooks.headers]\nwebhook-id = \"x\""),
                "webhooks[0].headers.webhook-id",
            ),
            (
                hook("[webhooks.headers]\n\"a b\" = \"x\""),
                "webhooks[0].headers.a b",
            ),
            (
                hook("[webhooks.headers]\nX-Token = \"${EDGESIGHT_TEST_SURELY_UNSET}\""),
                "webhooks[0].headers.X-Token",
            ),
            (format!("{}{}", hook(""), hook("")), "webhooks[1].name"),
        ];
        for (text, field) in cases {
            let e = parse(&text).expect_err(&text);
            assert_eq!(e.field, field, "{text}: {e}");
            assert!(e.fix.is_some(), "{text}: {e}");
            assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
        }
    }

    #[test]
    fn mqtt_defaults_keys_and_errors() {
        let c = parse("[mqtt]\nhost = \"127.0.0.1\"\n").expect("valid");
        let m = c.mqtt.expect("mqtt");
        assert_eq!((m.port, m.client_id.as_str()), (1883, "edgesight"));
        assert_eq!(m.topic_prefix, "edgesight");
        assert_eq!(m.discovery_prefix, "homeassistant");
        assert_eq!(m.keepalive, Duration::from_secs(30));
        assert!(m.discovery && m.snapshots && m.credentials.is_none());
        let c = parse(
            "[mqtt]\nhost = \"b\"\nport = 1884\nclient_id = \"box-2\"\nusername = \"u\"\npassword = \"${HOME}\"\ntopic_prefix = \"site/a\"\nkeepalive_s = 5\nreconnect_max_s = 2\ndiscovery = false\ndiscovery_prefix = \"ha\"\nsnapshots = false\nlabels = [\"car\"]\nmax_pending = 9\n",
        )
        .expect("valid");
        let m = c.mqtt.expect("mqtt");
        assert_eq!((m.port, m.topic_prefix.as_str()), (1884, "site/a"));
        assert_eq!(m.credentials.as_ref().map(|c| c.0.as_str()), Some("u"));
        assert_eq!(m.filter.labels, ["car"]);
        assert!(!m.discovery && !m.snapshots);
        for (text, field) in [
            ("[mqtt]\nhost = \"\"\n", "mqtt.host"),
            ("[mqtt]\nhost = \"h\"\nport = 0\n", "mqtt.port"),
            (
                "[mqtt]\nhost = \"h\"\nclient_id = \"a b\"\n",
                "mqtt.client_id",
            ),
            ("[mqtt]\nhost = \"h\"\npassword = \"p\"\n", "mqtt.password"),
            (
                "[mqtt]\nhost = \"h\"\ntopic_prefix = \"a/+\"\n",
                "mqtt.topic_prefix",
            ),
            (
                "[mqtt]\nhost = \"h\"\ndiscovery_prefix = \"/ha\"\n",
                "mqtt.discovery_prefix",
            ),
            (
                "[mqtt]\nhost = \"h\"\nkeepalive_s = 1\n",
                "mqtt.keepalive_s",
            ),
            ("[mqtt]\nhost = \"h\"\nmin_score = -1\n", "mqtt.min_score"),
            ("[http]\npublic_url = \"es.local\"\n", "http.public_url"),
        ] {
            let e = parse(text).expect_err(text);
            assert_eq!(e.field, field, "{text}: {e}");
            assert!(e.fix.is_some(), "{text}: {e}");
        }
        let e = parse("[mqtt]\nhost = \"h\"\nport = 1\nqos = 2\n").expect_err("unknown key");
        assert!(e.to_string().contains("qos"), "{e}");
    }
}
