//! Dispatch: how one event becomes frames in the queues of its subscribers.
//!
//! - [`prepare`]: cohort checks, one batch resolve per resolver, encode once.
//! - [`deliver`]: the per-member hot path.
//! - [`parallel`]: a fan-out split in chunks for several workers.
//! - [`report`]: [`DispatchReport`] and [`DropReason`].

pub(crate) mod deliver;
pub(crate) mod parallel;
pub(crate) mod prepare;
pub(crate) mod report;

pub use parallel::DispatchChunk;
pub use prepare::PreparedDispatch;
pub use report::{DispatchReport, DropReason};

use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::security::SecurityAwareEventFilter;

/// What a dispatch, and every chunk of it, needs from its executor.
#[derive(Debug)]
pub(crate) struct DispatchShared {
    pub(crate) filter: SecurityAwareEventFilter,
    pub(crate) limiter: RateLimiter,
    pub(crate) metrics: Metrics,
    /// [`ExecutorConfig::max_frame_bytes`].
    pub(crate) max_frame_bytes: usize,
}
