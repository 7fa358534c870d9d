//! Test support shared by the tests of subcast's networked buses (`subcast-redis`,
//! `subcast-postgres`); never published.
//!
//! - Runtimes, built explicitly by each test: [`tokio_runtime`] and [`smol_runtime`], the
//!   real adapters.
//! - Bounded waits, so a broken bus fails a test instead of hanging it: [`within`],
//!   [`next`], [`next_event`], [`next_frame`], all within [`PATIENCE`].
//! - Test data: [`unique`] channel names, [`counted`] events and their [`sequence`] number.
//! - [`pump`]: feed a bus stream to an executor, as a node does.
//! - [`scenarios`]: behaviours every bus must show, each a function taking the buses
//!   (including the bounded-buffer one, with [`scenarios::Gate`], a resolver that blocks
//!   the dispatcher until the test opens it).
//! - Redis Cluster: `subcast-redis`'s `RedisClusterBus` runs every scenario against the
//!   three-node cluster of `scripts/cluster` (tests `cluster.rs`, `cluster_faults.rs`).

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod scenarios;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::StreamExt;
use serde_json::json;
use subcast_core::{BusMessage, Event, EventStream, Runtime, SubscriptionExecutor, SubscriptionKey};
use subcast_smol::SmolRuntime;
use subcast_tokio::TokioRuntime;

/// Longest wait for anything a test expects to happen.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The tokio runtime the calling test runs on, as a [`Runtime`].
pub fn tokio_runtime() -> Arc<dyn Runtime> {
    Arc::new(TokioRuntime::current())
}

/// A smol runtime on two threads of its own, stopped when the last handle is dropped.
pub fn smol_runtime() -> Arc<dyn Runtime> {
    Arc::new(SmolRuntime::with_threads(2))
}

/// A channel name no other test (or earlier run) uses.
pub fn unique(name: &str) -> String {
    format!("{name}-{:016x}", fastrand::u64(..))
}

/// An event of type `counted` on `channel`, carrying `n`.
pub fn counted(channel: &str, n: u64) -> Arc<Event> {
    Arc::new(Event::new("counted", channel, json!({ "n": n })))
}

/// The `n` of a [`counted`] event; `None` for a gap notice.
pub fn sequence(message: &BusMessage) -> Option<u64> {
    match message {
        BusMessage::Event(event) => event.data["n"].as_u64(),
        BusMessage::Gap { .. } => None,
    }
}

/// Await `future`, failing the test if it takes longer than `limit`.
///
/// The timer is async-io's, which needs no runtime: it works under tokio and smol alike.
pub async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    let expired = async {
        async_io::Timer::after(limit).await;
        None
    };
    match futures_lite::future::or(async { Some(future.await) }, expired).await {
        Some(value) => value,
        None => panic!("{what}: nothing within {limit:?}"),
    }
}

/// The next message of `stream`, within [`PATIENCE`].
pub async fn next(stream: &mut EventStream) -> BusMessage {
    within(PATIENCE, "waiting for a bus message", stream.next())
        .await
        .expect("the bus stream ended")
}

/// The next message of `stream`, which must be an event.
pub async fn next_event(stream: &mut EventStream) -> Arc<Event> {
    match next(stream).await {
        BusMessage::Event(event) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Feed every message of `stream` to `executor`, on `runtime`.
pub fn pump(runtime: &Arc<dyn Runtime>, mut stream: EventStream, executor: Arc<SubscriptionExecutor>) {
    runtime.spawn(Box::pin(async move {
        while let Some(message) = stream.next().await {
            executor.dispatch_bus_message(&message).expect("dispatch");
        }
    }));
}

/// The next frame of subscription `key`, parsed, within [`PATIENCE`].
pub async fn next_frame(executor: &SubscriptionExecutor, key: SubscriptionKey) -> serde_json::Value {
    let frame = within(PATIENCE, "waiting for a frame", executor.recv(key))
        .await
        .expect("subscription exists")
        .expect("subscription open");
    serde_json::from_slice(&frame).expect("frames are JSON")
}
