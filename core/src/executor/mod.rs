//! The subscription executor: registry, channel index, dispatch and response queues.
//!
//! - [`SubscriptionExecutor`]: registers subscriptions, dispatches events to them, hands
//!   their frames to the WebSocket layer, completes them.
//! - [`SubscriptionRequest`]: everything a client's `subscribe` message carries.
//! - [`SubscriptionKey`]: the executor's handle of one subscription.
//! - [`DispatchReport`] / [`DropReason`]: what one dispatch did, with sums that add up.
//! - [`ExecutorConfig`] / [`ExecutorStats`]: limits, and what the executor holds now.
//! - [`PreparedDispatch`] / [`DispatchChunk`]: a dispatch resolved once, its fan-out split
//!   for several workers.
//! - [`ChannelWatch`] / [`ChannelChange`]: the channels in use, for bus drivers.
//!
//! Files: `mod.rs` construction, completion, metrics and stats; `events.rs` events in
//! (dispatch, publish, bus messages, gaps); `responses.rs` frames out (`next_response`,
//! `recv`, the queue); `config.rs` [`ExecutorConfig`]; `request.rs`
//! [`SubscriptionRequest`] and [`SubscriptionKey`]; `register.rs` admission (authentication,
//! scope, RBAC incl. filter paths, limits, cohort); `registry.rs` the channel index, cohorts
//! and unlinking; `watch.rs` [`ChannelWatch`]; `resume.rs` [`Resume`] (replaying
//! what one subscription missed since a client's cursor). Dispatch itself lives in `dispatch/`
//! (prepare, deliver, parallel, report), publish-then-dispatch in `publish.rs`.
//!
//! Subscriptions whose frames must be byte-identical (same document, variables, resolver and
//! channels) and whose per-event security decisions are the same (same *security class*:
//! tenant, federation, roles and event filter) share a *cohort*: an event is checked,
//! resolved and encoded once per cohort, and only the subscription id differs from one
//! frame to the next. The user is not part of the class: the row filter reads the event's
//! owner once and compares it with each member's user id, so 10k users of one tenant
//! subscribed to one document still cost one resolution.
//!
//! At registration, scope validation and RBAC see everything a subscription reads or
//! listens to (its selection, its event filter's paths, the owner and federation paths,
//! each under its root field and under every channel it listens on), so a filter is never
//! an oracle on a field the subscriber may not select; see
//! [`SubscriptionAccess`](crate::SubscriptionAccess).
//!
//! Per subscriber, a dispatch makes only cheap checks: the row filter (a string compare),
//! the user's delivery bucket (one compare-and-swap) and the queue push. Counts go into the
//! [`DispatchReport`] and from there, once per delivered chunk, into the [`Metrics`].
//!
//! Limits, all in [`ExecutorConfig`]:
//! - every event is checked when it is dispatched ([`Event::validate`]: channel, ids, data
//!   depth, `max_event_bytes`), measured then — its fields are public, nothing is cached;
//! - a cohort's result is encoded at most `max_frame_bytes` long (the projection stops
//!   building it there too); past that the cohort gets a `FRAME_TOO_LARGE` `error` frame,
//!   which ends those subscriptions;
//! - every response queue holds at most `queue_capacity` frames and `queue_max_bytes` bytes;
//! - losses (overflow, bus gaps, rate limits) reach the subscriber as notices whose counts
//!   survive any overflow ([`Notice`]).

mod config;
mod events;
mod register;
pub(crate) mod registry;
mod request;
mod responses;
mod resume;
mod watch;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use self::config::{ExecutorConfig, DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_FRAME_BYTES, MAX_ID_LEN};
pub use self::request::{SubscriptionKey, SubscriptionRequest};
pub use self::resume::{Resume, MAX_RESUME_PAGE};
pub use self::watch::{ChannelChange, ChannelWatch};
pub use crate::dispatch::{DispatchChunk, DispatchReport, DropReason, PreparedDispatch};

use self::registry::{read, unlink, write, Registry, Subscription};
use crate::bus::BusMessage;
use crate::bus::{EventBus, LogPosition};
use crate::dispatch::deliver::{deliver_event_frame, deliver_frame};
use crate::dispatch::prepare::{prepare, Outcome};
use crate::dispatch::DispatchShared;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::frame::{FrameBody, GraphQLError};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::publish::{publish_then_dispatch, LoopbackWindow};
use crate::queue::{Notice, RecvTimeoutError, ResponseQueue};
use crate::rate_limit::RateLimiter;
use crate::resolve::{ProjectionResolver, Resolver};

/// What an executor holds right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecutorStats {
    /// Registered subscriptions.
    pub subscriptions: usize,
    /// Connections with at least one subscription.
    pub connections: usize,
    /// Channels with at least one subscription.
    pub channels: usize,
    /// Distinct cohorts.
    pub cohorts: usize,
    /// Frames waiting in response queues.
    pub queued_frames: usize,
}

