//! Response queues: the frames waiting for one subscriber's WebSocket.
//!
//! - [`ResponseQueue`]: bounded frames of one subscription, with an [`OverflowPolicy`];
//!   non-blocking [`ResponseQueue::try_next`], async [`ResponseQueue::recv`] on any executor,
//!   blocking [`ResponseQueue::recv_timeout`].
//! - [`Mailbox`]: the queue + wake-up pair underneath, also used by the in-memory
//!   bus. It holds the one copy of the check–listen–check wait.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use event_listener::{EventListener, Listener};

use crate::frame::{FrameBody, FramePrefix, GraphQLError, EVENTS_LAGGED, QUEUE_OVERFLOW};

/// Default number of frames a [`ResponseQueue`] holds.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

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

/// Why a blocking receive returned without a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvTimeoutError {
    /// Nothing arrived in time.
    #[error("no frame arrived before the timeout")]
    Timeout,
    /// The queue is closed and empty: the subscription has ended.
    #[error("the subscription has ended")]
    Closed,
}

/// Why [`Mailbox::pop`] returned no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PopError {
    /// Nothing is queued right now.
    #[error("the mailbox is empty")]
    Empty,
    /// Nothing is queued and nothing will be: the mailbox is closed.
    #[error("the mailbox is closed and drained")]
    Closed,
}

/// Items a drained mailbox keeps room for; a burst's larger buffer is given back.
const RETAINED_CAPACITY: usize = 8;

