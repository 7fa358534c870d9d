//! Events: what a mutation publishes and every subscription on its channel may see.
//!
//! - [`Event`]: id, type, channel, JSON data, tenant, timestamp, correlation id, origin node.
//! - [`validate_channel`]: the rule every channel name obeys.
//! - The wire format ([`Event::to_wire`], [`Event::from_wire`]) buses carry between nodes.
//! - The limits every node applies alike: [`MAX_EVENT_DEPTH`] (nesting of `data`),
//!   [`MAX_EVENT_ID_LEN`] (id, type, tenant, correlation id, origin), [`MAX_CHANNEL_LEN`];
//!   [`Event::validate_wire`] checks them when publishing *and* when decoding, so an event is
//!   either refused at publish or readable on every node. [`validate_event_data`] measures
//!   data (size and depth) without recursion, for bindings that convert foreign values.
//!
//! An event's fields are public, so nothing about `data` is cached: every boundary
//! (publishing, dispatching, decoding) measures what it is given.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// Longest channel name accepted, in bytes.
pub const MAX_CHANNEL_LEN: usize = 255;

/// Deepest nesting of arrays and objects accepted in [`Event::data`], counted as
/// [`validate_event_data`] does: a scalar is 0, `[]` and `{}` are 1, `{"a": [1]}` is 2.
///
/// One limit for publishing and decoding: an event at exactly this depth round-trips through
/// [`Event::to_wire`] and [`Event::from_wire`] (the wire's envelope adds one level, well
/// under serde_json's decoding limit of 128), and frames built from it stay readable by
/// clients that decode with serde_json too.
pub const MAX_EVENT_DEPTH: usize = 64;

/// Longest [`Event::id`], [`Event::event_type`], [`Event::tenant_id`],
/// [`Event::correlation_id`] and [`Event::origin`] accepted, in bytes.
pub const MAX_EVENT_ID_LEN: usize = 256;

/// Version of the wire format written by [`Event::to_wire`].
pub const WIRE_VERSION: u32 = 1;

/// One published event, shared between subscriptions as `Arc<Event>`.
///
/// `data` is the GraphQL value of the subscription's root field: the built-in
/// projection resolver selects from it.
///
/// # Examples
///
/// ```
/// use subcast_core::Event;
/// use serde_json::json;
///
/// let event = Event::new("userCreated", "users", json!({"id": "1"})).with_tenant("acme");
/// assert_eq!(event.channel, "users");
/// assert_eq!(event.tenant_id.as_deref(), Some("acme"));
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// Unique id: `<origin>-<sequence>` unless the publisher chose one.
    pub id: String,
    /// Domain type, e.g. `userCreated`; the value of `__typename` in projections.
    pub event_type: String,
    /// Channel the event is published on.
    pub channel: String,
    /// The event's JSON payload.
    pub data: Value,
    /// Tenant the event belongs to; tenant-scoped subscribers see only their own.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Milliseconds since the Unix epoch at creation.
    pub timestamp: u64,
    /// Correlation id for tracing a mutation to its frames.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// Node id of the process that created the event.
    pub origin: String,
    /// Where the bus's history holds the event on its channel, when the bus keeps one
    /// and the event came through it (or was published locally on it); `next` frames
    /// carry it as their cursor. Never on the wire: each bus assigns its own.
    #[serde(skip)]
    pub position: Option<LogPosition>,
}

/// Two events are equal when their contents are: the position is where a bus put one copy.
impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.event_type == other.event_type
            && self.channel == other.channel
            && self.data == other.data
            && self.tenant_id == other.tenant_id
            && self.timestamp == other.timestamp
            && self.correlation_id == other.correlation_id
            && self.origin == other.origin
    }
}

impl Event {
    /// Create an event on `channel` with a fresh id, this node as origin and the current time.
    pub fn new(event_type: impl Into<String>, channel: impl Into<String>, data: Value) -> Self {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let origin = node_id();
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Event {
            id: format!("{origin}-{sequence}"),
            event_type: event_type.into(),
            channel: channel.into(),
            data,
            tenant_id: None,
            timestamp,
            correlation_id: None,
            origin: origin.to_owned(),
            position: None,
        }
    }

    /// Set the tenant the event belongs to.
    pub fn with_tenant(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// Set the correlation id.
    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }

