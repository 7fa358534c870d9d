//! graphql-transport-ws for Python servers: the engine's protocol state machine
//! (`subcast_core::Connection`), which owns no socket and no task.
//!
//! - `ProtocolConfig`: the protocol's timers and limits, from keyword options.
//! - [`ProtocolConnection`]: one socket's state; feed it what the client sent, carry out
//!   what `ProtocolConnection::poll_actions` returns, call `tick()` when
//!   `ProtocolConnection::next_deadline` passes. The clock is Rust's monotonic clock,
//!   read on each call, so Python never converts a time.
//!
//! Actions are tuples, the cheapest objects to make and to match:
//! `("send", text)`, `("authenticate", payload)`, `("subscribe", id, payload)`,
//! `("unsubscribe", id)`, `("close", code, reason)`.

use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use serde_json::{Map, Value};
use subcast_core::{Action, BucketConfig, Connection, GraphQLError};

use crate::config::{positive, positive_number, positive_usize, seconds, Options};
use crate::convert::{self, type_name};
use crate::errors::conversion_error;

const PROTOCOL_OPTIONS: &[&str] = &[
    "connection_init_timeout",
    "keep_alive",
    "pong_timeout",
    "max_message_bytes",
    "max_id_bytes",
    "max_subscriptions",
    "messages_per_second",
    "message_burst",
];

/// The timers and limits of graphql-transport-ws connections (seconds and counts).
#[pyclass(frozen, module = "subcast._native")]
#[derive(Debug, Clone)]
pub struct ProtocolConfig {
    pub(crate) config: subcast_core::ProtocolConfig,
    shown: String,
}

impl ProtocolConfig {
    fn read(mut options: Options<'_>) -> PyResult<Self> {
        let mut config = subcast_core::ProtocolConfig::default();
        if let Some(value) = options.take("connection_init_timeout") {
            config.connection_init_timeout = seconds(&value, &options.field("connection_init_timeout"))?;
        }
        // `None` turns keep-alive off; a missing option keeps the default.
        if let Some(value) = options.take_raw("keep_alive") {
            config.keep_alive = match value.is_none() {
                true => None,
                false => Some(seconds(&value, &options.field("keep_alive"))?),
            };
        }
        if let Some(value) = options.take("pong_timeout") {
            config.pong_timeout = seconds(&value, &options.field("pong_timeout"))?;
        }
        if let Some(value) = options.take("max_message_bytes") {
            config.max_message_bytes = positive_usize(&value, &options.field("max_message_bytes"))?;
        }
        if let Some(value) = options.take("max_id_bytes") {
            config.max_id_bytes = positive_usize(&value, &options.field("max_id_bytes"))?;
        }
        if let Some(value) = options.take("max_subscriptions") {
            config.max_subscriptions = positive_usize(&value, &options.field("max_subscriptions"))?;
        }
        // `messages_per_second=None` sets no message rate limit.
        let rate = options.take_raw("messages_per_second");
        let burst = options.take("message_burst");
        match (rate, burst) {
            (Some(rate), _) if rate.is_none() => config.message_rate = None,
            (Some(rate), burst) => {
                let per_second = positive_number(&rate, &options.field("messages_per_second"))?;
                // A float-to-int `as` saturates; a rate below 1 still allows one at a time.
                let one_second = per_second.ceil().max(1.0) as u32;
                let capacity = match burst {
                    Some(burst) => {
                        let burst = positive(&burst, &options.field("message_burst"), u64::from(u32::MAX))?;
                        u32::try_from(burst).unwrap_or(u32::MAX)
                    }
                    None => one_second,
                };
                config.message_rate = Some(BucketConfig::new(capacity, per_second));
            }
            (None, Some(burst)) => {
                let per_second = config.message_rate.map_or(50.0, |b| b.refill_per_second);
                let burst = positive(&burst, &options.field("message_burst"), u64::from(u32::MAX))?;
                let capacity = u32::try_from(burst).unwrap_or(u32::MAX);
                config.message_rate = Some(BucketConfig::new(capacity, per_second));
            }
            (None, None) => {}
        }
        let shown = options.finish(PROTOCOL_OPTIONS)?;
        Ok(ProtocolConfig { config, shown })
    }

    /// `value` (a `ProtocolConfig`, a dict of its options, or `None` for the defaults).
    pub fn from_python(value: Option<&Bound<'_, PyAny>>) -> PyResult<subcast_core::ProtocolConfig> {
        match value.filter(|v| !v.is_none()) {
            None => Ok(subcast_core::ProtocolConfig::default()),
            Some(value) => match value.cast::<ProtocolConfig>() {
                Ok(config) => Ok(config.get().config.clone()),
                Err(_) => {
                    Self::read(Options::from_dict(value, "protocol", "ProtocolConfig")?).map(|c| c.config)
                }
            },
        }
    }
}

