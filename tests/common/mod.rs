//! What every engine scenario needs: the runtimes it runs under, a node, frames as JSON.
//!
//! A scenario is `async fn(Arc<dyn Runtime>)`; [`on_every_runtime!`] instantiates it as one
//! test per runtime: tokio current-thread, tokio multi-thread, smol on an executor the test
//! drives, smol on threads of its own, and plain threads (no async runtime at all).

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_executor::Executor;
use serde_json::{json, Value};
use subcast::{BoxFuture, Signal};
use subcast::{
    Event, EventPump, ExecutorConfig, InMemoryBus, PumpConfig, Runtime, SmolRuntime, SubscriptionExecutor,
    SubscriptionKey, TokioRuntime,
};

/// How long a scenario may take before it is declared stuck.
pub const SCENARIO_TIMEOUT: Duration = Duration::from_secs(30);

/// Instantiate each scenario once per runtime, in a module named after the scenario.
#[macro_export]
macro_rules! on_every_runtime {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn tokio_current_thread() {
                $crate::common::tokio_current_thread(super::$scenario)
            }
            #[test]
            fn tokio_multi_thread() {
                $crate::common::tokio_multi_thread(super::$scenario)
            }
            #[test]
            fn smol_borrowed_executor() {
                $crate::common::smol_borrowed_executor(super::$scenario)
            }
            #[test]
            fn smol_owned_threads() {
                $crate::common::smol_owned_threads(super::$scenario)
            }
            #[test]
            fn plain_threads() {
                $crate::common::plain_threads(super::$scenario)
            }
        }
    )*};
}

pub fn tokio_current_thread<S, F>(scenario: S)
where
    S: FnOnce(Arc<dyn Runtime>) -> F,
    F: Future<Output = ()>,
{
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let runtime = Arc::new(TokioRuntime::new(tokio.handle().clone()));
    tokio.block_on(within_timeout(scenario(runtime)));
}

pub fn tokio_multi_thread<S, F>(scenario: S)
where
    S: FnOnce(Arc<dyn Runtime>) -> F,
    F: Future<Output = ()>,
{
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let runtime = Arc::new(TokioRuntime::new(tokio.handle().clone()));
    tokio.block_on(within_timeout(scenario(runtime)));
}

/// smol the way an application embeds it: the test thread drives the executor.
pub fn smol_borrowed_executor<S, F>(scenario: S)
where
    S: FnOnce(Arc<dyn Runtime>) -> F,
    F: Future<Output = ()>,
{
    let executor = Arc::new(Executor::new());
    let runtime = Arc::new(SmolRuntime::new(executor.clone()));
    async_io::block_on(executor.run(within_timeout(scenario(runtime))));
}

pub fn smol_owned_threads<S, F>(scenario: S)
where
    S: FnOnce(Arc<dyn Runtime>) -> F,
    F: Future<Output = ()>,
{
    let runtime = Arc::new(SmolRuntime::with_threads(2));
    futures_lite::future::block_on(within_timeout(scenario(runtime.clone())));
    runtime.shutdown();
}

pub fn plain_threads<S, F>(scenario: S)
where
    S: FnOnce(Arc<dyn Runtime>) -> F,
    F: Future<Output = ()>,
{
    futures_lite::future::block_on(within_timeout(scenario(Arc::new(ThreadPerTask))));
}

/// No async runtime: every task gets a thread of its own, blocking on it.
#[derive(Debug)]
pub struct ThreadPerTask;

impl Runtime for ThreadPerTask {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        std::thread::spawn(move || futures_lite::future::block_on(future));
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(thread_timer(duration))
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A timer that needs no runtime: a thread sleeps, then wakes the future.
pub fn thread_timer(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
    let fired = Arc::new(Signal::new());
    {
        let fired = fired.clone();
        std::thread::spawn(move || {
            std::thread::sleep(duration);
            fired.raise();
        });
    }
    async move { fired.raised().await }
}

/// Run `scenario`, failing the test if it is still waiting after [`SCENARIO_TIMEOUT`].
pub async fn within_timeout(scenario: impl Future<Output = ()>) {
    let finished = futures_lite::future::or(
        async {
            scenario.await;
            true
        },
        async {
            thread_timer(SCENARIO_TIMEOUT).await;
            false
        },
    )
    .await;
    assert!(
        finished,
        "the scenario was still waiting after {SCENARIO_TIMEOUT:?}"
    );
}

/// One node: an executor fed by a pump from its own handle on an in-memory bus.
pub struct Node {
    pub executor: Arc<SubscriptionExecutor>,
    pub bus: Arc<InMemoryBus>,
    pub pump: EventPump,
}

impl Node {
    pub fn start(
        runtime: Arc<dyn Runtime>,
        bus: InMemoryBus,
        executor: SubscriptionExecutor,
        config: PumpConfig,
    ) -> Node {
        let executor = Arc::new(executor);
        let bus = Arc::new(bus);
        let pump = EventPump::start(executor.clone(), bus.clone(), runtime, config);
        Node { executor, bus, pump }
    }

    pub fn with_defaults(runtime: Arc<dyn Runtime>) -> Node {
        Node::start(
            runtime,
            InMemoryBus::new(),
            anonymous_executor(),
            PumpConfig::default(),
        )
    }

    /// Wait for the next frame of `key`, as JSON.
    pub async fn next_frame(&self, key: SubscriptionKey) -> Value {
        let frame = self
            .executor
            .recv(key)
            .await
            .unwrap()
            .expect("the subscription ended");
        serde_json::from_slice(&frame).unwrap()
    }
}

/// An executor that accepts subscriptions without a security context: these scenarios
/// are about the pump, not about authentication.
pub fn anonymous_executor() -> SubscriptionExecutor {
    SubscriptionExecutor::new(ExecutorConfig::default().allow_anonymous(true))
}

pub const USERS: &str = "subscription { users { id } }";

/// A `users` event created by another node, so it reaches this one only through the bus.
pub fn remote_user_event(id: &str) -> Arc<Event> {
    let mut event = Event::new("userCreated", "users", json!({ "id": id }));
    event.origin = "another-node".into();
    Arc::new(event)
}

/// A `users` event created on this node.
pub fn local_user_event(id: &str) -> Arc<Event> {
    Arc::new(Event::new("userCreated", "users", json!({ "id": id })))
}

/// The id carried by a `next` frame of [`USERS`].
pub fn user_id(frame: &Value) -> &str {
    assert_eq!(frame["type"], "next", "not a next frame: {frame}");
    frame["payload"]["data"]["users"]["id"].as_str().unwrap()
}

/// The code of an `error` frame or of a notice.
pub fn error_code(frame: &Value) -> &str {
    let errors = if frame["type"] == "error" {
        &frame["payload"]
    } else {
        &frame["payload"]["errors"]
    };
    errors[0]["extensions"]["code"].as_str().unwrap()
}
