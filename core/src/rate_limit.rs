//! Rate limits: token buckets per user, subscription counts per connection and per user.
//!
//! - [`Clock`]: where time comes from; [`SystemClock`] by default, `FakeClock` (feature
//!   `testing`) in tests.
//! - [`BucketConfig`] / [`TokenBucket`]: a lock-free token bucket (one atomic word).
//! - [`RateLimits`]: what an executor limits: deliveries and subscription creations per
//!   user, subscriptions per connection and per user.
//! - [`RateLimiter`]: the buckets of every principal (a user, or the connection of an
//!   anonymous subscriber), touched under a lock only at subscribe and unsubscribe.
//! - [`RateLimitKind`]: which limit refused something, for errors and metrics.
//!
//! A delivery refused by a bucket is counted in the dispatch report and the metrics; the
//! subscriber is told how many frames it missed when deliveries resume.
//!
//! No value makes a bucket or a clock panic: a refill rate that is NaN or negative never
//! refills, an infinite one always does, a zero capacity refuses everything, and clocks
//! saturate. [`RateLimits::validate`] reports the values that are most likely mistakes.

use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A source of monotonic time.
///
/// # Examples
///
/// ```
/// use std::time::Instant;
/// use subcast_core::Clock;
///
/// /// The system's monotonic clock.
/// #[derive(Debug)]
/// struct Monotonic;
///
/// impl Clock for Monotonic {
///     fn now(&self) -> Instant {
///         Instant::now()
///     }
/// }
/// ```
pub trait Clock: Send + Sync + Debug + 'static {
    /// Tell the current instant.
    fn now(&self) -> Instant;
}

/// The system's monotonic clock, [`Instant::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Size and refill rate of a token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketConfig {
    /// Tokens the bucket holds when full: the largest burst.
    pub capacity: u32,
    /// Tokens added per second; 0 (or a rate too slow to represent) refills about once
    /// per 584 / (capacity + 2) years. NaN and negative rates never refill (and
    /// [`BucketConfig::validate`] refuses them, with infinite rates).
    pub refill_per_second: f64,
}

impl BucketConfig {
    /// A bucket of `capacity` tokens refilled at `refill_per_second`.
    pub fn new(capacity: u32, refill_per_second: f64) -> Self {
        BucketConfig {
            capacity,
            refill_per_second,
        }
    }

    /// Check the refill rate is a finite number of tokens per second, 0 or more.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::BucketConfig;
    ///
    /// assert!(BucketConfig::new(10, 5.0).validate().is_ok());
    /// assert!(BucketConfig::new(10, f64::NAN).validate().is_err());
    /// ```
    pub fn validate(&self) -> crate::Result<()> {
        let rate = self.refill_per_second;
        if rate.is_finite() && rate >= 0.0 {
            return Ok(());
        }
        Err(crate::Error::InvalidConfig {
            setting: "refill_per_second",
            reason: format!("must be a finite number of tokens per second, 0 or more, not {rate}"),
        })
    }
}

/// A token bucket in one atomic word, safe to share between dispatching threads.
///
/// It keeps the *theoretical arrival time* of the next token (GCRA): taking a token is a
/// compare-and-swap, refilling is implicit in the passing of time. Time is given by the
/// caller as the duration since an origin of its choosing, so one clock read serves many
/// buckets.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use subcast_core::{BucketConfig, TokenBucket};
///
/// let bucket = TokenBucket::new(BucketConfig::new(2, 1.0));
/// let t0 = Duration::ZERO;
/// assert!(bucket.try_take(t0) && bucket.try_take(t0));
/// assert!(!bucket.try_take(t0));
/// assert_eq!(bucket.retry_after(t0), Duration::from_secs(1));
/// assert!(bucket.try_take(Duration::from_secs(1)));
/// ```
#[derive(Debug)]
pub struct TokenBucket {
    /// Nanoseconds since the origin at which the bucket is full again.
    full_at: AtomicU64,
    interval: u64,
    tolerance: u128,
    capacity: u32,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(config: BucketConfig) -> Self {
        // A full bucket's debt, capacity × interval, must fit in u64 nanoseconds (584 years):
        // slower refills, a rate of 0 included, are raised to the slowest that fits.
        let slowest = u64::MAX / (u64::from(config.capacity) + 2);
        let rate = config.refill_per_second;
        let interval = if rate > 0.0 {
            // Saturating: an infinite rate refills every nanosecond.
            ((1e9 / rate) as u64).clamp(1, slowest)
        } else {
            // 0 never refills; NaN and negative rates fail closed the same way.
            slowest
        };
        TokenBucket {
            full_at: AtomicU64::new(0),
            interval,
            tolerance: u128::from(interval) * u128::from(config.capacity.saturating_sub(1)),
            capacity: config.capacity,
        }
    }

