//! graphql-transport-ws frames, encoded once and addressed per subscriber.
//!
//! - [`FramePrefix`]: the bytes `{"id":"<id>",` of one subscription, built at registration.
//! - [`FrameBody`]: the rest of a frame (`"type":…,"payload":…}`), encoded once per cohort
//!   and shared, not copied, by the response queues of its subscribers.
//! - [`FramePrefix::splice`]: prefix + body, the frame one subscriber receives, joined when
//!   its queue is read.
//! - [`GraphQLError`]: the `{message, extensions: {code}}` objects of `error` frames.
//! - Notices: `next` frames carrying only an error with a code (`EVENTS_LAGGED`, …).
//! - [`FrameBody::next_data_within`]: a `next` body encoded only up to a size limit; past
//!   it the encoder stops, and the caller sends a [`FRAME_TOO_LARGE`] `error` frame instead.
//!
//! A spliced frame is byte-identical to serde_json's encoding of the whole frame object
//! `{"id", "type", "payload"}`; the tests check it.

use std::fmt;

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use serde_json::{Map, Value};

/// The start of every frame of one subscription: `{"id":"<escaped id>",`.
///
/// # Examples
///
/// ```
/// use subcast_core::{FrameBody, FramePrefix};
///
/// let prefix = FramePrefix::new("7");
/// let frame = prefix.splice(&FrameBody::complete());
/// assert_eq!(&frame[..], br#"{"id":"7","type":"complete"}"#);
/// ```
#[derive(Clone)]
pub struct FramePrefix(PrefixBytes);

/// Longest prefix stored inline: `{"id":"` + a 36-character UUID + `",` fits, and the whole
/// `FramePrefix` stays 48 bytes. The fan-out splices one prefix per subscriber, so a prefix
/// read from the queue's own cache lines saves a likely cache miss per subscriber.
const INLINE_PREFIX: usize = 46;

#[derive(Clone)]
enum PrefixBytes {
    Inline { len: u8, bytes: [u8; INLINE_PREFIX] },
    Heap(Box<[u8]>),
}

impl FramePrefix {
    /// Encode the prefix of subscription `id`.
    pub fn new(id: &str) -> Self {
        let mut bytes = Vec::with_capacity(id.len() + 10);
        bytes.extend_from_slice(b"{\"id\":");
        // Encoding a `&str` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut bytes, id);
        bytes.push(b',');
        if bytes.len() <= INLINE_PREFIX {
            let mut inline = [0; INLINE_PREFIX];
            inline[..bytes.len()].copy_from_slice(&bytes);
            FramePrefix(PrefixBytes::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            })
        } else {
            FramePrefix(PrefixBytes::Heap(bytes.into_boxed_slice()))
        }
    }

    /// Join this prefix and `body` into one frame.
    #[inline]
    pub fn splice(&self, body: &FrameBody) -> Bytes {
        let prefix = self.as_bytes();
        let mut frame = BytesMut::with_capacity(prefix.len() + body.0.len());
        frame.extend_from_slice(prefix);
        frame.extend_from_slice(&body.0);
        frame.freeze()
    }

    /// Length of the prefix in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Always false: a prefix holds at least `{"id":"",`.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// The encoded bytes: `{"id":"<escaped id>",`.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            PrefixBytes::Inline { len, bytes } => &bytes[..usize::from(*len)],
            PrefixBytes::Heap(bytes) => bytes,
        }
    }
}

impl PartialEq for FramePrefix {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for FramePrefix {}

impl fmt::Debug for FramePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FramePrefix")
            .field(&String::from_utf8_lossy(self.as_bytes()))
            .finish()
    }
}

/// Everything of a frame after its id: `"type":"…"` and, if any, `"payload":…`, then `}`.
///
/// Cloning it is a reference count: the queues of a cohort hold one body between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameBody(Bytes);