#[pymethods]
impl ProtocolConfig {
    #[new]
    #[pyo3(signature = (**options))]
    fn new(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Self::read(Options::new(py, "protocol", options)?)
    }

    /// Seconds a new connection may wait before `connection_init` (then 4408).
    #[getter]
    fn connection_init_timeout(&self) -> f64 {
        self.config.connection_init_timeout.as_secs_f64()
    }

    /// Seconds between keep-alive `ping`s, or `None`.
    #[getter]
    fn keep_alive(&self) -> Option<f64> {
        self.config.keep_alive.map(|d| d.as_secs_f64())
    }

    /// Seconds a `pong` may take (then 4504).
    #[getter]
    fn pong_timeout(&self) -> f64 {
        self.config.pong_timeout.as_secs_f64()
    }

    /// Longest text message accepted, in bytes (then 1009).
    #[getter]
    fn max_message_bytes(&self) -> usize {
        self.config.max_message_bytes
    }

    /// Subscriptions one connection may hold at once.
    #[getter]
    fn max_subscriptions(&self) -> usize {
        self.config.max_subscriptions
    }

    fn __repr__(&self) -> String {
        format!("ProtocolConfig({})", self.shown)
    }
}

/// The graphql-transport-ws state of one socket.
///
/// Not thread-safe by design: one connection is driven by one event loop.
#[pyclass(module = "subcast._native")]
#[derive(Debug)]
pub struct ProtocolConnection {
    pub(crate) connection: Connection,
    /// When the accepted credentials expire (`accept(valid_for=)`).
    expires_at: Option<Instant>,
}

#[pymethods]
impl ProtocolConnection {
    /// A connection whose socket opened now, waiting for `connection_init`.
    #[new]
    #[pyo3(signature = (config=None))]
    fn new(config: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let config = ProtocolConfig::from_python(config)?;
        Ok(ProtocolConnection {
            connection: Connection::new(config, Instant::now()),
            expires_at: None,
        })
    }

    /// Handle a text message (`str`, or its UTF-8 `bytes`).
    fn feed_text(&mut self, message: &Bound<'_, PyAny>) -> PyResult<()> {
        let now = Instant::now();
        self.expire(now);
        if let Ok(text) = message.cast::<PyString>() {
            self.connection.feed_text(text.to_str()?, now);
        } else if let Ok(bytes) = message.cast::<PyBytes>() {
            // Not UTF-8: what survives the replacement is not valid JSON either, so 4400.
            self.connection
                .feed_text(&String::from_utf8_lossy(bytes.as_bytes()), now);
        } else {
            let reason = format!("message must be str or bytes, not {}", type_name(message));
            return Err(conversion_error(message.py(), reason));
        }
        Ok(())
    }

    /// Handle a binary message: the protocol has none, so the connection closes with 4400.
    fn feed_binary(&mut self) {
        self.connection.feed_binary(Instant::now());
    }

    /// Run the timers due now: `connection_init` timeout, keep-alive, credentials expiry.
    fn tick(&mut self) {
        let now = Instant::now();
        self.expire(now);
        self.connection.tick(now);
    }

    /// Seconds until `tick()` must run, `0.0` if overdue, `None` if no timer is set.
    fn next_deadline(&self) -> Option<f64> {
        let deadline = [self.connection.next_deadline(), self.expires_at]
            .into_iter()
            .flatten()
            .min()?;
        Some(deadline.saturating_duration_since(Instant::now()).as_secs_f64())
    }

    /// Accept the connection after `("authenticate", payload)`: send `connection_ack` (with
    /// `payload` if given). With `valid_for` (seconds), the connection closes with 4403
    /// that long after, so the client reconnects with fresh credentials.
    #[pyo3(signature = (payload=None, valid_for=None))]
    fn accept(
        &mut self,
        payload: Option<&Bound<'_, PyAny>>,
        valid_for: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let payload = match payload.filter(|p| !p.is_none()) {
            None => None,
            Some(payload) => match convert::to_json_object(Some(payload), "payload")? {
                Value::Object(map) => Some(map),
                _ => None,
            },
        };
        let valid_for = convert::wait_timeout(valid_for, "valid_for")?;
        let was_closed = self.connection.is_closed();
        self.connection.accept(payload);
        if !was_closed {
            self.expires_at = valid_for.and_then(|valid| Instant::now().checked_add(valid));
        }
        Ok(())
    }

    /// Refuse the connection, or end an accepted one: close with 4403 and `reason`.
    #[pyo3(signature = (reason="Forbidden"))]
    fn refuse(&mut self, reason: &str) {
        self.connection.refuse(reason);
    }

    /// Send one `error` for subscription `id` and free the id; `errors` are GraphQL errors
    /// (`{"message": str, "extensions": {...}}`). `False` if `id` is not active.
    fn fail_subscription(&mut self, id: &str, errors: &Bound<'_, PyAny>) -> PyResult<bool> {
        let errors = graphql_errors(errors)?;
        Ok(self.connection.fail_subscription(id, &errors))
    }

