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
//! [`SubscriptionAccess`].
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

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::bus::BusMessage;
use crate::document::{DocumentLimits, SubscriptionDocument};
use crate::error::{Error, Result};
use crate::event::{node_id, validate_channel, Event};
use crate::frame::{FrameBody, FramePrefix, GraphQLError, FRAME_TOO_LARGE, RESOLVER_ERROR, RESOLVER_PANIC};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::queue::{
    Mailbox, Notice, OverflowPolicy, PushOutcome, RecvTimeoutError, ResponseQueue, DEFAULT_QUEUE_CAPACITY,
    DEFAULT_QUEUE_MAX_BYTES,
};
use crate::rate_limit::{
    Clock, Principal, PrincipalBuckets, RateLimitKind, RateLimiter, RateLimits, SystemClock,
};
use crate::resolve::{ProjectionResolver, ResolveError, ResolveRequest, ResolveResult, Resolver};
use crate::security::{
    EventFederation, EventFilter, EventOwner, EventSecurity, Policy, SecurityAwareEventFilter,
    SecurityContext, SecurityPolicies, SubscriptionAccess,
};

/// Longest connection or subscription id accepted, in bytes.
pub const MAX_ID_LEN: usize = 256;

/// Default [`ExecutorConfig::max_event_bytes`]: 1 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Default [`ExecutorConfig::max_frame_bytes`]: 1 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1024 * 1024;

/// Limits and policies of a [`SubscriptionExecutor`].
///
/// [`ExecutorConfig::validate`] tells which values are out of range;
/// [`SubscriptionExecutor::try_new`] refuses them, [`SubscriptionExecutor::new`] raises
/// them to their minimum.
///
/// # Examples
///
/// ```
/// use subcast_core::{ExecutorConfig, OverflowPolicy, SubscriptionExecutor};
///
/// let config = ExecutorConfig::default()
///     .queue_capacity(256)
///     .queue_max_bytes(1 << 20)
///     .max_frame_bytes(256 * 1024)
///     .overflow(OverflowPolicy::DropNewest);
/// assert!(SubscriptionExecutor::try_new(config).is_ok());
/// assert!(SubscriptionExecutor::try_new(ExecutorConfig::default().queue_capacity(0)).is_err());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExecutorConfig {
    /// Frames each response queue holds before its overflow policy applies (default 1024,
    /// at least 1).
    pub queue_capacity: usize,
    /// Bytes of frames each response queue holds before its overflow policy applies
    /// (default 4 MiB, at least 1). A frame always fits in a queue holding no frame.
    pub queue_max_bytes: usize,
    /// What a full response queue does (default: drop the oldest frame).
    pub overflow: OverflowPolicy,
    /// Largest event `data`, encoded as JSON, that is published or dispatched (default
    /// 1 MiB, at least 1). Nodes sharing a bus should share this limit: a node with a
    /// smaller one refuses what another published.
    pub max_event_bytes: usize,
    /// Largest frame body — the frame without its `{"id":"…",` prefix — that is queued
    /// (default 1 MiB, at least 1). A result over it is never built whole: the subscription
    /// gets a `FRAME_TOO_LARGE` `error` frame instead, which ends it.
    pub max_frame_bytes: usize,
    /// Size and depth limits of subscription documents.
    pub document_limits: DocumentLimits,
    /// How many locally dispatched event ids are remembered to skip their bus copies
    /// (default 4096, at least 1).
    pub loopback_window: usize,
    /// Whether subscriptions without a [`SecurityContext`] are accepted (default: no).
    pub allow_anonymous: bool,
    /// The security policies enforced (default: all on).
    pub security: SecurityPolicies,
    /// The rate limits enforced (default: none).
    pub rate_limits: RateLimits,
    /// The clock rate limits run on (default: the system's monotonic clock).
    pub clock: Arc<dyn Clock>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            queue_max_bytes: DEFAULT_QUEUE_MAX_BYTES,
            overflow: OverflowPolicy::DropOldest,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            document_limits: DocumentLimits::default(),
            loopback_window: 4096,
            allow_anonymous: false,
            security: SecurityPolicies::default(),
            rate_limits: RateLimits::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl ExecutorConfig {
    /// Set the capacity of every response queue.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Set the bytes of frames every response queue holds.
    pub fn queue_max_bytes(mut self, bytes: usize) -> Self {
        self.queue_max_bytes = bytes;
        self
    }

    /// Set the largest frame body queued.
    pub fn max_frame_bytes(mut self, bytes: usize) -> Self {
        self.max_frame_bytes = bytes;
        self
    }

    /// Set how many locally dispatched event ids are remembered.
    pub fn loopback_window(mut self, events: usize) -> Self {
        self.loopback_window = events;
        self
    }

    /// Set the overflow policy of every response queue.
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = policy;
        self
    }

    /// Set the largest event data dispatched.
    pub fn max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }

    /// Set the document limits.
    pub fn document_limits(mut self, limits: DocumentLimits) -> Self {
        self.document_limits = limits;
        self
    }

    /// Accept subscriptions without a security context (they are never tenant-scoped,
    /// own no rows and belong to no federation; their rate limits apply per connection).
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.allow_anonymous = allow;
        self
    }

    /// Set the security policies.
    pub fn security(mut self, policies: SecurityPolicies) -> Self {
        self.security = policies;
        self
    }

    /// Set the rate limits.
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = limits;
        self
    }

    /// Set the clock rate limits run on.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Check every limit is in range: sizes and counts at least 1, bucket rates finite and
    /// not negative. Fails with [`Error::InvalidConfig`] naming the first one that is not.
    pub fn validate(&self) -> Result<()> {
        let at_least_one = [
            ("queue_capacity", self.queue_capacity),
            ("queue_max_bytes", self.queue_max_bytes),
            ("max_event_bytes", self.max_event_bytes),
            ("max_frame_bytes", self.max_frame_bytes),
            ("loopback_window", self.loopback_window),
        ];
        for (setting, value) in at_least_one {
            if value == 0 {
                return Err(Error::InvalidConfig {
                    setting,
                    reason: "must be at least 1".into(),
                });
            }
        }
        self.rate_limits.validate()
    }

    /// This configuration with every size and count raised to at least 1 (bucket rates are
    /// made safe by [`TokenBucket::new`](crate::TokenBucket::new)).
    fn normalized(mut self) -> Self {
        for value in [
            &mut self.queue_capacity,
            &mut self.queue_max_bytes,
            &mut self.max_event_bytes,
            &mut self.max_frame_bytes,
            &mut self.loopback_window,
        ] {
            *value = (*value).max(1);
        }
        self
    }
}

/// The executor's handle of one subscription; cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionKey(u64);

