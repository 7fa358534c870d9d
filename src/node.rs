//! [`Node`]: one process's share of a subcast deployment, put together in one call.
//!
//! - [`Node`]: an executor, the bus it publishes on and listens to, the event pump that
//!   dispatches what other nodes publish, and the runtime the pump runs on.
//! - [`NodeBuilder`]: the bus (a URL or an instance), the runtime (or
//!   [`default_runtime`](crate::default_runtime)), and the executor's, pump's and buses'
//!   configurations.
//! - [`NodeStats`]: the bus's and the pump's counters.
//!
//! A node built on its own in-memory bus (no URL, or `memory://`) has no other publisher,
//! so it runs no pump and needs no runtime: [`Node::publish`] dispatches locally. Nodes in
//! one process that should see each other's events share one bus instance
//! ([`NodeBuilder::bus`]).

use std::fmt;
use std::sync::Arc;

use subcast_core::{
    BusStats, DispatchReport, Error, Event, EventBus, EventPump, ExecutorConfig, InMemoryBus, PumpConfig,
    PumpStats, Result, Runtime, Schema, SubscriptionExecutor,
};

/// An executor, its bus, the pump between them and the runtime it runs on.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use subcast::{Event, Node, SecurityContext, SubscriptionRequest};
///
/// # futures_lite::future::block_on(async {
/// let node = Node::builder().build().await?;
/// let key = node.executor().register_subscription(
///     SubscriptionRequest::new("conn-1", "1", "subscription { users { id } }")
///         .security_context(SecurityContext::new("alice")),
/// )?;
/// node.publish(Event::new("userCreated", "users", serde_json::json!({"id": "7"}))).await?;
/// let frame = node.executor().next_response(key)?.expect("a frame");
/// assert_eq!(&frame[..], br#"{"id":"1","type":"next","payload":{"data":{"users":{"id":"7"}}}}"#);
/// node.shutdown().await;
/// # Ok::<(), subcast::Error>(())
/// # }).unwrap();
/// ```
pub struct Node {
    executor: Arc<SubscriptionExecutor>,
    bus: Arc<dyn EventBus>,
    pump: Option<EventPump>,
    runtime: Option<Arc<dyn Runtime>>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("executor", &self.executor)
            .field("pump", &self.pump.is_some())
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

/// The counters of a node's bus and pump.
#[derive(Debug, Clone, Default)]
pub struct NodeStats {
    /// The bus's counters.
    pub bus: BusStats,
    /// The pump's counters; `None` for a node without a pump.
    pub pump: Option<PumpStats>,
}

impl Node {
    /// Start configuring a node: by default its own in-memory bus, the default runtime and
    /// default configurations.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::{ExecutorConfig, Node};
    ///
    /// # futures_lite::future::block_on(async {
    /// let node = Node::builder()
    ///     .bus_url("memory://")
    ///     .executor_config(ExecutorConfig::default().queue_capacity(64))
    ///     .build()
    ///     .await?;
    /// assert_eq!(node.executor().config().queue_capacity, 64);
    /// # Ok::<(), subcast::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// Publish `event` on the bus, then dispatch it to this node's subscriptions.
    ///
    /// If publishing fails, nothing is dispatched. If it succeeds, this node's
    /// subscribers have their frames when this returns, and the copy that comes back
    /// through the bus is not dispatched again. Other nodes' pumps dispatch it there.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::{Event, Node};
    ///
    /// # futures_lite::future::block_on(async {
    /// let node = Node::builder().build().await?;
    /// let report = node.publish(Event::new("userCreated", "users", serde_json::json!({}))).await?;
    /// assert_eq!(report.delivered, 0); // nobody subscribed
    /// # Ok::<(), subcast::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn publish(&self, event: impl Into<Arc<Event>>) -> Result<DispatchReport> {
        self.executor.publish(&*self.bus, event.into()).await
    }

