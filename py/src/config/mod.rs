//! Configuration as Python gives it: every policy and limit of the engine, checked field by field.
//!
//! - [`SecurityPolicies`], [`RateLimits`], [`DocumentLimits`], [`PumpConfig`]: frozen Python
//!   classes built from keyword options and checked when built; the executor also takes a
//!   plain `dict` of the same options in their place.
//! - [`ExecutorSettings`]: the keyword arguments of `SubscriptionExecutor(...)` as the
//!   engine's `ExecutorConfig` and `PumpConfig`.
//! - [`redis_config`], [`postgres_config`], `nats_config`: the options of
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

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use subcast_core::{
    BucketConfig, ExecutorConfig, FederationPolicy, OverflowPolicy, RbacPolicy, RowPolicy, ScopePolicy,
    TenantPolicy,
};
use subcast_postgres::PostgresConfig;
use subcast_redis::RedisConfig;

mod read;

pub use read::{
    flag, integer, invalid, number, positive, positive_number, positive_usize, seconds, shown, string, text,
    text_lists, texts, Options, INVALID_CONFIG, MAX_SECONDS,
};

/// Most runtime tasks that may help deliver one fan-out.
pub const MAX_PARALLELISM: u64 = 4096;

/// The security policies: tenant isolation, row owner, federation, scopes and RBAC.
#[pyclass(frozen, module = "subcast._native")]
#[derive(Debug, Clone)]
pub struct SecurityPolicies {
    pub(crate) policies: subcast_core::SecurityPolicies,
    shown: String,
}

const SECURITY_OPTIONS: &[&str] = &[
    "tenant",
    "owner_path",
    "federation_path",
    "user_variables",
    "tenant_variables",
    "required_scopes",
    "rbac",
    "rbac_deny_unlisted",
];

impl SecurityPolicies {
    fn read(mut options: Options<'_>) -> PyResult<Self> {
        let py = options.py;
        let mut policies = subcast_core::SecurityPolicies::default();
        if let Some(value) = options.take("tenant") {
            if !flag(&value, &options.field("tenant"))? {
                policies = policies.tenant(TenantPolicy::disabled());
            }
        }
        // `None` switches the row and federation filters off; a missing option keeps the default.
        if let Some(value) = options.take_raw("owner_path") {
            let field = options.field("owner_path");
            policies = policies.row(match value.is_none() {
                true => RowPolicy::disabled(),
                false => RowPolicy::owner_path(text(&value, &field)?)
                    .map_err(|e| invalid(py, &field, e.message()))?,
            });
        }
        if let Some(value) = options.take_raw("federation_path") {
            let field = options.field("federation_path");
            policies = policies.federation(match value.is_none() {
                true => FederationPolicy::disabled(),
                false => FederationPolicy::federation_path(text(&value, &field)?)
                    .map_err(|e| invalid(py, &field, e.message()))?,
            });
        }
        let mut scope = ScopePolicy::default();
        if let Some(value) = options.take("user_variables") {
            scope = scope.user_variables(texts(&value, &options.field("user_variables"))?);
        }
        if let Some(value) = options.take("tenant_variables") {
            scope = scope.tenant_variables(texts(&value, &options.field("tenant_variables"))?);
        }
        if let Some(value) = options.take("required_scopes") {
            let field = options.field("required_scopes");
            for (root_field, scopes) in text_lists(&value, &field)? {
                if !is_graphql_name(&root_field) {
                    let reason = format!("{root_field:?} is not a root field name");
                    return Err(invalid(py, &format!("{field} key"), reason));
                }
                scope = scope.require_scopes(root_field, scopes);
            }
        }
        policies = policies.scope(scope);
        let mut rbac = RbacPolicy::default();
        if let Some(value) = options.take("rbac") {
            let field = options.field("rbac");
            for (path, roles) in text_lists(&value, &field)? {
                if !is_field_key(&path) {
                    let reason = format!(
                        "{path:?} is not a field path: use names joined by dots (\"users.email\") or \"*.name\""
                    );
                    return Err(invalid(py, &format!("{field} key"), reason));
                }
                rbac = rbac.allow(path, roles);
            }
        }
        if let Some(value) = options.take("rbac_deny_unlisted") {
            rbac = rbac.deny_unlisted(flag(&value, &options.field("rbac_deny_unlisted"))?);
        }
        policies = policies.rbac(rbac);
        let shown = options.finish(SECURITY_OPTIONS)?;
        Ok(SecurityPolicies { policies, shown })
    }

