//! What a graphql-transport-ws endpoint is configured with: the executor, the runtime, the
//! protocol's limits and the application's hooks.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use subcast_core::BoxFuture;
use subcast_core::{
    EventBus, GraphQLError, ProtocolConfig, Runtime, SecurityContext, SubscribePayload, SubscriptionExecutor,
    SubscriptionRequest,
};

use crate::shutdown::ShutdownState;

/// What the HTTP upgrade request said, for `on_connect` to read (cookies, a bearer token,
/// the client's address).
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    /// The request's headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The request path.
    pub path: String,
    /// The client's address, if the adapter knows it.
    pub remote_addr: Option<SocketAddr>,
}

impl RequestInfo {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The client's `connection_init`, for `on_connect` to authenticate.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// The `connection_init` payload (`connectionParams` of graphql-ws clients).
    pub payload: Option<Map<String, Value>>,
    /// The HTTP upgrade request.
    pub request: RequestInfo,
}

/// `on_connect` accepted the connection.
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    pub(crate) context: Option<SecurityContext>,
    pub(crate) valid_for: Option<Duration>,
    pub(crate) ack_payload: Option<Map<String, Value>>,
}

impl Accepted {
    /// Accept as `context`: every subscription of the connection runs as this subscriber.
    pub fn new(context: SecurityContext) -> Self {
        Accepted {
            context: Some(context),
            ..Accepted::default()
        }
    }

    /// Accept without a security context: subscriptions are refused (`UNAUTHENTICATED`)
    /// unless the executor allows anonymous subscribers.
    pub fn anonymous() -> Self {
        Accepted::default()
    }

    /// The credentials expire `duration` after acceptance: the connection is then closed
    /// with 4403 and its subscriptions end.
    pub fn valid_for(mut self, duration: Duration) -> Self {
        self.valid_for = Some(duration);
        self
    }

    /// Send `payload` with `connection_ack`.
    pub fn ack_payload(mut self, payload: Map<String, Value>) -> Self {
        self.ack_payload = Some(payload);
        self
    }
}

/// `on_connect` refused the connection: it is closed with 4403 and this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The close reason (cut to 123 bytes).
    pub reason: String,
}

impl Refused {
    /// Refuse with `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Refused {
            reason: reason.into(),
        }
    }
}

impl Default for Refused {
    fn default() -> Self {
        Refused::new("Forbidden")
    }
}

type ConnectHook = dyn Fn(ConnectRequest) -> BoxFuture<'static, Result<Accepted, Refused>> + Send + Sync;
type SubscribeHook =
    dyn Fn(SubscriptionRequest, &SubscribePayload) -> Result<SubscriptionRequest, GraphQLError> + Send + Sync;

/// A graphql-transport-ws endpoint: serve any number of sockets with
/// [`Endpoint::serve`](crate::Endpoint::serve) or an adapter. Cheap to clone.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use subcast_core::{SecurityContext, SubscriptionExecutor};
/// use subcast_ws::{Accepted, Endpoint, Refused};
/// # use std::time::{Duration, Instant};
/// # use subcast_core::{BoxFuture, Runtime};
/// # #[derive(Debug)] struct AnyRuntime;
/// # impl Runtime for AnyRuntime {
/// #     fn spawn(&self, future: BoxFuture<'static, ()>) { drop(future) }
/// #     fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> { Box::pin(std::future::pending()) }
/// #     fn now(&self) -> Instant { Instant::now() }
/// # }
/// # let runtime: Arc<dyn Runtime> = Arc::new(AnyRuntime);
///
/// let endpoint = Endpoint::new(Arc::new(SubscriptionExecutor::default()), runtime).on_connect(|init| async move {
///     let params = init.payload.unwrap_or_default();
///     match params.get("token").and_then(|t| t.as_str()) {
///         Some("secret") => Ok(Accepted::new(SecurityContext::new("alice")).valid_for(Duration::from_secs(3600))),
///         _ => Err(Refused::default()),
///     }
/// });
/// ```
#[derive(Clone)]
pub struct Endpoint {
    pub(crate) executor: Arc<SubscriptionExecutor>,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) protocol: ProtocolConfig,
    pub(crate) auth_timeout: Duration,
    pub(crate) read_buffer_bytes: usize,
    pub(crate) on_connect: Option<Arc<ConnectHook>>,
    pub(crate) on_subscribe: Option<Arc<SubscribeHook>>,
    pub(crate) history: Option<Arc<dyn EventBus>>,
    pub(crate) channel_ready: Option<Arc<ChannelReadyHook>>,
    pub(crate) shutdown: Arc<ShutdownState>,
}

type ChannelReadyHook = dyn Fn(String) -> BoxFuture<'static, bool> + Send + Sync;

/// Default time `on_connect` may take before the connection is closed with 4500.
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Default size of a connection's WebSocket read buffer.
///
/// Clients send little (`subscribe`, `ping`), and a larger message still arrives whole: the
/// buffer only sets how much is read per call. tungstenite's own default, 128 KiB, is
/// allocated per connection and zero-filled on every read, which made it most of a
/// connection's memory and a quarter of the server's CPU in the end-to-end benchmark.
pub const DEFAULT_READ_BUFFER_BYTES: usize = 4 * 1024;

