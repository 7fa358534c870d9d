//! The id lookups Python needs: each subscription's connection and subscription ids, its
//! inbox and its resolver callable, found by either id.

use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};

use pyo3::prelude::*;
use pyo3::types::PyString;
use subcast_core::{FrameBody, SubscriptionKey};

use super::SubscriptionExecutor;

/// A subscription whose frames a drain took: its id, and the inbox that makes its `bytes`.
pub(super) type TakenFrom = (String, Arc<Inbox>);
use crate::convert::Identifier;
use crate::errors::{raise, PyError};
use crate::ids::{IdHash, IdIndex};
use crate::inbox::Inbox;
use crate::resolver::CallableId;

#[derive(Debug, Default)]
pub(super) struct Handles {
    pub(super) by_key: HashMap<SubscriptionKey, Handle>,
    /// Every registration of a subscription id, with its inbox: a drain finds the inbox in
    /// one lookup.
    pub(super) by_id: IdIndex<Vec<Registration>>,
    /// Each connection's subscriptions, in registration order.
    pub(super) by_connection: IdIndex<Vec<SubscriptionKey>>,
}

#[derive(Debug)]
pub(super) struct Registration {
    pub(super) key: SubscriptionKey,
    pub(super) inbox: Arc<Inbox>,
}

#[derive(Debug)]
pub(super) struct Handle {
    pub(super) connection_id: String,
    pub(super) connection_hash: IdHash,
    pub(super) subscription_id: String,
    pub(super) subscription_hash: IdHash,
    pub(super) inbox: Arc<Inbox>,
    /// The Python resolver's callable, held until the subscription ends.
    pub(super) callable: Option<CallableId>,
}

impl Handles {
    pub(super) fn insert(&mut self, key: SubscriptionKey, handle: Handle) {
        self.by_id
            .get_or_default(handle.subscription_hash, &handle.subscription_id)
            .push(Registration {
                key,
                inbox: handle.inbox.clone(),
            });
        self.by_connection
            .get_or_default(handle.connection_hash, &handle.connection_id)
            .push(key);
        self.by_key.insert(key, handle);
    }

    /// The registrations of `subscription_id` (its `str` hash is `hash`), one per connection.
    pub(super) fn registrations(&self, hash: IdHash, subscription_id: &str) -> &[Registration] {
        self.by_id.get(hash, subscription_id).map_or(&[], Vec::as_slice)
    }

    /// The inbox of `subscription_id` if exactly one connection registered it.
    pub(super) fn unique_inbox(&self, hash: IdHash, subscription_id: &str) -> Option<&Arc<Inbox>> {
        match self.registrations(hash, subscription_id) {
            [only] => Some(&only.inbox),
            _ => None,
        }
    }

    /// The subscriptions of `connection_id` (its `str` hash is `hash`), in registration order.
    pub(super) fn of_connection(&self, hash: IdHash, connection_id: &str) -> &[SubscriptionKey] {
        self.by_connection
            .get(hash, connection_id)
            .map_or(&[], Vec::as_slice)
    }

    pub(super) fn remove(&mut self, key: SubscriptionKey) -> Option<Handle> {
        let handle = self.by_key.remove(&key)?;
        self.by_id.edit(
            handle.subscription_hash,
            &handle.subscription_id,
            |registrations| {
                registrations.retain(|r| r.key != key);
                registrations.is_empty()
            },
        );
        self.by_connection
            .edit(handle.connection_hash, &handle.connection_id, |keys| {
                keys.retain(|k| *k != key);
                keys.is_empty()
            });
        Some(handle)
    }
}

