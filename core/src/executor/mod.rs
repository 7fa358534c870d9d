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
//! Files: `mod.rs` the public methods; `config.rs` [`ExecutorConfig`]; `request.rs`
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
mod register;
pub(crate) mod registry;
mod request;
mod resume;
mod watch;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use bytes::Bytes;

pub use self::config::{ExecutorConfig, DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_FRAME_BYTES, MAX_ID_LEN};
pub use self::request::{SubscriptionKey, SubscriptionRequest};
pub use self::resume::{Resume, MAX_RESUME_PAGE};
pub use self::watch::{ChannelChange, ChannelWatch};
pub use crate::dispatch::{DispatchChunk, DispatchReport, DropReason, PreparedDispatch};

use self::registry::{read, unlink, write, Cohort, Member, Registry, Subscription};
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

    /// Dispatch `event` to every subscription on its channel.
    ///
    /// Fails only when the event itself is invalid ([`Event::validate`] with
    /// [`ExecutorConfig::max_event_bytes`]: channel, ids, data depth and size, measured now);
    /// a failing resolver becomes `error` frames for its cohort and is counted in the report.
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
    /// let report = executor.dispatch_event_to_subscriptions(&tick)?;
    /// assert_eq!((report.matched, report.delivered), (1, 1));
    /// assert!(executor.next_response(key)?.is_some());
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn dispatch_event_to_subscriptions(&self, event: &Arc<Event>) -> Result<DispatchReport> {
        Ok(self.prepare_dispatch(event)?.deliver())
    }

    /// Resolve and encode `event` once per cohort on its channel, without queueing frames.
    ///
    /// This is the part of a dispatch that runs resolvers: call it on a thread that may
    /// block. The result queues the frames, in one go or split in chunks for several workers.
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
    /// // Resolvers run here, on a thread that may block; the fan-out runs later, anywhere.
    /// let prepared = executor.prepare_dispatch(&tick)?;
    /// assert_eq!(prepared.subscribers(), 1);
    /// assert_eq!(prepared.deliver().delivered, 1);
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn prepare_dispatch(&self, event: &Arc<Event>) -> Result<PreparedDispatch> {
        event.validate(self.config.max_event_bytes)?;
        Ok(self.prepare_validated(event))
    }

    fn prepare_validated(&self, event: &Arc<Event>) -> PreparedDispatch {
        self.prepare_at(event, event.position)
    }

    /// Prepare with frames carrying the cursor of `position`, if any.
    fn prepare_at(&self, event: &Arc<Event>, position: Option<LogPosition>) -> PreparedDispatch {
        let cohorts = self
            .registry()
            .channels
            .get(event.channel.as_str())
            .cloned()
            .unwrap_or_default();
        prepare(event, position, &cohorts, &self.shared)
    }

    /// Dispatch `event` to one subscription, if it listens on the event's channel.
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
    /// assert_eq!(executor.dispatch_event_to_single(key, &tick)?.delivered, 1);
    /// let elsewhere = std::sync::Arc::new(subcast_core::Event::new("tock", "tocks", serde_json::json!(1)));
    /// assert_eq!(executor.dispatch_event_to_single(key, &elsewhere)?.matched, 0);
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn dispatch_event_to_single(
        &self,
        key: SubscriptionKey,
        event: &Arc<Event>,
    ) -> Result<DispatchReport> {
        event.validate(self.config.max_event_bytes)?;
        let subscription = self.subscription(key)?;
        if !subscription.cohort.channels.iter().any(|c| **c == *event.channel) {
            return Ok(DispatchReport::default());
        }
        Ok(self.deliver_to_member(event, &Member::new(&subscription)))
    }

    /// Prepare `event` for the cohort of `member`'s subscription alone, and deliver it to
    /// `member` (whose queue may be another than the subscription's: a replay's).
    fn deliver_to_member(&self, event: &Arc<Event>, member: &Member) -> DispatchReport {
        let cohort = std::slice::from_ref(&member.subscription.cohort);
        let prepared = prepare(event, event.position, cohort, &self.shared);
        let mut report = prepared.base.clone();
        let now = self.shared.limiter.now();
        for resolved in &prepared.resolved {
            match &resolved.outcome {
                Outcome::Refused(reason) => report.drop_many(*reason, 1),
                Outcome::Frame { body, terminal } => {
                    deliver_event_frame(member, body, *terminal, prepared.owner.as_ref(), now, &mut report)
                }
            }
        }
        self.shared.metrics.record_dispatch(&report, true);
        report
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

    /// Publish `event` on `bus`, then dispatch it to this executor's subscriptions directly.
    ///
    /// If publishing fails, nothing is dispatched here. If it succeeds, the executor's frames
    /// are queued before this returns, and the copy that comes back through the bus is
    /// recognised by [`SubscriptionExecutor::dispatch_bus_message`] and not dispatched again.
    /// A copy that reached the bus although `publish` failed (a timeout after sending) or
    /// this future was dropped is dispatched when it comes back, once.
    ///
    /// Fails before publishing if the event is invalid ([`Event::validate`] with
    /// [`ExecutorConfig::max_event_bytes`]): an event is refused here or readable everywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use subcast_core::{Event, InMemoryBus, SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let (bus, executor) = (InMemoryBus::new(), SubscriptionExecutor::default());
    /// let key = executor.register_subscription(
    ///     SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///         .security_context(SecurityContext::new("alice")),
    /// )?;
    /// let event = Arc::new(Event::new("tick", "ticks", serde_json::json!(1)));
    /// let report = futures_lite::future::block_on(executor.publish(&bus, event))?;
    /// assert_eq!(report.delivered, 1);
    /// assert!(executor.next_response(key)?.is_some());
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub async fn publish<B: EventBus + ?Sized>(&self, bus: &B, event: Arc<Event>) -> Result<DispatchReport> {
        // The one check every node's decoder applies too (depth, ids, channel), and this
        // executor's size limit.
        event.validate(self.config.max_event_bytes)?;
        let capacity = self.config.loopback_window;
        // Validated above, and immutable since: this `Arc` is held all along.
        // The position is the bus's, not part of the event the caller published: it goes
        // to the frames beside the event, which is not copied.
        let dispatch =
            |position: Option<LogPosition>| self.prepare_at(&event, position.or(event.position)).deliver();
        publish_then_dispatch(bus, &event, &self.loopback, capacity, dispatch).await
    }

    /// Whether `event`, received from a bus, is the copy of an event this executor already
    /// dispatched through [`SubscriptionExecutor::publish`]; a copy is recognised once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use subcast_core::{Event, InMemoryBus, SubscriptionExecutor};
    ///
    /// let (bus, executor) = (InMemoryBus::new(), SubscriptionExecutor::default());
    /// let event = Arc::new(Event::new("tick", "ticks", serde_json::json!(1)));
    /// futures_lite::future::block_on(executor.publish(&bus, event.clone()))?;
    /// // The bus copy of that event is recognised, once.
    /// assert!(executor.take_local_echo(&event));
    /// assert!(!executor.take_local_echo(&event));
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn take_local_echo(&self, event: &Event) -> bool {
        self.loopback.take_echo(event)
    }

    /// Handle one message from a bus stream: dispatch events, except the bus copies of
    /// events this executor already dispatched; signal gaps to the channel's subscribers.
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
    /// use subcast_core::BusMessage;
    ///
    /// let gap = BusMessage::Gap { channel: "ticks".into(), missed: Some(3) };
    /// assert_eq!(executor.dispatch_bus_message(&gap)?.delivered, 1);
    /// let notice = executor.next_response(key)?.unwrap();
    /// assert!(std::str::from_utf8(&notice).unwrap().contains("EVENTS_GAP"));
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn dispatch_bus_message(&self, message: &BusMessage) -> Result<DispatchReport> {
        match message {
            BusMessage::Event(event) => {
                if self.take_local_echo(event) {
                    return Ok(DispatchReport {
                        duplicate: true,
                        ..DispatchReport::default()
                    });
                }
                self.dispatch_event_to_subscriptions(event)
            }
            BusMessage::Gap { channel, missed } => Ok(self.signal_lost_events(channel, *missed)),
        }
    }

    /// Tell every subscriber of `channel` that events may have been lost (`EVENTS_GAP`).
    ///
    /// The notice is never lost to a full queue: gaps not yet read merge into one notice
    /// whose `count` is the number of interruptions.
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
    /// assert_eq!(executor.signal_gap("ticks").delivered, 1);
    /// let notice = executor.next_response(key)?.unwrap();
    /// assert!(std::str::from_utf8(&notice).unwrap().contains("EVENTS_GAP"));
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn signal_gap(&self, channel: &str) -> DispatchReport {
        self.signal_lost_events(channel, None)
    }

    /// Tell every subscriber of `channel` that `count` events were lost (`EVENTS_GAP`
    /// whose `count` is events), or an unknown number with `None` (`EVENTS_GAP` whose
    /// `count` is interruptions). Neither notice is lost to a full queue: notices not yet
    /// read merge per kind.
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
    /// assert_eq!(executor.signal_lost_events("ticks", Some(5)).delivered, 1);
    /// let notice = executor.next_response(key)?.unwrap();
    /// assert!(std::str::from_utf8(&notice).unwrap().contains("EVENTS_GAP"));
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn signal_lost_events(&self, channel: &str, count: Option<u64>) -> DispatchReport {
        let (notice, count) = match count {
            Some(count) => (Notice::Lost, count),
            None => (Notice::Gap, 1),
        };
        let mut report = DispatchReport::default();
        for cohort in &self.cohorts_of(channel) {
            for member in read(&cohort.members).iter() {
                report.matched += 1;
                if member.queue.push_notice(notice, count) {
                    report.delivered += 1;
                } else {
                    report.drop_for(DropReason::QueueClosed);
                }
            }
        }
        self.shared.metrics.record_dispatch(&report, false);
        report
    }

    /// End every subscription of `channel` with an `error` frame carrying `error`
    /// (for instance when the channel's bus stream is lost for good).
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
    /// use subcast_core::GraphQLError;
    ///
    /// let report = executor.fail_channel("ticks", GraphQLError::new("BUS_CHANNEL_LOST", "the channel is gone"));
    /// assert_eq!(report.errors, 1);
    /// let frame: serde_json::Value = serde_json::from_slice(&executor.next_response(key)?.unwrap()).unwrap();
    /// assert_eq!(frame["type"], "error");
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn fail_channel(&self, channel: &str, error: GraphQLError) -> DispatchReport {
        let body = FrameBody::error(&[error]);
        let mut report = DispatchReport::default();
        for cohort in &self.cohorts_of(channel) {
            for member in read(&cohort.members).iter() {
                deliver_frame(member, &body, true, &mut report);
            }
        }
        self.shared.metrics.record_dispatch(&report, false);
        report
    }

    fn cohorts_of(&self, channel: &str) -> Vec<Arc<Cohort>> {
        self.registry().channels.get(channel).cloned().unwrap_or_default()
    }

    /// Take the next frame of a subscription without waiting.
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
    /// assert_eq!(executor.next_response(key)?, None);
    /// let tick = std::sync::Arc::new(subcast_core::Event::new("tick", "ticks", serde_json::json!(1)));
    /// executor.dispatch_event_to_subscriptions(&tick)?;
    /// assert!(executor.next_response(key)?.is_some());
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn next_response(&self, key: SubscriptionKey) -> Result<Option<Bytes>> {
        Ok(self.subscription(key)?.queue.try_next())
    }

    /// The response queue of a subscription, for a WebSocket task to drain directly.
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
    /// let queue = executor.response_queue(key)?;
    /// executor.dispatch_event_to_subscriptions(&tick)?;
    /// assert_eq!(queue.len(), 1);
    /// assert!(queue.try_next().is_some());
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn response_queue(&self, key: SubscriptionKey) -> Result<Arc<ResponseQueue>> {
        Ok(self.subscription(key)?.queue.clone())
    }

    /// Wait, on any executor, for the next frame; `None` once the subscription has ended.
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
    /// assert!(futures_lite::future::block_on(executor.recv(key))?.is_some());
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub async fn recv(&self, key: SubscriptionKey) -> Result<Option<Bytes>> {
        let queue = self.response_queue(key)?;
        Ok(queue.recv().await)
    }

    /// Block this thread for the next frame; `None` once the subscription has ended.
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
    /// use std::time::Duration;
    ///
    /// let tick = std::sync::Arc::new(subcast_core::Event::new("tick", "ticks", serde_json::json!(1)));
    /// executor.dispatch_event_to_subscriptions(&tick)?;
    /// assert!(executor.recv_timeout(key, Duration::from_secs(5))?.is_some());
    /// assert!(executor.recv_timeout(key, Duration::ZERO).is_err());
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn recv_timeout(&self, key: SubscriptionKey, timeout: Duration) -> Result<Option<Bytes>> {
        match self.response_queue(key)?.recv_timeout(timeout) {
            Ok(frame) => Ok(Some(frame)),
            Err(RecvTimeoutError::Closed) => Ok(None),
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout(timeout)),
        }
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
