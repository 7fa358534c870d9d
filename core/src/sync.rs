//! Waiting without losing a wake-up: the one check–listen–check, and what is built on it.
//!
//! - [`poll_until`], [`until`] (async, on any executor) and [`block_until`] (the thread,
//!   with a timeout; `Duration::MAX` waits untimed): wait until a check passes, woken
//!   through an [`event_listener::Event`]. They share the one check–listen–check: check;
//!   if not yet, listen; check again; only then wait. A notification between the two
//!   checks reaches the listener already registered, so no wake-up is lost.
//! - [`Mailbox`]: an unbounded MPMC queue with wake-ups, the queue underneath
//!   [`ResponseQueue`](crate::queue::ResponseQueue), the bus mailboxes and the channel watch.
//! - [`Signal`]: a flag raised once and awaited (stop, shutdown, a task that finished).
//! - `TaskCount`: the tasks a component spawned, to wait for the last one at shutdown.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use event_listener::{Event as Notify, EventListener, Listener};

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

/// The check–listen–check step: `Some(result)` when `check` decided, else a registered
/// `listener` on `event` to wait on.
///
/// Registering the listener before the second check is what makes a wake-up impossible
/// to lose: a notification after the second check reaches the listener we already hold.
#[inline]
fn attempt<R>(
    event: &Notify,
    listener: &mut Option<EventListener>,
    check: &mut impl FnMut() -> Option<R>,
) -> Option<R> {
    loop {
        if let Some(result) = check() {
            return Some(result);
        }
        if listener.is_some() {
            return None;
        }
        *listener = Some(event.listen());
    }
}

