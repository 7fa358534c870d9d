//! Scope validation at subscribe: a subscriber may only ask for its own data.
//!
//! - [`ScopePolicy`]: which variables and root arguments name the user or the tenant
//!   (default `user_id` / `userId` and `tenant_id` / `tenantId`), and which OAuth-style
//!   scopes each root field requires.
//!
//! A variable or root argument naming the user (or tenant) must equal the authenticated
//! context's; a `null` value names nobody and passes. Anonymous subscribers name nobody:
//! any non-null identity variable, or any required scope, rejects them.
//!
//! Scopes required for a root field are required for the channel of the same name too:
//! a subscription needs the scopes of its root field and of every channel it listens on
//! ([`SubscriptionRequest::channels`](crate::SubscriptionRequest::channels)), so
//! `anything { salary }` on channel `payroll` needs `payroll`'s scopes.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::document::SubscriptionDocument;
use crate::error::{Error, Result};
use crate::security::{identity_matches, SecurityContext, SubscriptionAccess};

/// Variable names that carry the user id when none are configured.
pub const DEFAULT_USER_VARIABLES: [&str; 2] = ["user_id", "userId"];
/// Variable names that carry the tenant id when none are configured.
pub const DEFAULT_TENANT_VARIABLES: [&str; 2] = ["tenant_id", "tenantId"];

/// Scope validation, checked once per subscribe.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use subcast_core::{DocumentLimits, ScopePolicy, SecurityContext, SubscriptionDocument};
///
/// let policy = ScopePolicy::default().require_scopes("orders", ["orders:read"]);
/// let doc = SubscriptionDocument::parse(
///     "subscription ($user_id: ID) { orders(user_id: $user_id) { id } }",
///     None,
///     &DocumentLimits::default(),
/// )
/// .unwrap();
/// let alice = SecurityContext::new("alice").with_scopes(["orders:read"]);
/// let own = doc.effective_variables(&json!({"user_id": "alice"})).unwrap();
/// let other = doc.effective_variables(&json!({"user_id": "bob"})).unwrap();
/// assert!(policy.check(Some(&alice), &doc, &own).is_ok());
/// assert!(policy.check(Some(&alice), &doc, &other).is_err());
/// assert!(policy.check(Some(&SecurityContext::new("alice")), &doc, &own).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopePolicy {
    user_variables: Vec<String>,
    tenant_variables: Vec<String>,
    required: BTreeMap<String, Vec<String>>,
}

impl Default for ScopePolicy {
    fn default() -> Self {
        ScopePolicy {
            user_variables: DEFAULT_USER_VARIABLES.map(String::from).to_vec(),
            tenant_variables: DEFAULT_TENANT_VARIABLES.map(String::from).to_vec(),
            required: BTreeMap::new(),
        }
    }
}

impl ScopePolicy {
    /// Check nothing: no identity variables, no required scopes.
    pub fn disabled() -> Self {
        ScopePolicy {
            user_variables: Vec::new(),
            tenant_variables: Vec::new(),
            required: BTreeMap::new(),
        }
    }

    /// Name the variables (and root arguments) that carry a user id.
    pub fn user_variables<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.user_variables = names.into_iter().map(Into::into).collect();
        self
    }

    /// Name the variables (and root arguments) that carry a tenant id.
    pub fn tenant_variables<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tenant_variables = names.into_iter().map(Into::into).collect();
        self
    }

    /// Require every scope in `scopes` to subscribe to `root_field`, or to listen on the
    /// channel of that name.
    pub fn require_scopes<I, S>(mut self, root_field: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required
            .entry(root_field.into())
            .or_default()
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The scopes required for `root_field` (and for the channel of that name).
    pub fn required_scopes(&self, root_field: &str) -> &[String] {
        self.required.get(root_field).map_or(&[], Vec::as_slice)
    }

    /// Check a subscription to `document` with `variables` (defaults applied) by `context`,
    /// listening on its root field's channel.
    ///
    /// Fails with [`Error::IdentityMismatch`] or [`Error::ScopeMissing`]. A subscription
    /// with explicit channels is checked with [`ScopePolicy::check_access`].
    pub fn check(
        &self,
        context: Option<&SecurityContext>,
        document: &SubscriptionDocument,
        variables: &Map<String, Value>,
    ) -> Result<()> {
        self.check_access(context, &SubscriptionAccess::new(document, variables))
    }

    /// Check the identity variables of `access`, then the scopes required by its root
    /// field and by every channel it listens on.
    ///
    /// Fails with [`Error::IdentityMismatch`] or [`Error::ScopeMissing`] (naming the root
    /// field or channel that requires the scope).
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::Map;
    /// use subcast_core::{DocumentLimits, ScopePolicy, SecurityContext, SubscriptionAccess, SubscriptionDocument};
    ///
    /// let policy = ScopePolicy::default().require_scopes("payroll", ["payroll:read"]);
    /// let doc = SubscriptionDocument::parse("subscription { anything { salary } }", None, &DocumentLimits::default())
    ///     .unwrap();
    /// let variables = Map::new();
    /// let on_payroll = SubscriptionAccess::new(&doc, &variables).channels(["payroll"]);
    /// assert!(policy.check_access(Some(&SecurityContext::new("eve")), &on_payroll).is_err());
    /// let clerk = SecurityContext::new("clerk").with_scopes(["payroll:read"]);
    /// assert!(policy.check_access(Some(&clerk), &on_payroll).is_ok());
    /// ```
    pub fn check_access(
        &self,
        context: Option<&SecurityContext>,
        access: &SubscriptionAccess<'_>,
    ) -> Result<()> {
        let (document, variables) = (access.document(), access.variables());
        let user = context.map(SecurityContext::user_id);
        let tenant = context.and_then(SecurityContext::tenant_id);
        self.check_identity(&self.user_variables, "user id", user, document, variables)?;
        self.check_identity(&self.tenant_variables, "tenant id", tenant, document, variables)?;
        if self.required.is_empty() {
            return Ok(());
        }
        for name in access.names() {
            for scope in self.required_scopes(name) {
                if !context.is_some_and(|c| c.has_scope(scope)) {
                    return Err(Error::ScopeMissing {
                        root_field: name.to_owned(),
                        scope: scope.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    fn check_identity(
        &self,
        names: &[String],
        identity: &'static str,
        expected: Option<&str>,
        document: &SubscriptionDocument,
        variables: &Map<String, Value>,
    ) -> Result<()> {
        let mismatch = |name: &str| Error::IdentityMismatch {
            name: name.to_owned(),
            identity,
        };
        let admits =
            |value: &Value| value.is_null() || expected.is_some_and(|id| identity_matches(value, id));
        for name in names {
            if let Some(value) = variables.get(name.as_str()) {
                if !admits(value) {
                    return Err(mismatch(name));
                }
            }
        }
        for (name, argument) in document.root_arguments() {
            if names.iter().any(|n| n == name) && !admits(&argument.resolve(variables)) {
                return Err(mismatch(name));
            }
        }
        Ok(())
    }
}
