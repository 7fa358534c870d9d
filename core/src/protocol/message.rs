//! Client messages parsed and checked as the reference server checks them
//! (graphql-ws `validateMessage`), and the server messages built as it builds them.
//!
//! - [`SubscribePayload`]: the operation a `subscribe` message requests.
//! - `parse`: a text message to a [`ClientMessage`], or the reason it is invalid.
//! - `connection_ack`, `pong`, `PING`, `error`, `complete`: the server's messages.

use serde_json::{Map, Value};

use crate::frame::{FrameBody, FramePrefix, GraphQLError};

/// The operation a `subscribe` message requests.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribePayload {
    /// The GraphQL document.
    pub query: String,
    /// Which operation of the document to run, if it names one.
    pub operation_name: Option<String>,
    /// The operation's variables (`null` and absent both read as `None`).
    pub variables: Option<Map<String, Value>>,
    /// Protocol extensions the client sent (`null` and absent both read as `None`).
    pub extensions: Option<Map<String, Value>>,
}

impl SubscribePayload {
    /// The resume cursor the client sent as `extensions.cursor`: the cursor of the last
    /// `next` frame it read, for [`SubscriptionExecutor::resume`](crate::SubscriptionExecutor::resume).
    ///
    /// `Ok(None)` without one (`null` counts as none); an error for a cursor that is not a
    /// string, for the subscription's `error` frame.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::SubscribePayload;
    ///
    /// let mut payload = SubscribePayload {
    ///     query: "subscription { users { id } }".into(),
    ///     operation_name: None,
    ///     variables: None,
    ///     extensions: None,
    /// };
    /// assert_eq!(payload.cursor().unwrap(), None);
    /// payload.extensions = Some(serde_json::json!({"cursor": 7}).as_object().unwrap().clone());
    /// assert!(payload.cursor().is_err());
    /// ```
    pub fn cursor(&self) -> Result<Option<&str>, crate::Error> {
        match self.extensions.as_ref().and_then(|e| e.get("cursor")) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(cursor)) => Ok(Some(cursor)),
            Some(_) => Err(crate::Error::InvalidCursor(crate::CursorError(
                "`extensions.cursor` must be a string".to_owned(),
            ))),
        }
    }
}

/// A valid message from a client.
#[derive(Debug)]
pub(crate) enum ClientMessage {
    ConnectionInit { payload: Option<Map<String, Value>> },
    Ping { payload: Option<Map<String, Value>> },
    Pong,
    Subscribe { id: String, payload: SubscribePayload },
    Complete { id: String },
}

/// Parse `text`; `Err` holds the reason for the 4400 close.
pub(crate) fn parse(text: &str, max_id_bytes: usize) -> Result<ClientMessage, String> {
    let value: Value = serde_json::from_str(text).map_err(|error| format!("Invalid JSON: {error}"))?;
    let Value::Object(mut message) = value else {
        return Err(format!(
            "Message is expected to be an object, but got {}",
            type_name(&value)
        ));
    };
    let kind = match message.remove("type") {
        None | Some(Value::Null) => return Err("Message is missing the 'type' property".into()),
        Some(Value::String(kind)) if kind.is_empty() => {
            return Err("Message is missing the 'type' property".into())
        }
        Some(Value::String(kind)) => kind,
        Some(other) => {
            return Err(format!(
                "Message expects the 'type' property to be a string, but got {}",
                type_name(&other)
            ))
        }
    };
    match kind.as_str() {
        "connection_init" => Ok(ClientMessage::ConnectionInit {
            payload: optional_object(&kind, "payload", message.remove("payload"))?,
        }),
        "ping" => Ok(ClientMessage::Ping {
            payload: optional_object(&kind, "payload", message.remove("payload"))?,
        }),
        "pong" => {
            optional_object(&kind, "payload", message.remove("payload"))?;
            Ok(ClientMessage::Pong)
        }
        "subscribe" => {
            let id = id(&kind, message.remove("id"), max_id_bytes)?;
            let payload = match message.remove("payload") {
                Some(Value::Object(payload)) => subscribe_payload(payload)?,
                other => {
                    return Err(format!(
                        "\"subscribe\" message expects the 'payload' property to be an object, but got {}",
                        type_name_of(other.as_ref())
                    ))
                }
            };
            Ok(ClientMessage::Subscribe { id, payload })
        }
        "complete" => Ok(ClientMessage::Complete {
            id: id(&kind, message.remove("id"), max_id_bytes)?,
        }),
        "connection_ack" | "next" | "error" => Err(format!("Unexpected message of type {kind} received")),
        _ => Err(format!("Invalid message 'type' property \"{kind}\"")),
    }
}

