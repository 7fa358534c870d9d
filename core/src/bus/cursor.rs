//! Where an event sits in a bus's history, as a client may hold it.
//!
//! - [`LogPosition`]: a bus's position of an event on one channel (a Redis stream entry id,
//!   a PostgreSQL outbox id, a JetStream sequence), ordered as the bus orders them.
//! - [`Cursor`]: a channel and a position, with the opaque string a `next` frame carries as
//!   `payload.extensions.cursor` ([`Cursor::encode`]) and its validated reading
//!   ([`Cursor::parse`]).
//!
//! The string is `1.<channel as lowercase hex>.<major>-<minor>`: versioned, made of
//! characters JSON never escapes (so a frame's cursor can be read back without decoding
//! the frame, see [`frame_cursor`]), and bounded by the channel's length limit.

use crate::error::CursorError;
use crate::event::{validate_channel, LogPosition, MAX_CHANNEL_LEN};

/// Version written in front of every cursor.
const CURSOR_VERSION: &str = "1";

/// Longest cursor string [`Cursor::parse`] reads: version, hex channel, two `u64`s.
pub const MAX_CURSOR_LEN: usize = 2 + 2 * MAX_CHANNEL_LEN + 1 + 20 + 1 + 20;

/// A channel and a position in its history: where a client resumes from.
///
/// # Examples
///
/// ```
/// use subcast_core::{Cursor, LogPosition};
///
/// let cursor = Cursor::new("users", LogPosition::new(1700000000000, 3));
/// let text = cursor.encode();
/// assert_eq!(Cursor::parse(&text).unwrap(), cursor);
/// assert!(Cursor::parse("not a cursor").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// The channel the position belongs to.
    pub channel: String,
    /// The position of the last event the client saw.
    pub position: LogPosition,
}

impl Cursor {
    /// The cursor at `position` of `channel`.
    pub fn new(channel: impl Into<String>, position: LogPosition) -> Self {
        Cursor {
            channel: channel.into(),
            position,
        }
    }

    /// The opaque string a client holds.
    pub fn encode(&self) -> String {
        encode(&self.channel, self.position)
    }

    /// Read a cursor a client sent, refusing anything [`Cursor::encode`] did not write.
    pub fn parse(text: &str) -> Result<Self, CursorError> {
        let refuse = |why: &str| Err(CursorError(why.to_owned()));
        if text.len() > MAX_CURSOR_LEN {
            return refuse("longer than any cursor");
        }
        let mut parts = text.split('.');
        let (Some(version), Some(channel), Some(position), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return refuse("not a cursor this server wrote");
        };
        if version != CURSOR_VERSION {
            return refuse("unknown cursor version");
        }
        let Some(channel) = decode_hex(channel).and_then(|bytes| String::from_utf8(bytes).ok()) else {
            return refuse("the channel is not valid");
        };
        if validate_channel(&channel).is_err() {
            return refuse("the channel is not valid");
        }
        let position = position
            .split_once('-')
            .and_then(|(major, minor)| Some(LogPosition::new(number(major)?, number(minor)?)));
        match position {
            Some(position) => Ok(Cursor { channel, position }),
            None => refuse("the position is not valid"),
        }
    }
}

/// The cursor string of `position` on `channel`.
pub(crate) fn encode(channel: &str, position: LogPosition) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 + 2 * channel.len() + 42);
    text.push_str(CURSOR_VERSION);
    text.push('.');
    for byte in channel.bytes() {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 15)]));
    }
    text.push('.');
    text.push_str(&position.to_string());
    text
}

/// Decimal digits only (no sign, no spaces), as [`LogPosition`]'s display writes them.
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    if text.len() % 2 != 0 {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// What a `next` frame written by the executor starts its payload with when it carries a
/// cursor: the cursor comes first so that it is found without decoding the frame.
pub(crate) const CURSOR_MARKER: &[u8] = br#""type":"next","payload":{"extensions":{"cursor":""#;

/// The cursor a `next` frame carries, if any, read without decoding the frame.
///
/// Only the frame's start is read, up to its type: the cost does not grow with the data.
///
/// # Examples
///
/// ```
/// use subcast_core::{frame_cursor, Cursor, LogPosition};
///
/// let cursor = Cursor::new("users", LogPosition::new(7, 0));
/// let frame = format!(
///     r#"{{"id":"1","type":"next","payload":{{"extensions":{{"cursor":"{}"}},"data":{{}}}}}}"#,
///     cursor.encode()
/// );
/// assert_eq!(frame_cursor(frame.as_bytes()), Some(cursor));
/// assert_eq!(frame_cursor(br#"{"id":"1","type":"complete"}"#), None);
/// ```
pub fn frame_cursor(frame: &[u8]) -> Option<Cursor> {
    // The first unescaped `"type":"` is the frame's own: an id's quotes are escaped.
    const TYPE: &[u8] = br#""type":""#;
    let at = frame.windows(TYPE.len()).position(|window| window == TYPE)?;
    let rest = frame[at..].strip_prefix(CURSOR_MARKER)?;
    let end = rest.iter().take(MAX_CURSOR_LEN + 1).position(|b| *b == b'"')?;
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    Cursor::parse(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_written_for_any_valid_channel() {
        for channel in [
            "users",
            "a.b-c",
            "ünïcode ✓",
            &"x".repeat(MAX_CHANNEL_LEN),
            "\"quoted\"",
        ] {
            let cursor = Cursor::new(channel, LogPosition::new(u64::MAX, 17));
            let text = cursor.encode();
            assert!(text.len() <= MAX_CURSOR_LEN);
            assert_eq!(Cursor::parse(&text), Ok(cursor));
        }
    }

    #[test]
    fn malformed_and_foreign_cursors_are_refused_with_a_reason() {
        let too_long = "1.".to_owned() + &"61".repeat(300) + ".1-0";
        for text in [
            "",
            "1",
            "1.7573657273",
            "2.7573657273.1-0",
            "1.7573657273.1-0.extra",
            "1.75736572.1-0x",
            "1.7573657273.-1-0",
            "1.7573657273.+1-0",
            "1.7573657273.1",
            "1.7573657273.99999999999999999999999-0",
            "1.757365727.1-0",
            "1.7573657ZZ3.1-0",
            "1.ff.1-0",
            "1..1-0",
            too_long.as_str(),
        ] {
            let refused = Cursor::parse(text);
            assert!(refused.is_err(), "{text:?} was read as {refused:?}");
        }
    }

    #[test]
    fn a_frame_without_a_cursor_has_none_even_if_its_data_looks_like_one() {
        let frame = br#"{"id":"1","type":"next","payload":{"data":{"s":"\"type\":\"next\",\"payload\":{\"extensions\":{\"cursor\":\"1.75.1-0"}}}"#;
        assert_eq!(frame_cursor(frame), None);
    }
}
