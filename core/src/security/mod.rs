//! Security: who may subscribe to what, and which events reach whom. Fail-closed.
//!
//! - [`SecurityContext`]: the authenticated subscriber, given at registration.
//! - [`SecurityPolicies`]: the five policies an executor enforces, one file each:
//!   [`TenantPolicy`] (`tenant.rs`), [`RowPolicy`] (`row.rs`), [`ScopePolicy`] (`scope.rs`),
//!   [`RbacPolicy`] (`rbac.rs`), [`FederationPolicy`] (`federation.rs`).
//! - [`EventFilter`] (`filter/`): the per-subscription conditions on the event data.
//! - [`SecurityAwareEventFilter`]: the per-event policies and the event filter combined,
//!   cheapest first.
//! - [`Policy`]: the name of each policy, for errors, drop reasons and metrics.
//! - `identity.rs`: how owner and federation ids are read from event data.
//!
//! - [`SubscriptionAccess`] (`access.rs`): what a subscription reads and listens to, as
//!   scope validation and RBAC see it at subscribe.
//!
//! Scope and RBAC are checked once, at subscribe, on everything the subscription reads or
//! listens to: its selection, its event filter's paths, the owner and federation paths,
//! each re-rooted at every channel it listens on (see `access.rs`). Tenant, federation and
//! the event filter are checked once per event and cohort: their inputs are part of the
//! cohort key. The row filter reads the event's owner once per event and compares it with
//! each member's user id. Every doubt (a missing filter field, a type mismatch, an owner or
//! federation that cannot be read unambiguously) is a refusal, never a delivery.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::event::Event;

pub mod access;
pub mod federation;
pub mod filter;
mod identity;
pub mod rbac;
pub mod row;
pub mod scope;
pub mod tenant;

pub use access::SubscriptionAccess;
pub use federation::{EventFederation, FederationPolicy};
pub use filter::{Condition, EventFilter, FilterError, FilterErrorKind, FilterOp};
pub(crate) use identity::{identity_matches, read_event_identity, Identity};
pub use rbac::RbacPolicy;
pub use row::{EventOwner, RowPolicy};
pub use scope::ScopePolicy;
pub use tenant::TenantPolicy;

/// Longest user, tenant, federation id, role or scope accepted, in bytes.
pub const MAX_IDENTITY_LEN: usize = 256;
/// Most roles, and most scopes, one context may hold.
pub const MAX_GRANTS: usize = 256;

/// One security policy (or the authentication that precedes them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// A security context is present and well-formed.
    Authentication,
    /// Tenant isolation.
    Tenant,
    /// The row filter on the event's owner.
    Row,
    /// Scope validation at subscribe.
    Scope,
    /// RBAC field access at subscribe.
    Rbac,
    /// Federation scoping.
    Federation,
    /// The subscription's own event filter.
    Filter,
}

impl Policy {
    /// Every policy, in a fixed order.
    pub const ALL: [Policy; 7] = [
        Policy::Authentication,
        Policy::Tenant,
        Policy::Row,
        Policy::Scope,
        Policy::Rbac,
        Policy::Federation,
        Policy::Filter,
    ];

    /// A stable snake_case name, for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Authentication => "authentication",
            Policy::Tenant => "tenant",
            Policy::Row => "row",
            Policy::Scope => "scope",
            Policy::Rbac => "rbac",
            Policy::Federation => "federation",
            Policy::Filter => "filter",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated subscriber: user, tenant, roles, scopes, federation and claims.
///
/// Built by the application from its authentication (a JWT, a session) and given at
/// registration with [`SubscriptionRequest::security_context`](crate::SubscriptionRequest::security_context).
/// Ids must be 1 to [`MAX_IDENTITY_LEN`] bytes; [`SecurityContext::validate`] checks it.
///
/// # Examples
///
/// ```
/// use subcast_core::SecurityContext;
///
/// let context = SecurityContext::new("alice")
///     .with_tenant("acme")
///     .with_roles(["support"])
///     .with_scopes(["orders:read"])
///     .with_federation("eu")
///     .with_claim("plan", "pro");
/// assert!(context.validate().is_ok());
/// assert!(context.has_role("support") && context.has_scope("orders:read"));
/// assert_eq!(context.tenant_id(), Some("acme"));
/// assert!(SecurityContext::new("").validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityContext {
    user_id: Arc<str>,
    tenant_id: Option<Arc<str>>,
    roles: BTreeSet<String>,
    scopes: BTreeSet<String>,
    federation_id: Option<Arc<str>>,
    claims: Map<String, Value>,
}