    /// `value` (a `SecurityPolicies`, a dict of its options, or `None` for the defaults).
    pub fn from_python(value: Option<&Bound<'_, PyAny>>) -> PyResult<subcast_core::SecurityPolicies> {
        match value.filter(|v| !v.is_none()) {
            None => Ok(subcast_core::SecurityPolicies::default()),
            Some(value) => match value.cast::<SecurityPolicies>() {
                Ok(policies) => Ok(policies.get().policies.clone()),
                Err(_) => {
                    Self::read(Options::from_dict(value, "security", "SecurityPolicies")?).map(|p| p.policies)
                }
            },
        }
    }
}

/// Whether `name` is a GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`).
fn is_graphql_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// An RBAC key: GraphQL names joined by dots, or `*.name`.
fn is_field_key(path: &str) -> bool {
    match path.strip_prefix("*.") {
        Some(name) => is_graphql_name(name),
        None => path.split('.').all(is_graphql_name),
    }
}

#[pymethods]
impl SecurityPolicies {
    #[new]
    #[pyo3(signature = (**options))]
    fn new(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Self::read(Options::new(py, "security", options)?)
    }

    /// Every policy switched off: no tenant isolation, row or federation filter, identity
    /// variables, required scopes or RBAC. For trusted single-tenant deployments.
    #[staticmethod]
    fn disabled() -> Self {
        SecurityPolicies {
            policies: subcast_core::SecurityPolicies::disabled(),
            shown: "disabled".to_owned(),
        }
    }

    fn __repr__(&self) -> String {
        match self.shown.as_str() {
            "disabled" => "SecurityPolicies.disabled()".to_owned(),
            shown => format!("SecurityPolicies({shown})"),
        }
    }
}

/// Rate limits: token buckets per user and maxima of subscriptions held.
#[pyclass(frozen, module = "subcast._native")]
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub(crate) limits: subcast_core::RateLimits,
    shown: String,
}

const RATE_LIMIT_OPTIONS: &[&str] = &[
    "deliveries_per_second",
    "burst",
    "subscriptions_per_second",
    "subscription_burst",
    "max_subscriptions_per_connection",
    "max_subscriptions_per_user",
];

impl RateLimits {
    fn read(mut options: Options<'_>) -> PyResult<Self> {
        let mut limits = subcast_core::RateLimits::default();
        if let Some(bucket) = bucket(&mut options, "deliveries_per_second", "burst")? {
            limits = limits.deliveries(bucket);
        }
        if let Some(bucket) = bucket(&mut options, "subscriptions_per_second", "subscription_burst")? {
            limits = limits.subscription_creation(bucket);
        }
        if let Some(value) = options.take("max_subscriptions_per_connection") {
            let field = options.field("max_subscriptions_per_connection");
            limits = limits.max_subscriptions_per_connection(positive_usize(&value, &field)?);
        }
        if let Some(value) = options.take("max_subscriptions_per_user") {
            let field = options.field("max_subscriptions_per_user");
            limits = limits.max_subscriptions_per_user(positive_usize(&value, &field)?);
        }
        let shown = options.finish(RATE_LIMIT_OPTIONS)?;
        Ok(RateLimits { limits, shown })
    }

    /// `value` (a `RateLimits`, a dict of its options, or `None`: no limits).
    pub fn from_python(value: Option<&Bound<'_, PyAny>>) -> PyResult<subcast_core::RateLimits> {
        match value.filter(|v| !v.is_none()) {
            None => Ok(subcast_core::RateLimits::default()),
            Some(value) => match value.cast::<RateLimits>() {
                Ok(limits) => Ok(limits.get().limits.clone()),
                Err(_) => {
                    Self::read(Options::from_dict(value, "rate_limits", "RateLimits")?).map(|l| l.limits)
                }
            },
        }
    }
}

