//! NatsBus survives its server going away mid-stream and coming back on the same port and
//! store: with JetStream every event arrives once and in order, without it the loss is
//! announced as a gap and delivery resumes.
//!
//! The JetStream test stops the server with SIGTERM: a SIGKILLed nats-server 2.9 may lose
//! the events it acknowledged last (its file store syncs in the background), which the
//! bus rightly announces as a gap; `a_server_that_lost_acknowledged_events_is_announced_as_a_gap`
//! covers that.

mod common;

use std::time::Duration;

use common::*;
use subcast_core::EventBus;
use subcast_nats::NatsConfig;

/// Reconnect quickly: the server is back within moments.
fn quick(config: NatsConfig) -> NatsConfig {
    config
        .timeout(Duration::from_secs(2))
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_jetstream_every_event_is_delivered_once_and_in_order_across_a_server_restart() {
    let mut server = PrivateServer::start().await;
    let config = quick(isolated(true));
    let publisher = bus_at(&server.url(), config.clone()).await;
    let subscriber = bus_at(&server.url(), config).await;
    scenarios::with_replay_every_event_is_delivered_once_and_in_order_across_a_fault(
        &publisher,
        &subscriber,
        &[unique("replayed")],
        1000,
        server.restart_gracefully(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_jetstream_a_killed_server_is_signalled_as_a_gap_and_delivery_resumes() {
    let mut server = PrivateServer::start().await;
    let config = quick(isolated(false));
    let publisher = bus_at(&server.url(), config.clone()).await;
    let subscriber = bus_at(&server.url(), config).await;
    scenarios::without_replay_a_fault_is_announced_as_a_gap_and_delivery_resumes(
        &tokio_runtime(),
        &publisher,
        &subscriber,
        server.restart(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_lost_acknowledged_events_is_announced_as_a_gap() {
    let mut server = PrivateServer::start().await;
    let config = quick(isolated(true));
    let publisher = bus_at(&server.url(), config.clone()).await;
    let subscriber = bus_at(&server.url(), config.clone()).await;
    let channel = unique("forgotten");
    let mut stream = subscriber.subscribe(&channel).await.unwrap();
    for n in 0..3 {
        publisher.publish(counted(&channel, n)).await.unwrap();
        assert_eq!(sequence(&next(&mut stream).await), Some(n));
    }
    // The stream comes back empty: the server lost what it had acknowledged.
    server.kill();
    let store = server.store().to_owned();
    std::fs::remove_dir_all(&store).unwrap();
    std::fs::create_dir_all(&store).unwrap();
    server.restart().await;
    let message = next(&mut stream).await;
    assert_eq!(sequence(&message), None, "expected a gap, got {message:?}");
    // The new stream's events arrive after the notice.
    let publisher = bus_at(&server.url(), config).await;
    publisher.publish(counted(&channel, 10)).await.unwrap();
    assert_eq!(sequence(&next(&mut stream).await), Some(10));
}