/// Matches events to subscriptions and queues their graphql-transport-ws frames.
///
/// Dispatch is CPU work: it never awaits and holds no lock across a resolver call.
/// Every subscription needs a [`SecurityContext`](crate::SecurityContext) unless the configuration allows
/// anonymous subscribers, and every frame passes the [`SecurityPolicies`](crate::SecurityPolicies) first.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use subcast_core::{Event, SecurityContext, SubscriptionExecutor, SubscriptionRequest};
///
/// let executor = SubscriptionExecutor::default();
/// let request = SubscriptionRequest::new("conn-1", "1", "subscription { users { id } }")
///     .security_context(SecurityContext::new("alice").with_tenant("acme"));
/// let key = executor.register_subscription(request).unwrap();
/// let event = Arc::new(
///     Event::new("userCreated", "users", serde_json::json!({"id": "7", "pw": "x"})).with_tenant("acme"),
/// );
/// let report = executor.dispatch_event_to_subscriptions(&event).unwrap();
/// assert_eq!(report.delivered, 1);
/// let frame = executor.next_response(key).unwrap().unwrap();
/// assert_eq!(&frame[..], br#"{"id":"1","type":"next","payload":{"data":{"users":{"id":"7"}}}}"#);
/// ```
#[derive(Debug)]
pub struct SubscriptionExecutor {
    pub(crate) config: ExecutorConfig,
    pub(crate) registry: RwLock<Registry>,
    pub(crate) next_key: AtomicU64,
    pub(crate) projection: Arc<dyn Resolver>,
    pub(crate) loopback: LoopbackWindow,
    pub(crate) shared: Arc<DispatchShared>,
}

impl Default for SubscriptionExecutor {
    fn default() -> Self {
        Self::new(ExecutorConfig::default())
    }
}