impl fmt::Display for SubscriptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A client's request to subscribe: the `subscribe` message of graphql-transport-ws.
///
/// # Examples
///
/// ```
/// use subcast_core::{EventFilter, SecurityContext, SubscriptionRequest};
///
/// let request = SubscriptionRequest::new("conn-1", "1", "subscription OnUser($id: ID!) { user(id: $id) { name } }")
///     .operation_name("OnUser")
///     .variables(serde_json::json!({"id": "42"}))
///     .channels(["user:42"])
///     .security_context(SecurityContext::new("alice").with_tenant("acme"))
///     .filter(EventFilter::new().ne("status", "draft"));
/// ```
#[derive(Debug, Clone)]
pub struct SubscriptionRequest {
    connection_id: String,
    subscription_id: String,
    query: String,
    operation_name: Option<String>,
    variables: Value,
    channels: Option<Vec<String>>,
    resolver: Option<Arc<dyn Resolver>>,
    context: Option<SecurityContext>,
    filter: Option<EventFilter>,
}

impl SubscriptionRequest {
    /// Subscribe with `query` as `subscription_id` of `connection_id`.
    pub fn new(
        connection_id: impl Into<String>,
        subscription_id: impl Into<String>,
        query: impl Into<String>,
    ) -> Self {
        SubscriptionRequest {
            connection_id: connection_id.into(),
            subscription_id: subscription_id.into(),
            query: query.into(),
            operation_name: None,
            variables: Value::Null,
            channels: None,
            resolver: None,
            context: None,
            filter: None,
        }
    }

    /// Select the operation to run among the document's operations.
    pub fn operation_name(mut self, name: impl Into<String>) -> Self {
        self.operation_name = Some(name.into());
        self
    }

    /// Set the variables: a JSON object, or null for none.
    pub fn variables(mut self, variables: Value) -> Self {
        self.variables = variables;
        self
    }

    /// Listen on these channels instead of the one named after the root field.
    pub fn channels<I, S>(mut self, channels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.channels = Some(channels.into_iter().map(Into::into).collect());
        self
    }

    /// Resolve events with `resolver` instead of the built-in projection.
    pub fn resolver(mut self, resolver: Arc<dyn Resolver>) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// Subscribe as the authenticated subscriber `context`.
    pub fn security_context(mut self, context: SecurityContext) -> Self {
        self.context = Some(context);
        self
    }

    /// Deliver only events whose data satisfies `filter` (validated at registration).
    pub fn filter(mut self, filter: EventFilter) -> Self {
        self.filter = Some(filter);
        self
    }
}

/// Why a matched subscription did not receive a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The response queue was full (drop-newest or close policy).
    QueueFull,
    /// The subscription had already ended (completed, errored or closed on overflow).
    QueueClosed,
    /// Tenant isolation: the event belongs to another tenant (or to none).
    Tenant,
    /// The row filter: the event belongs to another user.
    Row,
    /// The row filter: the event's owner cannot be read unambiguously (a list where one
    /// id is expected, a path through a list or a scalar, rows of different owners, an id
    /// that is neither a string nor an integer), so it reaches nobody.
    UnreadableOwner,
    /// Federation: the event is scoped to another federation.
    Federation,
    /// Federation: the event's federation cannot be read unambiguously, so it reaches
    /// nobody.
    UnreadableFederation,
    /// The subscription's event filter does not match the event.
    Filter,
    /// The user's delivery bucket was empty.
    RateLimited,
}

impl DropReason {
    /// Every reason, in a fixed order.
    pub const ALL: [DropReason; 9] = [
        DropReason::QueueFull,
        DropReason::QueueClosed,
        DropReason::Tenant,
        DropReason::Row,
        DropReason::UnreadableOwner,
        DropReason::Federation,
        DropReason::UnreadableFederation,
        DropReason::Filter,
        DropReason::RateLimited,
    ];