impl Endpoint {
    /// An endpoint registering subscriptions with `executor`, its timers on `runtime`, the
    /// default [`ProtocolConfig`], and no hooks: every connection is accepted without a
    /// security context (so only an executor that allows anonymous subscribers serves it).
    pub fn new(executor: Arc<SubscriptionExecutor>, runtime: Arc<dyn Runtime>) -> Self {
        Endpoint {
            executor,
            runtime,
            protocol: ProtocolConfig::default(),
            auth_timeout: DEFAULT_AUTH_TIMEOUT,
            read_buffer_bytes: DEFAULT_READ_BUFFER_BYTES,
            on_connect: None,
            on_subscribe: None,
            history: None,
            channel_ready: None,
            shutdown: Arc::default(),
        }
    }

    /// Use `config` for the protocol's timers and limits.
    pub fn protocol(mut self, config: ProtocolConfig) -> Self {
        self.protocol = config;
        self
    }

    /// Read each connection's socket `bytes` at a time (default
    /// [`DEFAULT_READ_BUFFER_BYTES`]; at least 1). Used by the axum and async-tungstenite
    /// adapters.
    pub fn read_buffer_bytes(mut self, bytes: usize) -> Self {
        self.read_buffer_bytes = bytes.max(1);
        self
    }

    /// Give `on_connect` at most `timeout` (default [`DEFAULT_AUTH_TIMEOUT`]).
    pub fn auth_timeout(mut self, timeout: Duration) -> Self {
        self.auth_timeout = timeout;
        self
    }

    /// Authenticate each connection's `connection_init` with `hook`: [`Accepted`] sends
    /// `connection_ack` and runs every subscription as its context; [`Refused`] closes
    /// with 4403.
    pub fn on_connect<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(ConnectRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Accepted, Refused>> + Send + 'static,
    {
        self.on_connect = Some(Arc::new(move |request| Box::pin(hook(request))));
        self
    }

    /// Adjust or refuse each subscription before it is registered (channels, resolver,
    /// filter); an error is sent to the client as the operation's `error`. Runs on the
    /// connection's task: it must not block.
    pub fn on_subscribe<F>(mut self, hook: F) -> Self
    where
        F: Fn(SubscriptionRequest, &SubscribePayload) -> Result<SubscriptionRequest, GraphQLError>
            + Send
            + Sync
            + 'static,
    {
        self.on_subscribe = Some(Arc::new(hook));
        self
    }

    /// Resume subscriptions from their cursor with `bus`'s history: a `subscribe` whose
    /// `extensions.cursor` is the cursor of the last `next` frame the client read gets
    /// the events it missed on that channel, in order, then live events, with none twice.
    ///
    /// Without it (or on a bus without history), a cursor gets an `EVENTS_GAP` notice and
    /// live events. Give the bus the executor's events come from (a `Node`'s), and
    /// [`channel_ready`](Self::channel_ready) if a pump subscribes its channels.
    pub fn resume_from(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.history = Some(bus);
        self
    }

    /// Before replaying a channel, wait for `hook(channel)`: until the bus delivers the
    /// channel to this node (a `Node`'s `channel_ready`), so that nothing published after
    /// the replay's last read can pass unseen. Its answer (`false`: the pump stopped) does
    /// not stop the replay.
    pub fn channel_ready<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.channel_ready = Some(Arc::new(move |channel| Box::pin(hook(channel))));
        self
    }

    /// The executor subscriptions are registered with.
    pub fn executor(&self) -> &Arc<SubscriptionExecutor> {
        &self.executor
    }

    /// The protocol configuration.
    pub fn protocol_config(&self) -> &ProtocolConfig {
        &self.protocol
    }

    /// The size of each connection's read buffer ([`read_buffer_bytes`](Self::read_buffer_bytes)).
    pub fn read_buffer_size(&self) -> usize {
        self.read_buffer_bytes
    }

    /// Shut down: close every connection this endpoint (or a clone of it) serves with
    /// 1001 `Going away`, ending its subscriptions, and close each connection served from
    /// now on the same way, right after its handshake. graphql-ws clients reconnect after
    /// 1001, so stop accepting connections (or take the node out of the load balancer)
    /// before or right after calling this.
    ///
    /// The shutdown starts when this is called; the returned future resolves once no
    /// connection is served any more (their close frames written, or their sockets
    /// failed). Dropping it does not cancel the shutdown. A connection waiting on
    /// `on_connect` closes when the hook returns, or after
    /// [`auth_timeout`](Self::auth_timeout).
    pub fn shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        self.shutdown.start();
        self.shutdown.clone().drained()
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_closing()
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("runtime", &self.runtime)
            .field("protocol", &self.protocol)
            .field("auth_timeout", &self.auth_timeout)
            .field("on_connect", &self.on_connect.is_some())
            .field("on_subscribe", &self.on_subscribe.is_some())
            .field("resume_from", &self.history.is_some())
            .field("shutting_down", &self.shutdown.is_closing())
            .finish_non_exhaustive()
    }
}
