//! [`Backoff`]: how long to wait between attempts, doubling from a first delay to a longest.

use std::time::Duration;

/// Exponential backoff: wait `first` after the first failure, then twice as long after each
/// failure in a row, never longer than `max`.
///
/// One type for every retry in subcast: a networked bus reconnecting to its server, and the
/// pump resubscribing a lost channel.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use subcast_core::Backoff;
///
/// let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
/// let delays: Vec<_> = (0..5).map(|failures| backoff.delay(failures).as_millis()).collect();
/// assert_eq!(delays, [10, 20, 40, 50, 50]);
/// assert_eq!(backoff.delay(u32::MAX), Duration::from_millis(50));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub first: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    /// 50 ms, doubling up to 5 s.
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// Wait `first`, doubling up to `max` (raised to `first` if below it).
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max: max.max(first),
        }
    }

    /// The delay before the attempt following `failures` failures in a row (0: the first retry).
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }

    /// What is wrong with these delays, as (field, rule), if anything: `first` must be
    /// positive (zero would retry in a busy loop) and `max` at least `first`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use subcast_core::Backoff;
    ///
    /// assert_eq!(Backoff::default().problem(), None);
    /// let zero = Backoff::new(Duration::ZERO, Duration::from_secs(1));
    /// assert_eq!(zero.problem(), Some(("first", "must be positive")));
    /// ```
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        if self.first.is_zero() {
            return Some(("first", "must be positive"));
        }
        if self.max < self.first {
            return Some(("max", "must be at least first"));
        }
        None
    }
}
