//! Response queues: the frames waiting for one subscriber's WebSocket.
//!
//! - [`ResponseQueue`]: the frames of one subscription, bounded in frames *and* bytes, with
//!   an [`OverflowPolicy`]; non-blocking [`ResponseQueue::try_next`], async
//!   [`ResponseQueue::recv`] on any executor, blocking [`ResponseQueue::recv_timeout`].
//! - [`Notice`]: the losses a subscriber is told about with a count (`EVENTS_LAGGED`,
//!   `EVENTS_GAP`, `RATE_LIMITED`). Notices are never lost: one that finds the queue full, or
//!   would be evicted, is merged with the next notice of its kind, so the counts a subscriber
//!   reads add up to what it missed, whatever the overflow policy.
//! - [`Mailbox`]: the queue + wake-up pair underneath, re-exported from
//!   [`sync`](crate::sync), which holds the one copy of the check–listen–check wait.
//!
//! Files: `mod.rs` the queue and its writers' side; `ledger.rs` the entries and what is
//! counted under the lock; `overflow.rs` the bounds and the overflow policies; `notice.rs`
//! notices, merged and held; `read.rs` the readers' side, where a frame is joined with its
//! prefix.

mod ledger;
mod notice;
mod overflow;
mod read;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use ledger::{Entry, Ledger};
pub use notice::Notice;

use crate::frame::{FrameBody, FramePrefix};
use crate::sync::wake_one;
pub use crate::sync::{Mailbox, PopError, RecvTimeoutError};

/// Default number of frames a [`ResponseQueue`] holds.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// Default number of frame bytes a [`ResponseQueue`] holds: four frames of the default
/// [`max_frame_bytes`](crate::ExecutorConfig::max_frame_bytes).
pub const DEFAULT_QUEUE_MAX_BYTES: usize = 4 * 1024 * 1024;

/// What a full [`ResponseQueue`] does with one more frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Evict the oldest frame; the subscriber is told how many it missed.
    #[default]
    DropOldest,
    /// Refuse the new frame; the subscriber is told how many it missed.
    DropNewest,
    /// End the subscription with a `QUEUE_OVERFLOW` error frame.
    Close,
}

/// What [`ResponseQueue::push`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// The frame is queued.
    Queued,
    /// The frame is queued; older frames were evicted to make room.
    QueuedEvictedOldest {
        /// Frames evicted (notices are merged, not counted here).
        evicted: usize,
    },
    /// The queue was full and the frame was dropped.
    DroppedNewest,
    /// The queue was full; it is now closed with an overflow error frame.
    ClosedOnOverflow,
    /// The queue was already closed; the frame was dropped.
    Closed,
}

impl PushOutcome {
    /// Whether the pushed frame will reach the subscriber.
    pub fn is_queued(self) -> bool {
        matches!(
            self,
            PushOutcome::Queued | PushOutcome::QueuedEvictedOldest { .. }
        )
    }
}

/// The frames of one subscription, waiting for its WebSocket.
///
/// Bounded to `capacity` entries and `max_bytes` bytes of frames; a frame always fits in a
/// queue holding no frame, so a frame larger than `max_bytes` is not refused forever. When
/// either bound is reached, the [`OverflowPolicy`] applies. Frames lost to overflow are
/// counted, and the subscriber receives an `EVENTS_LAGGED` notice with the count at the
/// place of the gap.
///
/// Notices ([`ResponseQueue::push_notice`]) are never lost while the queue is open: a
/// notice next to one of its kind merges with it; one that finds the queue full (drop-newest,
/// close) waits, merged per kind, and comes before the next entry queued or after the last
/// one read; one that drop-oldest evicts is merged into the notices read first. Since
/// notices are never refused, they may pass the frame bound by at most six small frames
/// (three queued past it, three waiting), one per kind each.
///
/// # Examples
///
/// ```
/// use subcast_core::{FrameBody, FramePrefix};
/// use subcast_core::{OverflowPolicy, ResponseQueue};
///
/// let prefix = FramePrefix::new("1");
/// let queue = ResponseQueue::new(prefix.clone(), 1, OverflowPolicy::DropOldest);
/// queue.push(FrameBody::next_data(&serde_json::json!(1)));
/// queue.push(FrameBody::next_data(&serde_json::json!(2)));
/// let notice = queue.try_next().unwrap();
/// assert!(std::str::from_utf8(&notice).unwrap().contains("EVENTS_LAGGED"));
/// assert_eq!(&queue.try_next().unwrap()[..], br#"{"id":"1","type":"next","payload":{"data":2}}"#);
/// ```
#[derive(Debug)]
pub struct ResponseQueue {
    frames: Mailbox<Entry, Ledger>,
    prefix: FramePrefix,
    capacity: usize,
    max_bytes: usize,
    overflow: OverflowPolicy,
    /// Frames lost over the queue's life.
    dropped: AtomicU64,
    /// The connection inbox this queue wakes, once attached to one.
    inbox: OnceLock<Arc<event_listener::Event>>,
    /// Set when something readable arrives, cleared by the inbox as it drains this queue:
    /// only the push that sets it wakes the connection.
    ready: AtomicBool,
}

