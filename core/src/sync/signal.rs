//! [`Signal`], a flag raised once and awaited, and `TaskCount`, the tasks a component
//! spawned.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use event_listener::{Event as Notify, EventListener};

use super::{block_until, poll_until, until};

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
    pub(super) running: AtomicUsize,
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