impl FrameBody {
    /// A `next` frame whose payload is `{"data": data}`.
    pub fn next_data(data: &Value) -> Self {
        #[derive(Serialize)]
        struct Payload<'a> {
            data: &'a Value,
        }
        Self::with_payload("next", &Payload { data })
    }

    /// A `next` frame whose payload is `{"data": data}`, or `None` if the body would be longer
    /// than `limit` bytes. Encoding stops as soon as the limit is passed: an oversized body
    /// is never built whole.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::FrameBody;
    ///
    /// let data = serde_json::json!({"s": "x".repeat(100)});
    /// assert!(FrameBody::next_data_within(&data, 1000).is_some());
    /// assert!(FrameBody::next_data_within(&data, 100).is_none());
    /// ```
    pub fn next_data_within(data: &Value, limit: usize) -> Option<Self> {
        #[derive(Serialize)]
        struct Payload<'a> {
            data: &'a Value,
        }
        Self::with_payload_within("next", &Payload { data }, limit)
    }

    /// [`next_data_within`](Self::next_data_within) whose payload starts with
    /// `"extensions":{"cursor":cursor}` when given a cursor (first, so that
    /// [`frame_cursor`](crate::frame_cursor) reads it without decoding the frame).
    pub fn next_data_at_within(data: &Value, cursor: Option<&str>, limit: usize) -> Option<Self> {
        #[derive(Serialize)]
        struct Extensions<'a> {
            cursor: &'a str,
        }
        #[derive(Serialize)]
        struct Payload<'a> {
            extensions: Extensions<'a>,
            data: &'a Value,
        }
        match cursor {
            Some(cursor) => Self::with_payload_within(
                "next",
                &Payload {
                    extensions: Extensions { cursor },
                    data,
                },
                limit,
            ),
            None => Self::next_data_within(data, limit),
        }
    }

    /// A `next` frame carrying an arbitrary execution result.
    pub fn next(payload: &impl Serialize) -> Self {
        Self::with_payload("next", payload)
    }

    /// An `error` frame: the operation failed and ends.
    pub fn error(errors: &[GraphQLError]) -> Self {
        Self::with_payload("error", &errors)
    }

    /// A `next` frame whose payload holds one error with `code` and, if known, a `count`
    /// extension: the stream goes on, but the subscriber must know something was missed.
    pub fn notice(code: &str, message: &str, count: Option<u64>) -> Self {
        let mut extensions = Map::new();
        extensions.insert("code".into(), code.into());
        if let Some(count) = count {
            extensions.insert("count".into(), count.into());
        }
        let error = GraphQLError {
            message: message.into(),
            extensions,
        };
        #[derive(Serialize)]
        struct Payload<'a> {
            errors: [&'a GraphQLError; 1],
        }
        Self::with_payload("next", &Payload { errors: [&error] })
    }

    /// A `complete` frame: the server ends the operation.
    pub fn complete() -> Self {
        FrameBody(Bytes::from_static(br#""type":"complete"}"#))
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length of the encoded bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a body holds at least its `"type"`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn with_payload(kind: &str, payload: &(impl Serialize + ?Sized)) -> Self {
        // Payloads are built from `Value`s and strings, which always serialize; without a
        // limit nothing else can stop the encoder.
        Self::with_payload_within(kind, payload, usize::MAX).unwrap_or_else(|| FrameBody(Bytes::new()))
    }

    fn with_payload_within(kind: &str, payload: &(impl Serialize + ?Sized), limit: usize) -> Option<Self> {
        let mut body = BoundedBuffer {
            bytes: Vec::with_capacity(128.min(limit)),
            limit,
        };
        body.bytes.extend_from_slice(b"\"type\":\"");
        body.bytes.extend_from_slice(kind.as_bytes());
        body.bytes.extend_from_slice(b"\",\"payload\":");
        serde_json::to_writer(&mut body, payload).ok()?;
        std::io::Write::write_all(&mut body, b"}").ok()?;
        let mut bytes = body.bytes;
        // Queued frames share this buffer for as long as the slowest subscriber holds it:
        // growth's spare capacity would be held as long.
        if bytes.capacity() - bytes.len() > 1024 {
            bytes.shrink_to_fit();
        }
        Some(FrameBody(Bytes::from(bytes)))
    }
}

/// A buffer that refuses to grow past `limit` bytes, so an encoder writing into it stops there.
struct BoundedBuffer {
    bytes: Vec<u8>,
    limit: usize,
}

impl std::io::Write for BoundedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len().saturating_add(buf.len()) > self.limit {
            return Err(std::io::Error::other("frame size limit passed"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A GraphQL error as it appears in `error` frames: `{message, extensions: {code, …}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphQLError {
    /// Human-readable description.
    pub message: String,
    /// Machine-readable details; always holds `code`.
    pub extensions: Map<String, Value>,
}

impl GraphQLError {
    /// An error with `message` and `extensions.code = code`.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        let mut extensions = Map::new();
        extensions.insert("code".into(), code.into());
        GraphQLError {
            message: message.into(),
            extensions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{EVENTS_LAGGED, RESOLVER_ERROR};
    use serde_json::json;

    fn whole(id: &str, kind: &str, payload: Option<Value>) -> Vec<u8> {
        let mut frame = Map::new();
        frame.insert("id".into(), id.into());
        frame.insert("type".into(), kind.into());
        if let Some(payload) = payload {
            frame.insert("payload".into(), payload);
        }
        serde_json::to_vec(&frame).unwrap()
    }

    #[test]
    fn spliced_next_frame_equals_serde_json_encoding_of_the_whole_frame() {
        let data = json!({"users": {"id": "1", "name": "Zoë \"the\" <admin>\n", "n": [1, 2.5, null]}});
        for id in ["1", "sub-ünï\"code\\", "\u{0}\u{1f}", ""] {
            let frame = FramePrefix::new(id).splice(&FrameBody::next_data(&data));
            assert_eq!(frame, whole(id, "next", Some(json!({"data": data}))), "id {id:?}");
        }
    }

    #[test]
    fn spliced_error_frame_equals_serde_json_encoding_of_the_whole_frame() {
        let errors = [GraphQLError::new(RESOLVER_ERROR, "boom")];
        let frame = FramePrefix::new("9").splice(&FrameBody::error(&errors));
        let expected = whole(
            "9",
            "error",
            Some(json!([{"message": "boom", "extensions": {"code": "RESOLVER_ERROR"}}])),
        );
        assert_eq!(frame, expected);
    }

    #[test]
    fn spliced_complete_frame_equals_serde_json_encoding_of_the_whole_frame() {
        let frame = FramePrefix::new("x").splice(&FrameBody::complete());
        assert_eq!(frame, whole("x", "complete", None));
    }

    #[test]
    fn long_and_short_prefixes_splice_alike() {
        let body = FrameBody::complete();
        for id in ["1", "0f8fad5b-d9cb-469f-a165-70867728950e", &"x".repeat(200)] {
            let frame = FramePrefix::new(id).splice(&body);
            assert_eq!(frame, whole(id, "complete", None), "id {id:?}");
            assert_eq!(FramePrefix::new(id).len(), id.len() + 9);
        }
        assert_eq!(size_of::<FramePrefix>(), 48);
    }

    #[test]
    fn a_body_within_the_limit_equals_the_unbounded_body() {
        let data = json!({"users": [{"id": "1"}, {"id": "2"}]});
        let body = FrameBody::next_data(&data);
        let exact = body.as_bytes().len();
        assert_eq!(FrameBody::next_data_within(&data, exact), Some(body));
        assert_eq!(FrameBody::next_data_within(&data, exact - 1), None);
    }

    #[test]
    fn notice_is_a_next_frame_with_code_and_count() {
        let frame = FramePrefix::new("a").splice(&FrameBody::notice(EVENTS_LAGGED, "lagged", Some(3)));
        let value: Value = serde_json::from_slice(&frame).unwrap();
        assert_eq!(value["type"], "next");
        assert_eq!(value["payload"]["errors"][0]["extensions"]["code"], EVENTS_LAGGED);
        assert_eq!(value["payload"]["errors"][0]["extensions"]["count"], 3);
    }
}
