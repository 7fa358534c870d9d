//! The policies and limits an executor enforces: [`SecurityPolicies`], [`RateLimits`],
//! [`DocumentLimits`].

use pyo3::prelude::*;
use subcast_core::{BucketConfig, FederationPolicy, RbacPolicy, RowPolicy, ScopePolicy, TenantPolicy};

use super::{flag, invalid, positive, positive_number, positive_usize, text, text_lists, texts, Options};

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

options_class!(
    SecurityPolicies {
        policies: subcast_core::SecurityPolicies
    },
    "security",
    {
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
);

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

options_class!(
    RateLimits {
        limits: subcast_core::RateLimits
    },
    "rate_limits"
);

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
}

options_class!(
    DocumentLimits {
        limits: subcast_core::DocumentLimits
    },
    "document_limits"
);
