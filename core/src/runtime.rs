//! The async runtime the host application lends to subcast.
//!
//! - [`Runtime`]: spawn a task, sleep, read the clock. Object-safe; passed as `Arc<dyn Runtime>`.
//! - [`BoxFuture`]: the boxed future type the trait speaks in.
//!
//! The core never picks a runtime: adapters (`subcast-tokio`, `subcast-smol`) implement
//! this trait and the application passes one in.

use std::fmt::Debug;
use std::time::{Duration, Instant};

pub use futures_core::future::BoxFuture;

/// An async runtime subcast can run its background work on.
///
/// # Examples
///
/// A complete implementation that runs every task on its own thread:
///
/// ```
/// use std::time::{Duration, Instant};
/// use subcast_core::runtime::{BoxFuture, Runtime};
///
/// #[derive(Debug)]
/// struct ThreadPerTask;
///
/// impl Runtime for ThreadPerTask {
///     fn spawn(&self, future: BoxFuture<'static, ()>) {
///         std::thread::spawn(move || futures_lite::future::block_on(future));
///     }
///     fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
///         Box::pin(async move { std::thread::sleep(duration) })
///     }
///     fn now(&self) -> Instant {
///         Instant::now()
///     }
/// }
///
/// let runtime: std::sync::Arc<dyn Runtime> = std::sync::Arc::new(ThreadPerTask);
/// let (tx, rx) = std::sync::mpsc::channel();
/// runtime.spawn(Box::pin(async move { tx.send(42).unwrap() }));
/// assert_eq!(rx.recv().unwrap(), 42);
/// ```
pub trait Runtime: Send + Sync + Debug + 'static {
    /// Drive `future` to completion in the background.
    fn spawn(&self, future: BoxFuture<'static, ()>);

    /// Return a future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// Read the runtime's clock.
    fn now(&self) -> Instant;
}