impl SecurityContext {
    /// The context of `user_id`, without tenant, roles, scopes or federation.
    pub fn new(user_id: impl Into<String>) -> Self {
        SecurityContext {
            user_id: user_id.into().into(),
            tenant_id: None,
            roles: BTreeSet::new(),
            scopes: BTreeSet::new(),
            federation_id: None,
            claims: Map::new(),
        }
    }

    /// Scope the subscriber to `tenant_id`.
    pub fn with_tenant(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into().into());
        self
    }

    /// Make the subscriber part of federation `federation_id`.
    pub fn with_federation(mut self, federation_id: impl Into<String>) -> Self {
        self.federation_id = Some(federation_id.into().into());
        self
    }

    /// Add roles.
    pub fn with_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles.extend(roles.into_iter().map(Into::into));
        self
    }

    /// Add scopes.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Attach a free-form claim; policies do not read claims, resolvers and hooks may.
    pub fn with_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// The user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The tenant, if the subscriber is tenant-scoped.
    pub fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }

    /// The federation, if any.
    pub fn federation_id(&self) -> Option<&str> {
        self.federation_id.as_deref()
    }

    /// The roles, sorted.
    pub fn roles(&self) -> &BTreeSet<String> {
        &self.roles
    }

    /// The scopes, sorted.
    pub fn scopes(&self) -> &BTreeSet<String> {
        &self.scopes
    }

    /// The free-form claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Whether the subscriber holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains(role)
    }

    /// Whether the subscriber holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// Check every id: not empty, at most [`MAX_IDENTITY_LEN`] bytes; at most
    /// [`MAX_GRANTS`] roles and scopes. Fails with [`Error::InvalidId`].
    pub fn validate(&self) -> Result<()> {
        check_identity("user id", &self.user_id)?;
        if let Some(tenant) = &self.tenant_id {
            check_identity("tenant id", tenant)?;
        }
        if let Some(federation) = &self.federation_id {
            check_identity("federation id", federation)?;
        }
        for (what, grants) in [("role", &self.roles), ("scope", &self.scopes)] {
            if grants.len() > MAX_GRANTS {
                return Err(Error::InvalidId {
                    what,
                    reason: format!("{} given, over the limit of {MAX_GRANTS}", grants.len()),
                });
            }
            for grant in grants {
                check_identity(what, grant)?;
            }
        }
        Ok(())
    }

    pub(crate) fn user_arc(&self) -> &Arc<str> {
        &self.user_id
    }

    pub(crate) fn tenant_arc(&self) -> Option<&Arc<str>> {
        self.tenant_id.as_ref()
    }

    pub(crate) fn federation_arc(&self) -> Option<&Arc<str>> {
        self.federation_id.as_ref()
    }
}

fn check_identity(what: &'static str, id: &str) -> Result<()> {
    let reason = if id.is_empty() {
        "empty".to_owned()
    } else if id.len() > MAX_IDENTITY_LEN {
        format!("{} bytes, over the limit of {MAX_IDENTITY_LEN}", id.len())
    } else {
        return Ok(());
    };
    Err(Error::InvalidId { what, reason })
}

