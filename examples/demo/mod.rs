//! What `examples/server` (axum, tokio) and `examples/server_smol` (async-tungstenite, smol)
//! share: who a client is, which channel a benchmark subscription listens on, and the
//! `POST /publish` body.

use serde_json::{json, Value};
use subcast::ws::{Accepted, Refused};
use subcast::{DispatchReport, Event, Node, SecurityContext, SubscriptionRequest};

/// A client authenticates with `connectionParams` `{"tenant": "acme", "user": "alice"}`.
pub fn authenticate(params: &serde_json::Map<String, Value>) -> Result<Accepted, Refused> {
    let text = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_owned);
    match (text("tenant"), text("user")) {
        (Some(tenant), Some(user)) => Ok(Accepted::new(SecurityContext::new(user).with_tenant(tenant))),
        _ => Err(Refused::new(
            "Forbidden: connectionParams need a tenant and a user",
        )),
    }
}

/// For benchmarks only: the subscription listens on the channel its subscribe message's
/// `extensions.channel` names (any channel of its tenant).
pub fn extension_channel(
    request: SubscriptionRequest,
    extensions: Option<&serde_json::Map<String, Value>>,
) -> SubscriptionRequest {
    match extensions
        .and_then(|extensions| extensions.get("channel"))
        .and_then(Value::as_str)
    {
        Some(channel) => request.channels([channel]),
        None => request,
    }
}

/// Publish the events of a `POST /publish` body (one event or an array of them, each
/// `{"channel", "data", "tenant"?, "type"?}`); the answer counts what was queued locally,
/// or says which event failed and why (400: not an event, 422: refused by the engine).
pub async fn publish(node: &Node, body: &str) -> Result<Value, (u16, String)> {
    let request: Value =
        serde_json::from_str(body).map_err(|error| (400, format!("invalid JSON: {error}")))?;
    let events = match &request {
        Value::Array(events) => events.as_slice(),
        one => std::slice::from_ref(one),
    };
    let (mut matched, mut delivered) = (0, 0);
    for (index, event) in events.iter().enumerate() {
        // Events before a failed one stay published: the answer says which one failed.
        let report = publish_one(node, event)
            .await
            .map_err(|(status, error)| (status, format!("event {index}: {error}")))?;
        matched += report.matched;
        delivered += report.delivered;
    }
    Ok(json!({"matched": matched, "delivered": delivered}))
}

async fn publish_one(node: &Node, request: &Value) -> Result<DispatchReport, (u16, String)> {
    let text = |key: &str| request.get(key).and_then(Value::as_str);
    let (Some(channel), Some(data)) = (text("channel"), request.get("data")) else {
        return Err((400, "need a channel and data".into()));
    };
    let mut event = Event::new(text("type").unwrap_or("published"), channel, data.clone());
    if let Some(tenant) = text("tenant") {
        event = event.with_tenant(tenant);
    }
    node.publish(event)
        .await
        .map_err(|error| (422, error.to_string()))
}
