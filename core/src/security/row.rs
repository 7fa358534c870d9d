//! Row filter: an event that names an owner reaches only that user.
//!
//! - [`RowPolicy`]: where the owner is read from in the event data (default `user_id`).
//! - [`EventOwner`]: the owner of one event, read once per event.
//!
//! The owner is read once per event; each member of a cohort is then checked by comparing
//! its user id, so the frame is still resolved and encoded once per cohort.
//!
//! Reading the owner is fail-closed. An owner is a string, or an integer read in decimal.
//! Each segment of the owner path is an object key:
//!
//! - the path ends at a missing field or at `null`, or meets `null` on the way, or the
//!   data is not an object at all (a scalar): the event names no owner and is not
//!   row-restricted ([`EventOwner::Unowned`]);
//! - the path meets a scalar or a list on the way, or ends at something that is not an id
//!   (an object, a list, a float, a boolean): the owner is [`EventOwner::Unreadable`] and
//!   the event reaches nobody, counted as
//!   [`DropReason::UnreadableOwner`](crate::DropReason::UnreadableOwner);
//! - the data is a list: each element is a row whose owner is read as above. The event
//!   belongs to a user only if every row names that same user; if no row names an owner it
//!   is unowned; rows of different owners, a row without owner among owned rows, or an
//!   unreadable row make the owner unreadable.

use std::sync::Arc;

use crate::event::Event;
use crate::security::filter::{validate_path, FilterError, FilterErrorKind};
use crate::security::{read_event_identity, Identity};

/// Path of the owner in the event data when none is configured.
pub const DEFAULT_OWNER_PATH: &str = "user_id";

/// Who owns an event, as far as the row filter is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOwner {
    /// The event names no owner (or the policy is disabled): it is not row-restricted.
    Unowned,
    /// The event belongs to this user.
    User(Arc<str>),
    /// The owner cannot be read unambiguously (not an id, a path through a list or a
    /// scalar, rows of different owners): the event reaches nobody.
    Unreadable,
}

/// The row filter, enforced on `user_id` unless configured otherwise.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use subcast_core::{Event, EventOwner, RowPolicy};
///
/// let policy = RowPolicy::default();
/// let event = Event::new("orderPaid", "orders", json!({"id": "o1", "user_id": "alice"}));
/// let owner = policy.owner(&event);
/// assert_eq!(owner, EventOwner::User("alice".into()));
/// assert!(policy.admits(&owner, Some("alice")));
/// assert!(!policy.admits(&owner, Some("bob")));
/// assert!(!policy.admits(&owner, None));
///
/// let nested = RowPolicy::owner_path("order.customer").unwrap();
/// let event = Event::new("orderPaid", "orders", json!({"order": {"customer": 42}}));
/// assert_eq!(nested.owner(&event), EventOwner::User("42".into()));
///
/// // A list of rows belongs to a user only if every row names that user.
/// let rows = Event::new("ordersPaid", "orders", json!([{"user_id": "alice"}, {"user_id": "alice"}]));
/// assert_eq!(policy.owner(&rows), EventOwner::User("alice".into()));
/// let mixed = Event::new("ordersPaid", "orders", json!([{"user_id": "alice"}, {"user_id": "bob"}]));
/// assert_eq!(policy.owner(&mixed), EventOwner::Unreadable);
/// // A path through a list or a scalar is unreadable, never absent.
/// let through = Event::new("orderPaid", "orders", json!({"order": [{"customer": 42}]}));
/// assert_eq!(nested.owner(&through), EventOwner::Unreadable);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowPolicy {
    owner_path: Option<String>,
}

impl Default for RowPolicy {
    fn default() -> Self {
        RowPolicy {
            owner_path: Some(DEFAULT_OWNER_PATH.to_owned()),
        }
    }
}

impl RowPolicy {
    /// Read the owner from `path` (dot-separated object keys) in the event data.
    ///
    /// The path is also read by every subscription under field-level RBAC: a role that may
    /// not read it may not subscribe (see [`RbacPolicy`](crate::RbacPolicy)).
    pub fn owner_path(path: impl Into<String>) -> Result<Self, FilterError> {
        let path = path.into();
        validate_path(&path).map_err(|reason| {
            FilterError::new(
                FilterErrorKind::InvalidPath,
                None,
                format!("owner path {path:?}: {reason}"),
            )
        })?;
        Ok(RowPolicy {
            owner_path: Some(path),
        })
    }

    /// Never restrict events to an owner.
    pub fn disabled() -> Self {
        RowPolicy { owner_path: None }
    }

    /// The configured owner path, `None` when disabled.
    pub fn path(&self) -> Option<&str> {
        self.owner_path.as_deref()
    }

    /// Read the owner of `event`.
    pub fn owner(&self, event: &Event) -> EventOwner {
        let Some(path) = &self.owner_path else {
            return EventOwner::Unowned;
        };
        match read_event_identity(&event.data, path) {
            Identity::Absent => EventOwner::Unowned,
            Identity::Id(id) => EventOwner::User(id),
            Identity::Malformed => EventOwner::Unreadable,
        }
    }

    /// Whether an event owned by `owner` may reach a subscriber authenticated as `user`.
    #[inline]
    pub fn admits(&self, owner: &EventOwner, user: Option<&str>) -> bool {
        match owner {
            EventOwner::Unowned => true,
            EventOwner::User(owner) => user == Some(&**owner),
            EventOwner::Unreadable => false,
        }
    }
}