/// An unbounded MPMC queue with wake-ups: a [`VecDeque`] under a [`Mutex`] +
/// [`event_listener::Event`].
///
/// # Examples
///
/// ```
/// use subcast_core::queue::Mailbox;
///
/// let mailbox = Mailbox::new();
/// mailbox.push(1).unwrap();
/// assert_eq!(futures_lite::future::block_on(mailbox.recv()), Some(1));
/// mailbox.close();
/// assert_eq!(futures_lite::future::block_on(mailbox.recv()), None);
/// ```
#[derive(Debug)]
pub struct Mailbox<T> {
    /// Inline, not boxed: a fan-out pushes to 10k–100k mailboxes in a row, and every
    /// pointer between the mailbox and its items is one more likely cache miss per push.
    /// An empty `VecDeque` allocates nothing, so an idle mailbox stays small; one lock per
    /// push also lets [`ResponseQueue::push`] check, evict and push in one step.
    items: Mutex<VecDeque<T>>,
    /// Written under the lock; read without it by [`Mailbox::is_closed`].
    closed: AtomicBool,
    ready: event_listener::Event,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Mailbox<T> {
    /// Create an empty, open mailbox.
    pub fn new() -> Self {
        Mailbox {
            items: Mutex::new(VecDeque::new()),
            closed: AtomicBool::new(false),
            ready: event_listener::Event::new(),
        }
    }

    /// Append `item` and wake one waiter; give it back if the mailbox is closed.
    pub fn push(&self, item: T) -> Result<(), T> {
        match self.edit() {
            Some(mut items) => {
                items.push(item);
                Ok(())
            }
            None => Err(item),
        }
    }

    /// Take the oldest item without waiting.
    pub fn try_pop(&self) -> Option<T> {
        self.pop().ok()
    }

    /// Take the oldest item, telling an empty mailbox from a closed and drained one.
    pub fn pop(&self) -> Result<T, PopError> {
        let mut items = self.lock();
        match items.pop_front() {
            Some(item) => {
                if items.is_empty() && items.capacity() > 4 * RETAINED_CAPACITY {
                    // A `VecDeque` keeps its peak buffer: after a burst, give it back so a
                    // quiet subscriber costs what an idle one does.
                    items.shrink_to(RETAINED_CAPACITY);
                }
                Ok(item)
            }
            None if self.closed.load(Ordering::Relaxed) => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }

    /// Refuse further pushes and wake every waiter; queued items stay readable.
    pub fn close(&self) -> bool {
        match self.edit() {
            Some(mut items) => {
                items.close();
                true
            }
            None => false,
        }
    }

    /// Whether [`Mailbox::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Number of queued items.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Lock the items of an open mailbox; waiters are woken when the edit ends.
    pub(crate) fn edit(&self) -> Option<MailboxEdit<'_, T>> {
        let items = self.lock();
        if self.closed.load(Ordering::Relaxed) {
            return None;
        }
        Some(MailboxEdit {
            mailbox: self,
            items: Some(items),
            pushed: 0,
            closed: false,
        })
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<T>> {
        // Every critical section leaves the deque whole: a panic elsewhere cannot corrupt it.
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait for the next item; `None` once the mailbox is closed and drained.
    pub async fn recv(&self) -> Option<T> {
        self.recv_with(Self::pop).await
    }

    /// Poll for the next item, keeping the wake-up registration in `listener`.
    pub fn poll_recv(&self, cx: &mut Context<'_>, listener: &mut Option<EventListener>) -> Poll<Option<T>> {
        self.poll_with(cx, listener, &mut Self::pop)
    }

    /// Block the thread until an item arrives, the mailbox closes, or `timeout` passes.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_timeout_with(timeout, Self::pop)
    }

    /// The check–listen–check step: `Some(result)` when `take` decided, else a registered
    /// `listener` to wait on.
    ///
    /// Registering the listener before the second check is what makes a wake-up impossible
    /// to lose: a push after the second check notifies the listener we already hold.
    fn attempt<R>(
        &self,
        listener: &mut Option<EventListener>,
        take: &mut impl FnMut(&Self) -> Result<R, PopError>,
    ) -> Option<Option<R>> {
        loop {
            match take(self) {
                Ok(item) => return Some(Some(item)),
                Err(PopError::Closed) => return Some(None),
                Err(PopError::Empty) => {}
            }
            if listener.is_some() {
                return None;
            }
            *listener = Some(self.ready.listen());
        }
    }

    pub(crate) fn poll_with<R>(
        &self,
        cx: &mut Context<'_>,
        listener: &mut Option<EventListener>,
        take: &mut impl FnMut(&Self) -> Result<R, PopError>,
    ) -> Poll<Option<R>> {
        loop {
            if let Some(result) = self.attempt(listener, take) {
                *listener = None;
                return Poll::Ready(result);
            }
            let Some(waiting) = listener.as_mut() else {
                continue;
            };
            match Pin::new(waiting).poll(cx) {
                Poll::Ready(()) => *listener = None,
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    pub(crate) async fn recv_with<R>(&self, mut take: impl FnMut(&Self) -> Result<R, PopError>) -> Option<R> {
        let mut listener = None;
        std::future::poll_fn(|cx| self.poll_with(cx, &mut listener, &mut take)).await
    }

    pub(crate) fn recv_timeout_with<R>(
        &self,
        timeout: Duration,
        mut take: impl FnMut(&Self) -> Result<R, PopError>,
    ) -> Result<R, RecvTimeoutError> {
        // A timeout too large to add to now (`Duration::MAX`) means: wait without one.
        let deadline = Instant::now().checked_add(timeout);
        let mut listener = None;
        loop {
            if let Some(result) = self.attempt(&mut listener, &mut take) {
                return result.ok_or(RecvTimeoutError::Closed);
            }
            let Some(waiting) = listener.take() else {
                continue;
            };
            let Some(deadline) = deadline else {
                waiting.wait();
                continue;
            };
            if waiting.wait_deadline(deadline).is_none() {
                // One last look: a push may have landed as the deadline passed.
                return match take(self) {
                    Ok(item) => Ok(item),
                    Err(PopError::Closed) => Err(RecvTimeoutError::Closed),
                    Err(PopError::Empty) => Err(RecvTimeoutError::Timeout),
                };
            }
        }
    }
}

/// The locked items of an open [`Mailbox`]; waiters are woken once the lock is released.
pub(crate) struct MailboxEdit<'a, T> {
    mailbox: &'a Mailbox<T>,
    items: Option<MutexGuard<'a, VecDeque<T>>>,
    pushed: usize,
    closed: bool,
}

impl<T> MailboxEdit<'_, T> {
    fn items(&mut self) -> &mut VecDeque<T> {
        // Present until drop.
        self.items.as_mut().expect("locked")
    }

    /// Append `item`.
    pub(crate) fn push(&mut self, item: T) {
        self.items().push_back(item);
        self.pushed += 1;
    }

    /// Take the oldest item.
    pub(crate) fn pop(&mut self) -> Option<T> {
        self.items().pop_front()
    }

    /// Number of queued items.
    pub(crate) fn len(&mut self) -> usize {
        self.items().len()
    }

    /// Refuse further pushes once this edit ends.
    pub(crate) fn close(&mut self) {
        self.closed = true;
        self.mailbox.closed.store(true, Ordering::Release);
    }
}

impl<T> Drop for MailboxEdit<'_, T> {
    fn drop(&mut self) {
        // Unlock first, so a woken receiver finds the lock free.
        drop(self.items.take());
        if self.closed {
            self.mailbox.ready.notify(usize::MAX);
        } else if self.pushed > 0 {
            // `additional`: a listener already notified but not yet run must not absorb this
            // wake-up, or a second consumer would sleep beside a queued item.
            self.mailbox.ready.notify_additional(self.pushed);
        }
    }
}

/// What [`ResponseQueue::push`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// The frame is queued.
    Queued,
    /// The frame is queued; the oldest frame was evicted to make room.
    QueuedEvictedOldest,
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
        matches!(self, PushOutcome::Queued | PushOutcome::QueuedEvictedOldest)
    }
}