    /// The server ended subscription `id`: send `complete`. `False` if it is not active.
    fn complete_subscription(&mut self, id: &str) -> bool {
        self.connection.complete_subscription(id)
    }

    /// Subscription `id` ended and its last frame was already sent: free the id.
    fn subscription_ended(&mut self, id: &str) -> bool {
        self.connection.subscription_ended(id)
    }

    /// Whether `id` is an active subscription.
    fn is_active(&self, id: &str) -> bool {
        self.connection.is_active(id)
    }

    /// The server failed: close with 4500 and `reason`.
    fn internal_error(&mut self, reason: &str) {
        self.connection.internal_error(reason);
    }

    /// The server shuts down: close with 1001 `Going away`.
    fn shutdown(&mut self) {
        self.connection.shutdown();
    }

    /// The socket is gone: drop unsent messages and unsubscribe everything, without a close.
    fn disconnected(&mut self) {
        self.connection.disconnected();
    }

    /// Whether the connection is closed (only queued actions remain).
    #[getter]
    fn closed(&self) -> bool {
        self.connection.is_closed()
    }

    /// Every queued action, oldest first (see the module docs for their shapes).
    fn poll_actions<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        while let Some(action) = self.connection.poll_action() {
            list.append(action_to_python(py, action)?)?;
        }
        Ok(list)
    }
}

impl ProtocolConnection {
    /// Close with 4403 once the credentials expired.
    fn expire(&mut self, now: Instant) {
        if self.expires_at.is_some_and(|at| now >= at) {
            self.expires_at = None;
            self.connection.refuse("Forbidden: the credentials expired");
        }
    }
}

fn action_to_python<'py>(py: Python<'py>, action: Action) -> PyResult<Bound<'py, PyTuple>> {
    Ok(match action {
        Action::Send(text) => PyTuple::new(py, [PyString::new(py, "send"), PyString::new(py, &text)])?,
        Action::Authenticate { payload } => {
            let payload = match payload {
                Some(map) => convert::object_to_python(py, &map)?.into_any(),
                None => py.None().into_bound(py),
            };
            PyTuple::new(py, [PyString::new(py, "authenticate").into_any(), payload])?
        }
        Action::Subscribe { id, payload } => {
            let operation = PyDict::new(py);
            operation.set_item("query", payload.query)?;
            operation.set_item("operationName", payload.operation_name)?;
            operation.set_item("variables", optional_object(py, payload.variables.as_ref())?)?;
            operation.set_item("extensions", optional_object(py, payload.extensions.as_ref())?)?;
            PyTuple::new(
                py,
                [
                    PyString::new(py, "subscribe").into_any(),
                    PyString::new(py, &id).into_any(),
                    operation.into_any(),
                ],
            )?
        }
        Action::Unsubscribe { id } => {
            PyTuple::new(py, [PyString::new(py, "unsubscribe"), PyString::new(py, &id)])?
        }
        Action::Close { code, reason } => PyTuple::new(
            py,
            [
                PyString::new(py, "close").into_any(),
                code.as_u16().into_pyobject(py)?.into_any(),
                PyString::new(py, &reason).into_any(),
            ],
        )?,
        // A future action of the core: closing is the safe answer to one not understood.
        #[allow(unreachable_patterns)]
        _ => PyTuple::new(
            py,
            [
                PyString::new(py, "close").into_any(),
                4500u16.into_pyobject(py)?.into_any(),
                PyString::new(py, "Internal server error").into_any(),
            ],
        )?,
    })
}

fn optional_object<'py>(py: Python<'py>, object: Option<&Map<String, Value>>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match object {
        Some(map) => convert::object_to_python(py, map)?.into_any(),
        None => py.None().into_bound(py),
    })
}

/// `[{"message": str, "extensions": {"code": str, ...}}, ...]`; an error without a code
/// gets `INTERNAL_ERROR`, as every `error` frame carries one.
fn graphql_errors(value: &Bound<'_, PyAny>) -> PyResult<Vec<GraphQLError>> {
    let py = value.py();
    let Value::Array(items) = convert::to_json(value, "errors")? else {
        return Err(conversion_error(py, "errors must be a list of dicts"));
    };
    if items.is_empty() {
        return Err(conversion_error(py, "errors must hold at least one error"));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let Value::Object(mut item) = item else {
                return Err(conversion_error(py, format!("errors[{index}] must be a dict")));
            };
            let Some(Value::String(message)) = item.remove("message") else {
                return Err(conversion_error(
                    py,
                    format!("errors[{index}].message must be a str"),
                ));
            };
            let mut error = GraphQLError::new(subcast_core::INTERNAL_ERROR, message);
            if let Some(Value::Object(extensions)) = item.remove("extensions") {
                error.extensions.extend(extensions);
            }
            Ok(error)
        })
        .collect()
}
