//! The asyncio bridge thread: where waits for frames run on behalf of asyncio coroutines.
//!
//! - [`Bridge`]: one thread per executor running an `async_executor::Executor`; a waiting
//!   `recv` is a small task on it, woken by the response queue's listener, never a poll.
//!
//! The thread is the executor's own (no process-global runtime) and never runs Python
//! resolvers: it attaches to the interpreter only to hand a frame to an event loop.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_executor::Executor;

/// A dedicated thread driving the tasks that wait for frames for asyncio.
#[derive(Debug)]
pub struct Bridge {
    executor: Arc<Executor<'static>>,
    stopping: Arc<Stop>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Stop {
    requested: AtomicBool,
    signal: event_listener::Event,
}

impl Bridge {
    /// Start the thread.
    pub fn start() -> std::io::Result<Self> {
        let executor = Arc::new(Executor::new());
        let stopping = Arc::new(Stop::default());
        let thread = {
            let executor = executor.clone();
            let stopping = stopping.clone();
            std::thread::Builder::new()
                .name("subcast-asyncio".into())
                .spawn(move || futures_lite::future::block_on(executor.run(stopping.wait())))?
        };
        Ok(Bridge {
            executor,
            stopping,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Run `task` on the bridge thread (dropped unfinished if the bridge stops first).
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.executor.spawn(task).detach();
    }

    /// Run `task` on the bridge thread until it finishes or the returned handle is dropped.
    pub fn spawn_owned(&self, task: impl Future<Output = ()> + Send + 'static) -> async_executor::Task<()> {
        self.executor.spawn(task)
    }

    /// Ask the thread to stop, without waiting for it.
    pub fn request_stop(&self) {
        self.stopping.requested.store(true, Ordering::Release);
        self.stopping.signal.notify(usize::MAX);
    }

    /// Stop the thread and wait for it (call without holding the GIL).
    pub fn stop(&self) {
        self.request_stop();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Stop {
    async fn wait(&self) {
        loop {
            if self.requested.load(Ordering::Acquire) {
                return;
            }
            let listener = self.signal.listen();
            if self.requested.load(Ordering::Acquire) {
                return;
            }
            listener.await;
        }
    }
}
