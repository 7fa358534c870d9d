//! The registry: subscriptions, their cohorts, the channel index, and unlinking.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{Map, Value};

use super::request::SubscriptionKey;
use super::watch::{ChannelChange, ChannelWatch};
use crate::document::SubscriptionDocument;
use crate::queue::{Mailbox, ResponseQueue};
use crate::rate_limit::PrincipalBuckets;
use crate::resolve::Resolver;
use crate::security::{EventFilter, SecurityContext};

#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) key: SubscriptionKey,
    pub(crate) connection_id: Arc<str>,
    pub(crate) subscription_id: Box<str>,
    pub(crate) cohort: Arc<Cohort>,
    /// Index in `cohort.members`; read and written under the members' write lock.
    pub(crate) slot: AtomicUsize,
    pub(crate) queue: Arc<ResponseQueue>,
    /// The authenticated user, compared with an event's owner by the row filter.
    pub(crate) user: Option<Arc<str>>,
    /// The principal's delivery bucket, when deliveries are rate-limited.
    pub(crate) buckets: Option<Arc<PrincipalBuckets>>,
    /// Frames refused by the delivery bucket since the last one queued.
    pub(crate) missed: AtomicU64,
}

/// A cohort member as the fan-out reads it.
///
/// A fan-out walks 10k–100k members in a row and is bound by cache misses: with the queue,
/// the delivery bucket and the user's hash in the members array itself, which the CPU
/// streams in, a delivery goes straight to the queue instead of first visiting the
/// `Subscription`, one more likely miss per member.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) queue: Arc<ResponseQueue>,
    /// The principal's delivery bucket, only when deliveries are rate-limited.
    pub(crate) buckets: Option<Arc<PrincipalBuckets>>,
    /// [`user_hash`] of the member's user, compared before the user id itself.
    pub(crate) user_hash: u64,
    pub(crate) subscription: Arc<Subscription>,
}

impl Member {
    pub(crate) fn new(subscription: &Arc<Subscription>) -> Self {
        Member {
            queue: subscription.queue.clone(),
            buckets: subscription.buckets.clone().filter(|b| b.deliveries.is_some()),
            user_hash: user_hash(subscription.user.as_deref()),
            subscription: subscription.clone(),
        }
    }
}

/// A fixed hash of a user id (0 for no user), the same in every process.
pub(crate) fn user_hash(user: Option<&str>) -> u64 {
    use std::hash::{Hash, Hasher};
    let Some(user) = user else { return 0 };
    let mut hasher = std::hash::DefaultHasher::new();
    user.hash(&mut hasher);
    hasher.finish()
}

#[derive(Debug)]
pub(crate) struct Cohort {
    pub(crate) key: Arc<str>,
    pub(crate) document: Arc<SubscriptionDocument>,
    pub(crate) variables: Map<String, Value>,
    pub(crate) resolver: Arc<dyn Resolver>,
    pub(crate) channels: Box<[Arc<str>]>,
    pub(crate) members: RwLock<Vec<Member>>,
    /// The security class: the tenant, federation and event filter of every member.
    pub(crate) tenant: Option<Arc<str>>,
    pub(crate) federation: Option<Arc<str>>,
    pub(crate) filter: Option<EventFilter>,
    /// The one context of every member, kept for resolvers that depend on it.
    pub(crate) context: Option<SecurityContext>,
    /// The schema coordinates (`Order.total`) the document selects; empty without a schema.
    pub(crate) coordinates: Box<[String]>,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) subscriptions: HashMap<SubscriptionKey, Arc<Subscription>>,
    pub(crate) connections: HashMap<Arc<str>, HashMap<Box<str>, SubscriptionKey>>,
    pub(crate) cohorts: HashMap<Arc<str>, Arc<Cohort>>,
    pub(crate) channels: HashMap<Arc<str>, Vec<Arc<Cohort>>>,
    pub(crate) watchers: Vec<Arc<Mailbox<ChannelChange>>>,
    /// Subscriptions held per authenticated user.
    pub(crate) users: HashMap<Arc<str>, usize>,
}

impl Registry {
    pub(crate) fn announce(&mut self, change: ChannelChange) {
        self.watchers.retain(|w| w.push(change.clone()).is_ok());
    }

    /// A new watch of the channels in use: `Added` for each one now, then every change.
    pub(crate) fn watch(&mut self) -> ChannelWatch {
        let changes = Arc::new(Mailbox::new());
        for channel in self.channels.keys() {
            let _ = changes.push(ChannelChange::Added(channel.to_string()));
        }
        self.watchers.push(changes.clone());
        ChannelWatch { changes }
    }
}

/// Remove `subscription` from its cohort and its user's count, and the cohort from the
/// index once empty.
pub(crate) fn unlink(registry: &mut Registry, subscription: &Subscription) {
    if let Some(user) = &subscription.user {
        if let Some(held) = registry.users.get_mut(user) {
            *held -= 1;
            if *held == 0 {
                registry.users.remove(user);
            }
        }
    }
    let cohort = &subscription.cohort;
    let now_empty = {
        let mut members = write(&cohort.members);
        let slot = subscription.slot.load(Ordering::Relaxed);
        if members
            .get(slot)
            .is_some_and(|m| m.subscription.key == subscription.key)
        {
            members.swap_remove(slot);
            if let Some(moved) = members.get(slot) {
                moved.subscription.slot.store(slot, Ordering::Relaxed);
            }
        }
        members.is_empty()
    };
    if !now_empty {
        return;
    }
    registry.cohorts.remove(&cohort.key);
    for channel in cohort.channels.iter() {
        if let Some(cohorts) = registry.channels.get_mut(channel) {
            cohorts.retain(|c| !Arc::ptr_eq(c, cohort));
            if cohorts.is_empty() {
                registry.channels.remove(channel);
                registry.announce(ChannelChange::Removed(channel.to_string()));
            }
        }
    }
}

pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
