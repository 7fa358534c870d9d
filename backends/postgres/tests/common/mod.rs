//! Test support: runtimes built explicitly, unique channel names, bounded waits.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use subcast_core::runtime::BoxFuture;
use subcast_core::{BusMessage, Event, EventStream, Runtime, SubscriptionExecutor};

/// The PostgreSQL server the tests use (`SUBCAST_POSTGRES_URL`, default the local one).
pub fn postgres_url() -> String {
    std::env::var("SUBCAST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A channel name no other test (or earlier run) uses.
pub fn unique(name: &str) -> String {
    format!("{name}-{:016x}", fastrand::u64(..))
}

/// Longest wait for anything a test expects to happen.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Await `future`, failing the test if it takes longer than `limit`.
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
pub async fn next_frame(
    executor: &SubscriptionExecutor,
    key: subcast_core::SubscriptionKey,
) -> serde_json::Value {
    let frame = within(PATIENCE, "waiting for a frame", executor.recv(key))
        .await
        .expect("subscription exists")
        .expect("subscription open");
    serde_json::from_slice(&frame).expect("frames are JSON")
}

/// A [`Runtime`] over the current tokio runtime, built by the test itself.
#[derive(Debug)]
pub struct TokioTestRuntime(tokio::runtime::Handle);

impl TokioTestRuntime {
    /// Wrap the runtime the test runs on.
    pub fn current() -> Arc<dyn Runtime> {
        Arc::new(TokioTestRuntime(tokio::runtime::Handle::current()))
    }
}

impl Runtime for TokioTestRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        self.0.spawn(future);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A [`Runtime`] over an async-executor run by two threads of its own.
#[derive(Debug)]
pub struct SmolTestRuntime(Arc<async_executor::Executor<'static>>);

impl SmolTestRuntime {
    /// Start an executor with two worker threads (they live as long as the test process).
    pub fn start() -> Arc<dyn Runtime> {
        let executor = Arc::new(async_executor::Executor::new());
        for _ in 0..2 {
            let executor = executor.clone();
            std::thread::spawn(move || {
                futures_lite::future::block_on(executor.run(std::future::pending::<()>()))
            });
        }
        Arc::new(SmolTestRuntime(executor))
    }
}

impl Runtime for SmolTestRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        self.0.spawn(future).detach();
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            async_io::Timer::after(duration).await;
        })
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// `postgres_url()` with a unique `application_name`, to find this bus's sessions.
pub fn named_url(name: &str) -> String {
    let url = postgres_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}application_name={name}")
}

/// A plain session for the test itself, driven on the current tokio runtime.
pub async fn raw_client() -> tokio_postgres::Client {
    let config: tokio_postgres::Config = postgres_url().parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        #[allow(unreachable_patterns)]
        _ => panic!("tests need a TCP host"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let socket = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .unwrap();
    let (client, connection) = config.connect_raw(socket, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}