/// The policies an executor enforces; all on by default, fail-closed.
///
/// # Examples
///
/// ```
/// use subcast_core::{ExecutorConfig, RbacPolicy, RowPolicy, ScopePolicy, SecurityPolicies};
///
/// let policies = SecurityPolicies::default()
///     .row(RowPolicy::owner_path("owner.id").unwrap())
///     .scope(ScopePolicy::default().require_scopes("orders", ["orders:read"]))
///     .rbac(RbacPolicy::default().allow("orders.total", ["finance"]));
/// let config = ExecutorConfig::default().security(policies);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SecurityPolicies {
    /// Tenant isolation (every event).
    pub tenant: TenantPolicy,
    /// Row filter on the event's owner (every event).
    pub row: RowPolicy,
    /// Identity variables and required scopes (subscribe).
    pub scope: ScopePolicy,
    /// Field-level RBAC (subscribe).
    pub rbac: RbacPolicy,
    /// Federation scoping (every event).
    pub federation: FederationPolicy,
}

impl SecurityPolicies {
    /// Every policy switched off: for trusted single-tenant deployments and baselines.
    pub fn disabled() -> Self {
        SecurityPolicies {
            tenant: TenantPolicy::disabled(),
            row: RowPolicy::disabled(),
            scope: ScopePolicy::disabled(),
            rbac: RbacPolicy::default(),
            federation: FederationPolicy::disabled(),
        }
    }

    /// Set tenant isolation.
    pub fn tenant(mut self, policy: TenantPolicy) -> Self {
        self.tenant = policy;
        self
    }

    /// Set the row filter.
    pub fn row(mut self, policy: RowPolicy) -> Self {
        self.row = policy;
        self
    }

    /// Set scope validation.
    pub fn scope(mut self, policy: ScopePolicy) -> Self {
        self.scope = policy;
        self
    }

    /// Set field-level RBAC.
    pub fn rbac(mut self, policy: RbacPolicy) -> Self {
        self.rbac = policy;
        self
    }

    /// Set federation scoping.
    pub fn federation(mut self, policy: FederationPolicy) -> Self {
        self.federation = policy;
        self
    }

    /// Check a subscription at subscribe: scope validation, then RBAC field access.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::Map;
    /// use subcast_core::{
    ///     DocumentLimits, Error, RbacPolicy, SecurityContext, SecurityPolicies, SubscriptionAccess,
    ///     SubscriptionDocument,
    /// };
    ///
    /// let policies = SecurityPolicies::default().rbac(RbacPolicy::default().allow("*.user_id", ["admin"]));
    /// let doc = SubscriptionDocument::parse("subscription { orders { id } }", None, &DocumentLimits::default())
    ///     .unwrap();
    /// let variables = Map::new();
    /// let access = SubscriptionAccess::new(&doc, &variables);
    /// // The row policy reads `orders.user_id` for every event: a role that may not read it
    /// // may not subscribe.
    /// let err = policies.authorize(Some(&SecurityContext::new("v")), &access).unwrap_err();
    /// assert!(matches!(err, Error::FieldForbidden { field } if field == "orders.user_id"));
    /// ```
    pub fn authorize(
        &self,
        context: Option<&SecurityContext>,
        access: &SubscriptionAccess<'_>,
    ) -> Result<()> {
        self.check_scope(context, access)?;
        self.check_rbac(context, access)
    }

    /// Scope validation: identity variables, and the scopes required by the root field and
    /// by every channel.
    pub fn check_scope(
        &self,
        context: Option<&SecurityContext>,
        access: &SubscriptionAccess<'_>,
    ) -> Result<()> {
        self.scope.check_access(context, access)
    }

    /// RBAC field access on every path the subscription reads, including the owner and
    /// federation paths the per-event policies read for it.
    pub fn check_rbac(
        &self,
        context: Option<&SecurityContext>,
        access: &SubscriptionAccess<'_>,
    ) -> Result<()> {
        if self.rbac.is_empty() {
            return Ok(());
        }
        let mut access = access.clone();
        for path in [self.row.path(), self.federation.path()].into_iter().flatten() {
            access = access.reads(path);
        }
        self.rbac.check_access(context, &access)
    }

