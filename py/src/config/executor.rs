//! The keyword arguments of `SubscriptionExecutor(...)`: [`ExecutorSettings`], read from
//! [`ExecutorArguments`], and the [`PumpConfig`] class.

use pyo3::prelude::*;
use pyo3::types::PyString;
use subcast_core::{ExecutorConfig, OverflowPolicy};

use super::{
    flag, integer, invalid, positive, positive_usize, seconds, shown, DocumentLimits, Options, RateLimits,
    SecurityPolicies, MAX_PARALLELISM,
};

/// How a network bus's events are dispatched: fan-out splitting and channel resubscription.
#[pyclass(frozen, module = "subcast._native")]
#[derive(Debug, Clone)]
pub struct PumpConfig {
    pub(crate) config: subcast_core::PumpConfig,
    shown: String,
}

const PUMP_OPTIONS: &[&str] = &[
    "parallel_threshold",
    "parallelism",
    "backoff",
    "max_backoff",
    "max_attempts",
    "inbox_capacity",
];

impl PumpConfig {
    fn read(mut options: Options<'_>) -> PyResult<Self> {
        let py = options.py;
        let mut config = subcast_core::PumpConfig::default();
        if let Some(value) = options.take("parallel_threshold") {
            config = config.parallel_threshold(positive_usize(&value, &options.field("parallel_threshold"))?);
        }
        if let Some(value) = options.take("parallelism") {
            let tasks = integer(&value, &options.field("parallelism"), 0, MAX_PARALLELISM)?;
            config = config.parallelism(usize::try_from(tasks).unwrap_or(usize::MAX));
        }
        let first = match options.take("backoff") {
            Some(value) => seconds(&value, &options.field("backoff"))?,
            None => config.retry_delay(0),
        };
        let longest = match options.take("max_backoff") {
            Some(value) => seconds(&value, &options.field("max_backoff"))?,
            None => config.retry_delay(u32::MAX).max(first),
        };
        if longest < first {
            let reason = format!("must be at least backoff ({} s)", first.as_secs_f64());
            return Err(invalid(py, &options.field("max_backoff"), reason));
        }
        config = config.backoff(first, longest);
        if let Some(value) = options.take("max_attempts") {
            let attempts = positive(&value, &options.field("max_attempts"), u64::from(u32::MAX))?;
            config = config.max_attempts(u32::try_from(attempts).unwrap_or(u32::MAX));
        }
        if let Some(value) = options.take("inbox_capacity") {
            config = config.inbox_capacity(positive_usize(&value, &options.field("inbox_capacity"))?);
        }
        let shown = options.finish(PUMP_OPTIONS)?;
        Ok(PumpConfig { config, shown })
    }
}

options_class!(
    PumpConfig {
        config: subcast_core::PumpConfig
    },
    "pump"
);

/// What `SubscriptionExecutor(...)`'s keyword arguments configure.
#[derive(Debug)]
pub struct ExecutorSettings {
    /// The engine's configuration.
    pub executor: ExecutorConfig,
    /// The event pump's, for a network bus.
    pub pump: subcast_core::PumpConfig,
}

/// The keyword arguments of `SubscriptionExecutor(...)` other than `bus`, as given.
#[derive(Debug, Default)]
pub struct ExecutorArguments<'a, 'py> {
    /// `queue_capacity=`: frames per subscription queue.
    pub queue_capacity: Option<&'a Bound<'py, PyAny>>,
    /// `overflow=`: what a full queue does.
    pub overflow: Option<&'a Bound<'py, PyAny>>,
    /// `allow_anonymous=`.
    pub allow_anonymous: Option<&'a Bound<'py, PyAny>>,
    /// `max_event_bytes=`: the largest event data dispatched.
    pub max_event_bytes: Option<&'a Bound<'py, PyAny>>,
    /// `max_frame_bytes=`: the largest frame one event's result is encoded to.
    pub max_frame_bytes: Option<&'a Bound<'py, PyAny>>,
    /// `queue_max_bytes=`: bytes of frames per subscription queue.
    pub queue_max_bytes: Option<&'a Bound<'py, PyAny>>,
    /// `loopback_window=`: event ids remembered to skip their bus copies.
    pub loopback_window: Option<&'a Bound<'py, PyAny>>,
    /// `security=`.
    pub security: Option<&'a Bound<'py, PyAny>>,
    /// `rate_limits=`.
    pub rate_limits: Option<&'a Bound<'py, PyAny>>,
    /// `document_limits=`.
    pub document_limits: Option<&'a Bound<'py, PyAny>>,
    /// `pump=`.
    pub pump: Option<&'a Bound<'py, PyAny>>,
}

impl ExecutorSettings {
    /// Read and check every argument.
    pub fn read(arguments: &ExecutorArguments<'_, '_>) -> PyResult<Self> {
        fn given<'a, 'py>(value: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
            value.filter(|v| !v.is_none())
        }
        let mut config = ExecutorConfig::default();
        if let Some(value) = given(arguments.queue_capacity) {
            config = config.queue_capacity(positive_usize(value, "queue_capacity")?);
        }
        if let Some(value) = given(arguments.overflow) {
            config = config.overflow(overflow_policy(value)?);
        }
        if let Some(value) = given(arguments.allow_anonymous) {
            config = config.allow_anonymous(flag(value, "allow_anonymous")?);
        }
        if let Some(value) = given(arguments.max_event_bytes) {
            config = config.max_event_bytes(positive_usize(value, "max_event_bytes")?);
        }
        if let Some(value) = given(arguments.max_frame_bytes) {
            config = config.max_frame_bytes(positive_usize(value, "max_frame_bytes")?);
        }
        if let Some(value) = given(arguments.queue_max_bytes) {
            config = config.queue_max_bytes(positive_usize(value, "queue_max_bytes")?);
        }
        if let Some(value) = given(arguments.loopback_window) {
            config.loopback_window = positive_usize(value, "loopback_window")?;
        }
        config = config
            .security(SecurityPolicies::from_python(arguments.security)?)
            .rate_limits(RateLimits::from_python(arguments.rate_limits)?)
            .document_limits(DocumentLimits::from_python(arguments.document_limits)?);
        Ok(ExecutorSettings {
            executor: config,
            pump: PumpConfig::from_python(arguments.pump)?,
        })
    }
}

fn overflow_policy(value: &Bound<'_, PyAny>) -> PyResult<OverflowPolicy> {
    let choice = value.cast::<PyString>().ok().and_then(|s| s.to_str().ok());
    match choice {
        Some("drop_oldest") => Ok(OverflowPolicy::DropOldest),
        Some("drop_newest") => Ok(OverflowPolicy::DropNewest),
        Some("close") => Ok(OverflowPolicy::Close),
        _ => Err(invalid(
            value.py(),
            "overflow",
            format!(
                "must be \"drop_oldest\", \"drop_newest\" or \"close\", got {}",
                shown(value)
            ),
        )),
    }
}
