//! [`ExecutorConfig`]: the limits and policies of an executor, and their defaults.

use std::sync::Arc;

use crate::document::DocumentLimits;
use crate::error::{Error, Result};
use crate::queue::{OverflowPolicy, DEFAULT_QUEUE_CAPACITY, DEFAULT_QUEUE_MAX_BYTES};
use crate::rate_limit::{Clock, RateLimits, SystemClock};
use crate::schema::Schema;
use crate::security::SecurityPolicies;

/// Longest connection or subscription id accepted, in bytes.
pub const MAX_ID_LEN: usize = 256;

/// Default [`ExecutorConfig::max_event_bytes`]: 1 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Default [`ExecutorConfig::max_frame_bytes`]: 1 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1024 * 1024;

/// Limits and policies of a [`SubscriptionExecutor`](crate::SubscriptionExecutor).
///
/// [`ExecutorConfig::validate`] tells which values are out of range;
/// [`SubscriptionExecutor::try_new`](crate::SubscriptionExecutor::try_new) refuses them, [`SubscriptionExecutor::new`](crate::SubscriptionExecutor::new) raises
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
    /// Whether subscriptions without a [`SecurityContext`](crate::SecurityContext) are accepted (default: no).
    pub allow_anonymous: bool,
    /// The security policies enforced (default: all on).
    pub security: SecurityPolicies,
    /// The rate limits enforced (default: none).
    pub rate_limits: RateLimits,
    /// The clock rate limits run on (default: the system's monotonic clock).
    pub clock: Arc<dyn Clock>,
    /// The application's schema (default: none). With one, every subscription document
    /// is validated against it and its variables coerced by their declared types, its
    /// root field listens on the channel the schema maps it to (`@channel`), and RBAC keys
    /// may name schema coordinates (`Order.total`).
    pub schema: Option<Schema>,
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
            schema: None,
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

    /// Validate subscription documents against `schema`.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{ExecutorConfig, Schema, SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let schema = Schema::parse("type Query { ok: Int } type Subscription { ticks: Int }")?;
    /// let executor = SubscriptionExecutor::new(ExecutorConfig::default().schema(schema));
    /// let typo = SubscriptionRequest::new("c", "1", "subscription { tick }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let refused = executor.register_subscription(typo).unwrap_err();
    /// assert!(refused.to_string().contains("does not have a field `tick`"), "{refused}");
    /// # Ok::<(), subcast_core::SchemaError>(())
    /// ```
    pub fn schema(mut self, schema: Schema) -> Self {
        self.schema = Some(schema);
        self
    }

    /// Check every limit is in range: sizes and counts at least 1, bucket rates finite and
    /// not negative; with a schema, every RBAC key naming a schema coordinate names an
    /// existing field ([`RbacPolicy::validate_coordinates`](crate::RbacPolicy::validate_coordinates)).
    /// Fails with [`Error::InvalidConfig`] naming the first one that is not.
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
        if let Some(schema) = &self.schema {
            self.security.rbac.validate_coordinates(schema)?;
        }
        self.rate_limits.validate()
    }

    /// This configuration with every size and count raised to at least 1 (bucket rates are
    /// made safe by [`TokenBucket::new`](crate::TokenBucket::new)).
    pub(super) fn normalized(mut self) -> Self {
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
