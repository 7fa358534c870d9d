//! subcast: distribute events to GraphQL subscriptions.
//!
//! This facade re-exports [`subcast_core`], the runtime-free engine, and the runtime
//! adapters chosen by cargo features.
//!
//! - [`SubscriptionExecutor`]: register subscriptions, dispatch events, drain frames.
//! - [`InMemoryBus`]: the embedded bus; [`EventBus::publish_with_executor`] publishes and
//!   dispatches in one step.
//! - [`EventPump`]: drives an executor from a bus on a [`Runtime`].
//! - `TokioRuntime` (feature `tokio`) and `SmolRuntime` (feature `smol`): the runtimes
//!   subcast runs on; [`default_runtime`] picks one the way quinn does.
//!
//! - `RedisBus` (feature `redis`) and `PostgresBus` (feature `postgres`): buses that carry
//!   events between nodes; they open sockets with whichever of `tokio` / `smol` is enabled.
//!
//! - `ws` (features `ws-axum`, `ws-tungstenite`): the graphql-transport-ws endpoint
//!   (`subcast_ws`): the connection loop over any WebSocket, an axum 0.8 handler and an
//!   async-tungstenite adapter.
//!
//! Neither runtime feature, one or both may be enabled. Without any, bring your own [`Runtime`]:
//! the trait's documentation shows a complete one.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub use subcast_core::*;

#[cfg(feature = "smol")]
pub use subcast_smol::SmolRuntime;
#[cfg(feature = "tokio")]
pub use subcast_tokio::TokioRuntime;

#[cfg(feature = "postgres")]
pub use subcast_postgres::{PostgresBus, PostgresConfig};
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
    {
        use std::sync::OnceLock;
        static PROCESS_SMOL: OnceLock<Arc<SmolRuntime>> = OnceLock::new();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let runtime = PROCESS_SMOL.get_or_init(|| Arc::new(SmolRuntime::with_threads(threads)));
        return Some(runtime.clone());
    }
    #[allow(unreachable_code)]
    None
}

/// The README's Rust examples, compiled and run as doctests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
