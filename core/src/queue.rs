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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use event_listener::EventListener;

use crate::codes::{EVENTS_GAP, EVENTS_LAGGED, QUEUE_OVERFLOW, RATE_LIMITED};
use crate::frame::{FrameBody, FramePrefix, GraphQLError};
use crate::sync::wake_one;
pub(crate) use crate::sync::{shrink_if_drained, MailboxEdit, Slots};
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

/// A loss a subscriber is told about in-band: a `next` frame whose one error carries the
/// code and a `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Notice {
    /// `EVENTS_LAGGED`: frames lost to the queue's overflow policy; the count is frames.
    Lagged,
    /// `EVENTS_GAP`: the bus may have lost events; the count is interruptions, not events.
    Gap,
    /// `EVENTS_GAP`: the bus lost a known number of events (a bounded buffer without
    /// replay overflowed); the count is events.
    Lost,
    /// `RATE_LIMITED`: frames held back by the user's delivery bucket; the count is frames.
    RateLimited,
}

impl Notice {
    /// Every notice, in the order pending ones are read.
    pub const ALL: [Notice; 4] = [Notice::Gap, Notice::Lost, Notice::Lagged, Notice::RateLimited];

    /// The wire code, as sent in `extensions.code`.
    pub fn code(self) -> &'static str {
        match self {
            Notice::Lagged => EVENTS_LAGGED,
            Notice::Gap | Notice::Lost => EVENTS_GAP,
            Notice::RateLimited => RATE_LIMITED,
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn message(self, count: u64) -> String {
        match self {
            Notice::Lagged => format!("{count} events were dropped because the subscriber fell behind"),
            Notice::Gap => format!("events may have been lost: the bus was interrupted {count} times"),
            Notice::Lost => format!("{count} events were lost: the bus fell behind"),
            Notice::RateLimited => {
                format!("{count} events were not delivered: the delivery rate limit was exceeded")
            }
        }
    }
}

/// One slot of a response queue: a frame, or a notice whose count grows as it merges.
///
/// A frame is held as its body only, shared with every queue of the cohort (a reference
/// count, not a copy): the queue's own prefix completes it when it is read.
#[derive(Debug)]
enum Entry {
    Frame(FrameBody),
    Notice(Notice, u64),
}

/// What a response queue accounts for under its lock, beside the entries.
#[derive(Debug, Default)]
struct Ledger {
    /// Bytes of the `Frame` entries queued, counted as the frames will be written (prefix +
    /// body), not as the memory they pin: see [`ResponseQueue::queued_bytes`].
    bytes: usize,
    /// Notices that are not entries (they found the queue full, or their entry was
    /// evicted), counted per [`Notice::index`]. They are read at the head under
    /// drop-oldest (whatever was evicted came before every entry left) and at the tail
    /// under the other policies (before the next entry queued, or once the entries are
    /// read). Boxed: most queues never need it.
    pending: Option<Box<[u64; Notice::ALL.len()]>>,
}

impl Ledger {
    fn add_pending(&mut self, notice: Notice, count: u64) {
        let pending = self.pending.get_or_insert_with(Default::default);
        pending[notice.index()] = pending[notice.index()].saturating_add(count);
    }

    /// Remove and return the first pending notice, if any.
    fn take_pending(&mut self) -> Option<(Notice, u64)> {
        let pending = self.pending.as_mut()?;
        let taken = Notice::ALL.into_iter().find_map(|notice| {
            let count = std::mem::take(&mut pending[notice.index()]);
            (count > 0).then_some((notice, count))
        });
        if pending.iter().all(|count| *count == 0) {
            self.pending = None;
        }
        taken
    }
}

type EntrySlots = Slots<Entry, Ledger>;

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

    /// Whether an entry of `bytes` frame bytes fits now (a notice has none: it needs only a
    /// slot, even beside a lone frame larger than the byte bound).
    #[inline]
    fn fits(&self, slots: &EntrySlots, bytes: usize) -> bool {
        slots.items.len() < self.capacity
            && (bytes == 0
                || slots.ledger.bytes == 0
                || slots.ledger.bytes.saturating_add(bytes) <= self.max_bytes)
    }

