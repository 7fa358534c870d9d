//! Events: what a mutation publishes and every subscription on its channel may see.
//!
//! - [`Event`]: id, type, channel, JSON data, tenant, timestamp, correlation id, origin node.
//! - [`validate_channel`]: the rule every channel name obeys.
//! - The wire format ([`Event::to_wire`], [`Event::from_wire`]) buses carry between nodes.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// Longest channel name accepted, in bytes.
pub const MAX_CHANNEL_LEN: usize = 255;

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
#[derive(Serialize, Deserialize)]
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
    #[serde(skip)]
    data_size: OnceLock<usize>,
}

impl Event {
    /// Create an event on `channel` with a fresh id, this node as origin and the current time.
    pub fn new(event_type: impl Into<String>, channel: impl Into<String>, data: Value) -> Self {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let origin = node_id();
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Event {
            id: format!("{origin}-{sequence}"),
            event_type: event_type.into(),
            channel: channel.into(),
            data,
            tenant_id: None,
            timestamp,
            correlation_id: None,
            origin: origin.to_owned(),
            data_size: OnceLock::new(),
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

    /// Size in bytes of `data` encoded as JSON, computed once.
    pub fn data_size(&self) -> usize {
        *self.data_size.get_or_init(|| {
            let mut counter = ByteCounter(0);
            // Writing to a counter cannot fail, and a `Value` always serializes.
            let _ = serde_json::to_writer(&mut counter, &self.data);
            counter.0
        })
    }

    /// Check the channel name and that `data` is at most `max_data_bytes`.
    pub fn validate(&self, max_data_bytes: usize) -> Result<()> {
        validate_channel(&self.channel)?;
        let size = self.data_size();
        if size > max_data_bytes {
            return Err(Error::EventTooLarge {
                size,
                limit: max_data_bytes,
            });
        }
        Ok(())
    }

    /// Encode the event for a bus: a JSON object with a version field `v`.
    pub fn to_wire(&self) -> Vec<u8> {
        let wire = WireEventRef {
            v: WIRE_VERSION,
            event: self,
        };
        // Serializing strings, integers and a `Value` cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Decode bytes received from a bus, refusing unknown versions and invalid channels.
    pub fn from_wire(bytes: &[u8]) -> Result<Self> {
        let wire: WireEvent = serde_json::from_slice(bytes)
            .map_err(|e| Error::InvalidWireEvent(format!("not a subcast event: {e}")))?;
        if wire.v != WIRE_VERSION {
            return Err(Error::InvalidWireEvent(format!(
                "unknown wire version {} (this node reads {WIRE_VERSION})",
                wire.v
            )));
        }
        validate_channel(&wire.event.channel).map_err(|e| Error::InvalidWireEvent(e.to_string()))?;
        Ok(wire.event)
    }
}

impl Clone for Event {
    /// Clone every field; the cached data size is not carried over, so a clone whose `data`
    /// is then replaced is measured anew.
    fn clone(&self) -> Self {
        Event {
            id: self.id.clone(),
            event_type: self.event_type.clone(),
            channel: self.channel.clone(),
            data: self.data.clone(),
            tenant_id: self.tenant_id.clone(),
            timestamp: self.timestamp,
            correlation_id: self.correlation_id.clone(),
            origin: self.origin.clone(),
            data_size: OnceLock::new(),
        }
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
            .field("data", &self.data)
            .finish()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_round_trip_keeps_every_field() {
        let event = Event::new("userCreated", "users", json!({"b": 1, "a": [true, null]}))
            .with_tenant("t1")
            .with_correlation_id("c1");
        let back = Event::from_wire(&event.to_wire()).unwrap();
        assert_eq!(back, event);
        assert_eq!(
            serde_json::to_string(&back.data).unwrap(),
            r#"{"b":1,"a":[true,null]}"#
        );
    }

    #[test]
    fn wire_with_unknown_version_is_refused() {
        let mut wire: Value = serde_json::from_slice(&Event::new("t", "c", json!({})).to_wire()).unwrap();
        wire["v"] = json!(2);
        let err = Event::from_wire(wire.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("unknown wire version 2"), "{err}");
    }

    #[test]
    fn garbage_bytes_are_refused_as_wire_events() {
        assert!(matches!(
            Event::from_wire(b"\xff\x00garbage"),
            Err(Error::InvalidWireEvent(_))
        ));
        assert!(matches!(
            Event::from_wire(br#"{"v":1,"id":3}"#),
            Err(Error::InvalidWireEvent(_))
        ));
    }

    #[test]
    fn wire_event_with_invalid_channel_is_refused() {
        let event = Event::new("t", "", json!({}));
        assert!(matches!(
            Event::from_wire(&event.to_wire()),
            Err(Error::InvalidWireEvent(_))
        ));
    }

    #[test]
    fn channel_names_over_255_bytes_are_refused() {
        assert!(validate_channel(&"x".repeat(255)).is_ok());
        assert!(matches!(
            validate_channel(&"x".repeat(256)),
            Err(Error::InvalidChannel {
                reason: "longer than 255 bytes",
                ..
            })
        ));
        assert!(validate_channel("a\0b").is_err());
        assert!(validate_channel("quotes \" spaces; DROP TABLE x; -- ünïcode").is_ok());
    }

    #[test]
    fn data_over_the_limit_is_refused() {
        let event = Event::new("t", "c", json!({"s": "x".repeat(100)}));
        assert!(event.validate(1000).is_ok());
        assert!(matches!(
            event.validate(50),
            Err(Error::EventTooLarge { limit: 50, .. })
        ));
    }

    #[test]
    fn a_clone_with_new_data_is_measured_anew() {
        let small = Event::new("t", "c", json!({"s": "x"}));
        assert!(small.validate(100).is_ok());
        let mut big = small.clone();
        big.data = json!({"s": "x".repeat(200)});
        assert!(matches!(big.validate(100), Err(Error::EventTooLarge { .. })));
    }

    #[test]
    fn generated_ids_are_unique_and_carry_the_origin() {
        let a = Event::new("t", "c", Value::Null);
        let b = Event::new("t", "c", Value::Null);
        assert_ne!(a.id, b.id);
        assert!(a.id.starts_with(node_id()));
        assert_eq!(a.origin, node_id());
    }
}