    /// Replace the generated id (for publishers that have their own ids).
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Size in bytes of `data` encoded as JSON, measured now (fields are public: a size
    /// remembered from earlier could belong to data since replaced).
    ///
    /// Data nested deeper than [`MAX_EVENT_DEPTH`] is measured too, without recursion.
    pub fn data_size(&self) -> usize {
        measure_json(&self.data, usize::MAX).unwrap_or(usize::MAX)
    }

    /// Check everything a bus and every node's decoder require ([`Event::validate_wire`]),
    /// and that `data` encodes to at most `max_data_bytes`.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// use subcast_core::{Error, Event, MAX_EVENT_DEPTH};
    ///
    /// let mut deep = json!(1);
    /// for _ in 0..=MAX_EVENT_DEPTH {
    ///     deep = json!([deep]);
    /// }
    /// let event = Event::new("t", "c", deep);
    /// assert!(matches!(event.validate(1 << 20), Err(Error::EventTooDeep { .. })));
    /// ```
    pub fn validate(&self, max_data_bytes: usize) -> Result<()> {
        self.validate_fields()?;
        let size = validate_event_data(&self.data)?;
        if size > max_data_bytes {
            return Err(Error::EventTooLarge {
                size,
                limit: max_data_bytes,
            });
        }
        Ok(())
    }

    /// Check what every node's decoder requires: a valid channel, ids of at most
    /// [`MAX_EVENT_ID_LEN`] bytes, `data` nested at most [`MAX_EVENT_DEPTH`] deep.
    ///
    /// A bus calls it before publishing; [`Event::from_wire`] calls it after decoding, so an
    /// event a node publishes is one every node reads. Size is left to each executor's
    /// [`max_event_bytes`](crate::ExecutorConfig::max_event_bytes).
    pub fn validate_wire(&self) -> Result<()> {
        self.validate_fields()?;
        validate_event_data(&self.data).map(drop)
    }

    fn validate_fields(&self) -> Result<()> {
        validate_channel(&self.channel)?;
        let fields = [
            ("event id", Some(&self.id)),
            ("event type", Some(&self.event_type)),
            ("event tenant id", self.tenant_id.as_ref()),
            ("event correlation id", self.correlation_id.as_ref()),
            ("event origin", Some(&self.origin)),
        ];
        for (what, value) in fields {
            if let Some(value) = value.filter(|v| v.len() > MAX_EVENT_ID_LEN) {
                return Err(Error::InvalidId {
                    what,
                    reason: format!("{} bytes, over the limit of {MAX_EVENT_ID_LEN}", value.len()),
                });
            }
        }
        Ok(())
    }

    /// Encode the event for a bus: a JSON object with a version field `v`.
    ///
    /// Call [`Event::validate_wire`] first: it guarantees every node decodes the bytes (and
    /// bounds the nesting the encoder recurses through).
    pub fn to_wire(&self) -> Vec<u8> {
        let wire = WireEventRef {
            v: WIRE_VERSION,
            event: self,
        };
        // Serializing strings, integers and a `Value` cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Decode bytes received from a bus, refusing unknown versions and events that
    /// [`Event::validate_wire`] refuses.
    pub fn from_wire(bytes: &[u8]) -> Result<Self> {
        let wire: WireEvent = serde_json::from_slice(bytes)
            .map_err(|e| Error::InvalidWireEvent(format!("not a subcast event: {e}")))?;
        if wire.v != WIRE_VERSION {
            return Err(Error::InvalidWireEvent(format!(
                "unknown wire version {} (this node reads {WIRE_VERSION})",
                wire.v
            )));
        }
        wire.event
            .validate_wire()
            .map_err(|e| Error::InvalidWireEvent(e.to_string()))?;
        Ok(wire.event)
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("id", &self.id)
            .field("event_type", &self.event_type)
            .field("channel", &self.channel)
            .field("tenant_id", &self.tenant_id)
            .field("timestamp", &self.timestamp)
            .field("correlation_id", &self.correlation_id)
            .field("origin", &self.origin)
            .field("position", &self.position)
            .field("data", &self.data)
            .finish()
    }
}

#[derive(Serialize)]
struct WireEventRef<'a> {
    v: u32,
    #[serde(flatten)]
    event: &'a Event,
}

#[derive(Deserialize)]
struct WireEvent {
    v: u32,
    #[serde(flatten)]
    event: Event,
}

/// This process's node id: random, fixed for the life of the process.
pub fn node_id() -> &'static str {
    static NODE: OnceLock<String> = OnceLock::new();
    NODE.get_or_init(|| format!("{:016x}", fastrand::u64(..)))
}

