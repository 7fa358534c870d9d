//! The options of `EventBusConfig.redis(url, ...)` (and `.redis_cluster(urls, ...)`),
//! `EventBusConfig.postgresql(url, ...)` and `EventBusConfig.nats(url, ...)`: [`redis_config`],
//! [`postgres_config`], `nats_config`.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use subcast_core::backend::ServerSettings;
use subcast_core::Backoff;
use subcast_postgres::PostgresConfig;
use subcast_redis::RedisConfig;

#[cfg(feature = "tokio")]
use super::positive;
use super::{flag, invalid, positive_usize, seconds, shown, string, text, Options};

const REDIS_OPTIONS: &[&str] = &[
    "prefix",
    "replay_len",
    "timeout",
    "reconnect_min",
    "reconnect_max",
    "received_capacity",
    "stream_capacity",
];

/// The options of `EventBusConfig.redis(url, ...)`; returns the config and its `repr` text.
pub fn redis_config(py: Python<'_>, given: Option<&Bound<'_, PyDict>>) -> PyResult<(RedisConfig, String)> {
    let mut options = Options::new(py, "bus", given)?;
    let mut config = RedisConfig::default();
    if let Some(value) = options.take("prefix") {
        config = config.prefix(string(&value, &options.field("prefix"))?);
    }
    if let Some(value) = options.take("replay_len") {
        config = config.replay(positive_usize(&value, &options.field("replay_len"))?);
    }
    let server = server_settings(&mut options, config.settings())?;
    config = config
        .timeout(server.timeout)
        .reconnect_backoff(server.reconnect.first, server.reconnect.max)
        .buffers(server.received_capacity, server.stream_capacity);
    let shown = options.finish(REDIS_OPTIONS)?;
    Ok((config, shown))
}

const POSTGRES_OPTIONS: &[&str] = &[
    "schema",
    "table",
    "channel_prefix",
    "retention",
    "cleanup_interval",
    "timeout",
    "reconnect_min",
    "reconnect_max",
    "synchronous_commit",
    "received_capacity",
    "stream_capacity",
];

/// The options of `EventBusConfig.postgresql(url, ...)`; returns the config and its `repr` text.
pub fn postgres_config(
    py: Python<'_>,
    given: Option<&Bound<'_, PyDict>>,
) -> PyResult<(PostgresConfig, String)> {
    let mut options = Options::new(py, "bus", given)?;
    let mut config = PostgresConfig::default();
    let schema = match options.take("schema") {
        Some(value) => text(&value, &options.field("schema"))?,
        None => config.schema.clone(),
    };
    let table = match options.take("table") {
        Some(value) => text(&value, &options.field("table"))?,
        None => config.table.clone(),
    };
    config = config.outbox(schema, table);
    if let Some(value) = options.take("channel_prefix") {
        config.channel_prefix = string(&value, &options.field("channel_prefix"))?;
    }
    // `retention=None` keeps events forever; leaving it out keeps the default.
    if let Some(value) = options.take_raw("retention") {
        let retention = match value.is_none() {
            true => None,
            false => Some(seconds(&value, &options.field("retention"))?),
        };
        config = config.retention(retention);
    }
    if let Some(value) = options.take("cleanup_interval") {
        config.cleanup_interval = seconds(&value, &options.field("cleanup_interval"))?;
    }
    if let Some(value) = options.take("synchronous_commit") {
        config = config.synchronous_commit(flag(&value, &options.field("synchronous_commit"))?);
    }
    let server = server_settings(&mut options, config.settings())?;
    config = config
        .timeout(server.timeout)
        .reconnect_backoff(server.reconnect.first, server.reconnect.max)
        .buffers(server.received_capacity, server.stream_capacity);
    let shown = options.finish(POSTGRES_OPTIONS)?;
    Ok((config, shown))
}

#[cfg(feature = "tokio")]
const NATS_OPTIONS: &[&str] = &[
    "prefix",
    "jetstream",
    "token",
    "credentials_file",
    "tls_root_certificates",
    "timeout",
    "reconnect_min",
    "reconnect_max",
    "received_capacity",
    "stream_capacity",
];

#[cfg(feature = "tokio")]
const JETSTREAM_OPTIONS: &[&str] = &["stream", "max_age", "max_bytes", "max_messages"];