/// A token bucket from a rate option and its burst option (default: one second's worth).
fn bucket(options: &mut Options<'_>, rate: &str, burst: &str) -> PyResult<Option<BucketConfig>> {
    let per_second = match options.take(rate) {
        Some(value) => Some(positive_number(&value, &options.field(rate))?),
        None => None,
    };
    let capacity = match options.take(burst) {
        Some(value) => Some(positive(&value, &options.field(burst), u64::from(u32::MAX))?),
        None => None,
    };
    match (per_second, capacity) {
        (Some(per_second), capacity) => {
            // A float-to-int `as` saturates; a rate below 1 still allows one at a time.
            let one_second = per_second.ceil().max(1.0) as u32;
            let capacity = capacity.map_or(one_second, |c| u32::try_from(c).unwrap_or(u32::MAX));
            Ok(Some(BucketConfig::new(capacity, per_second)))
        }
        (None, Some(_)) => Err(invalid(
            options.py,
            &options.field(burst),
            format!("needs {rate}: a burst is the size of a rate's bucket"),
        )),
        (None, None) => Ok(None),
    }
}

#[pymethods]
impl RateLimits {
    #[new]
    #[pyo3(signature = (**options))]
    fn new(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Self::read(Options::new(py, "rate_limits", options)?)
    }

    fn __repr__(&self) -> String {
        format!("RateLimits({})", self.shown)
    }
}

/// Bounds on subscription documents, checked before and while they are parsed.
#[pyclass(frozen, module = "subcast._native")]
#[derive(Debug, Clone)]
pub struct DocumentLimits {
    pub(crate) limits: subcast_core::DocumentLimits,
    shown: String,
}

const DOCUMENT_LIMIT_OPTIONS: &[&str] = &["max_bytes", "max_depth", "max_tokens", "max_output_fields"];

impl DocumentLimits {
    fn read(mut options: Options<'_>) -> PyResult<Self> {
        let mut limits = subcast_core::DocumentLimits::default();
        if let Some(value) = options.take("max_bytes") {
            limits.max_bytes = positive_usize(&value, &options.field("max_bytes"))?;
        }
        if let Some(value) = options.take("max_depth") {
            limits.max_depth = positive_usize(&value, &options.field("max_depth"))?;
        }
        if let Some(value) = options.take("max_tokens") {
            limits.max_tokens = positive_usize(&value, &options.field("max_tokens"))?;
        }
        if let Some(value) = options.take("max_output_fields") {
            limits.max_output_fields = positive_usize(&value, &options.field("max_output_fields"))?;
        }
        let shown = options.finish(DOCUMENT_LIMIT_OPTIONS)?;
        Ok(DocumentLimits { limits, shown })
    }

    /// `value` (a `DocumentLimits`, a dict of its options, or `None` for the defaults).
    pub fn from_python(value: Option<&Bound<'_, PyAny>>) -> PyResult<subcast_core::DocumentLimits> {
        match value.filter(|v| !v.is_none()) {
            None => Ok(subcast_core::DocumentLimits::default()),
            Some(value) => match value.cast::<DocumentLimits>() {
                Ok(limits) => Ok(limits.get().limits),
                Err(_) => Self::read(Options::from_dict(value, "document_limits", "DocumentLimits")?)
                    .map(|l| l.limits),
            },
        }
    }
}

#[pymethods]
impl DocumentLimits {
    #[new]
    #[pyo3(signature = (**options))]
    fn new(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Self::read(Options::new(py, "document_limits", options)?)
    }

    fn __repr__(&self) -> String {
        format!("DocumentLimits({})", self.shown)
    }
}

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

    /// `value` (a `PumpConfig`, a dict of its options, or `None` for the defaults).
    pub fn from_python(value: Option<&Bound<'_, PyAny>>) -> PyResult<subcast_core::PumpConfig> {
        match value.filter(|v| !v.is_none()) {
            None => Ok(subcast_core::PumpConfig::default()),
            Some(value) => match value.cast::<PumpConfig>() {
                Ok(config) => Ok(config.get().config.clone()),
                Err(_) => Self::read(Options::from_dict(value, "pump", "PumpConfig")?).map(|p| p.config),
            },
        }
    }
}

#[pymethods]
impl PumpConfig {
    #[new]
    #[pyo3(signature = (**options))]
    fn new(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Self::read(Options::new(py, "pump", options)?)
    }

    fn __repr__(&self) -> String {
        format!("PumpConfig({})", self.shown)
    }
}

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

const REDIS_OPTIONS: &[&str] = &[
    "prefix",
    "replay_len",
    "timeout",
    "reconnect_min",
    "reconnect_max",
    "received_capacity",
    "stream_capacity",
];