fn subscribe_payload(mut payload: Map<String, Value>) -> Result<SubscribePayload, String> {
    let query = match payload.remove("query") {
        Some(Value::String(query)) => query,
        other => {
            return Err(format!(
                "\"subscribe\" message payload expects the 'query' property to be a string, but got {}",
                type_name_of(other.as_ref())
            ))
        }
    };
    let operation_name = match payload.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(other) => {
            return Err(format!(
                "\"subscribe\" message payload expects the 'operationName' property to be a string or nullish or missing, but got {}",
                type_name(&other)
            ))
        }
    };
    Ok(SubscribePayload {
        query,
        operation_name,
        variables: optional_object("subscribe", "variables", payload.remove("variables"))?,
        extensions: optional_object("subscribe", "extensions", payload.remove("extensions"))?,
    })
}

fn id(kind: &str, value: Option<Value>, max_bytes: usize) -> Result<String, String> {
    match value {
        Some(Value::String(id)) if id.is_empty() => {
            Err(format!("\"{kind}\" message requires a non-empty 'id' property"))
        }
        Some(Value::String(id)) if id.len() > max_bytes => Err(format!(
            "\"{kind}\" message 'id' is {} bytes, over the limit of {max_bytes}",
            id.len()
        )),
        Some(Value::String(id)) => Ok(id),
        other => Err(format!(
            "\"{kind}\" message expects the 'id' property to be a string, but got {}",
            type_name_of(other.as_ref())
        )),
    }
}

fn optional_object(
    kind: &str,
    field: &str,
    value: Option<Value>,
) -> Result<Option<Map<String, Value>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(other) => Err(format!(
            "\"{kind}\" message expects the '{field}' property to be an object or nullish or missing, but got {}",
            type_name(&other)
        )),
    }
}

fn type_name_of(value: Option<&Value>) -> &'static str {
    value.map_or("undefined", type_name)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The keep-alive `ping`, without payload.
pub(crate) const PING: &str = r#"{"type":"ping"}"#;

/// `connection_ack`, with `payload` only if there is one (as the reference server).
pub(crate) fn connection_ack(payload: Option<Map<String, Value>>) -> String {
    with_optional_payload("connection_ack", payload)
}

/// The `pong` answering a `ping`: the same payload, or none.
pub(crate) fn pong(payload: Option<Map<String, Value>>) -> String {
    with_optional_payload("pong", payload)
}

/// `{"id":…,"type":"error","payload":[…]}`, byte for byte the executor's `error` frames.
pub(crate) fn error(id: &str, errors: &[GraphQLError]) -> String {
    frame_text(id, &FrameBody::error(errors))
}

/// `{"id":…,"type":"complete"}`.
pub(crate) fn complete(id: &str) -> String {
    frame_text(id, &FrameBody::complete())
}

fn frame_text(id: &str, body: &FrameBody) -> String {
    // Frames are built by serde_json from strings and values: always UTF-8, so nothing is
    // replaced here.
    String::from_utf8_lossy(&FramePrefix::new(id).splice(body)).into_owned()
}

fn with_optional_payload(kind: &str, payload: Option<Map<String, Value>>) -> String {
    let mut message = Map::new();
    message.insert("type".into(), kind.into());
    if let Some(payload) = payload {
        message.insert("payload".into(), Value::Object(payload));
    }
    Value::Object(message).to_string()
}