    /// A stable snake_case name, for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::QueueClosed => "queue_closed",
            DropReason::Tenant => "tenant",
            DropReason::Row => "row",
            DropReason::UnreadableOwner => "unreadable_owner",
            DropReason::Federation => "federation",
            DropReason::UnreadableFederation => "unreadable_federation",
            DropReason::Filter => "filter",
            DropReason::RateLimited => "rate_limited",
        }
    }

    /// The security policy behind this reason, if it is one.
    pub fn policy(self) -> Option<Policy> {
        match self {
            DropReason::Tenant => Some(Policy::Tenant),
            DropReason::Row | DropReason::UnreadableOwner => Some(Policy::Row),
            DropReason::Federation | DropReason::UnreadableFederation => Some(Policy::Federation),
            DropReason::Filter => Some(Policy::Filter),
            DropReason::QueueFull | DropReason::QueueClosed | DropReason::RateLimited => None,
        }
    }

    /// The reason for a frame refused by a per-event `policy`, given what was read from
    /// the event: an unreadable owner or federation has its own reason.
    fn refused_by(policy: Policy, security: &EventSecurity) -> DropReason {
        match policy {
            Policy::Tenant => DropReason::Tenant,
            Policy::Row if security.owner == EventOwner::Unreadable => DropReason::UnreadableOwner,
            Policy::Row => DropReason::Row,
            Policy::Federation if security.federation == EventFederation::Unreadable => {
                DropReason::UnreadableFederation
            }
            Policy::Federation => DropReason::Federation,
            // Authentication, scope and RBAC refuse subscriptions, never events; the
            // event filter is the remaining per-event policy.
            _ => DropReason::Filter,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// What one dispatch did. `matched == delivered + errors + dropped_total()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Subscriptions on the event's channel.
    pub matched: usize,
    /// `next` frames queued.
    pub delivered: usize,
    /// `error` frames queued (resolver failures).
    pub errors: usize,
    dropped: [usize; DropReason::ALL.len()],
    /// Older frames evicted from full queues to make room (not part of the sum).
    pub evicted: usize,
    /// Cohorts resolved: the number of resolutions and encodings this dispatch cost.
    pub cohorts: usize,
    /// The event was the bus copy of a local publish and was not dispatched again.
    pub duplicate: bool,
}

impl DispatchReport {
    /// Subscriptions that got no frame for `reason`.
    pub fn dropped(&self, reason: DropReason) -> usize {
        self.dropped[reason.index()]
    }

    /// Subscriptions that got no frame, for any reason.
    pub fn dropped_total(&self) -> usize {
        self.dropped.iter().sum()
    }

    /// Subscriptions that got no frame because a security policy refused it.
    pub fn refused_total(&self) -> usize {
        DropReason::ALL
            .iter()
            .filter(|r| r.policy().is_some())
            .map(|r| self.dropped(*r))
            .sum()
    }

    /// Add `other`'s counts to this report.
    pub fn merge(&mut self, other: &DispatchReport) {
        self.matched += other.matched;
        self.delivered += other.delivered;
        self.errors += other.errors;
        for (mine, theirs) in self.dropped.iter_mut().zip(other.dropped) {
            *mine += theirs;
        }
        self.evicted += other.evicted;
        self.cohorts += other.cohorts;
        self.duplicate |= other.duplicate;
    }

    fn drop_for(&mut self, reason: DropReason) {
        self.dropped[reason.index()] += 1;
    }

    fn drop_many(&mut self, reason: DropReason, count: usize) {
        self.matched += count;
        self.dropped[reason.index()] += count;
    }
}

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

#[derive(Debug)]
struct Subscription {
    key: SubscriptionKey,
    connection_id: Arc<str>,
    subscription_id: Box<str>,
    cohort: Arc<Cohort>,
    /// Index in `cohort.members`; read and written under the members' write lock.
    slot: AtomicUsize,
    queue: Arc<ResponseQueue>,
    /// The authenticated user, compared with an event's owner by the row filter.
    user: Option<Arc<str>>,
    /// The principal's delivery bucket, when deliveries are rate-limited.
    buckets: Option<Arc<PrincipalBuckets>>,
    /// Frames refused by the delivery bucket since the last one queued.
    missed: AtomicU64,
}

/// A cohort member as the fan-out reads it.
///
/// A fan-out walks 10k–100k members in a row and is bound by cache misses: with the queue,
/// the delivery bucket and the user's hash in the members array itself, which the CPU
/// streams in, a delivery goes straight to the queue instead of first visiting the
/// `Subscription`, one more likely miss per member.
#[derive(Debug, Clone)]
struct Member {
    queue: Arc<ResponseQueue>,
    /// The principal's delivery bucket, only when deliveries are rate-limited.
    buckets: Option<Arc<PrincipalBuckets>>,
    /// [`user_hash`] of the member's user, compared before the user id itself.
    user_hash: u64,
    subscription: Arc<Subscription>,
}

impl Member {
    fn new(subscription: &Arc<Subscription>) -> Self {
        Member {
            queue: subscription.queue.clone(),
            buckets: subscription.buckets.clone().filter(|b| b.deliveries.is_some()),
            user_hash: user_hash(subscription.user.as_deref()),
            subscription: subscription.clone(),
        }
    }

    /// Start loading what delivering to this member will read.
    #[inline]
    fn prefetch(&self) {
        let queue = Arc::as_ptr(&self.queue).cast::<u8>();
        prefetch(queue);
        prefetch(queue.wrapping_add(64));
        if let Some(buckets) = &self.buckets {
            prefetch(Arc::as_ptr(buckets).cast());
            prefetch(Arc::as_ptr(&self.subscription).cast());
        }
    }
}

/// The owner of an event under the row filter, hashed once per dispatch.
#[derive(Debug, Clone)]
struct RowOwner {
    user: Arc<str>,
    hash: u64,
}

impl RowOwner {
    fn new(user: Arc<str>) -> Self {
        RowOwner {
            hash: user_hash(Some(&user)),
            user,
        }
    }

    /// Whether `member` is this user: the hash first, the id itself only if the hash matches.
    #[inline]
    fn owns(&self, member: &Member) -> bool {
        member.user_hash == self.hash && member.subscription.user.as_deref() == Some(&*self.user)
    }
}

/// A fixed hash of a user id (0 for no user), the same in every process.
fn user_hash(user: Option<&str>) -> u64 {
    use std::hash::{Hash, Hasher};
    let Some(user) = user else { return 0 };
    let mut hasher = std::hash::DefaultHasher::new();
    user.hash(&mut hasher);
    hasher.finish()
}

/// Members ahead of the one being delivered whose cache lines are requested: far enough for
/// a DRAM load to land before its member's turn, near enough to stay in L1.
const PREFETCH_DISTANCE: usize = 8;

/// Hint the CPU to load the cache line at `address`. A hint only: it never faults, even on
/// an address past an allocation's end, and compiles to nothing off x86-64.
#[inline(always)]
fn prefetch(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 reads nothing architecturally and never faults; SSE, which it
    // needs, is part of the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

#[derive(Debug)]
struct Cohort {
    key: Arc<str>,
    document: Arc<SubscriptionDocument>,
    variables: Map<String, Value>,
    resolver: Arc<dyn Resolver>,
    channels: Box<[Arc<str>]>,
    members: RwLock<Vec<Member>>,
    /// The security class: the tenant, federation and event filter of every member.
    tenant: Option<Arc<str>>,
    federation: Option<Arc<str>>,
    filter: Option<EventFilter>,
    /// The one context of every member, kept for resolvers that depend on it.
    context: Option<SecurityContext>,
}

#[derive(Debug, Default)]
struct Registry {
    subscriptions: HashMap<SubscriptionKey, Arc<Subscription>>,
    connections: HashMap<Arc<str>, HashMap<Box<str>, SubscriptionKey>>,
    cohorts: HashMap<Arc<str>, Arc<Cohort>>,
    channels: HashMap<Arc<str>, Vec<Arc<Cohort>>>,
    watchers: Vec<Arc<Mailbox<ChannelChange>>>,
    /// Subscriptions held per authenticated user.
    users: HashMap<Arc<str>, usize>,
}

impl Registry {
    fn announce(&mut self, change: ChannelChange) {
        self.watchers.retain(|w| w.push(change.clone()).is_ok());
    }
}

/// Event ids dispatched locally by `publish_with_executor`, awaiting their bus copy.
#[derive(Debug, Default)]
struct LoopbackWindow {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

/// Matches events to subscriptions and queues their graphql-transport-ws frames.
///
/// Dispatch is CPU work: it never awaits and holds no lock across a resolver call.
/// Every subscription needs a [`SecurityContext`] unless the configuration allows
/// anonymous subscribers, and every frame passes the [`SecurityPolicies`] first.
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
    config: ExecutorConfig,
    registry: RwLock<Registry>,
    next_key: AtomicU64,
    projection: Arc<dyn Resolver>,
    loopback: Mutex<LoopbackWindow>,
    shared: Arc<DispatchShared>,
}

/// What a dispatch, and every chunk of it, needs from its executor.
#[derive(Debug)]
struct DispatchShared {
    filter: SecurityAwareEventFilter,
    limiter: RateLimiter,
    metrics: Metrics,
    /// [`ExecutorConfig::max_frame_bytes`].
    max_frame_bytes: usize,
}

impl Default for SubscriptionExecutor {
    fn default() -> Self {
        Self::new(ExecutorConfig::default())
    }
}

impl SubscriptionExecutor {
    /// Create an executor with `config`, refusing values out of range
    /// ([`ExecutorConfig::validate`]).
    pub fn try_new(config: ExecutorConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self::new(config))
    }

    /// Create an executor with `config`; a size or count of 0 is raised to 1 (use
    /// [`SubscriptionExecutor::try_new`] to refuse it instead).
    pub fn new(config: ExecutorConfig) -> Self {
        let config = config.normalized();
        SubscriptionExecutor {
            registry: RwLock::default(),
            next_key: AtomicU64::new(1),
            projection: Arc::new(ProjectionResolver),
            loopback: Mutex::default(),
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
    pub fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    /// Register a subscription; its frames queue from the next dispatch on.
    ///
    /// Fails on an invalid document, variables, id, channel or filter; a subscription id
    /// already registered on the same connection; a missing security context (unless
    /// anonymous subscribers are allowed); a scope or RBAC refusal; a rate or subscription
    /// limit. [`Error::to_error_frame`] turns any of these into the `error` frame the
    /// client gets.
    pub fn register_subscription(&self, request: SubscriptionRequest) -> Result<SubscriptionKey> {
        validate_id("connection id", &request.connection_id)?;
        validate_id("subscription id", &request.subscription_id)?;
        let metrics = &self.shared.metrics;
        let context = request.context.as_ref();
        let authenticated = match context {
            Some(context) => context.validate(),
            None if self.config.allow_anonymous => Ok(()),
            None => Err(Error::Unauthenticated),
        };
        if let Err(error) = authenticated {
            metrics.record_violation(Policy::Authentication, 1);
            return Err(error);
        }
        if let Some(filter) = &request.filter {
            filter.validate()?;
        }
        let principal = match context {
            Some(context) => Principal::User(context.user_arc().clone()),
            None => Principal::Connection(request.connection_id.as_str().into()),
        };
        if let Err(retry_after) = self.shared.limiter.try_create(&principal) {
            metrics.record_rate_limited(RateLimitKind::SubscriptionCreation, 1);
            return Err(Error::RateLimited {
                kind: RateLimitKind::SubscriptionCreation,
                retry_after,
            });
        }
        let explicit_channels = request.channels.as_deref().map(normalize_channels).transpose()?;
        let resolver = request
            .resolver
            .clone()
            .unwrap_or_else(|| self.projection.clone());
        let cohort_key = cohort_key(&request, &resolver, explicit_channels.as_deref());

        let existing = {
            let registry = self.registry();
            ensure_unique(&registry, &request)?;
            registry.cohorts.get(cohort_key.as_str()).cloned()
        };
        // Parsing happens outside the lock; a cohort already built for the same key
        // carries an identical document and variables, so the parse is skipped.
        let joins_existing = existing.is_some();
        let template = match existing {
            Some(cohort) => cohort,
            None => Arc::new(self.build_cohort(&request, resolver, explicit_channels, cohort_key)?),
        };
        self.authorize(context, &template, joins_existing)?;
        let buckets = self.shared.limiter.delivery_buckets(&principal);

        let mut registry = self.registry_mut();
        ensure_unique(&registry, &request)?;
        self.check_subscription_limits(&registry, &request)?;
        let registry = &mut *registry;
        let mut announced = Vec::new();
        let cohort = match registry.cohorts.get(&template.key) {
            Some(cohort) => cohort.clone(),
            None => {
                registry.cohorts.insert(template.key.clone(), template.clone());
                for channel in template.channels.iter() {
                    let cohorts = registry.channels.entry(channel.clone()).or_default();
                    cohorts.push(template.clone());
                    if cohorts.len() == 1 {
                        announced.push(ChannelChange::Added(channel.to_string()));
                    }
                }
                template
            }
        };

        let key = SubscriptionKey(self.next_key.fetch_add(1, Ordering::Relaxed));
        let connection_id: Arc<str> = registry
            .connections
            .get_key_value(request.connection_id.as_str())
            .map_or_else(|| Arc::from(request.connection_id.as_str()), |(k, _)| k.clone());
        let user = context.map(|c| c.user_arc().clone());
        if let Some(user) = &user {
            *registry.users.entry(user.clone()).or_default() += 1;
        }
        let prefix = FramePrefix::new(&request.subscription_id);
        let subscription = Arc::new(Subscription {
            key,
            connection_id: connection_id.clone(),
            subscription_id: request.subscription_id.as_str().into(),
            cohort: cohort.clone(),
            slot: AtomicUsize::new(0),
            queue: Arc::new(
                ResponseQueue::new(prefix, self.config.queue_capacity, self.config.overflow)
                    .with_max_bytes(self.config.queue_max_bytes),
            ),
            user,
            buckets,
            missed: AtomicU64::new(0),
        });
        {
            let mut members = write(&cohort.members);
            subscription.slot.store(members.len(), Ordering::Relaxed);
            members.push(Member::new(&subscription));
        }
        registry
            .connections
            .entry(connection_id)
            .or_default()
            .insert(request.subscription_id.into_boxed_str(), key);
        registry.subscriptions.insert(key, subscription);
        metrics.subscription_added();
        for change in announced {
            registry.announce(change);
        }
        Ok(key)
    }

    /// Scope validation, then RBAC field access on everything the subscription reads
    /// (selection, filter paths, owner and federation paths, re-rooted at each channel),
    /// counted in the metrics.
    ///
    /// RBAC depends on the roles, document, channels and event filter, and on the
    /// executor's fixed policies; all of these are in the cohort key, so every member of an
    /// existing cohort got the same RBAC answer: only a new cohort is checked again.
    fn authorize(
        &self,
        context: Option<&SecurityContext>,
        cohort: &Cohort,
        joins_existing: bool,
    ) -> Result<()> {
        let policies = &self.config.security;
        let metrics = &self.shared.metrics;
        let mut access = SubscriptionAccess::new(&cohort.document, &cohort.variables)
            .channels(cohort.channels.iter().map(|c| &**c));
        if let Some(filter) = &cohort.filter {
            access = access.filter(filter);
        }
        if let Err(error) = policies.check_scope(context, &access) {
            metrics.record_violation(Policy::Scope, 1);
            return Err(error);
        }
        if !joins_existing {
            if let Err(error) = policies.check_rbac(context, &access) {
                metrics.record_violation(Policy::Rbac, 1);
                return Err(error);
            }
        }
        metrics.record_passed(1);
        Ok(())
    }

    fn check_subscription_limits(&self, registry: &Registry, request: &SubscriptionRequest) -> Result<()> {
        let limits = &self.config.rate_limits;
        if let Some(limit) = limits.max_subscriptions_per_connection {
            let held = registry
                .connections
                .get(request.connection_id.as_str())
                .map_or(0, HashMap::len);
            if held >= limit {
                return Err(self.limit_reached(RateLimitKind::ConnectionSubscriptions, limit));
            }
        }
        if let (Some(limit), Some(context)) = (limits.max_subscriptions_per_user, &request.context) {
            let held = registry.users.get(context.user_id()).copied().unwrap_or(0);
            if held >= limit {
                return Err(self.limit_reached(RateLimitKind::UserSubscriptions, limit));
            }
        }
        Ok(())
    }

    fn limit_reached(&self, kind: RateLimitKind, limit: usize) -> Error {
        self.shared.metrics.record_rate_limited(kind, 1);
        Error::SubscriptionLimit { kind, limit }
    }

    fn build_cohort(
        &self,
        request: &SubscriptionRequest,
        resolver: Arc<dyn Resolver>,
        explicit_channels: Option<Vec<Arc<str>>>,
        key: String,
    ) -> Result<Cohort> {
        let document = SubscriptionDocument::parse(
            &request.query,
            request.operation_name.as_deref(),
            &self.config.document_limits,
        )?;
        let variables = document.effective_variables(&request.variables)?;
        let channels = match explicit_channels {
            Some(channels) => channels,
            None => {
                validate_channel(document.root_field())?;
                vec![Arc::from(document.root_field())]
            }
        };
        let context = request.context.as_ref();
        let resolver_reads_context = resolver.depends_on_context();
        Ok(Cohort {
            key: key.into(),
            document: Arc::new(document),
            variables,
            resolver,
            channels: channels.into_boxed_slice(),
            members: RwLock::default(),
            tenant: context.and_then(|c| c.tenant_arc().cloned()),
            federation: context.and_then(|c| c.federation_arc().cloned()),
            filter: request.filter.clone().filter(|f| !f.is_empty()),
            context: context.filter(|_| resolver_reads_context).cloned(),
        })
    }

    /// The key of `subscription_id` on `connection_id`, if registered.
    pub fn subscription_key(&self, connection_id: &str, subscription_id: &str) -> Option<SubscriptionKey> {
        self.registry()
            .connections
            .get(connection_id)?
            .get(subscription_id)
            .copied()
    }

    /// End a subscription: it leaves the index, its queue closes and its memory is freed.
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
    pub fn dispatch_event_to_subscriptions(&self, event: &Arc<Event>) -> Result<DispatchReport> {
        Ok(self.prepare_dispatch(event)?.deliver())
    }

    /// Dispatch an event the caller has just validated against this executor's limits and
    /// that nobody can have changed since (it is behind an `Arc` the caller holds).
    pub(crate) fn dispatch_validated(&self, event: &Arc<Event>) -> DispatchReport {
        self.prepare_validated(event).deliver()
    }

    /// Resolve and encode `event` once per cohort on its channel, without queueing frames.
    ///
    /// This is the part of a dispatch that runs resolvers: call it on a thread that may
    /// block. The result queues the frames, in one go or split in chunks for several workers.
    pub fn prepare_dispatch(&self, event: &Arc<Event>) -> Result<PreparedDispatch> {
        event.validate(self.config.max_event_bytes)?;
        Ok(self.prepare_validated(event))
    }

    fn prepare_validated(&self, event: &Arc<Event>) -> PreparedDispatch {
        let cohorts = self
            .registry()
            .channels
            .get(event.channel.as_str())
            .cloned()
            .unwrap_or_default();
        prepare(event, &cohorts, &self.shared)
    }

    /// Dispatch `event` to one subscription, if it listens on the event's channel.
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
        let prepared = prepare(event, std::slice::from_ref(&subscription.cohort), &self.shared);
        let mut report = prepared.base.clone();
        let now = self.shared.limiter.now();
        let member = Member::new(&subscription);
        for resolved in &prepared.resolved {
            match &resolved.outcome {
                Outcome::Refused(reason) => report.drop_many(*reason, 1),
                Outcome::Frame { body, terminal } => deliver_event_frame(
                    &member,
                    body,
                    *terminal,
                    prepared.owner.as_ref(),
                    now,
                    &mut report,
                ),
            }
        }
        self.shared.metrics.record_dispatch(&report, true);
        Ok(report)
    }

    /// Watch the set of channels with at least one subscription.
    ///
    /// The watch first yields `Added` for every channel already in use, then each change
    /// in order. A driver uses it to subscribe a bus channel when the first subscription
    /// needs it and to unsubscribe after the last.
    pub fn watch_channels(&self) -> ChannelWatch {
        let changes = Arc::new(Mailbox::new());
        let mut registry = self.registry_mut();
        for channel in registry.channels.keys() {
            let _ = changes.push(ChannelChange::Added(channel.to_string()));
        }
        registry.watchers.push(changes.clone());
        ChannelWatch { changes }
    }

    /// Handle one message from a bus stream: dispatch events, except the bus copies of
    /// events this executor already dispatched; signal gaps to the channel's subscribers.
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
    pub fn signal_gap(&self, channel: &str) -> DispatchReport {
        self.signal_lost_events(channel, None)
    }

    /// Tell every subscriber of `channel` that `count` events were lost (`EVENTS_GAP`
    /// whose `count` is events), or an unknown number with `None` (`EVENTS_GAP` whose
    /// `count` is interruptions). Neither notice is lost to a full queue: notices not yet
    /// read merge per kind.
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
    pub fn next_response(&self, key: SubscriptionKey) -> Result<Option<Bytes>> {
        Ok(self.subscription(key)?.queue.try_next())
    }

    /// The response queue of a subscription, for a WebSocket task to drain directly.
    pub fn response_queue(&self, key: SubscriptionKey) -> Result<Arc<ResponseQueue>> {
        Ok(self.subscription(key)?.queue.clone())
    }

    /// Wait, on any executor, for the next frame; `None` once the subscription has ended.
    pub async fn recv(&self, key: SubscriptionKey) -> Result<Option<Bytes>> {
        let queue = self.response_queue(key)?;
        Ok(queue.recv().await)
    }

    /// Block this thread for the next frame; `None` once the subscription has ended.
    pub fn recv_timeout(&self, key: SubscriptionKey, timeout: Duration) -> Result<Option<Bytes>> {
        match self.response_queue(key)?.recv_timeout(timeout) {
            Ok(frame) => Ok(Some(frame)),
            Err(RecvTimeoutError::Closed) => Ok(None),
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout(timeout)),
        }
    }

    /// The executor's counters, updated as it registers and dispatches.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// The metrics now, with the queue-depth gauge refreshed (a walk of every queue).
    pub fn metrics_snapshot(&self) -> MetricsSnapshot {
        let queued = self.stats().queued_frames as u64;
        self.shared.metrics.set_queue_depth(queued);
        self.shared.metrics.snapshot()
    }

    /// The metrics now in the Prometheus text exposition format.
    pub fn prometheus_metrics(&self) -> String {
        self.metrics_snapshot().to_prometheus()
    }

    /// The rate limiter: its clock and the buckets of every principal.
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.shared.limiter
    }

    /// Count what the executor holds now.
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

    /// Remember that `event` is dispatched locally, so its bus copy is skipped.
    pub(crate) fn expect_loopback(&self, event: &Event) {
        let mut window = self.loopback.lock().unwrap_or_else(|e| e.into_inner());
        if window.ids.insert(event.id.clone()) {
            window.order.push_back(event.id.clone());
            while window.order.len() > self.config.loopback_window {
                if let Some(oldest) = window.order.pop_front() {
                    window.ids.remove(&oldest);
                }
            }
        }
    }

    /// Forget an expected loop-back copy (the publish failed).
    pub(crate) fn forget_loopback(&self, event: &Event) {
        self.loopback
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ids
            .remove(&event.id);
    }

    /// Whether `event`, received from a bus, is the copy of an event this executor already
    /// dispatched through `publish_with_executor`; a copy is recognised once.
    pub fn take_local_echo(&self, event: &Event) -> bool {
        event.origin == node_id()
            && self
                .loopback
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .ids
                .remove(&event.id)
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

/// Check every cohort's security class against the event, then resolve each admitted
/// cohort once, grouping cohorts that share a resolver into one batch call.
fn prepare(event: &Event, cohorts: &[Arc<Cohort>], shared: &Arc<DispatchShared>) -> PreparedDispatch {
    shared.metrics.record_event();
    let security = shared.filter.inspect(event);
    let mut resolved = Vec::with_capacity(cohorts.len());
    let mut pending: Vec<&Arc<Cohort>> = Vec::with_capacity(cohorts.len());
    for cohort in cohorts {
        let admitted = shared
            .filter
            .admits_class(
                event,
                &security,
                cohort.tenant.as_deref(),
                cohort.federation.as_deref(),
                cohort.filter.as_ref(),
            )
            .and_then(|()| admits_some_member(cohort, &security.owner));
        match admitted {
            Ok(()) => pending.push(cohort),
            Err(policy) => resolved.push(ResolvedCohort {
                cohort: cohort.clone(),
                outcome: Outcome::Refused(DropReason::refused_by(policy, &security)),
            }),
        }
    }
    let mut frames = 0;
    while let Some(first) = pending.first() {
        let resolver = first.resolver.clone();
        let (batch, rest): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|c| Arc::ptr_eq(&c.resolver, &resolver));
        pending = rest;
        let results = resolve(&*resolver, event, &batch, shared.max_frame_bytes);
        for (cohort, result) in batch.into_iter().zip(results) {
            let (body, terminal) = encode(&result, shared.max_frame_bytes);
            frames += 1;
            resolved.push(ResolvedCohort {
                cohort: cohort.clone(),
                outcome: Outcome::Frame { body, terminal },
            });
        }
    }
    let base = DispatchReport {
        cohorts: frames,
        ..DispatchReport::default()
    };
    let owner = match security.owner {
        EventOwner::User(owner) => Some(RowOwner::new(owner)),
        EventOwner::Unowned | EventOwner::Unreadable => None,
    };
    PreparedDispatch {
        resolved,
        base,
        owner,
        shared: shared.clone(),
    }
}

/// The row filter at cohort level: an owned event is resolved only if a member owns it.
fn admits_some_member(cohort: &Cohort, owner: &EventOwner) -> Result<(), Policy> {
    let admitted = match owner {
        EventOwner::Unowned => true,
        EventOwner::User(owner) => {
            let owner = RowOwner::new(owner.clone());
            read(&cohort.members).iter().any(|m| owner.owns(m))
        }
        EventOwner::Unreadable => false,
    };
    if admitted {
        Ok(())
    } else {
        Err(Policy::Row)
    }
}

/// An event checked, resolved and encoded for every cohort on its channel, ready to be queued.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use subcast_core::{Event, SecurityContext, SubscriptionExecutor, SubscriptionRequest};
///
/// let executor = SubscriptionExecutor::default();
/// for n in 0..10 {
///     let request = SubscriptionRequest::new(format!("c{n}"), "1", "subscription { ticks }")
///         .security_context(SecurityContext::new(format!("user-{n}")));
///     executor.register_subscription(request).unwrap();
/// }
/// let event = Arc::new(Event::new("tick", "ticks", serde_json::json!(1)));
/// let prepared = executor.prepare_dispatch(&event).unwrap();
/// assert_eq!(prepared.subscribers(), 10);
/// // Each chunk may run on another worker thread.
/// let delivered: usize = prepared.into_chunks(4).iter().map(|chunk| chunk.deliver().delivered).sum();
/// assert_eq!(delivered, 10);
/// ```
#[derive(Debug)]
pub struct PreparedDispatch {
    resolved: Vec<ResolvedCohort>,
    base: DispatchReport,
    /// The event's owner, when the row filter restricts it to one user.
    owner: Option<RowOwner>,
    shared: Arc<DispatchShared>,
}

#[derive(Debug)]
struct ResolvedCohort {
    cohort: Arc<Cohort>,
    outcome: Outcome,
}

/// What a cohort gets from one event.
#[derive(Debug, Clone)]
enum Outcome {
    /// A frame, for each member the row filter and the rate limit admit.
    Frame { body: FrameBody, terminal: bool },
    /// Nothing: a policy refused the event for the whole cohort.
    Refused(DropReason),
}

impl PreparedDispatch {
    /// Subscriptions the event is addressed to, as of now.
    pub fn subscribers(&self) -> usize {
        self.resolved.iter().map(|r| read(&r.cohort.members).len()).sum()
    }

    /// Queue every frame on this thread.
    pub fn deliver(&self) -> DispatchReport {
        let mut report = self.base.clone();
        let now = self.shared.limiter.now();
        let owner = self.owner.as_ref();
        for resolved in &self.resolved {
            let members = read(&resolved.cohort.members);
            match &resolved.outcome {
                Outcome::Refused(reason) => report.drop_many(*reason, members.len()),
                Outcome::Frame { body, terminal } => {
                    deliver_event_frames(&members, body, *terminal, owner, now, &mut report);
                }
            }
        }
        self.shared.metrics.record_dispatch(&report, true);
        report
    }

    /// Split the fan-out into chunks of about `chunk_size` subscriptions each.
    ///
    /// The chunks cover the subscribers as of this call; each can be delivered on any
    /// thread, and the sum of their reports is the dispatch's report.
    pub fn into_chunks(self, chunk_size: usize) -> Vec<DispatchChunk> {
        let chunk_size = chunk_size.max(1);
        let empty_chunk = |report| DispatchChunk {
            parts: Vec::new(),
            report,
            owner: self.owner.clone(),
            shared: self.shared.clone(),
        };
        let mut chunks = Vec::new();
        let mut current = empty_chunk(self.base.clone());
        let mut filled = 0;
        for resolved in &self.resolved {
            let (body, terminal) = match &resolved.outcome {
                Outcome::Frame { body, terminal } => (body, *terminal),
                Outcome::Refused(reason) => {
                    // Refused members cost nothing to deliver: the first chunk counts them.
                    let count = read(&resolved.cohort.members).len();
                    let first = match chunks.first_mut() {
                        Some(first) => first,
                        None => &mut current,
                    };
                    first.report.drop_many(*reason, count);
                    continue;
                }
            };
            let members: Arc<[Member]> = read(&resolved.cohort.members).iter().cloned().collect();
            let mut start = 0;
            while start < members.len() {
                let end = members.len().min(start + chunk_size - filled);
                current.parts.push(ChunkPart {
                    members: members.clone(),
                    range: start..end,
                    body: body.clone(),
                    terminal,
                });
                filled += end - start;
                start = end;
                if filled == chunk_size {
                    chunks.push(std::mem::replace(
                        &mut current,
                        empty_chunk(DispatchReport::default()),
                    ));
                    filled = 0;
                }
            }
        }
        if !current.parts.is_empty() || chunks.is_empty() {
            chunks.push(current);
        }
        chunks
    }
}

/// A slice of a dispatch's fan-out; `Send + 'static`, so any worker can deliver it.
#[derive(Debug)]
pub struct DispatchChunk {
    parts: Vec<ChunkPart>,
    /// Counts that belong to the dispatch as a whole, carried by its first chunk.
    report: DispatchReport,
    owner: Option<RowOwner>,
    shared: Arc<DispatchShared>,
}

#[derive(Debug)]
struct ChunkPart {
    members: Arc<[Member]>,
    range: std::ops::Range<usize>,
    body: FrameBody,
    terminal: bool,
}

impl DispatchChunk {
    /// Queue this chunk's frames on the calling thread.
    pub fn deliver(&self) -> DispatchReport {
        let mut report = self.report.clone();
        let now = self.shared.limiter.now();
        let owner = self.owner.as_ref();
        for part in &self.parts {
            let members = &part.members[part.range.clone()];
            deliver_event_frames(members, &part.body, part.terminal, owner, now, &mut report);
        }
        self.shared.metrics.record_dispatch(&report, true);
        report
    }

    /// Subscriptions in this chunk.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.range.len()).sum()
    }

    /// Whether the chunk addresses no subscription.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A change in the set of channels in use; see [`SubscriptionExecutor::watch_channels`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelChange {
    /// The first subscription on this channel was registered.
    Added(String),
    /// The last subscription on this channel ended.
    Removed(String),
}

