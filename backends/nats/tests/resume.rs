//! Resume from a client's cursor on NATS: JetStream is the history; without it, a gap.

mod common;

use common::*;
use subcast_core::{
    Cursor, EventBus, History, LogPosition, SecurityContext, SubscriptionExecutor, SubscriptionRequest,
    EVENTS_GAP,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_subscription_gets_exactly_what_it_missed_then_live_events() {
    let config = isolated(true);
    let (bus_a, bus_b) = (bus(config.clone()).await, bus(config.clone()).await);
    scenarios::a_resumed_subscription_gets_exactly_what_it_missed_then_live_events(
        &tokio_runtime(),
        &bus_a,
        &bus_b,
    )
    .await;
    drop_stream(&nats_url(), &config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_older_than_the_purged_stream_gets_a_gap_first() {
    let config = isolated(true);
    let bus = bus(config.clone()).await;
    let stream = config.jetstream.clone().expect("JetStream").stream;
    let forget = |_channel: String| async move {
        let context = async_nats::jetstream::new(raw_client(&nats_url()).await);
        let stream = context.get_stream(&stream).await.expect("the bus's stream");
        stream.purge().await.expect("purge");
    };
    scenarios::a_cursor_older_than_the_history_gets_a_gap_first(&tokio_runtime(), &bus, forget).await;
    drop_stream(&nats_url(), &config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_jetstream_a_cursor_gets_a_gap_of_unknown_size_then_live_events() {
    let bus = bus(isolated(false)).await;
    let executor = SubscriptionExecutor::default();
    let request = SubscriptionRequest::new("c", "1", "subscription { ticks }")
        .security_context(SecurityContext::new("alice"));
    let key = executor.register_subscription(request).unwrap();
    let cursor = Cursor::new("ticks", LogPosition::new(5, 0)).encode();
    let mut resume = executor.resume(key, &cursor).unwrap();
    let page = resume
        .next_page(&executor, &bus)
        .await
        .unwrap()
        .expect("a notice");
    let notice: serde_json::Value = serde_json::from_slice(&page[0]).unwrap();
    assert_eq!(notice["payload"]["errors"][0]["extensions"]["code"], EVENTS_GAP);
    assert!(notice["payload"]["errors"][0]["extensions"]["count"].is_null());
    assert!(resume.next_page(&executor, &bus).await.unwrap().is_none());
    assert_eq!(bus.stats().published, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_reads_every_event_of_its_channel_in_order_across_pages() {
    let config = isolated(true);
    let bus = bus(config.clone()).await;
    let (channel, other) = (unique("paged"), unique("other"));
    // More than two pages of the channel, interleaved with another channel's events.
    for n in 0..600u64 {
        bus.publish(counted(&channel, n)).await.unwrap();
        if n % 3 == 0 {
            bus.publish(counted(&other, n)).await.unwrap();
        }
    }
    let (mut after, mut read) = (LogPosition::new(0, 0), Vec::new());
    loop {
        let History::Page(page) = bus.history(&channel, after, 256).await.unwrap() else {
            panic!("JetStream keeps a history");
        };
        assert!(page.events.len() <= 256);
        let Some(last) = page.events.last() else { break };
        after = last.position.expect("a replayed event has its position");
        read.extend(page.events.iter().map(|event| {
            assert_eq!(event.channel, channel);
            event.data["n"].as_u64().expect("a counted event")
        }));
    }
    assert_eq!(read, (0..600).collect::<Vec<_>>());
    drop_stream(&nats_url(), &config).await;
}
