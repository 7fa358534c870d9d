//! RBAC field access: every requested field must be allowed for the subscriber's roles.
//!
//! - [`RbacPolicy`]: a field-permission map, field → roles allowed to read it.
//!
//! There is no schema, hence no type names: a key is a field path as given by
//! [`SubscriptionDocument::field_paths`], starting at the root field (`users`,
//! `users.email`, `users.profile.ssn`); the root field plays the part of the type in
//! `Type.field` notation. A key `*.name` matches a field `name` at any depth below the root.
//! Field names are matched, not aliases, and fields under `@skip` / `@include` count as
//! requested. A field matched by several keys needs a role from each of them.
//!
//! Fields without a key are open unless [`RbacPolicy::deny_unlisted`] is set. Roles are
//! part of the cohort key, so the decision is taken once per cohort at subscribe and a
//! denied field rejects the subscription (with an `error` frame naming the field, see
//! [`Error::to_error_frame`](crate::Error::to_error_frame)).

use std::collections::{BTreeMap, BTreeSet};

use crate::document::SubscriptionDocument;
use crate::error::{Error, Result};
use crate::security::SecurityContext;

/// The field-permission map, checked once per subscribe.
///
/// # Examples
///
/// ```
/// use subcast_core::{DocumentLimits, RbacPolicy, SecurityContext, SubscriptionDocument};
///
/// let policy = RbacPolicy::default().allow("users.email", ["admin", "support"]).allow("*.ssn", ["admin"]);
/// let doc = SubscriptionDocument::parse(
///     "subscription { users { id email } }",
///     None,
///     &DocumentLimits::default(),
/// )
/// .unwrap();
/// assert!(policy.check(Some(&SecurityContext::new("a").with_roles(["support"])), &doc).is_ok());
/// let err = policy.check(Some(&SecurityContext::new("b").with_roles(["viewer"])), &doc).unwrap_err();
/// assert!(err.to_string().contains("users.email"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RbacPolicy {
    rules: BTreeMap<String, BTreeSet<String>>,
    deny_unlisted: bool,
}

impl RbacPolicy {
    /// Allow `roles` to read `field` (a path like `users.email`, or `*.email`).
    ///
    /// Once a field has a key, only the roles given for it may read it; calling `allow`
    /// again for the same key adds roles.
    pub fn allow<I, S>(mut self, field: impl Into<String>, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rules
            .entry(field.into())
            .or_default()
            .extend(roles.into_iter().map(Into::into));
        self
    }

    /// Refuse fields that no key matches (default: they are open).
    pub fn deny_unlisted(mut self, deny: bool) -> Self {
        self.deny_unlisted = deny;
        self
    }

    /// Whether the map restricts anything at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && !self.deny_unlisted
    }

    /// Whether a subscriber with `roles` may read the field at `path`.
    pub fn allows(&self, path: &str, roles: &BTreeSet<String>) -> bool {
        let name = path.rsplit_once('.').map(|(_, name)| name);
        let mut matched = false;
        let exact = self.rules.get(path);
        let wildcard = name.and_then(|name| self.rules.get(&format!("*.{name}")));
        for allowed in [exact, wildcard].into_iter().flatten() {
            matched = true;
            if allowed.is_disjoint(roles) {
                return false;
            }
        }
        matched || !self.deny_unlisted
    }

    /// Check every field `document` requests against `context`'s roles.
    ///
    /// Fails with [`Error::FieldForbidden`] naming the first field refused.
    pub fn check(&self, context: Option<&SecurityContext>, document: &SubscriptionDocument) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let no_roles = BTreeSet::new();
        let roles = context.map_or(&no_roles, SecurityContext::roles);
        match document
            .field_paths()
            .into_iter()
            .find(|path| !self.allows(path, roles))
        {
            Some(field) => Err(Error::FieldForbidden { field }),
            None => Ok(()),
        }
    }
}
