//! Replay from Redis Streams: positions, the atomic publish script, reading what was missed.
//!
//! - [`StreamId`]: a stream entry id `ms-seq`, ordered like Redis orders them.
//! - [`PUBLISH_SCRIPT`]: XADD and PUBLISH in one atomic step, so the pub/sub order is the
//!   stream order and every pub/sub message carries its stream id.
//! - [`split_payload`]: a pub/sub payload is either `<wire>` or `<stream id> <wire>`.
//! - [`parse_entries`] / [`max_deleted_id`]: read `XRANGE` and `XINFO STREAM` replies.

use std::fmt;
use std::str::FromStr;

use redis::Value;

/// Appends the event (ARGV[1]) to the stream KEYS[1] capped near ARGV[2] entries, then
/// publishes `<id> <event>` on channel ARGV[3]. Scripts run atomically, so two publishers
/// can never interleave between the XADD and the PUBLISH.
pub(crate) const PUBLISH_SCRIPT: &str = r"
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1])
redis.call('PUBLISH', ARGV[3], id .. ' ' .. ARGV[1])
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

/// The `max-deleted-entry-id` of an `XINFO STREAM` reply (Redis 7+), if present.
pub(crate) fn max_deleted_id(reply: Value) -> Option<StreamId> {
    let pairs: Vec<(Value, Value)> = match reply {
        Value::Map(pairs) => pairs,
        Value::Array(flat) => {
            let mut flat = flat.into_iter();
            std::iter::from_fn(|| Some((flat.next()?, flat.next()?))).collect()
        }
        _ => return None,
    };
    pairs.into_iter().find_map(|(key, value)| {
        (text(key)? == "max-deleted-entry-id")
            .then(|| text(value)?.parse().ok())
            .flatten()
    })
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
