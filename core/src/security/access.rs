//! What a subscription reads and listens to, as the subscribe-time policies see it.
//!
//! - [`SubscriptionAccess`]: one subscription's document, variables, channels and event
//!   filter, and the paths the per-event policies read from every event it gets.
//!
//! A subscription reads more than it selects. Every event it receives has passed its
//! event filter and the row and federation policies, so a subscriber learns something
//! about each path these read: a filter `ssn gte "5"` tells, event by event, whether the
//! SSN is at least 5. Field-level RBAC therefore checks every path the subscription
//! *reads* ([`SubscriptionAccess::field_paths`]):
//!
//! - each selected field (`users.email`);
//! - each path of its event filter and each path a per-event policy reads (the row
//!   policy's owner path, the federation path), rooted at the root field, with every
//!   prefix: a filter on `profile.ssn` under `users` reads `users.profile` and
//!   `users.profile.ssn`. A segment made of digits indexes a list and names no field, so
//!   `items.0.sku` reads `users.items` and `users.items.sku`.
//!
//! Rules keyed on a root field protect the channel of the same name too, since a
//! subscription may listen on explicit channels whatever its root field is called:
//! [`SubscriptionAccess::names`] are the root field and every channel, and each field path
//! is checked re-rooted at each of them (`anything { salary }` on channel `payroll` reads
//! `anything.salary` and `payroll.salary`).

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::document::SubscriptionDocument;
use crate::security::EventFilter;

/// One subscription as scope validation and RBAC see it at subscribe.
///
/// # Examples
///
/// ```
/// use serde_json::Map;
/// use subcast_core::{DocumentLimits, EventFilter, SubscriptionAccess, SubscriptionDocument};
///
/// let doc = SubscriptionDocument::parse("subscription { users { id } }", None, &DocumentLimits::default())
///     .unwrap();
/// let filter = EventFilter::new().gte("profile.ssn", "5");
/// let variables = Map::new();
/// let access = SubscriptionAccess::new(&doc, &variables).channels(["people"]).filter(&filter);
/// assert_eq!(access.names(), ["users", "people"]);
/// assert_eq!(access.field_paths(), ["users", "users.id", "users.profile", "users.profile.ssn"]);
/// ```
#[derive(Debug, Clone)]
pub struct SubscriptionAccess<'a> {
    document: &'a SubscriptionDocument,
    variables: &'a Map<String, Value>,
    channels: Vec<&'a str>,
    data_paths: Vec<&'a str>,
}

impl<'a> SubscriptionAccess<'a> {
    /// A subscription to `document` with `variables` (defaults applied), listening on its
    /// root field's channel, without event filter.
    pub fn new(document: &'a SubscriptionDocument, variables: &'a Map<String, Value>) -> Self {
        SubscriptionAccess {
            document,
            variables,
            channels: Vec::new(),
            data_paths: Vec::new(),
        }
    }

    /// Add channels the subscription listens on.
    pub fn channels<I>(mut self, channels: I) -> Self
    where
        I: IntoIterator<Item = &'a str>,
    {
        self.channels.extend(channels);
        self
    }

    /// Add the paths `filter` reads from the event data.
    pub fn filter(mut self, filter: &'a EventFilter) -> Self {
        self.data_paths
            .extend(filter.conditions().iter().map(|condition| condition.path()));
        self
    }

    /// Add a dot-path of the event data read for every event the subscription gets (an
    /// owner or federation path).
    pub fn reads(mut self, path: &'a str) -> Self {
        self.data_paths.push(path);
        self
    }

    /// The subscription document.
    pub fn document(&self) -> &'a SubscriptionDocument {
        self.document
    }

    /// The variables, defaults applied.
    pub fn variables(&self) -> &'a Map<String, Value> {
        self.variables
    }

    /// The names rules keyed on a root field apply to: the root field, then every channel
    /// not already named.
    pub fn names(&self) -> Vec<&'a str> {
        let mut names = vec![self.document.root_field()];
        for channel in &self.channels {
            if !names.contains(channel) {
                names.push(channel);
            }
        }
        names
    }

    /// Every field path the subscription reads, rooted at its root field, without
    /// duplicates: the selection first, then each prefix of each data path.
    pub fn field_paths(&self) -> Vec<String> {
        let mut paths = self.document.field_paths();
        let mut seen: HashSet<String> = paths.iter().cloned().collect();
        for data_path in &self.data_paths {
            let mut path = self.document.root_field().to_owned();
            for segment in data_path.split('.') {
                if segment.is_empty() || segment.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                path.push('.');
                path.push_str(segment);
                if seen.insert(path.clone()) {
                    paths.push(path.clone());
                }
            }
        }
        paths
    }
}