/// Poll until `check` returns `Some`, woken through `event`, which whoever changes what
/// `check` reads notifies after the change; the registration is kept in `listener` between
/// polls (the one check–listen–check every wait here is built on).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use subcast_core::backend::poll_until;
///
/// let (flag, event) = (AtomicBool::new(false), event_listener::Event::new());
/// let mut listener = None;
/// let ready = futures_lite::future::block_on(async {
///     flag.store(true, Ordering::SeqCst);
///     event.notify(usize::MAX);
///     std::future::poll_fn(|cx| {
///         poll_until(&event, cx, &mut listener, || flag.load(Ordering::SeqCst).then_some("set"))
///     })
///     .await
/// });
/// assert_eq!(ready, "set");
/// ```
pub fn poll_until<R>(
    event: &Notify,
    cx: &mut Context<'_>,
    listener: &mut Option<EventListener>,
    mut check: impl FnMut() -> Option<R>,
) -> Poll<R> {
    loop {
        if let Some(result) = attempt(event, listener, &mut check) {
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

/// Wait, on any executor, until `check` returns `Some`, woken through `event`.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use subcast_core::backend::until;
///
/// let state = Arc::new((AtomicBool::new(false), event_listener::Event::new()));
/// let setter = {
///     let state = state.clone();
///     std::thread::spawn(move || {
///         state.0.store(true, Ordering::SeqCst);
///         // Notified after the change, so a waiter that looked before it wakes to look again.
///         state.1.notify(usize::MAX);
///     })
/// };
/// let seen = futures_lite::future::block_on(until(&state.1, || state.0.load(Ordering::SeqCst).then_some("set")));
/// assert_eq!(seen, "set");
/// setter.join().unwrap();
/// ```
pub async fn until<R>(event: &Notify, mut check: impl FnMut() -> Option<R>) -> R {
    let mut listener = None;
    std::future::poll_fn(|cx| poll_until(event, cx, &mut listener, &mut check)).await
}

/// Block the thread until `check` returns `Some`, woken through `event`; `None` once
/// `timeout` has passed (`Duration::MAX`: never).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use subcast_core::backend::block_until;
///
/// let event = event_listener::Event::new();
/// assert_eq!(block_until(&event, Duration::from_millis(1), || None::<()>), None);
/// assert_eq!(block_until(&event, Duration::MAX, || Some(7)), Some(7));
/// ```
pub fn block_until<R>(event: &Notify, timeout: Duration, mut check: impl FnMut() -> Option<R>) -> Option<R> {
    // A timeout too large to add to now (`Duration::MAX`) means: wait without one.
    let deadline = Instant::now().checked_add(timeout);
    let mut listener = None;
    loop {
        if let Some(result) = attempt(event, &mut listener, &mut check) {
            return Some(result);
        }
        let Some(waiting) = listener.take() else {
            continue;
        };
        let Some(deadline) = deadline else {
            waiting.wait();
            continue;
        };
        if waiting.wait_deadline(deadline).is_none() {
            // One last look: a notification may have landed as the deadline passed.
            return check();
        }
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

/// A flag that can be awaited: raised once, it stays raised (a stop, a shutdown, a
/// task that finished).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use subcast_core::Signal;
///
/// let stop = Arc::new(Signal::new());
/// let worker = {
///     let stop = stop.clone();
///     std::thread::spawn(move || futures_lite::future::block_on(stop.or(std::future::pending::<()>())))
/// };
/// stop.raise();
/// // The pending work was abandoned when the signal was raised.
/// assert_eq!(worker.join().unwrap(), None);
/// assert!(stop.is_raised());
/// ```
#[derive(Debug, Default)]
pub struct Signal {
    raised: AtomicBool,
    notify: Notify,
}

impl Signal {
    /// A signal not raised yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raise the signal and wake every waiter; raising it again does nothing more.
    pub fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        self.notify.notify(usize::MAX);
    }

    /// Whether the signal was raised.
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// Wait, on any executor, until the signal is raised.
    pub async fn raised(&self) {
        until(&self.notify, || self.is_raised().then_some(())).await;
    }

    /// Block the thread until the signal is raised (`true`) or `timeout` passes (`false`;
    /// `Duration::MAX`: never).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        block_until(&self.notify, timeout, || self.is_raised().then_some(())).is_some()
    }

    /// Run `future` until it completes (`Some`) or the signal is raised (`None`).
    pub async fn or<F: Future>(&self, future: F) -> Option<F::Output> {
        let mut future = pin!(future);
        let mut listener: Option<EventListener> = None;
        std::future::poll_fn(|cx| {
            let raised = poll_until(&self.notify, cx, &mut listener, || self.is_raised().then_some(()));
            if raised.is_ready() {
                return Poll::Ready(None);
            }
            future.as_mut().poll(cx).map(Some)
        })
        .await
    }
}

/// Running tasks, counted so that their owner can wait for the last one to end; a
/// [`TaskGuard`] leaves the count when dropped (with its task's future, however it ends).
#[derive(Debug, Default)]
pub(crate) struct TaskCount {
    running: AtomicUsize,
    idle: Notify,
}

/// One task of a [`TaskCount`], counted until dropped.
#[derive(Debug)]
pub(crate) struct TaskGuard(Arc<TaskCount>);

impl TaskCount {
    /// Count one more task until the returned guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> TaskGuard {
        self.running.fetch_add(1, Ordering::SeqCst);
        TaskGuard(self.clone())
    }

    /// Wait until no task is running.
    pub(crate) async fn idle(&self) {
        until(&self.idle, || {
            (self.running.load(Ordering::SeqCst) == 0).then_some(())
        })
        .await;
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify(usize::MAX);
        }
    }
}

/// Wake one waiter of `event`, in addition to any already woken. Relaxed is enough where
/// the caller's own atomic (a queue's ready mark) orders what the waiter will read.
#[inline]
pub(crate) fn wake_one(event: &Notify) {
    use event_listener::IntoNotification;
    event.notify(1.additional().relaxed());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drained_mailbox_gives_back_the_buffer_of_a_burst() {
        let mailbox = Mailbox::new();
        for n in 0..1000 {
            mailbox.push(n).unwrap();
        }
        while mailbox.try_pop().is_some() {}
        let capacity = mailbox.lock().items.capacity();
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
    fn or_returns_none_once_the_signal_is_raised() {
        let signal = Signal::default();
        signal.raise();
        let out = futures_lite::future::block_on(signal.or(std::future::pending::<()>()));
        assert_eq!(out, None);
    }

    #[test]
    fn a_raise_on_another_thread_wakes_a_blocked_waiter() {
        let signal = Arc::new(Signal::new());
        let raiser = {
            let signal = signal.clone();
            std::thread::spawn(move || signal.raise())
        };
        assert!(signal.wait_timeout(Duration::MAX));
        raiser.join().unwrap();
    }

    #[test]
    fn a_blocked_wait_on_a_signal_never_raised_times_out() {
        assert!(!Signal::new().wait_timeout(Duration::from_millis(1)));
    }

    #[test]
    fn the_last_task_guard_dropped_ends_the_wait_for_idle() {
        let tasks = Arc::new(TaskCount::default());
        let guards: Vec<_> = (0..3).map(|_| tasks.enter()).collect();
        let dropper = std::thread::spawn(move || drop(guards));
        futures_lite::future::block_on(tasks.idle());
        dropper.join().unwrap();
        assert_eq!(tasks.running.load(Ordering::SeqCst), 0);
    }
}
