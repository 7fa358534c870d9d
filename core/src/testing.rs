//! Test helpers, behind the `testing` feature.
//!
//! - [`FakeClock`]: a [`Clock`] that moves only when told to.
//!
//! Enable it where tests need it: `subcast-core = { version = "…", features = ["testing"] }`
//! under `[dev-dependencies]`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::rate_limit::{nanos, Clock};

/// A clock that moves only when told to: rate-limit tests run on it without sleeping.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use subcast_core::{Clock, FakeClock};
///
/// let clock = FakeClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.now() - start, Duration::from_millis(1500));
/// ```
#[derive(Debug)]
pub struct FakeClock {
    start: Instant,
    elapsed_nanos: AtomicU64,
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock::new()
    }
}

impl FakeClock {
    /// A clock standing still at an arbitrary instant.
    pub fn new() -> Self {
        FakeClock {
            start: Instant::now(),
            elapsed_nanos: AtomicU64::new(0),
        }
    }

    /// Move the clock forward by `by`; it stops where `Instant` ends (at most about 584
    /// years from its start).
    pub fn advance(&self, by: Duration) {
        let by = nanos(by);
        let _ = self
            .elapsed_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |elapsed| {
                let wanted = elapsed.saturating_add(by);
                let representable = |n: u64| self.start.checked_add(Duration::from_nanos(n)).is_some();
                if representable(wanted) {
                    return Some(wanted);
                }
                // Find the furthest representable instant between here and there.
                let (mut low, mut high) = (elapsed, wanted);
                while high - low > 1 {
                    let middle = low + (high - low) / 2;
                    if representable(middle) {
                        low = middle;
                    } else {
                        high = middle;
                    }
                }
                Some(low)
            });
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        let elapsed = Duration::from_nanos(self.elapsed_nanos.load(Ordering::SeqCst));
        // `advance` keeps `start + elapsed` representable.
        self.start.checked_add(elapsed).unwrap_or(self.start)
    }
}
