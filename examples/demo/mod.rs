//! What `examples/server` (axum, tokio) and `examples/server_smol` (async-tungstenite, smol)
//! share: the command line, the endpoint (who a client is, which channel a benchmark
//! subscription listens on), the demo orders and the `POST /publish` body.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use subcast::ws::{Accepted, Endpoint, Refused};
use subcast::{
    DispatchReport, Event, Node, ProtocolConfig, Runtime, SecurityContext, SubscriptionExecutor,
    SubscriptionRequest,
};

/// The flags both servers take (milliseconds; 0 turns a timer off).
pub const USAGE: &str = "[PORT] [--port N] [--publish-interval-ms N] [--keep-alive-ms N] [--pong-timeout-ms N] [--init-timeout-ms N] [--auth-expiry-ms N] [--max-subscriptions N] [--extension-channels 0|1] [--read-buffer-bytes N]";

/// The command line: a port, and the timers tests shorten.
pub struct Options {
    pub port: u16,
    /// `None`: no demo orders.
    pub publish_interval: Option<Duration>,
    pub auth_expiry: Option<Duration>,
    pub protocol: ProtocolConfig,
    pub extension_channels: bool,
    /// Each connection's WebSocket read buffer (`Endpoint::read_buffer_bytes`).
    pub read_buffer: usize,
}

impl Options {
    /// Parse `args`; a flag this does not know goes to `extra` (flag, value), which answers
    /// whether it took it.
    pub fn parse(
        mut args: impl Iterator<Item = String>,
        mut extra: impl FnMut(&str, &str) -> Result<bool, String>,
    ) -> Result<Options, String> {
        let mut options = Options {
            port: 4000,
            publish_interval: Some(Duration::from_secs(1)),
            auth_expiry: None,
            protocol: ProtocolConfig::default(),
            extension_channels: false,
            read_buffer: subcast::ws::DEFAULT_READ_BUFFER_BYTES,
        };
        while let Some(arg) = args.next() {
            if let Ok(port) = arg.parse() {
                options.port = port;
                continue;
            }
            let value = args.next().ok_or(format!("{arg} needs a value"))?;
            let number = |value: &str| -> Result<u64, String> {
                value
                    .parse()
                    .map_err(|_| format!("{arg}: {value} is not a number"))
            };
            let size = |value: &str| usize::try_from(number(value)?).map_err(|e| format!("{arg}: {e}"));
            // 0 turns a timer off.
            let millis = |value: &str| number(value).map(|ms| (ms > 0).then(|| Duration::from_millis(ms)));
            let never = Duration::MAX;
            match arg.as_str() {
                "--port" => {
                    options.port = value
                        .parse()
                        .map_err(|_| format!("--port: {value} is not a port"))?
                }
                "--publish-interval-ms" => options.publish_interval = millis(&value)?,
                "--auth-expiry-ms" => options.auth_expiry = millis(&value)?,
                "--keep-alive-ms" => options.protocol = options.protocol.keep_alive(millis(&value)?),
                "--pong-timeout-ms" => {
                    options.protocol = options.protocol.pong_timeout(millis(&value)?.unwrap_or(never));
                }
                "--init-timeout-ms" => {
                    let timeout = millis(&value)?.unwrap_or(never);
                    options.protocol = options.protocol.connection_init_timeout(timeout);
                }
                "--max-subscriptions" => options.protocol = options.protocol.max_subscriptions(size(&value)?),
                "--read-buffer-bytes" => options.read_buffer = size(&value)?,
                "--extension-channels" => options.extension_channels = number(&value)? != 0,
                _ if extra(&arg, &value)? => {}
                _ => return Err(format!("unknown option {arg}")),
            }
        }
        Ok(options)
    }
}

/// The graphql-transport-ws endpoint of `options`: clients authenticate as
/// [`authenticate`] says, for `--auth-expiry-ms` if set.
pub fn endpoint(
    executor: Arc<SubscriptionExecutor>,
    runtime: Arc<dyn Runtime>,
    options: &Options,
) -> Endpoint {
    let auth_expiry = options.auth_expiry;
    let endpoint = Endpoint::new(executor, runtime)
        .protocol(options.protocol.clone())
        .read_buffer_bytes(options.read_buffer)
        .on_connect(move |init| async move {
            let accepted = authenticate(&init.payload.unwrap_or_default())?;
            Ok(match auth_expiry {
                Some(expiry) => accepted.valid_for(expiry),
                None => accepted,
            })
        });
    if options.extension_channels {
        endpoint.on_subscribe(|request, payload| Ok(extension_channel(request, payload.extensions.as_ref())))
    } else {
        endpoint
    }
}

/// Demo order `n`: on channel `orders`, alternating between tenants `acme` and `globex`.
pub fn demo_order(n: u64) -> Event {
    let tenant = if n % 2 == 0 { "acme" } else { "globex" };
    let order = json!({"id": format!("order-{n}"), "tenant": tenant, "total": n % 100});
    Event::new("orderPlaced", "orders", order).with_tenant(tenant)
}

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
    let events = match request {
        Value::Array(events) => events,
        one => vec![one],
    };
    let (mut matched, mut delivered) = (0, 0);
    for (index, event) in events.into_iter().enumerate() {
        // Events before a failed one stay published: the answer says which one failed.
        let report = publish_one(node, event)
            .await
            .map_err(|(status, error)| (status, format!("event {index}: {error}")))?;
        matched += report.matched;
        delivered += report.delivered;
    }
    Ok(json!({"matched": matched, "delivered": delivered}))
}

/// One event of a `POST /publish` body, its data moved (not copied) into the event.
async fn publish_one(node: &Node, request: Value) -> Result<DispatchReport, (u16, String)> {
    let Value::Object(mut fields) = request else {
        return Err((400, "need a channel and data".into()));
    };
    let data = fields.remove("data");
    let text = |key: &str| fields.get(key).and_then(Value::as_str);
    let (Some(channel), Some(data)) = (text("channel"), data) else {
        return Err((400, "need a channel and data".into()));
    };
    let mut event = Event::new(text("type").unwrap_or("published"), channel, data);
    if let Some(tenant) = text("tenant") {
        event = event.with_tenant(tenant);
    }
    node.publish(event)
        .await
        .map_err(|error| (422, error.to_string()))
}
