//! [`DispatchReport`] and [`DropReason`]: what one dispatch did, with sums that add up.

use crate::security::{EventFederation, EventOwner, EventSecurity, Policy};

/// Why a matched subscription did not receive a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The response queue was full (drop-newest or close policy).
    QueueFull,
    /// The subscription had already ended (completed, errored or closed on overflow).
    QueueClosed,
    /// Tenant isolation: the event belongs to another tenant (or to none).
    Tenant,
    /// The row filter: the event belongs to another user.
    Row,
    /// The row filter: the event's owner cannot be read unambiguously (a list where one
    /// id is expected, a path through a list or a scalar, rows of different owners, an id
    /// that is neither a string nor an integer), so it reaches nobody.
    UnreadableOwner,
    /// Federation: the event is scoped to another federation.
    Federation,
    /// Federation: the event's federation cannot be read unambiguously, so it reaches
    /// nobody.
    UnreadableFederation,
    /// The subscription's event filter does not match the event.
    Filter,
    /// The user's delivery bucket was empty.
    RateLimited,
}

impl DropReason {
    /// Every reason, in a fixed order.
    pub const ALL: [DropReason; 9] = [
        DropReason::QueueFull,
        DropReason::QueueClosed,
        DropReason::Tenant,
        DropReason::Row,
        DropReason::UnreadableOwner,
        DropReason::Federation,
        DropReason::UnreadableFederation,
        DropReason::Filter,
        DropReason::RateLimited,
    ];

    /// A stable snake_case name, for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::QueueClosed => "queue_closed",
            DropReason::Tenant => "tenant",
            DropReason::Row => "row",
            DropReason::UnreadableOwner => "unreadable_owner",
            DropReason::Federation => "federation",
            DropReason::UnreadableFederation => "unreadable_federation",
            DropReason::Filter => "filter",
            DropReason::RateLimited => "rate_limited",
        }
    }

    /// The security policy behind this reason, if it is one.
    pub fn policy(self) -> Option<Policy> {
        match self {
            DropReason::Tenant => Some(Policy::Tenant),
            DropReason::Row | DropReason::UnreadableOwner => Some(Policy::Row),
            DropReason::Federation | DropReason::UnreadableFederation => Some(Policy::Federation),
            DropReason::Filter => Some(Policy::Filter),
            DropReason::QueueFull | DropReason::QueueClosed | DropReason::RateLimited => None,
        }
    }

    /// The reason for a frame refused by a per-event `policy`, given what was read from
    /// the event: an unreadable owner or federation has its own reason.
    pub(crate) fn refused_by(policy: Policy, security: &EventSecurity) -> DropReason {
        match policy {
            Policy::Tenant => DropReason::Tenant,
            Policy::Row if security.owner == EventOwner::Unreadable => DropReason::UnreadableOwner,
            Policy::Row => DropReason::Row,
            Policy::Federation if security.federation == EventFederation::Unreadable => {
                DropReason::UnreadableFederation
            }
            Policy::Federation => DropReason::Federation,
            // Authentication, scope and RBAC refuse subscriptions, never events; the
            // event filter is the remaining per-event policy.
            _ => DropReason::Filter,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// What one dispatch did. `matched == delivered + errors + dropped_total()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Subscriptions on the event's channel.
    pub matched: usize,
    /// `next` frames queued.
    pub delivered: usize,
    /// `error` frames queued (resolver failures).
    pub errors: usize,
    pub(crate) dropped: [usize; DropReason::ALL.len()],
    /// Older frames evicted from full queues to make room (not part of the sum).
    pub evicted: usize,
    /// Cohorts resolved: the number of resolutions and encodings this dispatch cost.
    pub cohorts: usize,
    /// The event was the bus copy of a local publish and was not dispatched again.
    pub duplicate: bool,
}

impl DispatchReport {
    /// Subscriptions that got no frame for `reason`.
    pub fn dropped(&self, reason: DropReason) -> usize {
        self.dropped[reason.index()]
    }

    /// Subscriptions that got no frame, for any reason.
    pub fn dropped_total(&self) -> usize {
        self.dropped.iter().sum()
    }

    /// Subscriptions that got no frame because a security policy refused it.
    pub fn refused_total(&self) -> usize {
        DropReason::ALL
            .iter()
            .filter(|r| r.policy().is_some())
            .map(|r| self.dropped(*r))
            .sum()
    }

    /// Add `other`'s counts to this report.
    pub fn merge(&mut self, other: &DispatchReport) {
        self.matched += other.matched;
        self.delivered += other.delivered;
        self.errors += other.errors;
        for (mine, theirs) in self.dropped.iter_mut().zip(other.dropped) {
            *mine += theirs;
        }
        self.evicted += other.evicted;
        self.cohorts += other.cohorts;
        self.duplicate |= other.duplicate;
    }

    pub(crate) fn drop_for(&mut self, reason: DropReason) {
        self.dropped[reason.index()] += 1;
    }

    pub(crate) fn drop_many(&mut self, reason: DropReason, count: usize) {
        self.matched += count;
        self.dropped[reason.index()] += count;
    }
}
