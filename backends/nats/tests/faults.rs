//! NatsBus survives its server going away mid-stream and coming back on the same port and
//! store: with JetStream every event arrives once and in order, without it the loss is
//! announced as a gap and delivery resumes.
//!
//! The JetStream test stops the server with SIGTERM: a SIGKILLed nats-server 2.9 may lose
//! the events it acknowledged last (its file store syncs in the background), which the
//! bus rightly announces as a gap; `a_server_that_lost_acknowledged_events_is_announced_as_a_gap`
//! covers that.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use subcast_core::{EventBus, ExecutorConfig, SubscriptionExecutor, SubscriptionRequest};
use subcast_nats::NatsConfig;

/// Reconnect quickly: the server is back within moments.
fn quick(config: NatsConfig) -> NatsConfig {
    config
        .timeout(Duration::from_secs(2))
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_jetstream_every_event_is_delivered_once_and_in_order_across_a_server_restart() {
    const EVENTS: u64 = 1000;
    let mut server = PrivateServer::start().await;
    let config = quick(isolated(true));
    let publisher = Arc::new(bus_at(&server.url(), config.clone()).await);
    let subscriber = bus_at(&server.url(), config).await;
    let channel = unique("replayed");
    let mut stream = subscriber.subscribe(&channel).await.unwrap();

    let publishing = {
        let (publisher, channel) = (publisher.clone(), channel.clone());
        tokio::spawn(async move {
            for n in 0..EVENTS {
                // A publish the dead server did not acknowledge is published again: the
                // subscriber must still see each number once.
                let event = counted(&channel, n);
                while publisher.publish(event.clone()).await.is_err() {}
            }
        })
    };
    for expected in 0..EVENTS {
        let message = next(&mut stream).await;
        assert_eq!(sequence(&message), Some(expected), "got {message:?}");
        if expected == 100 {
            server.restart_gracefully().await;
        }
    }
    publishing.await.unwrap();
    // Nothing more: the witness published last is the very next message.
    publisher.publish(counted(&channel, EVENTS)).await.unwrap();
    assert_eq!(sequence(&next(&mut stream).await), Some(EVENTS));
    assert!(subscriber.stats().reconnects >= 1);
    subscriber.health_check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_jetstream_a_killed_server_is_signalled_as_a_gap_and_delivery_resumes() {
    let mut server = PrivateServer::start().await;
    let config = quick(isolated(false));
    let publisher = Arc::new(bus_at(&server.url(), config.clone()).await);
    let subscriber = bus_at(&server.url(), config).await;
    let channel = unique("gapped");
    let runtime = tokio_runtime();
    let node = Arc::new(SubscriptionExecutor::new(
        ExecutorConfig::default().allow_anonymous(true),
    ));
    let key = node
        .register_subscription(
            SubscriptionRequest::new("c", "1", "subscription { counted { n } }").channels([channel.as_str()]),
        )
        .unwrap();
    pump(
        &runtime,
        subscriber.subscribe(&channel).await.unwrap(),
        node.clone(),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let publishing = {
        let (publisher, channel, stop) = (publisher.clone(), channel.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if publisher.publish(counted(&channel, n)).await.is_ok() {
                    n += 1;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut last = None;
    let mut received = 0;
    let mut gap_seen = false;
    // Events before the kill, the gap notice, then events again.
    loop {
        let frame = next_frame(&node, key).await;
        if let Some(n) = frame["payload"]["data"]["counted"]["n"].as_u64() {
            assert!(
                last.is_none_or(|last| n > last),
                "{n} after {last:?}: duplicated or reordered"
            );
            last = Some(n);
            received += 1;
            if received == 50 {
                server.restart().await;
            }
            if gap_seen {
                break;
            }
        } else {
            assert_eq!(
                frame["payload"]["errors"][0]["extensions"]["code"], "EVENTS_GAP",
                "{frame}"
            );
            assert!(received >= 50, "a gap before the kill: {frame}");
            gap_seen = true;
        }
    }
    stop.store(true, Ordering::Relaxed);
    publishing.await.unwrap();
    assert!(subscriber.stats().reconnects >= 1);
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
