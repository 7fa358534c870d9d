//! RBAC field access: every field a subscription reads must be allowed for its roles.
//!
//! - [`RbacPolicy`]: a field-permission map, field → roles allowed to read it.
//!
//! There is no schema, hence no type names: a key is a field path as given by
//! [`SubscriptionDocument::field_paths`], starting at the root field (`users`,
//! `users.email`, `users.profile.ssn`); the root field plays the part of the type in
//! `Type.field` notation. A key `*.name` matches a field `name` at any depth below the root.
//! Field names are matched, not aliases, and fields under `@skip` / `@include` count as
//! requested. A field matched by several keys needs a role from each of them; a key
//! given an empty role list closes the field to everyone.
//!
//! What a subscription reads is more than its selection (see
//! [`SubscriptionAccess`]): the paths its event filter tests,
//! the owner and federation paths the per-event policies read (each with every prefix),
//! and all of these re-rooted at every channel it listens on, since a key `payroll.salary`
//! protects the channel `payroll` whatever the subscription's root field is called. Under
//! [`RbacPolicy::deny_unlisted`], the owner and federation paths must be listed too
//! (`allow("*.user_id", …)`), as must the root of every channel listened on.
//!
//! With a [`Schema`] on the executor, a key can also name a schema coordinate,
//! `Type.field` (`Order.total`): it protects that field wherever a subscription selects
//! it, under any root field, alias or fragment. A key whose first segment is a type of
//! the schema is a coordinate, and must name a field of that type
//! ([`RbacPolicy::validate_coordinates`]; [`SubscriptionExecutor::try_new`] refuses the
//! policy otherwise); other keys are paths. Coordinates restrict only: under
//! `deny_unlisted`, the paths read must still be listed.
//!
//! [`SubscriptionExecutor::try_new`]: crate::SubscriptionExecutor::try_new
//!
//! Fields without a key are open unless [`RbacPolicy::deny_unlisted`] is set. Roles, the
//! document, the channels and the event filter are part of the cohort key, so the decision
//! is taken once per cohort at subscribe and a refused path rejects the subscription (with
//! an `error` frame naming it, see [`Error::to_error_frame`](crate::Error::to_error_frame)).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use crate::document::SubscriptionDocument;
use crate::error::{Error, Result};
use crate::schema::Schema;
use crate::security::{SecurityContext, SubscriptionAccess};

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

    /// Check every field `document` selects against `context`'s roles, for a subscription
    /// listening on its root field without event filter.
    ///
    /// Fails with [`Error::FieldForbidden`] naming the first field refused. A subscription
    /// with channels or a filter is checked with [`RbacPolicy::check_access`].
    pub fn check(&self, context: Option<&SecurityContext>, document: &SubscriptionDocument) -> Result<()> {
        let variables = serde_json::Map::new();
        self.check_access(context, &SubscriptionAccess::new(document, &variables))
    }

    /// Check every field `access` reads, re-rooted at its root field and at each channel,
    /// against `context`'s roles.
    ///
    /// Fails with [`Error::FieldForbidden`] naming the first path refused (`payroll.salary`
    /// for a subscription selecting `salary` on channel `payroll`).
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::Map;
    /// use subcast_core::{
    ///     DocumentLimits, EventFilter, RbacPolicy, SecurityContext, SubscriptionAccess, SubscriptionDocument,
    /// };
    ///
    /// let policy = RbacPolicy::default().allow("users.ssn", ["admin"]);
    /// let doc = SubscriptionDocument::parse("subscription { users { id } }", None, &DocumentLimits::default())
    ///     .unwrap();
    /// let (variables, viewer) = (Map::new(), SecurityContext::new("v").with_roles(["viewer"]));
    /// // Filtering on a field is reading it.
    /// let oracle = EventFilter::new().gte("ssn", "5");
    /// let access = SubscriptionAccess::new(&doc, &variables).filter(&oracle);
    /// let err = policy.check_access(Some(&viewer), &access).unwrap_err();
    /// assert!(err.to_string().contains("users.ssn"));
    ///
    /// // A rule on a root field protects the channel of that name.
    /// let doc = SubscriptionDocument::parse("subscription { anything { ssn } }", None, &DocumentLimits::default())
    ///     .unwrap();
    /// let access = SubscriptionAccess::new(&doc, &variables).channels(["users"]);
    /// assert!(policy.check_access(Some(&viewer), &access).is_err());
    /// ```
    pub fn check_access(
        &self,
        context: Option<&SecurityContext>,
        access: &SubscriptionAccess<'_>,
    ) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let no_roles = BTreeSet::new();
        let roles = context.map_or(&no_roles, SecurityContext::roles);
        let fields = access.field_paths();
        let root = access.document().root_field();
        if let Some(field) = fields.iter().find(|path| !self.allows(path, roles)) {
            return Err(Error::FieldForbidden { field: field.clone() });
        }
        let mut rerooted = String::new();
        for name in access.names().into_iter().filter(|name| *name != root) {
            // A wildcard answers the same for every root (it matches the last segment),
            // and was asked above: only exact keys under `name`, or their absence under
            // `deny_unlisted`, can answer differently. This keeps a subscription with many
            // channels from costing channels × fields lookups.
            if !self.has_keys_under(name) {
                if self.deny_unlisted {
                    return Err(Error::FieldForbidden {
                        field: name.to_owned(),
                    });
                }
                continue;
            }
            for field in &fields {
                rerooted.clear();
                rerooted.push_str(name);
                match field.strip_prefix(root) {
                    Some(below) => rerooted.push_str(below),
                    None => {
                        rerooted.push('.');
                        rerooted.push_str(field);
                    }
                }
                if !self.allows(&rerooted, roles) {
                    return Err(Error::FieldForbidden { field: rerooted });
                }
            }
        }
        Ok(())
    }

    /// Check that every key naming a coordinate of `schema` (its first segment is a type
    /// of the schema) names an existing field: `Order.totl` is refused with
    /// [`Error::InvalidConfig`] rather than protecting nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{RbacPolicy, Schema};
    ///
    /// let schema = Schema::parse("type Query { a: Int } type Order { total: Float } type Subscription { orders: Order }")?;
    /// assert!(RbacPolicy::default().allow("Order.total", ["finance"]).validate_coordinates(&schema).is_ok());
    /// assert!(RbacPolicy::default().allow("orders.totl", ["finance"]).validate_coordinates(&schema).is_ok());
    /// let typo = RbacPolicy::default().allow("Order.totl", ["finance"]).validate_coordinates(&schema);
    /// assert!(typo.unwrap_err().to_string().contains("Order.totl"));
    /// # Ok::<(), subcast_core::SchemaError>(())
    /// ```
    pub fn validate_coordinates(&self, schema: &Schema) -> Result<()> {
        for key in self.rules.keys() {
            let first = key.split('.').next().unwrap_or_default();
            if !schema.has_type(first) {
                continue;
            }
            if key.matches('.').count() != 1 || !schema.has_coordinate(key) {
                return Err(Error::InvalidConfig {
                    setting: "security.rbac",
                    reason: format!("{key:?} names type {first} but no field of it in the schema"),
                });
            }
        }
        Ok(())
    }

    /// Check the schema coordinates a subscription reads (`Order.total`, from
    /// [`Schema`] validation) against `context`'s roles: a coordinate with a key needs
    /// one of its roles. Fails with [`Error::FieldForbidden`] naming the coordinate.
    pub(crate) fn check_coordinates(
        &self,
        context: Option<&SecurityContext>,
        coordinates: &[String],
    ) -> Result<()> {
        if self.rules.is_empty() {
            return Ok(());
        }
        let no_roles = BTreeSet::new();
        let roles = context.map_or(&no_roles, SecurityContext::roles);
        for coordinate in coordinates {
            if self
                .rules
                .get(coordinate)
                .is_some_and(|allowed| allowed.is_disjoint(roles))
            {
                return Err(Error::FieldForbidden {
                    field: coordinate.clone(),
                });
            }
        }
        Ok(())
    }

    /// Whether a key names `name` itself or a field below it.
    fn has_keys_under(&self, name: &str) -> bool {
        if self.rules.contains_key(name) {
            return true;
        }
        let prefix = format!("{name}.");
        self.rules
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .next()
            .is_some_and(|(key, _)| key.starts_with(&prefix))
    }
}