    /// The executor: register subscriptions and read their frames here.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::{ExecutorConfig, Node, SubscriptionRequest};
    ///
    /// # futures_lite::future::block_on(async {
    /// let config = ExecutorConfig::default().allow_anonymous(true);
    /// let node = Node::builder().executor_config(config).build().await?;
    /// node.executor().register_subscription(SubscriptionRequest::new("c", "1", "subscription { users { id } }"))?;
    /// assert_eq!(node.executor().stats().subscriptions, 1);
    /// # Ok::<(), subcast::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn executor(&self) -> &Arc<SubscriptionExecutor> {
        &self.executor
    }

    /// The bus this node publishes on and listens to.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::Node;
    ///
    /// # futures_lite::future::block_on(async {
    /// let node = Node::builder().build().await?;
    /// assert_eq!(node.bus().stats().published, 0);
    /// # Ok::<(), subcast::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn bus(&self) -> &Arc<dyn EventBus> {
        &self.bus
    }

    /// The runtime the pump runs on; `None` for a node without a pump.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::Node;
    ///
    /// # futures_lite::future::block_on(async {
    /// let node = Node::builder().build().await?;
    /// assert!(node.runtime().is_none()); // its own in-memory bus: nothing to pump
    /// # Ok::<(), subcast::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn runtime(&self) -> Option<&Arc<dyn Runtime>> {
        self.runtime.as_ref()
    }

    /// Wait until the bus delivers `channel`'s events to this node; `false` if the pump
    /// stopped first. Subscribing a bus channel is asynchronous: events other nodes publish
    /// before this returns `true` may not reach this node. Always `true` without a pump.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::Node;
    ///
    /// # futures_lite::future::block_on(async {
    /// let node = Node::builder().build().await?;
    /// assert!(node.channel_ready("users").await);
    /// # Ok::<(), subcast::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn channel_ready(&self, channel: &str) -> bool {
        match &self.pump {
            Some(pump) => pump.channel_ready(channel).await,
            None => true,
        }
    }

    /// Read the bus's and the pump's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::{Event, Node};
    ///
    /// # futures_lite::future::block_on(async {
    /// let node = Node::builder().build().await?;
    /// node.publish(Event::new("userCreated", "users", serde_json::json!({}))).await?;
    /// assert_eq!(node.stats().bus.published, 1);
    /// # Ok::<(), subcast::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn stats(&self) -> NodeStats {
        NodeStats {
            bus: self.bus.stats(),
            pump: self.pump.as_ref().map(EventPump::stats),
        }
    }

    /// Stop the pump and wait for it (its tasks end, bus channels are unsubscribed, its
    /// dispatcher thread is joined), then drop the bus, closing its connections. Returns
    /// the final counters.
    ///
    /// Subscriptions stay registered and their queued frames drainable through a clone of
    /// [`Node::executor`]. A runtime the node was given keeps running: it is the caller's.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::{Event, Node};
    ///
    /// # futures_lite::future::block_on(async {
    /// let node = Node::builder().build().await?;
    /// node.publish(Event::new("userCreated", "users", serde_json::json!({}))).await?;
    /// let stats = node.shutdown().await;
    /// assert_eq!(stats.bus.published, 1);
    /// # Ok::<(), subcast::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn shutdown(self) -> NodeStats {
        let pump = match self.pump {
            Some(pump) => Some(pump.shutdown().await),
            None => None,
        };
        NodeStats {
            bus: self.bus.stats(),
            pump,
        }
    }
}

/// Where a node's bus comes from.
enum BusChoice {
    Url(String),
    Instance(Arc<dyn EventBus>),
}

/// Configures and builds a [`Node`]; made by [`Node::builder`].
///
/// # Examples
///
/// Two nodes in one process that see each other's events share a bus:
///
/// ```
/// # #[cfg(feature = "tokio")] {
/// use std::sync::Arc;
/// use subcast::{Event, InMemoryBus, Node, SecurityContext, SubscriptionRequest};
///
/// # let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
/// # tokio.block_on(async {
/// // On a tokio runtime, `default_runtime()` runs each node's pump there.
/// let bus = Arc::new(InMemoryBus::new());
/// let a = Node::builder().bus(bus.clone()).build().await?;
/// let b = Node::builder().bus(bus).build().await?;
/// let key = b.executor().register_subscription(
///     SubscriptionRequest::new("conn", "1", "subscription { users { id } }")
///         .security_context(SecurityContext::new("alice")),
/// )?;
/// assert!(b.channel_ready("users").await);
/// a.publish(Event::new("userCreated", "users", serde_json::json!({"id": "7"}))).await?;
/// assert!(b.executor().recv(key).await?.is_some()); // b's pump dispatched a's event
/// # Ok::<(), subcast::Error>(())
/// # }).unwrap();
/// # }
/// ```
#[derive(Default)]
pub struct NodeBuilder {
    bus: Option<BusChoice>,
    runtime: Option<Arc<dyn Runtime>>,
    executor: ExecutorConfig,
    schema: Option<Schema>,
    pump: PumpConfig,
    #[cfg(feature = "redis")]
    redis: subcast_redis::RedisConfig,
    #[cfg(feature = "postgres")]
    postgres: subcast_postgres::PostgresConfig,
}