/// The options of `EventBusConfig.redis(url, ...)`; returns the config and its `repr` text.
pub fn redis_config(py: Python<'_>, given: Option<&Bound<'_, PyDict>>) -> PyResult<(RedisConfig, String)> {
    let mut options = Options::new(py, "bus", given)?;
    let mut config = RedisConfig::default();
    if let Some(value) = options.take("prefix") {
        config = config.prefix(string(&value, &options.field("prefix"))?);
    }
    if let Some(value) = options.take("replay_len") {
        config = config.replay(positive_usize(&value, &options.field("replay_len"))?);
    }
    if let Some(value) = options.take("timeout") {
        config = config.timeout(seconds(&value, &options.field("timeout"))?);
    }
    let (min, max) = backoff_pair(&mut options, config.reconnect.first, config.reconnect.max)?;
    config = config.reconnect_backoff(min, max);
    let (received, per_stream) = buffers(&mut options, config.received_capacity, config.stream_capacity)?;
    config = config.buffers(received, per_stream);
    let shown = options.finish(REDIS_OPTIONS)?;
    Ok((config, shown))
}

const POSTGRES_OPTIONS: &[&str] = &[
    "schema",
    "table",
    "channel_prefix",
    "retention",
    "cleanup_interval",
    "timeout",
    "reconnect_min",
    "reconnect_max",
    "synchronous_commit",
    "received_capacity",
    "stream_capacity",
];

/// The options of `EventBusConfig.postgresql(url, ...)`; returns the config and its `repr` text.
pub fn postgres_config(
    py: Python<'_>,
    given: Option<&Bound<'_, PyDict>>,
) -> PyResult<(PostgresConfig, String)> {
    let mut options = Options::new(py, "bus", given)?;
    let mut config = PostgresConfig::default();
    let schema = match options.take("schema") {
        Some(value) => text(&value, &options.field("schema"))?,
        None => config.schema.clone(),
    };
    let table = match options.take("table") {
        Some(value) => text(&value, &options.field("table"))?,
        None => config.table.clone(),
    };
    config = config.outbox(schema, table);
    if let Some(value) = options.take("channel_prefix") {
        config.channel_prefix = string(&value, &options.field("channel_prefix"))?;
    }
    // `retention=None` keeps events forever; leaving it out keeps the default.
    if let Some(value) = options.take_raw("retention") {
        let retention = match value.is_none() {
            true => None,
            false => Some(seconds(&value, &options.field("retention"))?),
        };
        config = config.retention(retention);
    }
    if let Some(value) = options.take("cleanup_interval") {
        config.cleanup_interval = seconds(&value, &options.field("cleanup_interval"))?;
    }
    if let Some(value) = options.take("timeout") {
        config = config.timeout(seconds(&value, &options.field("timeout"))?);
    }
    let (min, max) = backoff_pair(&mut options, config.reconnect.first, config.reconnect.max)?;
    config = config.reconnect_backoff(min, max);
    if let Some(value) = options.take("synchronous_commit") {
        config = config.synchronous_commit(flag(&value, &options.field("synchronous_commit"))?);
    }
    let (received, per_stream) = buffers(&mut options, config.received_capacity, config.stream_capacity)?;
    config = config.buffers(received, per_stream);
    let shown = options.finish(POSTGRES_OPTIONS)?;
    Ok((config, shown))
}

#[cfg(feature = "tokio")]
const NATS_OPTIONS: &[&str] = &[
    "prefix",
    "jetstream",
    "token",
    "credentials_file",
    "tls_root_certificates",
    "timeout",
    "reconnect_min",
    "reconnect_max",
    "received_capacity",
    "stream_capacity",
];

#[cfg(feature = "tokio")]
const JETSTREAM_OPTIONS: &[&str] = &["stream", "max_age", "max_bytes", "max_messages"];