impl SubscriptionExecutor {
    /// Create an executor with `config`, refusing values out of range
    /// ([`ExecutorConfig::validate`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{ExecutorConfig, SubscriptionExecutor};
    ///
    /// assert!(SubscriptionExecutor::try_new(ExecutorConfig::default()).is_ok());
    /// assert!(SubscriptionExecutor::try_new(ExecutorConfig::default().queue_capacity(0)).is_err());
    /// ```
    pub fn try_new(config: ExecutorConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self::new(config))
    }

    /// Create an executor with `config`; a size or count of 0 is raised to 1 (use
    /// [`SubscriptionExecutor::try_new`] to refuse it instead).
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{ExecutorConfig, SubscriptionExecutor};
    ///
    /// let executor = SubscriptionExecutor::new(ExecutorConfig::default().queue_capacity(0));
    /// assert_eq!(executor.config().queue_capacity, 1);
    /// ```
    pub fn new(config: ExecutorConfig) -> Self {
        let config = config.normalized();
        SubscriptionExecutor {
            registry: RwLock::default(),
            next_key: AtomicU64::new(1),
            // With a schema, the built-in projection is typed by it; without, nothing changes.
            projection: match &config.schema {
                Some(schema) => Arc::new(crate::schema::SchemaProjection::new(schema.clone())),
                None => Arc::new(ProjectionResolver),
            },
            loopback: LoopbackWindow::default(),
            shared: Arc::new(DispatchShared {
                filter: config.security.event_filter(),
                limiter: RateLimiter::new(config.rate_limits.clone(), config.clock.clone()),
                metrics: Metrics::new(),
                max_frame_bytes: config.max_frame_bytes,
            }),
            config,
        }
    }

    /// The executor's configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{ExecutorConfig, SubscriptionExecutor};
    ///
    /// let executor = SubscriptionExecutor::new(ExecutorConfig::default().max_frame_bytes(64 * 1024));
    /// assert_eq!(executor.config().max_frame_bytes, 64 * 1024);
    /// ```
    pub fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    /// The key of `subscription_id` on `connection_id`, if registered.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// assert_eq!(executor.subscription_key("conn-1", "1"), Some(key));
    /// assert_eq!(executor.subscription_key("conn-1", "2"), None);
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn subscription_key(&self, connection_id: &str, subscription_id: &str) -> Option<SubscriptionKey> {
        self.registry()
            .connections
            .get(connection_id)?
            .get(subscription_id)
            .copied()
    }

    /// End a subscription: it leaves the index, its queue closes and its memory is freed.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// executor.complete_subscription(key)?;
    /// assert!(executor.next_response(key).is_err());
    /// assert_eq!(executor.stats().subscriptions, 0);
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn complete_subscription(&self, key: SubscriptionKey) -> Result<()> {
        let mut registry = self.registry_mut();
        let subscription = registry
            .subscriptions
            .remove(&key)
            .ok_or_else(|| Error::UnknownSubscription(key.to_string()))?;
        if let Some(ids) = registry.connections.get_mut(&subscription.connection_id) {
            ids.remove(&subscription.subscription_id);
            if ids.is_empty() {
                registry.connections.remove(&subscription.connection_id);
            }
        }
        unlink(&mut registry, &subscription);
        subscription.queue.close();
        self.shared.metrics.subscriptions_removed(1);
        Ok(())
    }

    /// End every subscription of `connection_id`; returns how many ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// let second = SubscriptionRequest::new("conn-1", "2", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// executor.register_subscription(second)?;
    /// assert_eq!(executor.complete_connection("conn-1")?, 2);
    /// assert!(executor.complete_connection("conn-1").is_err());
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn complete_connection(&self, connection_id: &str) -> Result<usize> {
        let mut registry = self.registry_mut();
        let ids = registry
            .connections
            .remove(connection_id)
            .ok_or_else(|| Error::UnknownConnection(connection_id.to_owned()))?;
        let mut removed = 0;
        for key in ids.values() {
            if let Some(subscription) = registry.subscriptions.remove(key) {
                unlink(&mut registry, &subscription);
                subscription.queue.close();
                removed += 1;
            }
        }
        self.shared.metrics.subscriptions_removed(removed);
        Ok(ids.len())
    }

    /// Watch the set of channels with at least one subscription.
    ///
    /// The watch first yields `Added` for every channel already in use, then each change
    /// in order. A driver uses it to subscribe a bus channel when the first subscription
    /// needs it and to unsubscribe after the last.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{ChannelChange, SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let watch = executor.watch_channels();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// assert_eq!(watch.try_next(), Some(ChannelChange::Added("ticks".into())));
    /// executor.complete_subscription(key)?;
    /// assert_eq!(watch.try_next(), Some(ChannelChange::Removed("ticks".into())));
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn watch_channels(&self) -> ChannelWatch {
        self.registry_mut().watch()
    }

    /// The executor's counters, updated as it registers and dispatches.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// let tick = std::sync::Arc::new(subcast_core::Event::new("tick", "ticks", serde_json::json!(1)));
    /// executor.dispatch_event_to_subscriptions(&tick)?;
    /// assert_eq!(executor.metrics().snapshot().frames_delivered, 1);
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// The metrics now, with the queue-depth gauge refreshed (a walk of every queue).
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// let tick = std::sync::Arc::new(subcast_core::Event::new("tick", "ticks", serde_json::json!(1)));
    /// executor.dispatch_event_to_subscriptions(&tick)?;
    /// let snapshot = executor.metrics_snapshot();
    /// assert_eq!((snapshot.active_subscriptions, snapshot.queue_depth), (1, 1));
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn metrics_snapshot(&self) -> MetricsSnapshot {
        let queued = self.stats().queued_frames as u64;
        self.shared.metrics.set_queue_depth(queued);
        self.shared.metrics.snapshot()
    }

    /// The metrics now in the Prometheus text exposition format.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// let text = executor.prometheus_metrics();
    /// assert!(text.contains("subcast_active_subscriptions 1"));
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn prometheus_metrics(&self) -> String {
        self.metrics_snapshot().to_prometheus()
    }

    /// The rate limiter: its clock and the buckets of every principal.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use subcast_core::{ExecutorConfig, FakeClock, SubscriptionExecutor};
    ///
    /// let clock = Arc::new(FakeClock::new());
    /// let executor = SubscriptionExecutor::new(ExecutorConfig::default().clock(clock.clone()));
    /// let before = executor.rate_limiter().now();
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(executor.rate_limiter().now() - before, Duration::from_secs(1));
    /// ```
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.shared.limiter
    }

    /// Count what the executor holds now.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// let stats = executor.stats();
    /// assert_eq!((stats.subscriptions, stats.connections, stats.channels, stats.cohorts), (1, 1, 1, 1));
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn stats(&self) -> ExecutorStats {
        let registry = self.registry();
        ExecutorStats {
            subscriptions: registry.subscriptions.len(),
            connections: registry.connections.len(),
            channels: registry.channels.len(),
            cohorts: registry.cohorts.len(),
            queued_frames: registry.subscriptions.values().map(|s| s.queue.len()).sum(),
        }
    }

    fn subscription(&self, key: SubscriptionKey) -> Result<Arc<Subscription>> {
        self.registry()
            .subscriptions
            .get(&key)
            .cloned()
            .ok_or_else(|| Error::UnknownSubscription(key.to_string()))
    }

    fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        read(&self.registry)
    }

    fn registry_mut(&self) -> RwLockWriteGuard<'_, Registry> {
        write(&self.registry)
    }
}
