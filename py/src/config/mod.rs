//! Configuration as Python gives it: every policy and limit of the engine, checked field by field.
//!
//! - `policies`: [`SecurityPolicies`], [`RateLimits`], [`DocumentLimits`], frozen Python
//!   classes built from keyword options and checked when built (`options_class!` gives each
//!   its constructor, `repr` and `from_python`); the executor also takes a plain `dict` of
//!   the same options in their place.
//! - `executor`: [`ExecutorSettings`], the keyword arguments of `SubscriptionExecutor(...)`
//!   as the engine's `ExecutorConfig` and `PumpConfig`, and the [`PumpConfig`] class.
//! - `bus`: [`redis_config`], [`postgres_config`], `nats_config`: the options of
//!   `EventBusConfig.redis(url, ...)` (and `.redis_cluster(urls, ...)`),
//!   `EventBusConfig.postgresql(url, ...)` and `EventBusConfig.nats(url, ...)`.
//! - `read`: the readers ([`integer`], [`number`], [`seconds`], [`flag`], [`text`], ...),
//!   one rule each, shared by every option, and [`Options`].
//!
//! A refused value raises `InvalidConfigError` (a `ValueError` and a `TypeError`) whose
//! message starts with the field as the user wrote it, then the rule and the value:
//! `rate_limits.burst: must be a positive integer, got -1`. Options are read from a snapshot
//! of the dict, so code a value runs while it is read (`__iter__`, `__index__`) cannot
//! change what is being read.

/// Give a frozen options class (a struct holding the engine's value in `$field` and its
/// options as written in `shown`, with a `read(Options)` constructor) its Python
/// constructor `Class(**options)`, its `repr` (unless `$extra` brings its own) and
/// `from_python`: the class, a dict of its options, or `None` for the engine's default.
macro_rules! options_class {
    ($class:ident { $field:ident: $inner:ty }, $group:literal) => {
        options_class!($class { $field: $inner }, $group, {
            fn __repr__(&self) -> String {
                format!(concat!(stringify!($class), "({})"), self.shown)
            }
        });
    };
    ($class:ident { $field:ident: $inner:ty }, $group:literal, { $($extra:tt)* }) => {
        impl $class {
            #[doc = concat!("`value` (a `", stringify!($class), "`, a dict of its options, or `None` for the defaults).")]
            #[allow(clippy::clone_on_copy)]
            pub fn from_python(value: Option<&Bound<'_, PyAny>>) -> PyResult<$inner> {
                match value.filter(|v| !v.is_none()) {
                    None => Ok(<$inner>::default()),
                    Some(value) => match value.cast::<$class>() {
                        Ok(class) => Ok(class.get().$field.clone()),
                        Err(_) => Self::read(Options::from_dict(value, $group, stringify!($class))?)
                            .map(|class| class.$field),
                    },
                }
            }
        }

        #[pymethods]
        impl $class {
            #[new]
            #[pyo3(signature = (**options))]
            fn new(py: Python<'_>, options: Option<&Bound<'_, ::pyo3::types::PyDict>>) -> PyResult<Self> {
                Self::read(Options::new(py, $group, options)?)
            }

            $($extra)*
        }
    };
}

mod bus;
mod executor;
mod policies;
mod read;

#[cfg(feature = "tokio")]
pub use bus::nats_config;
pub use bus::{postgres_config, redis_config};
pub use executor::{ExecutorArguments, ExecutorSettings, PumpConfig};
pub use policies::{DocumentLimits, RateLimits, SecurityPolicies};
pub use read::{
    flag, integer, invalid, number, positive, positive_number, positive_usize, seconds, shown, string, text,
    text_lists, texts, Options, INVALID_CONFIG, MAX_SECONDS,
};

/// Most runtime tasks that may help deliver one fan-out.
pub const MAX_PARALLELISM: u64 = 4096;
