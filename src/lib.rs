//! subcast: distribute events to GraphQL subscriptions.
//!
//! This facade re-exports [`subcast_core`], the runtime-free engine, and the runtime
//! adapters chosen by cargo features.
//!
//! - [`Node`]: an executor, its bus, the pump between them and a runtime, built in one
//!   call ([`Node::builder`]); [`Node::publish`] publishes and dispatches in one step.
//! - [`SubscriptionExecutor`]: register subscriptions, dispatch events, drain frames.
//! - [`InMemoryBus`]: the embedded bus.
//! - [`EventPump`]: drives an executor from a bus on a [`Runtime`] ([`Node`] starts one).
//! - `TokioRuntime` (feature `tokio`) and `SmolRuntime` (feature `smol`): the runtimes
//!   subcast runs on; [`default_runtime`] picks one the way quinn does.
//!
//! - `RedisBus` (feature `redis`), `RedisClusterBus` (feature `redis-cluster`) and
//!   `PostgresBus` (feature `postgres`): buses that carry events between nodes; they open
//!   sockets with whichever of `tokio` / `smol` is enabled.
//! - `NatsBus` (feature `nats`, which enables `tokio`): the bus over NATS, with optional
//!   JetStream replay; async-nats runs on tokio, so it is connected inside a tokio runtime.
//!
//! - `ws` (features `ws-axum`, `ws-tungstenite`): the graphql-transport-ws endpoint
//!   (`subcast_ws`): the connection loop over any WebSocket, an axum 0.8 handler and an
//!   async-tungstenite adapter.
//!
//! Neither runtime feature, one or both may be enabled. Without any, bring your own [`Runtime`]:
//! the trait's documentation shows a complete one.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub use subcast_core::*;

mod node;
pub use node::{Node, NodeBuilder, NodeStats};

#[cfg(feature = "smol")]
pub use subcast_smol::SmolRuntime;
#[cfg(feature = "tokio")]
pub use subcast_tokio::TokioRuntime;

#[cfg(feature = "nats")]
pub use subcast_nats::{JetStreamConfig, NatsBus, NatsConfig};
#[cfg(feature = "postgres")]
pub use subcast_postgres::{PostgresBus, PostgresConfig};
#[cfg(feature = "redis-cluster")]
pub use subcast_redis::RedisClusterBus;
#[cfg(feature = "redis")]
pub use subcast_redis::{RedisBus, RedisConfig};
#[cfg(any(feature = "ws-axum", feature = "ws-tungstenite"))]
pub use subcast_ws as ws;

use std::sync::Arc;

/// Pick a runtime for the calling context, as quinn's `default_runtime` does.
///
/// - with feature `tokio`, inside a tokio runtime: a [`TokioRuntime`] on it;
/// - else with feature `smol`: a process-wide `SmolRuntime`, created on first use with one
///   thread per available core. Its threads live as long as the process; an application
///   that wants to stop them builds its own `SmolRuntime::with_threads` instead;
/// - else `None`: no enabled feature can serve here.
///
/// The process-wide runtime is never handed across `fork()`: a child has none of its
/// parent's threads, so its first call starts a runtime of its own (the parent's is left
/// alone, never joined). Note that smol's timers and sockets go through async-io's reactor,
/// which is process-wide too: a child whose parent used it should run on tokio instead.
///
/// # Examples
///
/// ```
/// match subcast::default_runtime() {
///     Some(runtime) => println!("running on {runtime:?}"),
///     None => println!("enable the `tokio` or `smol` feature, or pass a runtime"),
/// }
/// ```
pub fn default_runtime() -> Option<Arc<dyn Runtime>> {
    #[cfg(feature = "tokio")]
    if let Some(runtime) = TokioRuntime::try_current() {
        return Some(Arc::new(runtime));
    }
    #[cfg(feature = "smol")]
    return Some(process_smol());
    #[allow(unreachable_code)]
    None
}

/// The process-wide `SmolRuntime` of the calling process.
#[cfg(feature = "smol")]
fn process_smol() -> Arc<SmolRuntime> {
    use std::sync::atomic::{AtomicPtr, Ordering};

    /// A runtime and the process that started it.
    struct ProcessRuntime {
        pid: u32,
        runtime: Arc<SmolRuntime>,
    }

    // Lock-free: a lock held by another thread at fork() would stay held in the child.
    // Published entries are leaked, never freed: a child must not join (or even drop) the
    // parent's runtime, whose threads it does not have.
    static CURRENT: AtomicPtr<ProcessRuntime> = AtomicPtr::new(std::ptr::null_mut());
    let pid = std::process::id();
    loop {
        let current = CURRENT.load(Ordering::Acquire);
        // SAFETY: a non-null pointer in CURRENT comes from `Box::into_raw` below and is never freed.
        if let Some(entry) = unsafe { current.as_ref() } {
            if entry.pid == pid {
                return entry.runtime.clone();
            }
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let runtime = Arc::new(SmolRuntime::with_threads(threads));
        let fresh = Box::into_raw(Box::new(ProcessRuntime {
            pid,
            runtime: runtime.clone(),
        }));
        match CURRENT.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return runtime,
            Err(_) => {
                // Another thread published first: stop ours and take theirs.
                // SAFETY: `fresh` was never published, so this is its only owner.
                drop(unsafe { Box::from_raw(fresh) });
            }
        }
    }
}

/// The README's Rust examples, compiled and run as doctests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
