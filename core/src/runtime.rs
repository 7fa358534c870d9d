//! The async runtime the host application lends to subcast.
//!
//! - [`Runtime`]: spawn a task, sleep, read the clock. Object-safe; passed as `Arc<dyn Runtime>`.
//! - [`BoxFuture`]: the boxed future type the trait speaks in.
//! - [`within`]: bound a future by a duration measured with a runtime's timer.
//!
//! The core never picks a runtime: adapters (`subcast-tokio`, `subcast-smol`) implement
//! this trait and the application passes one in.

use std::fmt::Debug;
use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

pub use futures_core::future::BoxFuture;

use crate::error::{Error, Result};

/// An async runtime subcast can run its background work on.
///
/// # Examples
///
/// A complete implementation that runs every task on its own thread:
///
/// ```
/// use std::time::{Duration, Instant};
/// use subcast_core::{BoxFuture, Runtime};
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

/// Run `future`, failing with a bus error naming `what` if `runtime` sees `limit` pass first.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use subcast_core::{BoxFuture, Runtime};
/// use subcast_core::backend::within;
///
/// #[derive(Debug)]
/// struct Blocking;
///
/// impl Runtime for Blocking {
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
/// futures_lite::future::block_on(async {
///     let answer = within(&Blocking, Duration::from_secs(5), "answering", async { 42 }).await;
///     assert_eq!(answer.unwrap(), 42);
///     let never = within(&Blocking, Duration::ZERO, "waiting", std::future::pending::<()>()).await;
///     assert!(never.unwrap_err().to_string().contains("waiting timed out"));
/// });
/// ```
pub async fn within<T>(
    runtime: &dyn Runtime,
    limit: Duration,
    what: &str,
    future: impl Future<Output = T>,
) -> Result<T> {
    let mut future = std::pin::pin!(future);
    let mut expired = runtime.sleep(limit);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(value) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(value));
        }
        expired.as_mut().poll(cx).map(|()| {
            Err(Error::bus_message(
                "runtime",
                format!("{what} timed out after {limit:?}"),
            ))
        })
    })
    .await
}