/// A stream of [`ChannelChange`]s; dropping it stops the watch.
#[derive(Debug)]
pub struct ChannelWatch {
    changes: Arc<Mailbox<ChannelChange>>,
}

impl ChannelWatch {
    /// Wait for the next change; `None` once the executor is gone.
    pub async fn next(&self) -> Option<ChannelChange> {
        self.changes.recv().await
    }

    /// Take the next change without waiting.
    pub fn try_next(&self) -> Option<ChannelChange> {
        self.changes.try_pop()
    }

    /// Poll for the next change, keeping the wake-up registration in `listener`.
    pub fn poll_next(
        &self,
        cx: &mut std::task::Context<'_>,
        listener: &mut Option<event_listener::EventListener>,
    ) -> std::task::Poll<Option<ChannelChange>> {
        self.changes.poll_recv(cx, listener)
    }
}

impl Drop for ChannelWatch {
    fn drop(&mut self) {
        self.changes.close();
    }
}

/// Encode a cohort's result once: a `next` body, or a terminal `error` body for a resolver
/// error or a result over `max_frame_bytes` (whose encoding stops at the limit).
///
/// An oversized result ends the subscription rather than being skipped with a notice: the
/// size comes from the document as much as from the event (a thousand aliases over a
/// list), so the next event would most likely be refused again, and graphql-transport-ws
/// has one way to say an operation failed — the `error` frame, as for every other
/// resolution failure. The client may subscribe again with a narrower selection.
fn encode(result: &ResolveResult, max_frame_bytes: usize) -> (FrameBody, bool) {
    let error = match result {
        Ok(data) => match FrameBody::next_data_within(data, max_frame_bytes) {
            Some(body) => return (body, false),
            None => too_large(max_frame_bytes),
        },
        Err(error) => GraphQLError::from(error),
    };
    let body = FrameBody::error(&[error]);
    if body.as_bytes().len() <= max_frame_bytes {
        return (body, true);
    }
    // A resolver's error message too long to send is replaced as well.
    (FrameBody::error(&[too_large(max_frame_bytes)]), true)
}

