//! Tenant isolation: an event of one tenant never reaches another tenant's subscriber.
//!
//! - [`TenantPolicy`]: the rule, checked once per event and cohort (the tenant is part of
//!   the cohort key, so every member of a cohort has the same tenant).
//!
//! The rule is strict equality of `Option`s: a tenant-scoped subscriber gets only events of
//! its own tenant, and an event without a tenant never reaches it; a subscriber without a
//! tenant gets only events without a tenant.

/// Tenant isolation, enforced unless explicitly disabled.
///
/// # Examples
///
/// ```
/// use subcast_core::TenantPolicy;
///
/// let policy = TenantPolicy::default();
/// assert!(policy.admits(Some("acme"), Some("acme")));
/// assert!(!policy.admits(None, Some("acme")));
/// assert!(!policy.admits(Some("acme"), None));
/// assert!(!policy.admits(Some("globex"), Some("acme")));
/// assert!(TenantPolicy::disabled().admits(Some("globex"), Some("acme")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPolicy {
    enforced: bool,
}

impl Default for TenantPolicy {
    fn default() -> Self {
        TenantPolicy { enforced: true }
    }
}

impl TenantPolicy {
    /// Enforce tenant isolation (the default).
    pub fn enforced() -> Self {
        TenantPolicy::default()
    }

    /// Deliver events across tenants: only for single-tenant deployments.
    pub fn disabled() -> Self {
        TenantPolicy { enforced: false }
    }

    /// Whether the policy is enforced.
    pub fn is_enforced(&self) -> bool {
        self.enforced
    }

    /// Whether an event of `event_tenant` may reach a subscriber of `subscriber_tenant`.
    #[inline]
    pub fn admits(&self, event_tenant: Option<&str>, subscriber_tenant: Option<&str>) -> bool {
        !self.enforced || event_tenant == subscriber_tenant
    }
}
