//! subcast-smol: run subcast's background work on smol's executor.
//!
//! - [`SmolRuntime`]: subcast-core's [`Runtime`] over an [`async_executor::Executor`],
//!   either one the application owns and drives ([`SmolRuntime::new`]) or one started on
//!   threads of its own ([`SmolRuntime::with_threads`]).
//!
//! Timers come from `async-io`. No tokio runtime is involved.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use subcast_core::Runtime;
//! use subcast_smol::SmolRuntime;
//!
//! let runtime: Arc<dyn Runtime> = Arc::new(SmolRuntime::with_threads(1));
//! let (tx, rx) = std::sync::mpsc::channel();
//! runtime.spawn(Box::pin(async move { tx.send("ran").unwrap() }));
//! assert_eq!(rx.recv().unwrap(), "ran");
//! ```

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

use std::fmt;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_executor::Executor;
pub use subcast_core::Runtime;
use subcast_core::{BoxFuture, Signal};

/// subcast's [`Runtime`] on an [`async_executor::Executor`].
///
/// # Examples
///
/// Borrow the executor the application already drives:
///
/// ```
/// use std::sync::Arc;
/// use async_executor::Executor;
/// use subcast_core::Runtime;
/// use subcast_smol::SmolRuntime;
///
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let executor = Arc::new(Executor::new());
/// let runtime = SmolRuntime::new(executor.clone());
/// let ran = Arc::new(AtomicBool::new(false));
/// let flag = ran.clone();
/// runtime.spawn(Box::pin(async move { flag.store(true, Ordering::SeqCst) }));
/// // Nothing runs until the application drives its executor.
/// assert!(!ran.load(Ordering::SeqCst));
/// while executor.try_tick() {}
/// assert!(ran.load(Ordering::SeqCst));
/// ```
pub struct SmolRuntime {
    executor: Arc<Executor<'static>>,
    threads: Option<ExecutorThreads>,
}

/// The threads [`SmolRuntime::with_threads`] started, and how to stop them.
struct ExecutorThreads {
    stop: Arc<Signal>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl SmolRuntime {
    /// Run on `executor`, which the application keeps driving (`executor.run(…)`).
    pub fn new(executor: Arc<Executor<'static>>) -> Self {
        SmolRuntime {
            executor,
            threads: None,
        }
    }

    /// Start an executor on `threads` threads of its own (at least one); they stop and are
    /// joined on [`SmolRuntime::shutdown`] or drop.
    pub fn with_threads(threads: usize) -> Self {
        let executor = Arc::new(Executor::new());
        let stop = Arc::new(Signal::new());
        let handles = (0..threads.max(1))
            .map(|n| {
                let executor = executor.clone();
                let stop = stop.clone();
                std::thread::Builder::new()
                    .name(format!("subcast-smol-{n}"))
                    .spawn(move || async_io::block_on(executor.run(stop.raised())))
                    .expect("spawning an executor thread")
            })
            .collect();
        SmolRuntime {
            executor,
            threads: Some(ExecutorThreads {
                stop,
                handles: Mutex::new(handles),
            }),
        }
    }

    /// The executor tasks are spawned on.
    pub fn executor(&self) -> &Arc<Executor<'static>> {
        &self.executor
    }

    /// Stop and join the threads this runtime started; a borrowed executor is left alone.
    ///
    /// Tasks still pending stay on the executor and are dropped with it. Calling this from
    /// one of the runtime's own threads stops the threads without joining that one.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_smol::SmolRuntime;
    ///
    /// let runtime = SmolRuntime::with_threads(2);
    /// runtime.shutdown();
    /// runtime.shutdown(); // idempotent
    /// ```
    pub fn shutdown(&self) {
        let Some(threads) = &self.threads else {
            return;
        };
        threads.stop.raise();
        let handles = std::mem::take(&mut *threads.handles.lock().unwrap_or_else(|e| e.into_inner()));
        let me = std::thread::current().id();
        for handle in handles {
            if handle.thread().id() != me {
                // A thread that panicked has nothing left to clean up.
                let _ = handle.join();
            }
        }
    }
}

impl Drop for SmolRuntime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for SmolRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let threads = self
            .threads
            .as_ref()
            .map(|t| t.handles.lock().unwrap_or_else(|e| e.into_inner()).len());
        f.debug_struct("SmolRuntime")
            .field("owned_threads", &threads)
            .finish_non_exhaustive()
    }
}

impl Runtime for SmolRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        self.executor.spawn(future).detach();
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let timer = async_io::Timer::after(duration);
        Box::pin(async move {
            timer.await;
        })
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_threads_run_tasks_and_stop_on_drop() {
        let runtime = SmolRuntime::with_threads(2);
        let (tx, rx) = std::sync::mpsc::channel();
        for n in 0..10 {
            let tx = tx.clone();
            runtime.spawn(Box::pin(async move { tx.send(n).unwrap() }));
        }
        let mut got: Vec<i32> = (0..10).map(|_| rx.recv().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        drop(runtime);
    }

    #[test]
    fn sleep_completes_on_a_borrowed_executor() {
        let executor = Arc::new(Executor::new());
        let runtime = SmolRuntime::new(executor.clone());
        let sleep = runtime.sleep(Duration::from_millis(1));
        futures_lite::future::block_on(executor.run(sleep));
    }

    #[test]
    fn shutdown_from_an_executor_thread_does_not_join_itself() {
        let runtime = Arc::new(SmolRuntime::with_threads(1));
        let (tx, rx) = std::sync::mpsc::channel();
        let inner = runtime.clone();
        runtime.spawn(Box::pin(async move {
            inner.shutdown();
            tx.send(()).unwrap();
        }));
        rx.recv().unwrap();
    }
}
