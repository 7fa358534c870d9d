//! The per-member hot path: row filter, delivery bucket, queue push of the cohort's shared
//! body (the id is spliced when the subscriber's writer reads it).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::report::{DispatchReport, DropReason};
use crate::executor::registry::{user_hash, Member};
use crate::frame::FrameBody;
use crate::queue::{Notice, PushOutcome};

impl Member {
    /// Start loading what delivering to this member will read.
    #[inline]
    pub(crate) fn prefetch(&self) {
        let queue = Arc::as_ptr(&self.queue).cast::<u8>();
        prefetch(queue);
        prefetch(queue.wrapping_add(64));
        if let Some(buckets) = &self.buckets {
            prefetch(Arc::as_ptr(buckets).cast());
            prefetch(Arc::as_ptr(&self.subscription).cast());
        }
    }
}

/// The owner of an event under the row filter, hashed once per dispatch.
#[derive(Debug, Clone)]
pub(crate) struct RowOwner {
    pub(crate) user: Arc<str>,
    pub(crate) hash: u64,
}

impl RowOwner {
    pub(crate) fn new(user: Arc<str>) -> Self {
        RowOwner {
            hash: user_hash(Some(&user)),
            user,
        }
    }

    /// Whether `member` is this user: the hash first, the id itself only if the hash matches.
    #[inline]
    pub(crate) fn owns(&self, member: &Member) -> bool {
        member.user_hash == self.hash && member.subscription.user.as_deref() == Some(&*self.user)
    }
}

/// Members ahead of the one being delivered whose cache lines are requested: far enough for
/// a DRAM load to land before its member's turn, near enough to stay in L1.
pub(crate) const PREFETCH_DISTANCE: usize = 8;

/// Hint the CPU to load the cache line at `address`. A hint only: it never faults, even on
/// an address past an allocation's end, and compiles to nothing off x86-64.
#[inline(always)]
pub(crate) fn prefetch(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 reads nothing architecturally and never faults; SSE, which it
    // needs, is part of the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// Queue one event frame for each of `members`, loading the next members' lines meanwhile.
#[inline]
pub(crate) fn deliver_event_frames(
    members: &[Member],
    body: &FrameBody,
    terminal: bool,
    owner: Option<&RowOwner>,
    now: Duration,
    report: &mut DispatchReport,
) {
    for (at, member) in members.iter().enumerate() {
        if let Some(ahead) = members.get(at + PREFETCH_DISTANCE) {
            ahead.prefetch();
        }
        deliver_event_frame(member, body, terminal, owner, now, report);
    }
}

/// Queue one event frame for `member` if the row filter and its delivery bucket admit it,
/// and count what happened. `owner` is the event's owner, if it has one.
#[inline]
pub(crate) fn deliver_event_frame(
    member: &Member,
    body: &FrameBody,
    terminal: bool,
    owner: Option<&RowOwner>,
    now: Duration,
    report: &mut DispatchReport,
) {
    report.matched += 1;
    if let Some(owner) = owner {
        if !owner.owns(member) {
            report.drop_for(DropReason::Row);
            return;
        }
    }
    // An error frame ends the subscription: it is never held back by the rate limit.
    if !terminal {
        // Only a rate-limited member can have missed frames: the others skip the visit to
        // their `Subscription`.
        if let Some(bucket) = member.buckets.as_ref().and_then(|b| b.deliveries.as_ref()) {
            if member.queue.is_closed() {
                report.drop_for(DropReason::QueueClosed);
                return;
            }
            let subscription = &member.subscription;
            if !bucket.try_take(now) {
                subscription.missed.fetch_add(1, Ordering::Relaxed);
                report.drop_for(DropReason::RateLimited);
                return;
            }
            if subscription.missed.load(Ordering::Relaxed) != 0 {
                announce_missed(member);
            }
        }
    }
    queue_frame(member, body, terminal, report);
}

/// Tell a subscriber how many frames its rate limit held back, before the next one.
///
/// The count leaves `missed` only for a queue that takes the notice: an open queue never
/// loses one (it merges or holds it), and a closed one has no reader to tell.
#[cold]
pub(crate) fn announce_missed(member: &Member) {
    let missed = member.subscription.missed.swap(0, Ordering::Relaxed);
    if missed != 0 && !member.queue.push_notice(Notice::RateLimited, missed) {
        member.subscription.missed.fetch_add(missed, Ordering::Relaxed);
    }
}

/// Queue one frame for `member` and count what happened.
#[inline]
pub(crate) fn deliver_frame(member: &Member, body: &FrameBody, terminal: bool, report: &mut DispatchReport) {
    report.matched += 1;
    queue_frame(member, body, terminal, report);
}

/// Queue a frame already counted as matched.
#[inline]
pub(crate) fn queue_frame(member: &Member, body: &FrameBody, terminal: bool, report: &mut DispatchReport) {
    let queue = &member.queue;
    if queue.is_closed() {
        report.drop_for(DropReason::QueueClosed);
        return;
    }
    // A reference to the cohort's body, not a copy: per subscriber, dispatch costs the same
    // for a 64 KB frame as for a 150 B one.
    let body = body.clone();
    if terminal {
        // An `error` frame ends the operation (graphql-transport-ws): nothing may follow it.
        queue.end_with(body);
        report.errors += 1;
        return;
    }
    match queue.push(body) {
        PushOutcome::Queued => report.delivered += 1,
        PushOutcome::QueuedEvictedOldest { evicted } => {
            report.delivered += 1;
            report.evicted += evicted;
        }
        PushOutcome::DroppedNewest | PushOutcome::ClosedOnOverflow => report.drop_for(DropReason::QueueFull),
        PushOutcome::Closed => report.drop_for(DropReason::QueueClosed),
    }
}