    /// Take one token at `now`; `false` if the bucket is empty.
    #[inline]
    pub fn try_take(&self, now: Duration) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let now = nanos(now);
        let mut full_at = self.full_at.load(Ordering::Relaxed);
        loop {
            let start = full_at.max(now);
            if u128::from(start - now) > self.tolerance {
                return false;
            }
            let next = start.saturating_add(self.interval);
            match self
                .full_at
                .compare_exchange_weak(full_at, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => full_at = actual,
            }
        }
    }

    /// Tokens available at `now`.
    pub fn available(&self, now: Duration) -> u32 {
        let debt = u128::from(self.full_at.load(Ordering::Relaxed).saturating_sub(nanos(now)));
        let room = (self.tolerance + u128::from(self.interval)).saturating_sub(debt);
        (room / u128::from(self.interval)).min(u128::from(self.capacity)) as u32
    }

    /// How long after `now` the next token can be taken (zero if one is available).
    pub fn retry_after(&self, now: Duration) -> Duration {
        if self.capacity == 0 {
            return Duration::MAX;
        }
        let debt = u128::from(self.full_at.load(Ordering::Relaxed).saturating_sub(nanos(now)));
        let wait = debt.saturating_sub(self.tolerance);
        Duration::from_nanos(u64::try_from(wait).unwrap_or(u64::MAX))
    }

    /// Whether the bucket is full at `now` (nothing to remember about it).
    pub fn is_full(&self, now: Duration) -> bool {
        self.full_at.load(Ordering::Relaxed) <= nanos(now)
    }
}

/// Which limit refused something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimitKind {
    /// A frame, by the user's delivery bucket.
    Delivery,
    /// A subscribe, by the user's subscription-creation bucket.
    SubscriptionCreation,
    /// A subscribe, by the maximum of subscriptions per connection.
    ConnectionSubscriptions,
    /// A subscribe, by the maximum of subscriptions per user.
    UserSubscriptions,
}

impl RateLimitKind {
    /// Every kind, in a fixed order.
    pub const ALL: [RateLimitKind; 4] = [
        RateLimitKind::Delivery,
        RateLimitKind::SubscriptionCreation,
        RateLimitKind::ConnectionSubscriptions,
        RateLimitKind::UserSubscriptions,
    ];

    /// A stable snake_case name, for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitKind::Delivery => "delivery",
            RateLimitKind::SubscriptionCreation => "subscription_creation",
            RateLimitKind::ConnectionSubscriptions => "connection_subscriptions",
            RateLimitKind::UserSubscriptions => "user_subscriptions",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RateLimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an executor limits; nothing by default.
///
/// # Examples
///
/// ```
/// use subcast_core::{BucketConfig, ExecutorConfig, RateLimits};
///
/// let limits = RateLimits::default()
///     .deliveries(BucketConfig::new(100, 50.0))
///     .subscription_creation(BucketConfig::new(10, 1.0))
///     .max_subscriptions_per_connection(100)
///     .max_subscriptions_per_user(500);
/// let config = ExecutorConfig::default().rate_limits(limits);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RateLimits {
    /// Frames delivered per user (all its subscriptions together).
    pub deliveries: Option<BucketConfig>,
    /// Subscriptions created per user.
    pub subscription_creation: Option<BucketConfig>,
    /// Subscriptions one connection may hold at once.
    pub max_subscriptions_per_connection: Option<usize>,
    /// Subscriptions one user may hold at once, over all its connections.
    pub max_subscriptions_per_user: Option<usize>,
}

impl RateLimits {
    /// Check every bucket's configuration ([`BucketConfig::validate`]).
    pub fn validate(&self) -> crate::Result<()> {
        [&self.deliveries, &self.subscription_creation]
            .into_iter()
            .flatten()
            .try_for_each(BucketConfig::validate)
    }

    /// Limit frames delivered per user.
    pub fn deliveries(mut self, bucket: BucketConfig) -> Self {
        self.deliveries = Some(bucket);
        self
    }

    /// Limit subscriptions created per user.
    pub fn subscription_creation(mut self, bucket: BucketConfig) -> Self {
        self.subscription_creation = Some(bucket);
        self
    }

    /// Limit subscriptions held per connection.
    pub fn max_subscriptions_per_connection(mut self, max: usize) -> Self {
        self.max_subscriptions_per_connection = Some(max);
        self
    }

