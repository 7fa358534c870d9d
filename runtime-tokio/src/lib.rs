//! subcast-tokio: run subcast's background work on a tokio runtime.
//!
//! - [`TokioRuntime`]: subcast-core's [`Runtime`] over a [`tokio::runtime::Handle`].
//!
//! The runtime must have its time driver enabled (`enable_time` or `enable_all`): subcast
//! sleeps between attempts to resubscribe a lost bus channel.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use subcast_core::Runtime;
//! use subcast_tokio::TokioRuntime;
//!
//! let tokio = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! let runtime: Arc<dyn Runtime> = Arc::new(TokioRuntime::new(tokio.handle().clone()));
//! tokio.block_on(async {
//!     runtime.sleep(std::time::Duration::from_millis(1)).await;
//! });
//! ```

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

use std::time::{Duration, Instant};

use subcast_core::BoxFuture;
pub use subcast_core::Runtime;
use tokio::runtime::Handle;

/// subcast's [`Runtime`] on tokio: tasks are spawned on the runtime of a [`Handle`].
///
/// # Examples
///
/// ```
/// use subcast_core::Runtime;
/// use subcast_tokio::TokioRuntime;
///
/// let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build().unwrap();
/// let runtime = TokioRuntime::new(tokio.handle().clone());
/// let (tx, rx) = std::sync::mpsc::channel();
/// runtime.spawn(Box::pin(async move { tx.send("ran").unwrap() }));
/// assert_eq!(rx.recv().unwrap(), "ran");
/// ```
#[derive(Debug, Clone)]
pub struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    /// Run on the runtime behind `handle`.
    pub fn new(handle: Handle) -> Self {
        TokioRuntime { handle }
    }

    /// Run on the tokio runtime of the calling thread, if there is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_tokio::TokioRuntime;
    ///
    /// assert!(TokioRuntime::try_current().is_none());
    /// let tokio = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// let _guard = tokio.enter();
    /// assert!(TokioRuntime::try_current().is_some());
    /// ```
    pub fn try_current() -> Option<Self> {
        Handle::try_current().ok().map(Self::new)
    }

    /// Run on the tokio runtime of the calling thread.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime; see [`TokioRuntime::try_current`].
    #[track_caller]
    pub fn current() -> Self {
        Self::new(Handle::current())
    }

    /// The handle tasks are spawned with.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Runtime for TokioRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        // Dropping the `JoinHandle` detaches the task; it still runs to completion.
        drop(self.handle.spawn(future));
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        // A `Sleep` binds to the timer of the runtime entered when it is created, and the
        // caller may be any thread: enter ours.
        let _entered = self.handle.enter();
        Box::pin(tokio::time::sleep(duration))
    }

    fn now(&self) -> Instant {
        let _entered = self.handle.enter();
        tokio::time::Instant::now().into_std()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_created_outside_the_runtime_completes_on_it() {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let runtime = TokioRuntime::new(tokio.handle().clone());
        let sleep = std::thread::spawn(move || runtime.sleep(Duration::from_millis(1)))
            .join()
            .unwrap();
        tokio.block_on(sleep);
    }

    #[tokio::test(start_paused = true)]
    async fn now_follows_tokio_paused_clock() {
        let runtime = TokioRuntime::current();
        let before = runtime.now();
        runtime.sleep(Duration::from_secs(3600)).await;
        assert!(runtime.now() - before >= Duration::from_secs(3600));
    }
}
