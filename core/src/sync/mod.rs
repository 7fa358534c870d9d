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
//!
//! Files: `mod.rs` the waits; `mailbox.rs` the [`Mailbox`]; `signal.rs` [`Signal`] and
//! `TaskCount`.

mod mailbox;
mod signal;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use event_listener::{Event as Notify, EventListener, Listener};

pub(crate) use mailbox::{shrink_if_drained, MailboxEdit, Slots};
pub use mailbox::{Mailbox, PopError, RecvTimeoutError};
pub use signal::Signal;
pub(crate) use signal::TaskCount;

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

/// Wake one waiter of `event`, in addition to any already woken. Relaxed is enough where
/// the caller's own atomic (a queue's ready mark) orders what the waiter will read.
#[inline]
pub(crate) fn wake_one(event: &Notify) {
    use event_listener::IntoNotification;
    event.notify(1.additional().relaxed());
}