    /// Limit subscriptions held per user.
    pub fn max_subscriptions_per_user(mut self, max: usize) -> Self {
        self.max_subscriptions_per_user = Some(max);
        self
    }
}

/// Whom a bucket belongs to: a user, or the connection of an anonymous subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// An authenticated user.
    User(Arc<str>),
    /// An anonymous subscriber, limited per connection.
    Connection(Arc<str>),
}

/// The buckets of one principal.
#[derive(Debug)]
pub struct PrincipalBuckets {
    /// Frames delivered, if limited.
    pub deliveries: Option<TokenBucket>,
    /// Subscriptions created, if limited.
    pub creations: Option<TokenBucket>,
}

impl PrincipalBuckets {
    fn is_idle(&self, now: Duration) -> bool {
        [&self.deliveries, &self.creations]
            .into_iter()
            .flatten()
            .all(|bucket| bucket.is_full(now))
    }
}

/// The token buckets of every principal, and the clock they run on.
///
/// Buckets are found through a lock at subscribe; each subscription keeps its principal's
/// buckets, so a delivery touches one atomic and no lock.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use subcast_core::{BucketConfig, FakeClock, RateLimiter, RateLimits};
/// use subcast_core::Principal;
///
/// let clock = Arc::new(FakeClock::new());
/// let limiter = RateLimiter::new(RateLimits::default().subscription_creation(BucketConfig::new(1, 1.0)), clock.clone());
/// let alice = Principal::User("alice".into());
/// assert!(limiter.try_create(&alice).is_ok());
/// assert_eq!(limiter.try_create(&alice), Err(Duration::from_secs(1)));
/// clock.advance(Duration::from_secs(1));
/// assert!(limiter.try_create(&alice).is_ok());
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    clock: Arc<dyn Clock>,
    origin: Instant,
    principals: Mutex<HashMap<Principal, Arc<PrincipalBuckets>>>,
    prune_at: AtomicU64,
}

impl RateLimiter {
    /// A limiter enforcing `limits` on `clock`'s time.
    pub fn new(limits: RateLimits, clock: Arc<dyn Clock>) -> Self {
        let origin = clock.now();
        RateLimiter {
            limits,
            clock,
            origin,
            principals: Mutex::default(),
            prune_at: AtomicU64::new(1024),
        }
    }

    /// The limits enforced.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Time since the limiter was created, on its clock: the `now` its buckets take.
    #[inline]
    pub fn now(&self) -> Duration {
        self.clock.now().saturating_duration_since(self.origin)
    }

    /// Take a subscription-creation token for `principal`; `Err(retry_after)` if none.
    pub fn try_create(&self, principal: &Principal) -> Result<(), Duration> {
        if self.limits.subscription_creation.is_none() {
            return Ok(());
        }
        let now = self.now();
        let buckets = self.buckets(principal);
        match &buckets.creations {
            Some(bucket) if !bucket.try_take(now) => Err(bucket.retry_after(now)),
            _ => Ok(()),
        }
    }

    /// The delivery bucket holder of `principal`, if deliveries are limited.
    pub fn delivery_buckets(&self, principal: &Principal) -> Option<Arc<PrincipalBuckets>> {
        self.limits.deliveries.is_some().then(|| self.buckets(principal))
    }

    /// Forget principals whose buckets are full and that no subscription holds.
    pub fn prune(&self) {
        let now = self.now();
        let mut principals = self.principals.lock().unwrap_or_else(|e| e.into_inner());
        principals.retain(|_, buckets| Arc::strong_count(buckets) > 1 || !buckets.is_idle(now));
    }

    /// Principals with buckets.
    pub fn principals(&self) -> usize {
        self.principals.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn buckets(&self, principal: &Principal) -> Arc<PrincipalBuckets> {
        let mut principals = self.principals.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(buckets) = principals.get(principal) {
            return buckets.clone();
        }
        // Idle principals are forgotten once the map has doubled since the last sweep,
        // so memory follows active users and the sweep's cost is amortised.
        if principals.len() as u64 >= self.prune_at.load(Ordering::Relaxed) {
            let now = self.now();
            principals.retain(|_, buckets| Arc::strong_count(buckets) > 1 || !buckets.is_idle(now));
            self.prune_at
                .store((principals.len() as u64 * 2).max(1024), Ordering::Relaxed);
        }
        let buckets = Arc::new(PrincipalBuckets {
            deliveries: self.limits.deliveries.map(TokenBucket::new),
            creations: self.limits.subscription_creation.map(TokenBucket::new),
        });
        principals.insert(principal.clone(), buckets.clone());
        buckets
    }
}

pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