/// The frames of one subscription, waiting for its WebSocket.
///
/// Bounded to `capacity` frames (a lag notice may pass it by one).
/// Frames lost to overflow are counted, and the subscriber receives an `EVENTS_LAGGED`
/// notice with the count at the place of the gap.
///
/// # Examples
///
/// ```
/// use subcast_core::frame::{FrameBody, FramePrefix};
/// use subcast_core::queue::{OverflowPolicy, ResponseQueue};
///
/// let prefix = FramePrefix::new("1");
/// let queue = ResponseQueue::new(prefix.clone(), 1, OverflowPolicy::DropOldest);
/// queue.push(prefix.splice(&FrameBody::next_data(&serde_json::json!(1))));
/// queue.push(prefix.splice(&FrameBody::next_data(&serde_json::json!(2))));
/// let notice = queue.try_next().unwrap();
/// assert!(std::str::from_utf8(&notice).unwrap().contains("EVENTS_LAGGED"));
/// assert_eq!(&queue.try_next().unwrap()[..], br#"{"id":"1","type":"next","payload":{"data":2}}"#);
/// ```
#[derive(Debug)]
pub struct ResponseQueue {
    frames: Mailbox<Bytes>,
    prefix: FramePrefix,
    capacity: usize,
    overflow: OverflowPolicy,
    /// Frames lost and not yet reported to the subscriber.
    unreported: AtomicU64,
    /// Frames lost over the queue's life.
    dropped: AtomicU64,
}

impl ResponseQueue {
    /// Create an empty queue for the subscription whose frames start with `prefix`.
    pub fn new(prefix: FramePrefix, capacity: usize, overflow: OverflowPolicy) -> Self {
        ResponseQueue {
            frames: Mailbox::new(),
            prefix,
            capacity: capacity.max(1),
            overflow,
            unreported: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Queue `frame` and wake the subscriber, applying the overflow policy when full.
    pub fn push(&self, frame: Bytes) -> PushOutcome {
        // One lock for the closed check, the capacity check, the eviction and the push.
        let Some(mut frames) = self.frames.edit() else {
            return PushOutcome::Closed;
        };
        if frames.len() < self.capacity {
            if self.overflow == OverflowPolicy::DropNewest {
                // The gap is here, before this frame: report it in place.
                let lost = self.unreported.swap(0, Ordering::AcqRel);
                if lost > 0 {
                    frames.push(self.lagged_notice(lost));
                }
            }
            frames.push(frame);
            return PushOutcome::Queued;
        }
        match self.overflow {
            OverflowPolicy::DropOldest => {
                if frames.pop().is_some() {
                    self.count_lost();
                }
                frames.push(frame);
                PushOutcome::QueuedEvictedOldest
            }
            OverflowPolicy::DropNewest => {
                self.count_lost();
                PushOutcome::DroppedNewest
            }
            OverflowPolicy::Close => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                let error = GraphQLError::new(
                    QUEUE_OVERFLOW,
                    format!(
                        "the subscriber fell {} frames behind; subscription closed",
                        self.capacity
                    ),
                );
                frames.push(self.prefix.splice(&FrameBody::error(&[error])));
                frames.close();
                PushOutcome::ClosedOnOverflow
            }
        }
    }

    /// Queue `frame` as the last one, past the capacity if need be, and close the queue.
    pub fn end_with(&self, frame: Bytes) {
        if let Some(mut frames) = self.frames.edit() {
            frames.push(frame);
            frames.close();
        }
    }

    /// Close the queue: no more frames; queued frames stay readable, then receivers end.
    pub fn close(&self) {
        self.frames.close();
    }

    /// Whether the queue is closed.
    pub fn is_closed(&self) -> bool {
        self.frames.is_closed()
    }

    /// Take the next frame without waiting.
    pub fn try_next(&self) -> Option<Bytes> {
        self.take(&self.frames).ok()
    }

    /// Wait for the next frame on any executor; `None` when the subscription has ended.
    pub async fn recv(&self) -> Option<Bytes> {
        self.frames.recv_with(|frames| self.take(frames)).await
    }

    /// Poll for the next frame, keeping the wake-up registration in `listener`.
    pub fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        listener: &mut Option<EventListener>,
    ) -> Poll<Option<Bytes>> {
        self.frames
            .poll_with(cx, listener, &mut |frames| self.take(frames))
    }