fn too_large(max_frame_bytes: usize) -> GraphQLError {
    GraphQLError::new(
        FRAME_TOO_LARGE,
        format!("the result is larger than the frame size limit of {max_frame_bytes} bytes"),
    )
}

/// Call `resolver` once for the whole batch; a panic or a short answer becomes an error
/// for every cohort left without a result.
fn resolve(
    resolver: &dyn Resolver,
    event: &Event,
    batch: &[&Arc<Cohort>],
    max_output_bytes: usize,
) -> Vec<ResolveResult> {
    let requests: Vec<ResolveRequest<'_>> = batch
        .iter()
        .map(|c| {
            ResolveRequest::new(&c.document, &c.variables)
                .with_context(c.context.as_ref())
                .with_output_limit(max_output_bytes)
        })
        .collect();
    let (mut results, failure) =
        match catch_unwind(AssertUnwindSafe(|| resolver.resolve_batch(event, &requests))) {
            Ok(results) if results.len() == batch.len() => return results,
            Ok(results) => {
                let message = format!(
                    "the resolver returned {} results for {} subscriptions",
                    results.len(),
                    batch.len()
                );
                (results, ResolveError::new(RESOLVER_ERROR, message))
            }
            Err(_) => (
                Vec::new(),
                ResolveError::new(RESOLVER_PANIC, "the resolver panicked"),
            ),
        };
    results.truncate(batch.len());
    results.resize_with(batch.len(), || Err(failure.clone()));
    results
}