impl fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bus = match &self.bus {
            None => "memory://",
            Some(BusChoice::Url(url)) => url.split("://").next().unwrap_or("?"),
            Some(BusChoice::Instance(_)) => "instance",
        };
        f.debug_struct("NodeBuilder")
            .field("bus", &bus)
            .field("runtime", &self.runtime)
            .field("executor", &self.executor)
            .field("schema", &self.schema)
            .field("pump", &self.pump)
            .finish_non_exhaustive()
    }
}

impl NodeBuilder {
    /// Connect to the bus at `url`: `memory://` (the default: an in-memory bus of this
    /// node's own), `redis://` or `rediss://` (feature `redis`, TLS with `redis-tls`),
    /// `postgres://` or `postgresql://` (feature `postgres`).
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::{Error, Node};
    ///
    /// # futures_lite::future::block_on(async {
    /// let refused = Node::builder().bus_url("carrier-pigeon://loft").build().await.unwrap_err();
    /// assert!(matches!(refused, Error::InvalidConfig { setting: "bus_url", .. }));
    /// # });
    /// ```
    pub fn bus_url(mut self, url: impl Into<String>) -> Self {
        self.bus = Some(BusChoice::Url(url.into()));
        self
    }

    /// Use `bus`, e.g. an `InMemoryBus` shared with other nodes of this process, or a
    /// bus of your own.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tokio")] {
    /// use std::sync::Arc;
    /// use subcast::{InMemoryBus, Node};
    ///
    /// # let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # tokio.block_on(async {
    /// let node = Node::builder().bus(Arc::new(InMemoryBus::new())).build().await?;
    /// assert!(node.runtime().is_some()); // a bus others may publish on: pumped
    /// node.shutdown().await;
    /// # Ok::<(), subcast::Error>(())
    /// # }).unwrap();
    /// # }
    /// ```
    pub fn bus(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.bus = Some(BusChoice::Instance(bus));
        self
    }

    /// Run the pump (and a network bus's connections) on `runtime` instead of
    /// [`default_runtime`](crate::default_runtime)'s.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "smol")] {
    /// use std::sync::Arc;
    /// use subcast::{InMemoryBus, Node, SmolRuntime};
    ///
    /// let runtime = Arc::new(SmolRuntime::with_threads(1));
    /// # futures_lite::future::block_on(async {
    /// let node = Node::builder().bus(Arc::new(InMemoryBus::new())).runtime(runtime.clone()).build().await?;
    /// node.shutdown().await;
    /// # Ok::<(), subcast::Error>(())
    /// # }).unwrap();
    /// runtime.shutdown();
    /// # }
    /// ```
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Configure the executor; [`NodeBuilder::build`] refuses values out of range
    /// ([`ExecutorConfig::validate`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::{Error, ExecutorConfig, Node};
    ///
    /// # futures_lite::future::block_on(async {
    /// let refused = Node::builder().executor_config(ExecutorConfig::default().max_frame_bytes(0)).build().await;
    /// assert!(matches!(refused, Err(Error::InvalidConfig { setting: "max_frame_bytes", .. })));
    /// # });
    /// ```
    pub fn executor_config(mut self, config: ExecutorConfig) -> Self {
        self.executor = config;
        self
    }