impl ResponseQueue {
    /// Create an empty queue of `capacity` frames (at least 1) and
    /// [`DEFAULT_QUEUE_MAX_BYTES`] for the subscription whose frames start with `prefix`.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 0, OverflowPolicy::DropOldest);
    /// assert!(queue.is_empty());
    /// assert!(!queue.is_closed());
    /// ```
    pub fn new(prefix: FramePrefix, capacity: usize, overflow: OverflowPolicy) -> Self {
        ResponseQueue {
            frames: Mailbox::with_ledger(Ledger::default()),
            prefix,
            capacity: capacity.max(1),
            max_bytes: DEFAULT_QUEUE_MAX_BYTES,
            overflow,
            dropped: AtomicU64::new(0),
            inbox: OnceLock::new(),
            ready: AtomicBool::new(false),
        }
    }

    /// Bound the bytes of queued frames to `max_bytes` (at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    /// use subcast_core::PushOutcome;
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 100, OverflowPolicy::DropNewest).with_max_bytes(60);
    /// let frame = || FrameBody::next_data(&serde_json::json!("a fairly long string"));
    /// assert_eq!(queue.push(frame()), PushOutcome::Queued);
    /// assert_eq!(queue.push(frame()), PushOutcome::DroppedNewest);
    /// ```
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes.max(1);
        self
    }

    /// Queue the frame `prefix + body` and wake the subscriber, applying the overflow policy
    /// when full.
    ///
    /// The body is not copied: the queue keeps a reference to it (so a cohort's queues
    /// share one body), and the frame is joined with this queue's prefix only when read.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// use subcast_core::PushOutcome;
    ///
    /// assert_eq!(queue.push(frame(1)), PushOutcome::Queued);
    /// assert_eq!(queue.push(frame(2)), PushOutcome::Queued);
    /// assert_eq!(queue.push(frame(3)), PushOutcome::DroppedNewest);
    /// assert_eq!(queue.dropped(), 1);
    /// ```
    #[inline]
    pub fn push(&self, body: FrameBody) -> PushOutcome {
        let outcome = self.push_frame(body);
        if outcome != PushOutcome::Closed {
            self.wake_inbox();
        }
        outcome
    }

    /// Tell the connection inbox, if any, that this queue has something to read: one
    /// atomic swap, and a wake-up only on the push that finds the queue not yet ready.
    #[inline]
    fn wake_inbox(&self) {
        if let Some(inbox) = self.inbox.get() {
            if !self.ready.swap(true, Ordering::AcqRel) {
                wake_one(inbox);
            }
        }
    }

    /// Attach this queue to a connection inbox and mark it ready, so frames queued before
    /// are read too. `false` if it is attached to another inbox already.
    pub(crate) fn attach_inbox(&self, inbox: &Arc<event_listener::Event>) -> bool {
        let attached = self.inbox.get_or_init(|| inbox.clone());
        if !Arc::ptr_eq(attached, inbox) {
            return false;
        }
        self.ready.store(true, Ordering::Release);
        wake_one(inbox);
        true
    }

    /// Clear the ready mark, returning whether it was set; the caller reads the queue next.
    pub(crate) fn take_ready(&self) -> bool {
        self.ready.swap(false, Ordering::AcqRel)
    }

    #[inline]
    fn push_frame(&self, body: FrameBody) -> PushOutcome {
        let frame_len = self.frame_len(&body);
        // One lock for the closed check, the bounds, the eviction, the byte count and the push.
        let Some(mut edit) = self.frames.edit() else {
            return PushOutcome::Closed;
        };
        let slots = edit.slots();
        if self.fits(slots, frame_len) {
            if slots.ledger.pending.is_some() && self.overflow != OverflowPolicy::DropOldest {
                // The losses came before this frame: report them in place.
                self.queue_pending(&mut edit);
            }
            edit.slots().ledger.bytes += frame_len;
            edit.push(Entry::Frame(body));
            return PushOutcome::Queued;
        }
        self.overflow_with(edit, body, frame_len)
    }

    /// Length of the frame `body` makes with this queue's prefix.
    #[inline]
    fn frame_len(&self, body: &FrameBody) -> usize {
        self.prefix.len() + body.len()
    }

    /// Queue the frame `prefix + body` as the last one, past the bounds if need be, and
    /// close the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// queue.push(frame(1));
    /// queue.end_with(FrameBody::error(&[]));
    /// assert!(queue.is_closed());
    /// assert!(queue.try_next().is_some());
    /// assert!(std::str::from_utf8(&queue.try_next().unwrap()).unwrap().contains(r#""type":"error""#));
    /// assert!(queue.try_next().is_none());
    /// ```
    pub fn end_with(&self, body: FrameBody) {
        if let Some(mut edit) = self.frames.edit() {
            if self.overflow != OverflowPolicy::DropOldest {
                self.queue_pending(&mut edit);
            }
            edit.slots().ledger.bytes += self.frame_len(&body);
            edit.push(Entry::Frame(body));
            edit.close();
            drop(edit);
            self.wake_inbox();
        }
    }

    /// Close the queue: no more frames; queued frames stay readable, then receivers end.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// queue.push(frame(1));
    /// queue.close();
    /// assert!(queue.try_next().is_some());
    /// assert_eq!(futures_lite::future::block_on(queue.recv()), None);
    /// ```
    pub fn close(&self) {
        if self.frames.close() {
            self.wake_inbox();
        }
    }

    /// Whether the queue is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// assert!(!queue.is_closed());
    /// queue.close();
    /// assert!(queue.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.frames.is_closed()
    }

    /// Frames waiting to be read, notices included.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// queue.push(frame(1));
    /// queue.push(frame(2));
    /// assert_eq!(queue.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        let slots = self.frames.lock();
        let pending = slots
            .ledger
            .pending
            .as_ref()
            .map_or(0, |p| p.iter().filter(|c| **c > 0).count());
        slots.items.len() + pending
    }

    /// Whether no frame is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// assert!(queue.is_empty());
    /// queue.push(frame(1));
    /// assert!(!queue.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the frames waiting to be read (notices, a few hundred bytes each, aside),
    /// counted as they will be written: prefix and body of each frame.
    ///
    /// This is how far behind the subscriber is, and what the byte bound
    /// ([`with_max_bytes`](Self::with_max_bytes)) limits. It is not the memory this queue
    /// alone holds: a queued frame is a slot and a reference to the body its cohort shares,
    /// so 10,000 subscribers behind on one 64 KB event hold that body once, not 10,000
    /// times. The bound still caps memory: a queue pins at most `max_bytes` of bodies.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// let one = frame(1);
    /// // Counted as written: the subscription's prefix and the body the cohort shares.
    /// let size = queue.prefix().splice(&one).len();
    /// queue.push(one);
    /// assert_eq!(queue.queued_bytes(), size);
    /// ```
    pub fn queued_bytes(&self) -> usize {
        self.frames.lock().ledger.bytes
    }

    /// Frames lost to overflow over the queue's life.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// for n in 0..5 {
    ///     queue.push(frame(n));
    /// }
    /// assert_eq!(queue.dropped(), 3);
    /// ```
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The prefix of this subscription's frames.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("7"), 8, OverflowPolicy::DropOldest);
    /// assert_eq!(queue.prefix(), &FramePrefix::new("7"));
    /// ```
    pub fn prefix(&self) -> &FramePrefix {
        &self.prefix
    }
}
