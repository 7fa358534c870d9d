//! The async runtime an executor owns: smol by default, tokio with the `tokio` feature.
//!
//! - [`OwnedRuntime`]: the runtime as `Arc<dyn Runtime>` for the bus and the pump, a way to
//!   block on a future from a Python thread, and a `shutdown` that joins its threads.
//! - [`Blocker`]: a cheap clone of the way to block on the runtime, to use without a lock.
//! - [`NAME`]: which adapter this build uses.
//!
//! Each executor starts its own (no process-global runtime); nothing Python runs on it.
//! With tokio, that includes the reactor, so an executor made in a `fork()`ed child gets a
//! working runtime. smol's reactor (async-io) is process-wide: once a process used it, its
//! `fork()`ed children cannot (its thread is gone, its lock may stay held), so a smol build
//! refuses to start a runtime there rather than hang.

use std::future::Future;
use std::sync::Arc;

use subcast_core::Runtime;

/// The adapter this build runs on.
pub const NAME: &str = if cfg!(feature = "tokio") { "tokio" } else { "smol" };

/// A runtime started for one executor.
#[derive(Debug)]
pub struct OwnedRuntime {
    inner: Inner,
}

#[cfg(feature = "tokio")]
#[derive(Debug)]
struct Inner {
    runtime: Arc<subcast_tokio::TokioRuntime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[cfg(all(feature = "smol", not(feature = "tokio")))]
#[derive(Debug)]
struct Inner {
    runtime: Arc<subcast_smol::SmolRuntime>,
}

#[cfg(not(any(feature = "smol", feature = "tokio")))]
compile_error!("subcast-py needs the `smol` or the `tokio` feature");

impl OwnedRuntime {
    /// Start the runtime's thread.
    #[cfg(feature = "tokio")]
    pub fn start() -> std::io::Result<Self> {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let runtime = Arc::new(subcast_tokio::TokioRuntime::new(tokio.handle().clone()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("subcast-tokio".into())
            .spawn(move || {
                let _ = tokio.block_on(stopped);
            })?;
        Ok(OwnedRuntime {
            inner: Inner {
                runtime,
                stop: Some(stop),
                thread: Some(thread),
            },
        })
    }

    /// Start the runtime's thread.
    #[cfg(all(feature = "smol", not(feature = "tokio")))]
    pub fn start() -> std::io::Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        /// The fork generation that started async-io's reactor (`u64::MAX`: none yet).
        static REACTOR_STARTED_IN: AtomicU64 = AtomicU64::new(u64::MAX);
        let here = crate::fork::generation();
        let started = REACTOR_STARTED_IN.load(Ordering::Relaxed);
        if started != u64::MAX && started != here {
            return Err(std::io::Error::other(
                "this process was fork()ed from one that used smol's process-wide reactor, which \
                 does not survive fork(): create executors before forking only with the tokio build, \
                 or make the first one after the fork",
            ));
        }
        REACTOR_STARTED_IN.store(here, Ordering::Relaxed);
        Ok(OwnedRuntime {
            inner: Inner {
                runtime: Arc::new(subcast_smol::SmolRuntime::with_threads(1)),
            },
        })
    }

    /// The runtime as the engine takes it.
    pub fn runtime(&self) -> Arc<dyn Runtime> {
        self.inner.runtime.clone()
    }

    /// Run `future` to completion on the calling thread (which must not hold the GIL).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.blocker().block_on(future)
    }

    /// A clone of the way to block on this runtime, valid until [`OwnedRuntime::shutdown`].
    pub fn blocker(&self) -> Blocker {
        Blocker {
            #[cfg(feature = "tokio")]
            handle: self.inner.runtime.handle().clone(),
        }
    }

    /// Stop the runtime and join its threads.
    pub fn shutdown(&mut self) {
        #[cfg(feature = "tokio")]
        {
            if let Some(stop) = self.inner.stop.take() {
                let _ = stop.send(());
            }
            if let Some(thread) = self.inner.thread.take() {
                let _ = thread.join();
            }
        }
        #[cfg(not(feature = "tokio"))]
        self.inner.runtime.shutdown();
    }
}

/// Blocks the calling thread on futures that may need an [`OwnedRuntime`]'s reactor.
#[derive(Debug, Clone)]
pub struct Blocker {
    #[cfg(feature = "tokio")]
    handle: tokio::runtime::Handle,
}

impl Blocker {
    /// Run `future` to completion on the calling thread (which must not hold the GIL).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        #[cfg(feature = "tokio")]
        {
            self.handle.block_on(future)
        }
        #[cfg(not(feature = "tokio"))]
        {
            futures_lite::future::block_on(future)
        }
    }
}
