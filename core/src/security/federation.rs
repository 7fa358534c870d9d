//! Federation: an event scoped to a federation reaches only contexts of that federation.
//!
//! - [`FederationPolicy`]: where the federation id is read from in the event data
//!   (default `federation_id`).
//! - [`EventFederation`]: the federation of one event, read once per event.
//!
//! The federation id is part of the cohort key, so the decision is made once per cohort.
//! It is read with the row filter's rules (see [`row`](crate::security::row)): an event
//! whose path ends at a missing field or `null` is not federation-scoped; a path through a
//! scalar or a list, a value that is neither a string nor an integer, or a list of rows
//! that do not all name the same federation make the federation
//! [`EventFederation::Unreadable`], and the event reaches nobody, counted as
//! [`DropReason::UnreadableFederation`](crate::DropReason::UnreadableFederation).

use std::sync::Arc;

use crate::event::Event;
use crate::security::filter::{validate_path, FilterError, FilterErrorKind};
use crate::security::{read_event_identity, Identity};

/// Path of the federation id in the event data when none is configured.
pub const DEFAULT_FEDERATION_PATH: &str = "federation_id";

/// The federation an event is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFederation {
    /// The event is not federation-scoped (or the policy is disabled).
    Unscoped,
    /// The event is scoped to this federation.
    Federation(Arc<str>),
    /// The federation cannot be read unambiguously (not an id, a path through a list or a
    /// scalar, rows of different federations): the event reaches nobody.
    Unreadable,
}

/// The federation policy, enforced on `federation_id` unless configured otherwise.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use subcast_core::{Event, EventFederation, FederationPolicy};
///
/// let policy = FederationPolicy::default();
/// let event = Event::new("shipped", "orders", json!({"federation_id": "eu"}));
/// let federation = policy.federation(&event);
/// assert_eq!(federation, EventFederation::Federation("eu".into()));
/// assert!(policy.admits(&federation, Some("eu")));
/// assert!(!policy.admits(&federation, Some("us")));
/// assert!(!policy.admits(&federation, None));
/// assert!(policy.admits(&EventFederation::Unscoped, None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationPolicy {
    path: Option<String>,
}

impl Default for FederationPolicy {
    fn default() -> Self {
        FederationPolicy {
            path: Some(DEFAULT_FEDERATION_PATH.to_owned()),
        }
    }
}

impl FederationPolicy {
    /// Read the federation id from `path` (dot-separated object keys) in the event data.
    ///
    /// The path is also read by every subscription under field-level RBAC: a role that may
    /// not read it may not subscribe (see [`RbacPolicy`](crate::RbacPolicy)).
    pub fn federation_path(path: impl Into<String>) -> Result<Self, FilterError> {
        let path = path.into();
        validate_path(&path).map_err(|reason| {
            FilterError::new(
                FilterErrorKind::InvalidPath,
                None,
                format!("federation path {path:?}: {reason}"),
            )
        })?;
        Ok(FederationPolicy { path: Some(path) })
    }

    /// Never scope events to a federation.
    pub fn disabled() -> Self {
        FederationPolicy { path: None }
    }

    /// The configured path, `None` when disabled.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// Read the federation of `event`.
    pub fn federation(&self, event: &Event) -> EventFederation {
        let Some(path) = &self.path else {
            return EventFederation::Unscoped;
        };
        match read_event_identity(&event.data, path) {
            Identity::Absent => EventFederation::Unscoped,
            Identity::Id(id) => EventFederation::Federation(id),
            Identity::Malformed => EventFederation::Unreadable,
        }
    }

    /// Whether an event of `federation` may reach a context of `subscriber_federation`.
    #[inline]
    pub fn admits(&self, federation: &EventFederation, subscriber_federation: Option<&str>) -> bool {
        match federation {
            EventFederation::Unscoped => true,
            EventFederation::Federation(id) => subscriber_federation == Some(&**id),
            EventFederation::Unreadable => false,
        }
    }
}
