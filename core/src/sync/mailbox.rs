//! [`Mailbox`]: an unbounded MPMC queue with wake-ups, and the waits built on its pop.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use event_listener::{Event as Notify, EventListener};

use super::{block_until, poll_until};

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
pub(super) const RETAINED_CAPACITY: usize = 8;

/// An unbounded MPMC queue with wake-ups: a [`VecDeque`] under a [`Mutex`] +
/// [`event_listener::Event`].
///
/// # Examples
///
/// ```
/// use subcast_core::backend::Mailbox;
///
/// let mailbox = Mailbox::new();
/// mailbox.push(1).unwrap();
/// assert_eq!(futures_lite::future::block_on(mailbox.recv()), Some(1));
/// mailbox.close();
/// assert_eq!(futures_lite::future::block_on(mailbox.recv()), None);
/// ```
#[derive(Debug)]
pub struct Mailbox<T, L = ()> {
    /// Inline, not boxed: a fan-out pushes to 10k–100k mailboxes in a row, and every
    /// pointer between the mailbox and its items is one more likely cache miss per push.
    /// An empty `VecDeque` allocates nothing, so an idle mailbox stays small; one lock per
    /// push also lets [`ResponseQueue::push`](crate::queue::ResponseQueue::push) check, evict, count bytes and push in one step
    /// (its accounts are the ledger `L`, kept under the same lock).
    slots: Mutex<Slots<T, L>>,
    /// Written under the lock; read without it by [`Mailbox::is_closed`].
    closed: AtomicBool,
    ready: event_listener::Event,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The items of a [`Mailbox`] and the accounts kept with them, under one lock.
#[derive(Debug, Default)]
pub(crate) struct Slots<T, L> {
    pub(crate) items: VecDeque<T>,
    pub(crate) ledger: L,
}

impl<T> Mailbox<T> {
    /// Create an empty, open mailbox.
    pub fn new() -> Self {
        Self::with_ledger(())
    }

    /// Take the oldest item, telling an empty mailbox from a closed and drained one.
    pub fn pop(&self) -> Result<T, PopError> {
        let mut slots = self.lock();
        match slots.items.pop_front() {
            Some(item) => {
                shrink_if_drained(&mut slots.items);
                Ok(item)
            }
            None if self.closed.load(Ordering::Relaxed) => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }

    /// Take the oldest item without waiting.
    pub fn try_pop(&self) -> Option<T> {
        self.pop().ok()
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
}

/// After a burst, give the buffer back: a `VecDeque` keeps its peak capacity, and a quiet
/// subscriber should cost what an idle one does.
pub(crate) fn shrink_if_drained<T>(items: &mut VecDeque<T>) {
    if items.is_empty() && items.capacity() > 4 * RETAINED_CAPACITY {
        items.shrink_to(RETAINED_CAPACITY);
    }
}

impl<T, L> Mailbox<T, L> {
    pub(crate) fn with_ledger(ledger: L) -> Self {
        Mailbox {
            slots: Mutex::new(Slots {
                items: VecDeque::new(),
                ledger,
            }),
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
        self.lock().items.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.lock().items.is_empty()
    }

    /// Lock the items of an open mailbox; waiters are woken when the edit ends.
    pub(crate) fn edit(&self) -> Option<MailboxEdit<'_, T, L>> {
        let slots = self.lock();
        if self.closed.load(Ordering::Relaxed) {
            return None;
        }
        Some(MailboxEdit {
            mailbox: self,
            slots: Some(slots),
            pushed: 0,
            closed: false,
        })
    }

    /// Lock the items and ledger, open or closed (to take from them).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Slots<T, L>> {
        // Every critical section leaves the slots whole: a panic elsewhere cannot corrupt them.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn poll_with<R>(
        &self,
        cx: &mut Context<'_>,
        listener: &mut Option<EventListener>,
        take: &mut impl FnMut(&Self) -> Result<R, PopError>,
    ) -> Poll<Option<R>> {
        poll_wait(&self.ready, cx, listener, &mut || take(self))
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
        wait_timeout(&self.ready, timeout, &mut || take(self))
    }
}

/// Whether `take` decided: `Some(Some(item))`, `Some(None)` for closed, `None` to wait.
#[inline]
fn decided<R>(taken: Result<R, PopError>) -> Option<Option<R>> {
    match taken {
        Ok(item) => Some(Some(item)),
        Err(PopError::Closed) => Some(None),
        Err(PopError::Empty) => None,
    }
}

/// Poll until `take` yields (`Some`) or reports closed (`None`), woken through `ready`;
/// the registration is kept in `listener` between polls.
pub(crate) fn poll_wait<R>(
    ready: &Notify,
    cx: &mut Context<'_>,
    listener: &mut Option<EventListener>,
    take: &mut impl FnMut() -> Result<R, PopError>,
) -> Poll<Option<R>> {
    poll_until(ready, cx, listener, || decided(take()))
}

/// Block the thread until `take` yields, reports closed, or `timeout` passes, woken
/// through `ready`.
pub(crate) fn wait_timeout<R>(
    ready: &Notify,
    timeout: Duration,
    take: &mut impl FnMut() -> Result<R, PopError>,
) -> Result<R, RecvTimeoutError> {
    match block_until(ready, timeout, || decided(take())) {
        Some(Some(item)) => Ok(item),
        Some(None) => Err(RecvTimeoutError::Closed),
        None => Err(RecvTimeoutError::Timeout),
    }
}

/// The locked items of an open [`Mailbox`]; waiters are woken once the lock is released.
pub(crate) struct MailboxEdit<'a, T, L = ()> {
    mailbox: &'a Mailbox<T, L>,
    slots: Option<MutexGuard<'a, Slots<T, L>>>,
    pushed: usize,
    closed: bool,
}

impl<T, L> MailboxEdit<'_, T, L> {
    /// The items and the ledger.
    pub(crate) fn slots(&mut self) -> &mut Slots<T, L> {
        // Present until drop.
        self.slots.as_mut().expect("locked")
    }

    /// Append `item`.
    pub(crate) fn push(&mut self, item: T) {
        self.slots().items.push_back(item);
        self.pushed += 1;
    }

    /// Items queued.
    pub(crate) fn len(&mut self) -> usize {
        self.slots().items.len()
    }

    /// Take the oldest item.
    pub(crate) fn pop(&mut self) -> Option<T> {
        self.slots().items.pop_front()
    }

    /// Refuse further pushes once this edit ends.
    pub(crate) fn close(&mut self) {
        self.closed = true;
        self.mailbox.closed.store(true, Ordering::Release);
    }
}

impl<T, L> Drop for MailboxEdit<'_, T, L> {
    fn drop(&mut self) {
        // Unlock first, so a woken receiver finds the lock free.
        drop(self.slots.take());
        if self.closed {
            self.mailbox.ready.notify(usize::MAX);
        } else if self.pushed > 0 {
            // `additional`: a listener already notified but not yet run must not absorb this
            // wake-up, or a second consumer would sleep beside a queued item.
            self.mailbox.ready.notify_additional(self.pushed);
        }
    }
}
