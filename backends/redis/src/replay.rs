//! Replay from Redis Streams: positions, the atomic publish script, reading what was missed.
//!
//! - [`StreamId`]: a stream entry id `ms-seq`, ordered like Redis orders them.
//! - [`PUBLISH_SCRIPT`]: XADD and PUBLISH in one atomic step, so the pub/sub order is the
//!   stream order and every pub/sub message carries its stream id.
//! - [`split_payload`]: a pub/sub payload is either `<wire>` or `<stream id> <wire>`.
//! - [`CLUSTER_PUBLISH_SCRIPT`]: the same with `SPUBLISH`, for a cluster's shard channels.
//! - [`newest_position`] / [`read_page`]: the replay reads, over a single-node or a cluster
//!   connection.
//! - [`parse_entries`] / [`info_fields`], [`max_deleted_id`], [`trimmed_past`]: read `XRANGE`
//!   and `XINFO STREAM` replies (what was deleted, what was trimmed).

use std::fmt;
use std::str::FromStr;

use redis::aio::ConnectionLike;
use redis::Value;
use subcast_core::backend::{ReplayError, ReplayPage, Replayed};
use subcast_core::{LogPosition, Result};

use crate::bus::failed;

/// Appends the event (ARGV[1]) to the stream KEYS[1] capped near ARGV[2] entries, then
/// publishes `<id> <event>` on channel ARGV[3]. Scripts run atomically, so two publishers
/// can never interleave between the XADD and the PUBLISH.
pub(crate) const PUBLISH_SCRIPT: &str = r"
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1])
redis.call('PUBLISH', ARGV[3], id .. ' ' .. ARGV[1])
return id
";

/// [`PUBLISH_SCRIPT`] for Redis Cluster: the shard channel is the stream's key itself
/// (KEYS[1]), so both live in one slot and the script runs on the one node that owns it
/// (Redis refuses a script touching a key or shard channel of another slot).
#[cfg(feature = "cluster")]
pub(crate) const CLUSTER_PUBLISH_SCRIPT: &str = r"
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1])
redis.call('SPUBLISH', KEYS[1], id .. ' ' .. ARGV[1])
return id
";

/// The field of a stream entry holding the event's wire bytes.
pub(crate) const EVENT_FIELD: &[u8] = b"e";

/// A Redis stream entry id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct StreamId {
    millis: u64,
    sequence: u64,
}

impl StreamId {
    /// The id as a client's cursor holds it: `(ms, seq)`.
    pub(crate) fn log_position(self) -> LogPosition {
        LogPosition::new(self.millis, self.sequence)
    }

    /// The id a client's cursor names.
    pub(crate) fn from_log_position(position: LogPosition) -> Self {
        StreamId {
            millis: position.major,
            sequence: position.minor,
        }
    }

    /// The id the publish script replied, if it is one.
    pub(crate) fn from_reply(reply: &Value) -> Option<Self> {
        match reply {
            Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
            Value::SimpleString(text) => text.parse().ok(),
            _ => None,
        }
    }
}

impl FromStr for StreamId {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (millis, sequence) = text.split_once('-').ok_or(())?;
        Ok(StreamId {
            millis: millis.parse().map_err(|_| ())?,
            sequence: sequence.parse().map_err(|_| ())?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.millis, self.sequence)
    }
}

/// Split a pub/sub payload into its stream id (if it carries one) and the wire event.
pub(crate) fn split_payload(payload: &[u8]) -> Result<(Option<StreamId>, &[u8]), &'static str> {
    if payload.first() == Some(&b'{') {
        return Ok((None, payload));
    }
    let space = payload
        .iter()
        .position(|b| *b == b' ')
        .ok_or("neither a JSON event nor `<stream id> <event>`")?;
    let id = std::str::from_utf8(&payload[..space])
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or("the stream id prefix is not `<ms>-<seq>`")?;
    Ok((Some(id), &payload[space + 1..]))
}