/// Queue one event frame for each of `members`, loading the next members' lines meanwhile.
#[inline]
fn deliver_event_frames(
    members: &[Member],
    body: &FrameBody,
    terminal: bool,
    owner: Option<&RowOwner>,
    now: Duration,
    report: &mut DispatchReport,
) {
    for (at, member) in members.iter().enumerate() {
        if let Some(ahead) = members.get(at + PREFETCH_DISTANCE) {
            ahead.prefetch();
        }
        deliver_event_frame(member, body, terminal, owner, now, report);
    }
}

/// Queue one event frame for `member` if the row filter and its delivery bucket admit it,
/// and count what happened. `owner` is the event's owner, if it has one.
#[inline]
fn deliver_event_frame(
    member: &Member,
    body: &FrameBody,
    terminal: bool,
    owner: Option<&RowOwner>,
    now: Duration,
    report: &mut DispatchReport,
) {
    report.matched += 1;
    if let Some(owner) = owner {
        if !owner.owns(member) {
            report.drop_for(DropReason::Row);
            return;
        }
    }
    // An error frame ends the subscription: it is never held back by the rate limit.
    if !terminal {
        // Only a rate-limited member can have missed frames: the others skip the visit to
        // their `Subscription`.
        if let Some(bucket) = member.buckets.as_ref().and_then(|b| b.deliveries.as_ref()) {
            if member.queue.is_closed() {
                report.drop_for(DropReason::QueueClosed);
                return;
            }
            let subscription = &member.subscription;
            if !bucket.try_take(now) {
                subscription.missed.fetch_add(1, Ordering::Relaxed);
                report.drop_for(DropReason::RateLimited);
                return;
            }
            if subscription.missed.load(Ordering::Relaxed) != 0 {
                announce_missed(member);
            }
        }
    }
    queue_frame(member, body, terminal, report);
}