    /// The per-event part of the policies, combined.
    pub fn event_filter(&self) -> SecurityAwareEventFilter {
        SecurityAwareEventFilter {
            tenant: self.tenant.clone(),
            row: self.row.clone(),
            federation: self.federation.clone(),
        }
    }
}

/// What the per-event policies read from one event, once per event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSecurity {
    /// The event's owner, for the row filter.
    pub owner: EventOwner,
    /// The event's federation.
    pub federation: EventFederation,
}

/// Tenant isolation, federation, the event filter and the row filter, cheapest first.
///
/// The executor splits the work: [`inspect`](Self::inspect) once per event,
/// [`admits_class`](Self::admits_class) once per cohort (tenant, federation and filter are
/// shared by every member), [`admits_member`](Self::admits_member) per subscriber (a user
/// id comparison). [`admits`](Self::admits) runs all of them for one subscriber.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use subcast_core::{Event, EventFilter, Policy, SecurityContext, SecurityPolicies};
///
/// let filter = SecurityPolicies::default().event_filter();
/// let alice = SecurityContext::new("alice").with_tenant("acme");
/// let event = Event::new("orderPaid", "orders", json!({"user_id": "alice", "total": 5})).with_tenant("acme");
/// assert_eq!(filter.admits(&event, Some(&alice), None), Ok(()));
///
/// let big = EventFilter::new().gt("total", 100);
/// assert_eq!(filter.admits(&event, Some(&alice), Some(&big)), Err(Policy::Filter));
/// let bob = SecurityContext::new("bob").with_tenant("acme");
/// assert_eq!(filter.admits(&event, Some(&bob), None), Err(Policy::Row));
/// let other = SecurityContext::new("alice").with_tenant("globex");
/// assert_eq!(filter.admits(&event, Some(&other), None), Err(Policy::Tenant));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityAwareEventFilter {
    tenant: TenantPolicy,
    row: RowPolicy,
    federation: FederationPolicy,
}

impl SecurityAwareEventFilter {
    /// Combine the per-event policies.
    pub fn new(tenant: TenantPolicy, row: RowPolicy, federation: FederationPolicy) -> Self {
        SecurityAwareEventFilter {
            tenant,
            row,
            federation,
        }
    }

    /// Read the event's owner and federation.
    pub fn inspect(&self, event: &Event) -> EventSecurity {
        EventSecurity {
            owner: self.row.owner(event),
            federation: self.federation.federation(event),
        }
    }

    /// The checks shared by a cohort: tenant, federation, then the event filter.
    #[inline]
    pub fn admits_class(
        &self,
        event: &Event,
        security: &EventSecurity,
        tenant: Option<&str>,
        federation: Option<&str>,
        filter: Option<&EventFilter>,
    ) -> Result<(), Policy> {
        if !self.tenant.admits(event.tenant_id.as_deref(), tenant) {
            return Err(Policy::Tenant);
        }
        if !self.federation.admits(&security.federation, federation) {
            return Err(Policy::Federation);
        }
        if filter.is_some_and(|f| !f.matches(&event.data)) {
            return Err(Policy::Filter);
        }
        Ok(())
    }

    /// The check made per subscriber: the row filter. An unreadable owner refuses every
    /// subscriber (the executor counts it as
    /// [`DropReason::UnreadableOwner`](crate::DropReason::UnreadableOwner)).
    #[inline]
    pub fn admits_member(&self, security: &EventSecurity, user: Option<&str>) -> Result<(), Policy> {
        if self.row.admits(&security.owner, user) {
            Ok(())
        } else {
            Err(Policy::Row)
        }
    }

    /// Every per-event check for one subscriber (`None`: anonymous), in executor order.
    pub fn admits(
        &self,
        event: &Event,
        context: Option<&SecurityContext>,
        filter: Option<&EventFilter>,
    ) -> Result<(), Policy> {
        let security = self.inspect(event);
        self.admits_class(
            event,
            &security,
            context.and_then(SecurityContext::tenant_id),
            context.and_then(SecurityContext::federation_id),
            filter,
        )?;
        self.admits_member(&security, context.map(SecurityContext::user_id))
    }
}