/// The newest entry id of stream `key` (`0-0` when it is empty or missing).
pub(crate) async fn newest_position(connection: &mut impl ConnectionLike, key: &str) -> Result<StreamId> {
    let reply: Value = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(connection)
        .await
        .map_err(failed(format!("XREVRANGE {key:?}")))?;
    let newest = parse_entries(reply)
        .ok()
        .and_then(|entries| entries.first().map(|(id, _)| *id));
    Ok(newest.unwrap_or_default())
}

/// At most `limit` entries of stream `key` after `after`, with a [`Replayed::Lost`] first
/// when entries past the cursor were trimmed or deleted.
pub(crate) async fn read_page(
    connection: &mut impl ConnectionLike,
    key: &str,
    after: Option<&StreamId>,
    limit: usize,
) -> std::result::Result<ReplayPage<StreamId>, ReplayError> {
    let cursor = after.copied().unwrap_or_default();
    let entries: Value = redis::cmd("XRANGE")
        .arg(key)
        .arg(format!("({cursor}"))
        .arg("+")
        .arg("COUNT")
        .arg(limit)
        .query_async(connection)
        .await
        .map_err(
            |error| match error.is_connection_dropped() || error.is_io_error() {
                true => ReplayError::Disconnected,
                false => ReplayError::Failed(error.to_string()),
            },
        )?;
    // Read after XRANGE: a trim past the cursor since then is reported as a gap too.
    let info = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(key)
        .query_async::<Value>(connection)
        .await
        .ok();
    let entries = parse_entries(entries).map_err(ReplayError::Failed)?;
    let read = entries.len();
    let mut page = Vec::with_capacity(read + 1);
    // A stream never trimmed or deleted from reports `0-0`, so a channel that subscribed
    // while its stream was empty (cursor `0-0`) sees a gap only when something was lost.
    let fields = info.map(info_fields).unwrap_or_default();
    if let Some(deleted) = max_deleted_id(&fields).filter(|deleted| *deleted > cursor) {
        // Trimming removes a prefix: start after it, so the next page does not report it
        // again. (Entries deleted one by one may sit among those read: keep them.)
        let past_prefix = entries.first().is_none_or(|(first, _)| *first > deleted);
        page.push(Replayed::Lost(past_prefix.then_some(deleted)));
    } else if trimmed_past(&fields, cursor) {
        page.push(Replayed::Lost(None));
    }
    page.extend(entries.into_iter().map(|(id, wire)| match wire {
        Some(wire) => Replayed::Event(id, wire),
        None => Replayed::Invalid(id, "a stream entry without an event field".to_owned()),
    }));
    Ok(ReplayPage { read, entries: page })
}

/// A stream entry: its id and its event bytes, if it has an event field.
pub(crate) type Entry = (StreamId, Option<Vec<u8>>);

/// Read an `XRANGE` reply into `(id, event bytes)`; entries without an event field are
/// returned with `None` so they can be counted as invalid.
pub(crate) fn parse_entries(reply: Value) -> Result<Vec<Entry>, String> {
    let Value::Array(entries) = reply else {
        return Err(format!("XRANGE replied {reply:?}"));
    };
    entries
        .into_iter()
        .map(|entry| {
            let Value::Array(mut parts) = entry else {
                return Err("an XRANGE entry is not an array".to_owned());
            };
            if parts.len() != 2 {
                return Err("an XRANGE entry is not [id, fields]".to_owned());
            }
            let fields = parts.pop().unwrap_or(Value::Nil);
            let id = text(parts.pop().unwrap_or(Value::Nil))
                .and_then(|t| t.parse().ok())
                .ok_or("an XRANGE entry id is not `<ms>-<seq>`")?;
            let pairs: Vec<(Value, Value)> = match fields {
                Value::Array(flat) => {
                    let mut flat = flat.into_iter();
                    std::iter::from_fn(|| Some((flat.next()?, flat.next()?))).collect()
                }
                Value::Map(pairs) => pairs,
                _ => Vec::new(),
            };
            let event = pairs.into_iter().find_map(|(k, v)| match (k, v) {
                (Value::BulkString(k), Value::BulkString(v)) if k == EVENT_FIELD => Some(v),
                _ => None,
            });
            Ok((id, event))
        })
        .collect()
}