/// Tell a subscriber how many frames its rate limit held back, before the next one.
///
/// The count leaves `missed` only for a queue that takes the notice: an open queue never
/// loses one (it merges or holds it), and a closed one has no reader to tell.
#[cold]
fn announce_missed(member: &Member) {
    let missed = member.subscription.missed.swap(0, Ordering::Relaxed);
    if missed != 0 && !member.queue.push_notice(Notice::RateLimited, missed) {
        member.subscription.missed.fetch_add(missed, Ordering::Relaxed);
    }
}

/// Queue one frame for `member` and count what happened.
#[inline]
fn deliver_frame(member: &Member, body: &FrameBody, terminal: bool, report: &mut DispatchReport) {
    report.matched += 1;
    queue_frame(member, body, terminal, report);
}

/// Queue a frame already counted as matched.
#[inline]
fn queue_frame(member: &Member, body: &FrameBody, terminal: bool, report: &mut DispatchReport) {
    let queue = &member.queue;
    if queue.is_closed() {
        report.drop_for(DropReason::QueueClosed);
        return;
    }
    let frame = queue.prefix().splice(body);
    if terminal {
        // An `error` frame ends the operation (graphql-transport-ws): nothing may follow it.
        queue.end_with(frame);
        report.errors += 1;
        return;
    }
    match queue.push(frame) {
        PushOutcome::Queued => report.delivered += 1,
        PushOutcome::QueuedEvictedOldest { evicted } => {
            report.delivered += 1;
            report.evicted += evicted;
        }
        PushOutcome::DroppedNewest | PushOutcome::ClosedOnOverflow => report.drop_for(DropReason::QueueFull),
        PushOutcome::Closed => report.drop_for(DropReason::QueueClosed),
    }
}