/// The options of `EventBusConfig.nats(url, ...)`; returns the config and its `repr` text.
///
/// What [`subcast::NatsConfig::validate`] refuses is refused here too, so that a bad value
/// fails where it is written rather than when the executor connects.
#[cfg(feature = "tokio")]
pub fn nats_config(
    py: Python<'_>,
    given: Option<&Bound<'_, PyDict>>,
) -> PyResult<(subcast::NatsConfig, String)> {
    let mut options = Options::new(py, "bus", given)?;
    let mut config = subcast::NatsConfig::default();
    if let Some(value) = options.take("prefix") {
        config = config.prefix(text(&value, &options.field("prefix"))?);
    }
    if let Some(value) = options.take("jetstream") {
        config = config.jetstream(jetstream_config(&value, &options.field("jetstream"))?);
    }
    if let Some(value) = options.take("token") {
        config = config.token(text(&value, &options.field("token"))?);
    }
    if let Some(value) = options.take("credentials_file") {
        config = config.credentials_file(text(&value, &options.field("credentials_file"))?);
    }
    if let Some(value) = options.take("tls_root_certificates") {
        config = config.tls_root_certificates(text(&value, &options.field("tls_root_certificates"))?);
    }
    if let Some(value) = options.take("timeout") {
        config = config.timeout(seconds(&value, &options.field("timeout"))?);
    }
    let (min, max) = backoff_pair(&mut options, config.reconnect.first, config.reconnect.max)?;
    config = config.reconnect_backoff(min, max);
    let (received, per_stream) = buffers(&mut options, config.received_capacity, config.stream_capacity)?;
    config = config.buffers(received, per_stream);
    let shown = options.finish(NATS_OPTIONS)?;
    config.validate().map_err(|e| nats_refusal(py, &e))?;
    Ok((config, shown))
}

/// [`subcast::NatsConfig::validate`]'s refusal (`invalid NatsConfig: {field} {rule}`) as
/// `bus.{field}: {rule}`, like every other option.
#[cfg(feature = "tokio")]
fn nats_refusal(py: Python<'_>, error: &subcast::Error) -> PyErr {
    let subcast::Error::Bus { message, .. } = error else {
        return invalid(py, "bus", error);
    };
    match message
        .strip_prefix("invalid NatsConfig: ")
        .and_then(|rest| rest.split_once(' '))
    {
        Some((field, rule)) => invalid(py, &format!("bus.{field}"), rule),
        None => invalid(py, "bus", message),
    }
}

/// `jetstream=dict(stream=..., max_age=..., max_bytes=..., max_messages=...)`.
#[cfg(feature = "tokio")]
fn jetstream_config(value: &Bound<'_, PyAny>, field: &str) -> PyResult<subcast::JetStreamConfig> {
    let py = value.py();
    let Ok(dict) = value.cast::<PyDict>() else {
        let reason = format!(
            "must be None or a dict of {}, got {}",
            JETSTREAM_OPTIONS.join(", "),
            shown(value)
        );
        return Err(invalid(py, field, reason));
    };
    let mut options = Options::new(py, "bus.jetstream", Some(dict))?;
    let mut stream = subcast::JetStreamConfig::default();
    if let Some(value) = options.take("stream") {
        stream = stream.stream(text(&value, &options.field("stream"))?);
    }
    if let Some(value) = options.take("max_age") {
        stream = stream.max_age(seconds(&value, &options.field("max_age"))?);
    }
    // `None` lifts the limit; leaving it out keeps the default.
    if let Some(value) = options.take_raw("max_bytes") {
        stream.max_bytes = match value.is_none() {
            true => None,
            false => Some(positive(&value, &options.field("max_bytes"), i64::MAX as u64)?),
        };
    }
    if let Some(value) = options.take_raw("max_messages") {
        stream.max_messages = match value.is_none() {
            true => None,
            false => Some(positive(&value, &options.field("max_messages"), i64::MAX as u64)?),
        };
    }
    options.finish(JETSTREAM_OPTIONS)?;
    Ok(stream)
}

/// `reconnect_min` and `reconnect_max`, the second at least the first.
fn backoff_pair(options: &mut Options<'_>, min: Duration, max: Duration) -> PyResult<(Duration, Duration)> {
    let min = match options.take("reconnect_min") {
        Some(value) => seconds(&value, &options.field("reconnect_min"))?,
        None => min,
    };
    let max = match options.take("reconnect_max") {
        Some(value) => seconds(&value, &options.field("reconnect_max"))?,
        None => max.max(min),
    };
    if max < min {
        let reason = format!("must be at least reconnect_min ({} s)", min.as_secs_f64());
        return Err(invalid(options.py, &options.field("reconnect_max"), reason));
    }
    Ok((min, max))
}

/// `received_capacity` and `stream_capacity`: the bus's bounded buffers, in messages.
fn buffers(options: &mut Options<'_>, received: usize, per_stream: usize) -> PyResult<(usize, usize)> {
    let received = match options.take("received_capacity") {
        Some(value) => positive_usize(&value, &options.field("received_capacity"))?,
        None => received,
    };
    let per_stream = match options.take("stream_capacity") {
        Some(value) => positive_usize(&value, &options.field("stream_capacity"))?,
        None => per_stream,
    };
    Ok((received, per_stream))
}
