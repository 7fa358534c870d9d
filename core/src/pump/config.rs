//! [`PumpConfig`]: how an [`EventPump`](super::EventPump) dispatches, recovers and bounds its inbox.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::bus::Backoff;

/// Fan-out from which a dispatch is split across the runtime's workers.
///
/// Measured on 2 idle cores, tokio with 2 workers, one consumer task per subscription
/// (`cargo bench --bench cross_runtime --all-features -- chunking`, medians of two runs):
/// splitting saved 4–16 % from 1,000 to 4,000 subscribers; above that it was erratic
/// (16,000: −8 % and +174 %; 64,000: +9 % and +30 %) because the helpers take CPU from the
/// consumer tasks they wake. With more cores than the consumers need, it should pay further
/// up; re-measure on the target machine, or turn it off with `parallelism(0)`.
pub const DEFAULT_PARALLEL_THRESHOLD: usize = 4096;

/// Bus messages that may wait for the dispatcher, by default.
pub const DEFAULT_INBOX_CAPACITY: usize = 1024;

/// Shortest retry delay: a zero backoff would retry in a busy loop.
pub const MIN_BACKOFF: Duration = Duration::from_millis(1);

/// How an [`EventPump`](super::EventPump) dispatches, recovers and bounds its inbox.
///
/// The fields are private and every builder keeps them valid (see each builder), so no
/// configuration can make a pump panic or spin.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use subcast_core::PumpConfig;
///
/// let config = PumpConfig::default()
///     .parallel_threshold(10_000)
///     .backoff(Duration::from_millis(10), Duration::from_secs(1))
///     .max_attempts(5)
///     .inbox_capacity(256);
/// assert_eq!(config.inbox(), 256);
/// // Out-of-range values are brought into range, never kept.
/// let clamped = PumpConfig::default().max_attempts(0).inbox_capacity(0);
/// assert_eq!((clamped.attempts(), clamped.inbox()), (1, 1));
/// ```
#[derive(Debug, Clone)]
pub struct PumpConfig {
    pub(super) parallel_threshold: usize,
    pub(super) parallelism: usize,
    backoff: Backoff,
    pub(super) max_attempts: NonZeroU32,
    pub(super) inbox_capacity: usize,
}

impl Default for PumpConfig {
    fn default() -> Self {
        PumpConfig {
            parallel_threshold: DEFAULT_PARALLEL_THRESHOLD,
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
            backoff: Backoff::default(),
            max_attempts: NonZeroU32::new(8).unwrap_or(NonZeroU32::MIN),
            inbox_capacity: DEFAULT_INBOX_CAPACITY,
        }
    }
}

impl PumpConfig {
    /// Split fan-outs of at least `subscriptions` across the runtime's workers (default
    /// [`DEFAULT_PARALLEL_THRESHOLD`]; `usize::MAX` never splits; below 2, every fan-out of
    /// 2 or more is split).
    pub fn parallel_threshold(mut self, subscriptions: usize) -> Self {
        self.parallel_threshold = subscriptions;
        self
    }

    /// Let at most `tasks` runtime tasks help deliver a split fan-out (default: the
    /// available parallelism; 0 turns splitting off). A split never uses more tasks than
    /// it has chunks.
    pub fn parallelism(mut self, tasks: usize) -> Self {
        self.parallelism = tasks;
        self
    }

    /// Retry a lost channel after `first`, doubling up to `max` (defaults 50 ms and 5 s).
    ///
    /// `first` is at least [`MIN_BACKOFF`] and `max` at least `first`; `Duration::MAX`
    /// means: do not retry.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = Backoff::new(first.max(MIN_BACKOFF), max);
        self
    }

    /// End a channel's subscriptions after `attempts` failed resubscriptions in a row
    /// (default 8; at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = NonZeroU32::new(attempts).unwrap_or(NonZeroU32::MIN);
        self
    }

    /// Let at most `messages` bus messages wait for the dispatcher (default
    /// [`DEFAULT_INBOX_CAPACITY`]; at least 1).
    ///
    /// When the inbox is full, the pump stops reading its bus streams until the dispatcher
    /// has caught up. Memory held by waiting messages is at most `messages` times the
    /// largest event.
    pub fn inbox_capacity(mut self, messages: usize) -> Self {
        self.inbox_capacity = messages.max(1);
        self
    }

    /// The most bus messages that wait for the dispatcher.
    pub fn inbox(&self) -> usize {
        self.inbox_capacity
    }

    /// Failed resubscriptions in a row after which a channel's subscriptions are ended.
    pub fn attempts(&self) -> u32 {
        self.max_attempts.get()
    }

    /// The delay before the attempt following `failures` failures in a row.
    pub fn retry_delay(&self, failures: u32) -> Duration {
        self.backoff.delay(failures)
    }

    /// Delivering threads of a split fan-out (the dispatcher and its helpers); 1: no split.
    pub(super) fn threads(&self) -> usize {
        self.parallelism.saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let config = PumpConfig::default().backoff(Duration::from_millis(10), Duration::from_millis(50));
        let delays: Vec<_> = (0..5).map(|n| config.retry_delay(n).as_millis()).collect();
        assert_eq!(delays, [10, 20, 40, 50, 50]);
        assert_eq!(config.retry_delay(u32::MAX), Duration::from_millis(50));
    }
}