/// Remove `subscription` from its cohort and its user's count, and the cohort from the
/// index once empty.
fn unlink(registry: &mut Registry, subscription: &Subscription) {
    if let Some(user) = &subscription.user {
        if let Some(held) = registry.users.get_mut(user) {
            *held -= 1;
            if *held == 0 {
                registry.users.remove(user);
            }
        }
    }
    let cohort = &subscription.cohort;
    let now_empty = {
        let mut members = write(&cohort.members);
        let slot = subscription.slot.load(Ordering::Relaxed);
        if members
            .get(slot)
            .is_some_and(|m| m.subscription.key == subscription.key)
        {
            members.swap_remove(slot);
            if let Some(moved) = members.get(slot) {
                moved.subscription.slot.store(slot, Ordering::Relaxed);
            }
        }
        members.is_empty()
    };
    if !now_empty {
        return;
    }
    registry.cohorts.remove(&cohort.key);
    for channel in cohort.channels.iter() {
        if let Some(cohorts) = registry.channels.get_mut(channel) {
            cohorts.retain(|c| !Arc::ptr_eq(c, cohort));
            if cohorts.is_empty() {
                registry.channels.remove(channel);
                registry.announce(ChannelChange::Removed(channel.to_string()));
            }
        }
    }
}

fn ensure_unique(registry: &Registry, request: &SubscriptionRequest) -> Result<()> {
    let taken = registry
        .connections
        .get(request.connection_id.as_str())
        .is_some_and(|ids| ids.contains_key(request.subscription_id.as_str()));
    if taken {
        return Err(Error::DuplicateSubscription {
            connection_id: request.connection_id.clone(),
            subscription_id: request.subscription_id.clone(),
        });
    }
    Ok(())
}

fn validate_id(what: &'static str, id: &str) -> Result<()> {
    let reason = if id.is_empty() {
        "empty".to_owned()
    } else if id.len() > MAX_ID_LEN {
        format!("{} bytes, over the limit of {MAX_ID_LEN}", id.len())
    } else {
        return Ok(());
    };
    Err(Error::InvalidId { what, reason })
}

fn normalize_channels(channels: &[String]) -> Result<Vec<Arc<str>>> {
    if channels.is_empty() {
        return Err(Error::InvalidChannel {
            channel: String::new(),
            reason: "an explicit channel list must name at least one channel",
        });
    }
    let mut unique: Vec<Arc<str>> = Vec::with_capacity(channels.len());
    for channel in channels {
        validate_channel(channel)?;
        if !unique.iter().any(|c| **c == **channel) {
            unique.push(channel.as_str().into());
        }
    }
    unique.sort_unstable();
    Ok(unique)
}

/// Everything that can change a subscription's frame bytes or the per-event security
/// decisions of its cohort (the security class: tenant, federation, roles, event filter),
/// as one unambiguous string. The user is left out: the row filter is checked per member.
fn cohort_key(
    request: &SubscriptionRequest,
    resolver: &Arc<dyn Resolver>,
    channels: Option<&[Arc<str>]>,
) -> String {
    let resolver_id = Arc::as_ptr(resolver) as *const () as usize;
    let channels: Option<Vec<&str>> = channels.map(|c| c.iter().map(|s| &**s).collect());
    let context = request.context.as_ref();
    let class = (
        context.and_then(SecurityContext::tenant_id),
        context.and_then(SecurityContext::federation_id),
        context.map(SecurityContext::roles),
        request
            .filter
            .as_ref()
            .filter(|f| !f.is_empty())
            .map(EventFilter::canonical_json),
    );
    // A resolver that reads the context makes frames per subscriber: the whole context is
    // part of the key, so no frame crosses users.
    let subscriber = context
        .filter(|_| resolver.depends_on_context())
        .map(|c| (c.user_id(), c.scopes(), c.claims()));
    let parts = (
        resolver_id,
        &request.operation_name,
        channels,
        &request.variables,
        &request.query,
        class,
        subscriber,
    );
    // Strings, numbers and JSON values always serialize; an empty key would merge
    // unrelated subscribers, so failing loudly is the only safe answer.
    serde_json::to_string(&parts).expect("cohort key parts serialize")
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