/// Accept a channel name of 1 to [`MAX_CHANNEL_LEN`] bytes without NUL.
///
/// # Examples
///
/// ```
/// use subcast_core::validate_channel;
///
/// assert!(validate_channel("users").is_ok());
/// assert!(validate_channel("").is_err());
/// ```
pub fn validate_channel(channel: &str) -> Result<()> {
    let reason = if channel.is_empty() {
        "empty"
    } else if channel.len() > MAX_CHANNEL_LEN {
        "longer than 255 bytes"
    } else if channel.contains('\0') {
        "contains a NUL byte"
    } else {
        return Ok(());
    };
    let mut shown: String = channel.chars().take(64).collect();
    if shown.len() < channel.len() {
        shown.push('…');
    }
    Err(Error::InvalidChannel {
        channel: shown,
        reason,
    })
}

/// Check `data` as event data: nested at most [`MAX_EVENT_DEPTH`] deep. Returns its size
/// encoded as JSON (what [`Event::validate`] compares with the size limit).
///
/// It walks the value without recursion, so any value is safe to give it, however deep.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use subcast_core::{validate_event_data, Error};
///
/// assert_eq!(validate_event_data(&json!({"a": [1, "x"]})).unwrap(), 13);
/// let mut deep = json!(null);
/// for _ in 0..100 {
///     deep = json!({"a": deep});
/// }
/// assert!(matches!(validate_event_data(&deep), Err(Error::EventTooDeep { limit: 64 })));
/// ```
pub fn validate_event_data(data: &Value) -> Result<usize> {
    measure_json(data, MAX_EVENT_DEPTH).ok_or(Error::EventTooDeep {
        limit: MAX_EVENT_DEPTH,
    })
}

/// The length of `value` encoded by serde_json (compact), or `None` if arrays and objects
/// nest deeper than `max_depth`. Iterative: no recursion, whatever the depth.
pub(crate) fn measure_json(value: &Value, max_depth: usize) -> Option<usize> {
    enum Open<'a> {
        Array(std::slice::Iter<'a, Value>),
        Object(serde_json::map::Iter<'a>),
    }
    let mut bytes = 0usize;
    let mut open: Vec<Open<'_>> = Vec::new();
    let mut next = Some(value);
    loop {
        if let Some(value) = next.take() {
            // Brackets, one comma between neighbours, one colon per object entry.
            let (children, punctuation) = match value {
                Value::Array(items) if items.is_empty() => (None, 2),
                Value::Object(entries) if entries.is_empty() => (None, 2),
                Value::Array(items) => (Some(Open::Array(items.iter())), items.len() + 1),
                Value::Object(entries) => (Some(Open::Object(entries.iter())), 2 * entries.len() + 1),
                scalar => (None, scalar_json_len(scalar)),
            };
            if (value.is_array() || value.is_object()) && open.len() >= max_depth {
                return None;
            }
            bytes = bytes.saturating_add(punctuation);
            if let Some(children) = children {
                open.push(children);
            }
        }
        let Some(top) = open.last_mut() else {
            return Some(bytes);
        };
        match top {
            Open::Array(items) => match items.next() {
                Some(item) => next = Some(item),
                None => {
                    open.pop();
                }
            },
            Open::Object(entries) => match entries.next() {
                Some((key, item)) => {
                    bytes = bytes.saturating_add(json_str_len(key));
                    next = Some(item);
                }
                None => {
                    open.pop();
                }
            },
        }
    }
}

/// The length of `s` encoded as a JSON string by serde_json, quotes included.
pub(crate) fn json_str_len(s: &str) -> usize {
    let escapes: usize = s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\x08' | b'\x0c' | b'\n' | b'\r' | b'\t' => 1,
            0..=0x1f => 5,
            _ => 0,
        })
        .sum();
    s.len().saturating_add(escapes).saturating_add(2)
}

fn scalar_json_len(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::String(s) => json_str_len(s),
        Value::Number(number) => {
            let mut counter = ByteCounter(0);
            // Writing to a counter cannot fail, and a number always serializes.
            let _ = serde_json::to_writer(&mut counter, number);
            counter.0
        }
        // Containers are measured by the caller.
        Value::Array(_) | Value::Object(_) => 0,
    }
}

struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A position in one channel's history; a Redis stream id `ms-seq` is `(ms, seq)`, an
/// outbox id or a JetStream sequence is `(n, 0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LogPosition {
    /// The first, most significant part.
    pub major: u64,
    /// The second part, ordering positions with the same `major`.
    pub minor: u64,
}

impl LogPosition {
    /// The position `(major, minor)`.
    pub const fn new(major: u64, minor: u64) -> Self {
        LogPosition { major, minor }
    }
}

impl fmt::Display for LogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests;