    #[cold]
    fn overflow_with(
        &self,
        mut edit: MailboxEdit<'_, Entry, Ledger>,
        body: FrameBody,
        frame_len: usize,
    ) -> PushOutcome {
        match self.overflow {
            OverflowPolicy::DropOldest => {
                let evicted = self.evict_until_fits(edit.slots(), frame_len);
                edit.slots().ledger.bytes += frame_len;
                edit.push(Entry::Frame(body));
                PushOutcome::QueuedEvictedOldest { evicted }
            }
            OverflowPolicy::DropNewest => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                edit.slots().ledger.add_pending(Notice::Lagged, 1);
                PushOutcome::DroppedNewest
            }
            OverflowPolicy::Close => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.queue_pending(&mut edit);
                let error = GraphQLError::new(
                    QUEUE_OVERFLOW,
                    format!(
                        "the subscriber fell {} frames or {} bytes behind; subscription closed",
                        self.capacity, self.max_bytes
                    ),
                );
                let body = FrameBody::error(&[error]);
                edit.slots().ledger.bytes += self.frame_len(&body);
                edit.push(Entry::Frame(body));
                edit.close();
                PushOutcome::ClosedOnOverflow
            }
        }
    }

    /// Evict the oldest entries until `bytes` more fit; returns the frames evicted. Evicted
    /// notices, and a lag notice for the evicted frames, wait to be read first.
    fn evict_until_fits(&self, slots: &mut EntrySlots, bytes: usize) -> usize {
        let mut evicted = 0;
        while !self.fits(slots, bytes) {
            match slots.items.pop_front() {
                Some(Entry::Frame(body)) => {
                    slots.ledger.bytes -= self.frame_len(&body);
                    slots.ledger.add_pending(Notice::Lagged, 1);
                    evicted += 1;
                }
                Some(Entry::Notice(notice, count)) => slots.ledger.add_pending(notice, count),
                None => break,
            }
        }
        self.dropped.fetch_add(evicted as u64, Ordering::Relaxed);
        evicted
    }

    /// Queue the pending notices as entries, past the bounds if need be.
    fn queue_pending(&self, edit: &mut MailboxEdit<'_, Entry, Ledger>) {
        while let Some((notice, count)) = edit.slots().ledger.take_pending() {
            Self::append_notice(edit, notice, count);
        }
    }

    /// Append a notice entry, or merge it with the last entry if that is a notice of its kind.
    fn append_notice(edit: &mut MailboxEdit<'_, Entry, Ledger>, notice: Notice, count: u64) {
        if let Some(Entry::Notice(last, held)) = edit.slots().items.back_mut() {
            if *last == notice {
                *held = held.saturating_add(count);
                return;
            }
        }
        edit.push(Entry::Notice(notice, count));
    }

    /// Tell the subscriber it missed `count` of something, at this point of its stream.
    ///
    /// Never lost while the queue is open: the notice is queued, merged with a neighbour of
    /// its kind, or held (merged per kind) until it can be read. Returns `false` only if the
    /// queue is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// use subcast_core::Notice;
    ///
    /// assert!(queue.push_notice(Notice::Gap, 1));
    /// assert!(queue.push_notice(Notice::Gap, 1));
    /// // Two gaps not yet read are one notice counting both.
    /// let notice = queue.try_next().unwrap();
    /// assert!(std::str::from_utf8(&notice).unwrap().contains(r#""count":2"#));
    /// assert!(queue.try_next().is_none());
    /// ```
    pub fn push_notice(&self, notice: Notice, count: u64) -> bool {
        let queued = self.push_notice_locked(notice, count);
        if queued {
            self.wake_inbox();
        }
        queued
    }

    fn push_notice_locked(&self, notice: Notice, count: u64) -> bool {
        let Some(mut edit) = self.frames.edit() else {
            return false;
        };
        if count == 0 {
            return true;
        }
        let merges = matches!(edit.slots().items.back(), Some(Entry::Notice(last, _)) if *last == notice);
        // A notice merging with the last entry needs no room: counts add up where they meet.
        if !merges {
            if self.fits(edit.slots(), 0) {
                if self.overflow != OverflowPolicy::DropOldest {
                    self.queue_pending(&mut edit);
                }
            } else if self.overflow == OverflowPolicy::DropOldest {
                self.evict_until_fits(edit.slots(), 0);
            } else {
                edit.slots().ledger.add_pending(notice, count);
                return true;
            }
        }
        Self::append_notice(&mut edit, notice, count);
        true
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

    /// Take the next frame without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// assert_eq!(queue.try_next(), None);
    /// queue.push(frame(1));
    /// assert_eq!(&queue.try_next().unwrap()[..], br#"{"id":"1","type":"next","payload":{"data":1}}"#);
    /// ```
    pub fn try_next(&self) -> Option<Bytes> {
        self.take(&self.frames).ok()
    }

    /// Wait for the next frame on any executor; `None` when the subscription has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// queue.push(frame(1));
    /// assert!(futures_lite::future::block_on(queue.recv()).is_some());
    /// queue.close();
    /// assert_eq!(futures_lite::future::block_on(queue.recv()), None);
    /// ```
    pub async fn recv(&self) -> Option<Bytes> {
        self.frames.recv_with(|frames| self.take(frames)).await
    }

    /// Poll for the next frame, keeping the wake-up registration in `listener`.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// queue.push(frame(1));
    /// let mut listener = None;
    /// let next = futures_lite::future::block_on(std::future::poll_fn(|cx| queue.poll_recv(cx, &mut listener)));
    /// assert!(next.is_some());
    /// ```
    pub fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        listener: &mut Option<EventListener>,
    ) -> Poll<Option<Bytes>> {
        self.frames
            .poll_with(cx, listener, &mut |frames| self.take(frames))
    }

    /// Block this thread until a frame arrives, the subscription ends, or `timeout` passes.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// use std::time::Duration;
    /// use subcast_core::RecvTimeoutError;
    ///
    /// queue.push(frame(1));
    /// assert!(queue.recv_timeout(Duration::from_secs(5)).is_ok());
    /// assert_eq!(queue.recv_timeout(Duration::ZERO), Err(RecvTimeoutError::Timeout));
    /// queue.close();
    /// assert_eq!(queue.recv_timeout(Duration::from_secs(5)), Err(RecvTimeoutError::Closed));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Bytes, RecvTimeoutError> {
        self.frames.recv_timeout_with(timeout, |frames| self.take(frames))
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

    /// Take the next frame, telling an empty queue from an ended one.
    pub(crate) fn pop(&self) -> Result<Bytes, PopError> {
        self.take(&self.frames)
    }

    fn take(&self, frames: &Mailbox<Entry, Ledger>) -> Result<Bytes, PopError> {
        let mut slots = frames.lock();
        if self.overflow == OverflowPolicy::DropOldest {
            // Evicted entries were the oldest: what they stood for comes first.
            if let Some((notice, count)) = slots.ledger.take_pending() {
                return Ok(self.render(notice, count));
            }
        }
        match slots.items.pop_front() {
            Some(Entry::Frame(body)) => {
                slots.ledger.bytes -= self.frame_len(&body);
                shrink_if_drained(&mut slots.items);
                drop(slots);
                // The one copy of the frame for this subscriber, made by its reader, outside
                // the lock, and released as soon as the writer has sent it.
                Ok(self.prefix.splice(&body))
            }
            Some(Entry::Notice(notice, count)) => Ok(self.render(notice, count)),
            None => match slots.ledger.take_pending() {
                // Held back at the tail, and nothing came after them: read them now.
                Some((notice, count)) => Ok(self.render(notice, count)),
                None if frames.is_closed() => Err(PopError::Closed),
                None => Err(PopError::Empty),
            },
        }
    }

    fn render(&self, notice: Notice, count: u64) -> Bytes {
        let body = FrameBody::notice(notice.code(), &notice.message(count), Some(count));
        self.prefix.splice(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::sync::Arc;

    fn frame(_prefix: &FramePrefix, n: u64) -> FrameBody {
        FrameBody::next_data(&json!(n))
    }

    fn frame_len(prefix: &FramePrefix, body: &FrameBody) -> usize {
        prefix.splice(body).len()
    }

    fn parse(bytes: &Bytes) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    fn drain(queue: &ResponseQueue) -> Vec<Value> {
        std::iter::from_fn(|| queue.try_next())
            .map(|b| parse(&b))
            .collect()
    }

    #[test]
    fn drop_oldest_keeps_the_newest_frames_and_reports_the_gap_first() {
        let prefix = FramePrefix::new("s");
        let queue = ResponseQueue::new(prefix.clone(), 3, OverflowPolicy::DropOldest);
        for n in 0..5 {
            queue.push(frame(&prefix, n));
        }
        let got = drain(&queue);
        assert_eq!(got.len(), 4);
        assert_eq!(
            got[0]["payload"]["errors"][0]["extensions"]["code"],
            EVENTS_LAGGED
        );
        assert_eq!(got[0]["payload"]["errors"][0]["extensions"]["count"], 2);
        let data: Vec<_> = got[1..].iter().map(|f| f["payload"]["data"].clone()).collect();
        assert_eq!(data, [json!(2), json!(3), json!(4)]);
        assert_eq!(queue.dropped(), 2);
    }

    #[test]
    fn drop_newest_reports_the_gap_before_the_next_frame_that_fits() {
        let prefix = FramePrefix::new("s");
        let queue = ResponseQueue::new(prefix.clone(), 2, OverflowPolicy::DropNewest);
        let outcomes: Vec<_> = (0..4).map(|n| queue.push(frame(&prefix, n))).collect();
        assert_eq!(outcomes[2], PushOutcome::DroppedNewest);
        assert_eq!(outcomes[3], PushOutcome::DroppedNewest);
        queue.try_next().unwrap();
        queue.push(frame(&prefix, 9));
        let after = drain(&queue);
        assert_eq!(after[0]["payload"]["data"], 1);
        assert_eq!(after[1]["payload"]["errors"][0]["extensions"]["count"], 2);
        assert_eq!(after[2]["payload"]["data"], 9);
    }

    #[test]
    fn drop_newest_reports_the_gap_after_the_last_frame_when_nothing_follows() {
        let prefix = FramePrefix::new("s");
        let queue = ResponseQueue::new(prefix.clone(), 2, OverflowPolicy::DropNewest);
        for n in 0..4 {
            queue.push(frame(&prefix, n));
        }
        let got = drain(&queue);
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[2]["payload"]["errors"][0]["extensions"]["code"],
            EVENTS_LAGGED
        );
        assert_eq!(got[2]["payload"]["errors"][0]["extensions"]["count"], 2);
    }

    fn notice_counts(frames: &[Value]) -> Vec<(String, u64)> {
        frames
            .iter()
            .filter_map(|f| {
                let ext = &f["payload"]["errors"][0]["extensions"];
                Some((ext["code"].as_str()?.to_owned(), ext["count"].as_u64()?))
            })
            .collect()
    }

    fn total(frames: &[Value], code: &str) -> u64 {
        notice_counts(frames)
            .iter()
            .filter(|(c, _)| c == code)
            .map(|(_, n)| n)
            .sum()
    }

    #[test]
    fn the_byte_bound_applies_like_the_frame_bound_and_keeps_an_exact_total() {
        let prefix = FramePrefix::new("s");
        let one = frame_len(&prefix, &frame(&prefix, 1000));
        let queue =
            ResponseQueue::new(prefix.clone(), 100, OverflowPolicy::DropOldest).with_max_bytes(3 * one);
        for n in 1000..1010 {
            queue.push(frame(&prefix, n));
            assert!(queue.queued_bytes() <= 3 * one);
        }
        assert_eq!(queue.queued_bytes(), 3 * one);
        assert_eq!(queue.dropped(), 7);
        let got = drain(&queue);
        assert_eq!(total(&got, EVENTS_LAGGED), 7);
        assert_eq!(got.len(), 4);
        assert_eq!(queue.queued_bytes(), 0);
    }

    #[test]
    fn a_large_frame_evicts_as_many_older_frames_as_it_needs() {
        let prefix = FramePrefix::new("s");
        let small = frame(&prefix, 1);
        let small_len = frame_len(&prefix, &small);
        let queue =
            ResponseQueue::new(prefix.clone(), 100, OverflowPolicy::DropOldest).with_max_bytes(4 * small_len);
        for _ in 0..4 {
            queue.push(small.clone());
        }
        // Two small frames' worth of text: with its envelope, it needs three evicted.
        let large = FrameBody::next_data(&json!("x".repeat(small_len + 10)));
        let large_len = frame_len(&prefix, &large);
        assert!(large_len > 2 * small_len && large_len <= 3 * small_len);
        assert_eq!(queue.push(large), PushOutcome::QueuedEvictedOldest { evicted: 3 });
        assert_eq!(queue.queued_bytes(), small_len + large_len);
    }

    #[test]
    fn a_frame_over_the_byte_bound_still_fits_an_empty_queue() {
        let prefix = FramePrefix::new("s");
        let queue = ResponseQueue::new(prefix.clone(), 4, OverflowPolicy::DropNewest).with_max_bytes(1);
        assert_eq!(queue.push(frame(&prefix, 1)), PushOutcome::Queued);
        assert_eq!(queue.push(frame(&prefix, 2)), PushOutcome::DroppedNewest);
    }

    #[test]
    fn notices_evicted_by_drop_oldest_are_merged_and_read_first() {
        let prefix = FramePrefix::new("s");
        let queue = ResponseQueue::new(prefix.clone(), 2, OverflowPolicy::DropOldest);
        assert!(queue.push_notice(Notice::Gap, 1));
        assert!(queue.push_notice(Notice::RateLimited, 5));
        for n in 0..4 {
            queue.push(frame(&prefix, n));
        }
        assert!(queue.push_notice(Notice::Gap, 1));
        let got = drain(&queue);
        assert_eq!(total(&got, EVENTS_GAP), 2);
        assert_eq!(total(&got, crate::codes::RATE_LIMITED), 5);
        assert_eq!(total(&got, EVENTS_LAGGED), 3);
        let data: Vec<_> = got.iter().filter(|f| f["payload"]["data"].is_number()).collect();
        assert_eq!(data.len(), 1);
    }

    #[test]
    fn a_notice_that_finds_a_drop_newest_queue_full_waits_and_is_not_lost() {
        let prefix = FramePrefix::new("s");
        let queue = ResponseQueue::new(prefix.clone(), 1, OverflowPolicy::DropNewest);
        queue.push(frame(&prefix, 0));
        assert!(queue.push_notice(Notice::RateLimited, 2));
        assert!(queue.push_notice(Notice::Gap, 1));
        assert!(queue.push_notice(Notice::RateLimited, 3));
        let got = drain(&queue);
        assert_eq!(got[0]["payload"]["data"], 0);
        assert_eq!(total(&got, crate::codes::RATE_LIMITED), 5);
        assert_eq!(total(&got, EVENTS_GAP), 1);
    }

    #[test]
    fn notices_pending_when_a_close_policy_queue_overflows_come_before_its_error() {
        let prefix = FramePrefix::new("s");
        let queue = ResponseQueue::new(prefix.clone(), 1, OverflowPolicy::Close);
        queue.push(frame(&prefix, 0));
        assert!(queue.push_notice(Notice::Gap, 1));
        assert_eq!(queue.push(frame(&prefix, 1)), PushOutcome::ClosedOnOverflow);
        assert!(!queue.push_notice(Notice::Gap, 1));
        let got = drain(&queue);
        assert_eq!(got.len(), 3);
        assert_eq!(total(&got, EVENTS_GAP), 1);
        assert_eq!(got[2]["type"], "error");
    }

    #[test]
    fn neighbouring_notices_of_one_kind_merge_into_one_frame() {
        let prefix = FramePrefix::new("s");
        let queue = ResponseQueue::new(prefix.clone(), 8, OverflowPolicy::DropOldest);
        for _ in 0..5 {
            queue.push_notice(Notice::Gap, 1);
        }
        assert_eq!(notice_counts(&drain(&queue)), [(EVENTS_GAP.to_owned(), 5)]);
    }

    #[test]
    fn a_notice_beside_a_frame_over_the_byte_bound_evicts_nothing() {
        let prefix = FramePrefix::new("s");
        let queue = ResponseQueue::new(prefix.clone(), 4, OverflowPolicy::DropOldest).with_max_bytes(1);
        queue.push(frame(&prefix, 1));
        assert!(queue.push_notice(Notice::Gap, 1));
        assert_eq!(queue.dropped(), 0);
        assert_eq!(drain(&queue).len(), 2);
    }

    #[test]
    fn queues_of_a_cohort_hold_one_body_between_them_and_read_whole_frames() {
        let body = FrameBody::next_data(&json!({"s": "x".repeat(4096)}));
        let queues: Vec<_> = ["a", "b"]
            .map(|id| ResponseQueue::new(FramePrefix::new(id), 4, OverflowPolicy::DropOldest))
            .into_iter()
            .collect();
        for queue in &queues {
            queue.push(body.clone());
            let slots = queue.frames.lock();
            let Some(Entry::Frame(held)) = slots.items.front() else {
                panic!("a frame is queued");
            };
            assert_eq!(held.as_bytes().as_ptr(), body.as_bytes().as_ptr());
        }
        for queue in &queues {
            assert_eq!(queue.try_next().unwrap(), queue.prefix().splice(&body));
        }
    }

    #[test]
    fn an_entry_is_one_bytes_handle_in_size() {
        assert_eq!(size_of::<Entry>(), size_of::<Bytes>());
    }

    #[test]
    fn close_policy_ends_the_subscription_with_an_overflow_error() {
        let prefix = FramePrefix::new("s");
        let queue = ResponseQueue::new(prefix.clone(), 1, OverflowPolicy::Close);
        assert_eq!(queue.push(frame(&prefix, 0)), PushOutcome::Queued);
        assert_eq!(queue.push(frame(&prefix, 1)), PushOutcome::ClosedOnOverflow);
        assert_eq!(queue.push(frame(&prefix, 2)), PushOutcome::Closed);
        let got = drain(&queue);
        assert_eq!(got[1]["type"], "error");
        assert_eq!(got[1]["payload"][0]["extensions"]["code"], QUEUE_OVERFLOW);
        assert_eq!(
            queue.recv_timeout(Duration::from_secs(5)),
            Err(RecvTimeoutError::Closed)
        );
    }

    #[test]
    fn recv_timeout_times_out_on_an_empty_open_queue() {
        let queue = ResponseQueue::new(FramePrefix::new("s"), 4, OverflowPolicy::DropOldest);
        assert_eq!(
            queue.recv_timeout(Duration::from_millis(1)),
            Err(RecvTimeoutError::Timeout)
        );
    }

    #[test]
    fn closed_queue_is_drained_before_receivers_end() {
        let prefix = FramePrefix::new("s");
        let queue = ResponseQueue::new(prefix.clone(), 4, OverflowPolicy::DropOldest);
        queue.push(frame(&prefix, 1));
        queue.close();
        assert_eq!(queue.push(frame(&prefix, 2)), PushOutcome::Closed);
        assert!(futures_lite::future::block_on(queue.recv()).is_some());
        assert!(futures_lite::future::block_on(queue.recv()).is_none());
    }

    #[test]
    fn a_waiting_receiver_wakes_for_each_frame() {
        let prefix = FramePrefix::new("s");
        let queue = Arc::new(ResponseQueue::new(
            prefix.clone(),
            1024,
            OverflowPolicy::DropOldest,
        ));
        let reader = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                futures_lite::future::block_on(async {
                    let mut n = 0;
                    while queue.recv().await.is_some() {
                        n += 1;
                    }
                    n
                })
            })
        };
        for n in 0..10_000 {
            // Keep the queue from overflowing: the point is wake-ups, not capacity.
            while queue.len() > 512 {
                std::thread::yield_now();
            }
            queue.push(frame(&prefix, n));
        }
        queue.close();
        assert_eq!(reader.join().unwrap(), 10_000);
    }
}