impl SubscriptionExecutor {
    pub(super) fn handles(&self) -> MutexGuard<'_, Handles> {
        self.handles.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn lookup(
        &self,
        py: Python<'_>,
        subscription_id: &Bound<'_, PyAny>,
        connection_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(SubscriptionKey, Arc<Inbox>)> {
        // The common case, a `str` id unique across connections, allocates nothing.
        if let (Ok(id), None) = (subscription_id.cast::<PyString>(), connection_id) {
            let hash = IdHash::of(id)?;
            let handles = self.handles();
            if let [only] = handles.registrations(hash, id.to_str()?) {
                return Ok((only.key, only.inbox.clone()));
            }
        }
        let subscription_id = Identifier::extract(subscription_id, "subscription_id")?.0;
        let connection_id = Identifier::extract_optional(connection_id, "connection_id")?.map(|c| c.0);
        let hash = IdHash::of_text(py, &subscription_id)?;
        let handles = self.handles();
        let registrations = handles.registrations(hash, &subscription_id);
        let mut matching = registrations.iter().filter(|r| {
            connection_id
                .as_ref()
                .is_none_or(|c| handles.by_key[&r.key].connection_id == *c)
        });
        let (Some(found), None) = (matching.next(), matching.clone().next()) else {
            let registered = registrations.len();
            drop(handles);
            return Err(if registered == 0 || connection_id.is_some() {
                let on = connection_id
                    .map(|c| format!(" on connection {c:?}"))
                    .unwrap_or_default();
                let message = format!("unknown subscription {subscription_id:?}{on}");
                raise(py, PyError::UnknownSubscription, message, "BAD_REQUEST")
            } else {
                let message = format!(
                    "subscription id {subscription_id:?} is registered on {registered} connections: pass connection_id="
                );
                raise(py, PyError::AmbiguousSubscription, message, "BAD_REQUEST")
            });
        };
        Ok((found.key, found.inbox.clone()))
    }

    pub(super) fn complete_keys(&self, py: Python<'_>, keys: &[SubscriptionKey]) {
        let core = self.core.clone();
        let ended = keys.to_vec();
        py.detach(move || {
            for key in ended {
                let _ = core.complete_subscription(key);
            }
        });
        self.forget_keys(keys);
    }

    /// Drop the ids and resolver callables of subscriptions the core has ended.
    pub(super) fn forget_keys(&self, keys: &[SubscriptionKey]) {
        let removed: Vec<Handle> = {
            let mut handles = self.handles();
            keys.iter().filter_map(|k| handles.remove(*k)).collect()
        };
        for handle in &removed {
            if let Some(id) = handle.callable {
                self.resolvers.release(id);
            }
        }
    }

    /// The inboxes of `ids`, in order. Every id is resolved before any frame is taken, so
    /// that an unknown or ambiguous id raises with every queue intact. One lock for the ids
    /// the allocation-free path finds; the others go through `lookup`, which raises for
    /// unknown and ambiguous ones.
    pub(super) fn inboxes(&self, py: Python<'_>, ids: &[Bound<'_, PyAny>]) -> PyResult<Vec<Arc<Inbox>>> {
        let found: Vec<Option<Arc<Inbox>>> = {
            let handles = self.handles();
            ids.iter()
                .map(|id| {
                    let id = id.cast::<PyString>().ok()?;
                    let hash = IdHash::of(id).ok()?;
                    handles.unique_inbox(hash, id.to_str().ok()?).cloned()
                })
                .collect()
        };
        ids.iter()
            .zip(found)
            .map(|(id, inbox)| match inbox {
                Some(inbox) => Ok(inbox),
                None => self.lookup(py, id, None).map(|(_, inbox)| inbox),
            })
            .collect()
    }

    /// Up to `limit` queued frames' bodies of each subscription of `connection_id`: the ids
    /// and inboxes of the subscriptions that had any, and each body with the index of its
    /// id. One lock, and no Python object made while it is held.
    pub(super) fn take_connection_frames(
        &self,
        hash: IdHash,
        connection_id: &str,
        limit: usize,
    ) -> (Vec<TakenFrom>, Vec<(usize, FrameBody)>) {
        let mut ids = Vec::new();
        let mut taken = Vec::new();
        let handles = self.handles();
        for key in handles.of_connection(hash, connection_id) {
            let handle = &handles.by_key[key];
            let before = taken.len();
            handle
                .inbox
                .take_into(limit, |body| taken.push((ids.len(), body)));
            if taken.len() > before {
                ids.push((handle.subscription_id.clone(), handle.inbox.clone()));
            }
        }
        (ids, taken)
    }
}