    /// Validate subscription documents against the application's `schema`; it takes
    /// precedence over [`ExecutorConfig::schema`] whatever the order of the calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::{Node, Schema, SubscriptionRequest};
    ///
    /// # futures_lite::future::block_on(async {
    /// let schema = Schema::parse("type Query { ok: Int } type Subscription { ticks: Int }")?;
    /// let node = Node::builder().schema(schema).build().await?;
    /// assert!(node.executor().config().schema.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn schema(mut self, schema: Schema) -> Self {
        self.schema = Some(schema);
        self
    }

    /// Configure the event pump.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::{Node, PumpConfig};
    ///
    /// let builder = Node::builder().pump_config(PumpConfig::default().inbox_capacity(256));
    /// # let _ = builder;
    /// ```
    pub fn pump_config(mut self, config: PumpConfig) -> Self {
        self.pump = config;
        self
    }

    /// Configure the Redis bus a `redis://` or `rediss://` URL connects to.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::{Node, RedisConfig};
    ///
    /// let builder = Node::builder().bus_url("redis://127.0.0.1:6379").redis_config(RedisConfig::default().replay(1000));
    /// # let _ = builder;
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis_config(mut self, config: subcast_redis::RedisConfig) -> Self {
        self.redis = config;
        self
    }

    /// Configure the PostgreSQL bus a `postgres://` or `postgresql://` URL connects to.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::{Node, PostgresConfig};
    ///
    /// let builder = Node::builder()
    ///     .bus_url("postgres://postgres@127.0.0.1/test")
    ///     .postgres_config(PostgresConfig::default().synchronous_commit(true));
    /// # let _ = builder;
    /// ```
    #[cfg(feature = "postgres")]
    pub fn postgres_config(mut self, config: subcast_postgres::PostgresConfig) -> Self {
        self.postgres = config;
        self
    }

    /// Make the executor, connect the bus and start the pump.
    ///
    /// Fails with [`Error::InvalidConfig`] for a configuration value out of range, an
    /// unknown URL scheme (`bus_url`) or a missing runtime (`runtime`: neither given nor
    /// found by [`default_runtime`](crate::default_runtime)), and with the bus's error if
    /// it cannot connect.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast::Node;
    ///
    /// # futures_lite::future::block_on(async {
    /// let node = Node::builder().build().await?;
    /// node.shutdown().await;
    /// # Ok::<(), subcast::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn build(mut self) -> Result<Node> {
        if let Some(schema) = self.schema.take() {
            self.executor = self.executor.schema(schema);
        }
        let executor = Arc::new(SubscriptionExecutor::try_new(self.executor)?);
        let url = match self.bus {
            None => None,
            Some(BusChoice::Url(url)) => Some(url),
            Some(BusChoice::Instance(bus)) => {
                let runtime = runtime_or_default(self.runtime)?;
                return Ok(Node::pumped(executor, bus, runtime, self.pump));
            }
        };
        let scheme = match &url {
            None => "memory",
            Some(url) => url.split_once("://").map_or("", |(scheme, _)| scheme),
        };
        match scheme {
            "memory" => Ok(Node {
                executor,
                bus: Arc::new(InMemoryBus::new()),
                pump: None,
                runtime: self.runtime,
            }),
            #[cfg(feature = "redis")]
            "redis" | "rediss" => {
                let runtime = runtime_or_default(self.runtime)?;
                let url = url.unwrap_or_default();
                let bus = subcast_redis::RedisBus::connect(&url, runtime.clone(), self.redis).await?;
                Ok(Node::pumped(executor, Arc::new(bus), runtime, self.pump))
            }
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                let runtime = runtime_or_default(self.runtime)?;
                let url = url.unwrap_or_default();
                let bus =
                    subcast_postgres::PostgresBus::connect(&url, runtime.clone(), self.postgres).await?;
                Ok(Node::pumped(executor, Arc::new(bus), runtime, self.pump))
            }
            #[cfg(not(feature = "redis"))]
            "redis" | "rediss" => Err(refuse("bus_url", "needs the `redis` feature")),
            #[cfg(not(feature = "postgres"))]
            "postgres" | "postgresql" => Err(refuse("bus_url", "needs the `postgres` feature")),
            _ => Err(refuse(
                "bus_url",
                "must start with memory://, redis://, rediss://, postgres:// or postgresql://",
            )),
        }
    }
}

impl Node {
    fn pumped(
        executor: Arc<SubscriptionExecutor>,
        bus: Arc<dyn EventBus>,
        runtime: Arc<dyn Runtime>,
        config: PumpConfig,
    ) -> Node {
        let pump = EventPump::start(executor.clone(), bus.clone(), runtime.clone(), config);
        Node {
            executor,
            bus,
            pump: Some(pump),
            runtime: Some(runtime),
        }
    }
}

fn runtime_or_default(runtime: Option<Arc<dyn Runtime>>) -> Result<Arc<dyn Runtime>> {
    runtime.or_else(crate::default_runtime).ok_or_else(|| {
        refuse(
            "runtime",
            "is needed to pump a bus: pass one, or enable the `tokio` or `smol` feature",
        )
    })
}

fn refuse(setting: &'static str, reason: &str) -> Error {
    Error::InvalidConfig {
        setting,
        reason: reason.to_owned(),
    }
}