/// The fields of an `XINFO STREAM` reply whose values are text or integers, by name.
pub(crate) fn info_fields(reply: Value) -> Vec<(String, String)> {
    let pairs: Vec<(Value, Value)> = match reply {
        Value::Map(pairs) => pairs,
        Value::Array(flat) => {
            let mut flat = flat.into_iter();
            std::iter::from_fn(|| Some((flat.next()?, flat.next()?))).collect()
        }
        _ => return Vec::new(),
    };
    pairs
        .into_iter()
        .filter_map(|(key, value)| {
            let value = match value {
                Value::Int(n) => n.to_string(),
                other => text(other)?,
            };
            Some((text(key)?, value))
        })
        .collect()
}

fn field<T: FromStr>(fields: &[(String, String)], name: &str) -> Option<T> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .and_then(|(_, value)| value.parse().ok())
}

/// The `max-deleted-entry-id` of an `XINFO STREAM` reply (Redis 7+), if present: what
/// `XDEL` removed.
pub(crate) fn max_deleted_id(fields: &[(String, String)]) -> Option<StreamId> {
    field(fields, "max-deleted-entry-id")
}

/// Whether trimming (which Redis 7.0 does not count in `max-deleted-entry-id`) removed the
/// entry at `cursor`, and with it whatever followed it before the first entry left: the
/// stream lost entries (`entries-added` over `length`) and starts after the cursor.
/// Nothing may have followed it: the gap is announced as of unknown size.
pub(crate) fn trimmed_past(fields: &[(String, String)], cursor: StreamId) -> bool {
    let added: Option<u64> = field(fields, "entries-added");
    let length: Option<u64> = field(fields, "length");
    let first: Option<StreamId> = field(fields, "recorded-first-entry-id");
    let trimmed = matches!((added, length), (Some(added), Some(length)) if added > length);
    trimmed && cursor != StreamId::default() && first.is_some_and(|first| first > cursor)
}

fn text(value: Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(text) => Some(text),
        Value::VerbatimString { text, .. } => Some(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_order_like_redis() {
        let a: StreamId = "5-1".parse().unwrap();
        let b: StreamId = "10-0".parse().unwrap();
        assert!(a < b);
        assert_eq!(b.to_string(), "10-0");
        assert!("x-1".parse::<StreamId>().is_err());
    }

    #[test]
    fn payloads_with_and_without_a_stream_id_are_split() {
        assert_eq!(split_payload(b"{\"v\":1}").unwrap(), (None, &b"{\"v\":1}"[..]));
        let (id, wire) = split_payload(b"7-3 {\"v\":1}").unwrap();
        assert_eq!(id, Some("7-3".parse().unwrap()));
        assert_eq!(wire, b"{\"v\":1}");
        assert!(split_payload(b"garbage").is_err());
        assert!(split_payload(b"x-y {}").is_err());
    }

    #[test]
    fn xrange_replies_are_read_in_both_resp_shapes() {
        let entry = |id: &str, fields: Value| Value::Array(vec![Value::BulkString(id.into()), fields]);
        let reply = Value::Array(vec![
            entry(
                "1-0",
                Value::Array(vec![
                    Value::BulkString(b"e".to_vec()),
                    Value::BulkString(b"{}".to_vec()),
                ]),
            ),
            entry(
                "2-0",
                Value::Map(vec![(
                    Value::BulkString(b"x".to_vec()),
                    Value::BulkString(b"y".to_vec()),
                )]),
            ),
        ]);
        let entries = parse_entries(reply).unwrap();
        assert_eq!(entries[0], ("1-0".parse().unwrap(), Some(b"{}".to_vec())));
        assert_eq!(entries[1], ("2-0".parse().unwrap(), None));
    }
}