/// The options of `EventBusConfig.nats(url, ...)`; returns the config and its `repr` text.
///
/// What [`subcast::NatsConfig::validate`] refuses is refused here too, so that a bad value
/// fails where it is written rather than when the executor connects.
#[cfg(feature = "tokio")]
pub fn nats_config(
    py: Python<'_>,
    given: Option<&Bound<'_, PyDict>>,
) -> PyResult<(subcast::NatsConfig, String)> {
    let mut options = Options::new(py, "bus", given)?;
    let mut config = subcast::NatsConfig::default();
    if let Some(value) = options.take("prefix") {
        config = config.prefix(text(&value, &options.field("prefix"))?);
    }
    if let Some(value) = options.take("jetstream") {
        config = config.jetstream(jetstream_config(&value, &options.field("jetstream"))?);
    }
    if let Some(value) = options.take("token") {
        config = config.token(text(&value, &options.field("token"))?);
    }
    if let Some(value) = options.take("credentials_file") {
        config = config.credentials_file(text(&value, &options.field("credentials_file"))?);
    }
    if let Some(value) = options.take("tls_root_certificates") {
        config = config.tls_root_certificates(text(&value, &options.field("tls_root_certificates"))?);
    }
    let server = server_settings(&mut options, config.settings())?;
    config = config
        .timeout(server.timeout)
        .reconnect_backoff(server.reconnect.first, server.reconnect.max)
        .buffers(server.received_capacity, server.stream_capacity);
    let shown = options.finish(NATS_OPTIONS)?;
    config.validate().map_err(|e| nats_refusal(py, &e))?;
    Ok((config, shown))
}

/// [`subcast::NatsConfig::validate`]'s refusal (`invalid NatsConfig: {field} {rule}`) as
/// `bus.{field}: {rule}`, like every other option.
#[cfg(feature = "tokio")]
fn nats_refusal(py: Python<'_>, error: &subcast::Error) -> PyErr {
    let subcast::Error::Bus { message, .. } = error else {
        return invalid(py, "bus", error);
    };
    match message
        .strip_prefix("invalid NatsConfig: ")
        .and_then(|rest| rest.split_once(' '))
    {
        Some((field, rule)) => invalid(py, &format!("bus.{field}"), rule),
        None => invalid(py, "bus", message),
    }
}

/// `jetstream=dict(stream=..., max_age=..., max_bytes=..., max_messages=...)`.
#[cfg(feature = "tokio")]
fn jetstream_config(value: &Bound<'_, PyAny>, field: &str) -> PyResult<subcast::JetStreamConfig> {
    let py = value.py();
    let Ok(dict) = value.cast::<PyDict>() else {
        let reason = format!(
            "must be None or a dict of {}, got {}",
            JETSTREAM_OPTIONS.join(", "),
            shown(value)
        );
        return Err(invalid(py, field, reason));
    };
    let mut options = Options::new(py, "bus.jetstream", Some(dict))?;
    let mut stream = subcast::JetStreamConfig::default();
    if let Some(value) = options.take("stream") {
        stream = stream.stream(text(&value, &options.field("stream"))?);
    }
    if let Some(value) = options.take("max_age") {
        stream = stream.max_age(seconds(&value, &options.field("max_age"))?);
    }
    // `None` lifts the limit; leaving it out keeps the default.
    if let Some(value) = options.take_raw("max_bytes") {
        stream.max_bytes = match value.is_none() {
            true => None,
            false => Some(positive(&value, &options.field("max_bytes"), i64::MAX as u64)?),
        };
    }
    if let Some(value) = options.take_raw("max_messages") {
        stream.max_messages = match value.is_none() {
            true => None,
            false => Some(positive(&value, &options.field("max_messages"), i64::MAX as u64)?),
        };
    }
    options.finish(JETSTREAM_OPTIONS)?;
    Ok(stream)
}

/// `timeout`, `reconnect_min`, `reconnect_max` (at least `reconnect_min`),
/// `received_capacity` and `stream_capacity`: what every networked bus has, over `defaults`.
fn server_settings(options: &mut Options<'_>, defaults: ServerSettings) -> PyResult<ServerSettings> {
    let mut server = defaults;
    if let Some(value) = options.take("timeout") {
        server.timeout = seconds(&value, &options.field("timeout"))?;
    }
    let first = match options.take("reconnect_min") {
        Some(value) => seconds(&value, &options.field("reconnect_min"))?,
        None => server.reconnect.first,
    };
    let max = match options.take("reconnect_max") {
        Some(value) => seconds(&value, &options.field("reconnect_max"))?,
        None => server.reconnect.max.max(first),
    };
    if max < first {
        let reason = format!("must be at least reconnect_min ({} s)", first.as_secs_f64());
        return Err(invalid(options.py, &options.field("reconnect_max"), reason));
    }
    server.reconnect = Backoff::new(first, max);
    if let Some(value) = options.take("received_capacity") {
        server.received_capacity = positive_usize(&value, &options.field("received_capacity"))?;
    }
    if let Some(value) = options.take("stream_capacity") {
        server.stream_capacity = positive_usize(&value, &options.field("stream_capacity"))?;
    }
    Ok(server)
}