    /// Block this thread until a frame arrives, the subscription ends, or `timeout` passes.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Bytes, RecvTimeoutError> {
        self.frames.recv_timeout_with(timeout, |frames| self.take(frames))
    }

    /// Frames waiting to be read.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Frames lost to overflow over the queue's life.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The prefix of this subscription's frames.
    pub fn prefix(&self) -> &FramePrefix {
        &self.prefix
    }

    fn take(&self, frames: &Mailbox<Bytes>) -> Result<Bytes, PopError> {
        if self.overflow == OverflowPolicy::DropOldest {
            // Evicted frames were the oldest: the gap is at the head, report it first.
            let lost = self.unreported.swap(0, Ordering::AcqRel);
            if lost > 0 {
                return Ok(self.lagged_notice(lost));
            }
        }
        frames.pop()
    }

    fn count_lost(&self) {
        self.unreported.fetch_add(1, Ordering::AcqRel);
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    fn lagged_notice(&self, lost: u64) -> Bytes {
        let message = format!("{lost} events were dropped because the subscriber fell behind");
        self.prefix
            .splice(&FrameBody::notice(EVENTS_LAGGED, &message, Some(lost)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::sync::Arc;

    fn frame(prefix: &FramePrefix, n: u64) -> Bytes {
        prefix.splice(&FrameBody::next_data(&json!(n)))
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
        let first = drain(&queue);
        assert_eq!(first.len(), 2);
        queue.push(frame(&prefix, 9));
        let after = drain(&queue);
        assert_eq!(after[0]["payload"]["errors"][0]["extensions"]["count"], 2);
        assert_eq!(after[1]["payload"]["data"], 9);
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
    fn a_drained_mailbox_gives_back_the_buffer_of_a_burst() {
        let mailbox = Mailbox::new();
        for n in 0..1000 {
            mailbox.push(n).unwrap();
        }
        while mailbox.try_pop().is_some() {}
        let capacity = mailbox.items.lock().unwrap().capacity();
        assert!(
            capacity <= 4 * RETAINED_CAPACITY,
            "kept room for {capacity} items"
        );
    }

    #[test]
    fn concurrent_producers_and_consumers_lose_no_wakeup() {
        const PRODUCERS: u64 = 4;
        const PER_PRODUCER: u64 = 20_000;
        let mailbox = Arc::new(Mailbox::<u64>::new());
        let (taken, received) = std::sync::mpsc::channel();
        let consumers: Vec<_> = (0..3)
            .map(|i| {
                let (mailbox, taken) = (mailbox.clone(), taken.clone());
                std::thread::spawn(move || {
                    if i == 0 {
                        // One consumer waits asynchronously, the others block.
                        futures_lite::future::block_on(async {
                            while let Some(n) = mailbox.recv().await {
                                taken.send(n).unwrap();
                            }
                        });
                    } else {
                        while let Ok(n) = mailbox.recv_timeout(Duration::from_secs(600)) {
                            taken.send(n).unwrap();
                        }
                    }
                })
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let mailbox = mailbox.clone();
                std::thread::spawn(move || {
                    for n in 0..PER_PRODUCER {
                        mailbox.push(p * PER_PRODUCER + n).unwrap();
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.join().unwrap();
        }
        // Every item must be taken while the mailbox is still open: closing wakes everyone
        // and would hide a lost wake-up.
        let mut all: Vec<u64> = (0..PRODUCERS * PER_PRODUCER)
            .map(|_| {
                received
                    .recv_timeout(Duration::from_secs(60))
                    .expect("an item was left waiting")
            })
            .collect();
        mailbox.close();
        consumers.into_iter().for_each(|c| c.join().unwrap());
        all.sort_unstable();
        assert_eq!(all, (0..PRODUCERS * PER_PRODUCER).collect::<Vec<_>>());
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
