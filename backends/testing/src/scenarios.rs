//! Behaviours every networked bus must show, written once and run against each bus.
//!
//! Each scenario takes the buses (already connected, so each crate chooses its URL,
//! configuration and runtime) and panics when the bus misbehaves.
//!
//! - [`an_event_reaches_every_subscriber_on_every_node_once`]: two nodes, two executors.
//! - [`every_stream_of_a_channel_receives_every_message_until_unsubscribed`]: local fan-out.
//! - [`events_arrive_whole`]: payloads of the given sizes, byte for byte.
//! - [`each_channel_round_trips`] with [`AWKWARD_CHANNEL_NAMES`]: names that break naive
//!   quoting, escaping or encoding.
//! - [`the_server_channel_is_unsubscribed_after_the_last_local_stream`]: one server-side
//!   subscription per channel, gone with the last stream.
//! - [`messages_that_are_not_events_are_counted_and_skipped`] with [`not_events`]: what a
//!   foreign publisher put on a channel is counted, never delivered.
//! - [`with_replay_every_event_is_delivered_once_and_in_order_across_a_fault`] and
//!   [`without_replay_a_fault_is_announced_as_a_gap_and_delivery_resumes`]: the subscriber
//!   cut off its server mid-stream by a fault each crate supplies (a killed connection, a
//!   restarted server, a moved slot).
//! - [`a_blocked_consumer_keeps_every_buffer_bounded`]: a pump whose resolver is blocked
//!   while many events are published; every buffer stays within its bound, and once the
//!   resolver resumes every event arrives ([`AfterOverflow::EveryEvent`], buses with
//!   replay) or the lost ones are announced with their exact count
//!   ([`AfterOverflow::CountedGaps`]).
//! - [`a_resumed_subscription_gets_exactly_what_it_missed_then_live_events`] (buses with
//!   history): resume from a client's cursor, security applied, no duplicate at the seam.
//! - [`a_cursor_older_than_the_history_gets_a_gap_first`]: `EVENTS_GAP`, then what is left.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future::{yield_now, zip};
use futures_lite::StreamExt;
use serde_json::json;
use subcast_core::EVENTS_GAP;
use subcast_core::{
    Event, EventBus, EventStream, ExecutorConfig, ResolveRequest, ResolveResult, Resolver, Runtime,
    SecurityContext, SubscriptionExecutor, SubscriptionRequest,
};
use subcast_core::{EventPump, PumpConfig, Signal};

use crate::{counted, next, next_event, next_frame, pump, sequence, unique, within, PATIENCE};

/// Channel names every bus must carry unharmed (each crate adds its own tricky ones).
pub const AWKWARD_CHANNEL_NAMES: [&str; 4] = [
    "it's \"quoted\"",
    "with spaces",
    "ünïcødé ✓ 频道",
    "\"; DROP TABLE x; --",
];

/// An event published on node A (through its executor) reaches the subscribers of both
/// nodes once each: node A's directly, node B's through the bus, and A's loop-back copy
/// is not dispatched again.
pub async fn an_event_reaches_every_subscriber_on_every_node_once(
    runtime: &Arc<dyn Runtime>,
    bus_a: &dyn EventBus,
    bus_b: &dyn EventBus,
) {
    let channel = unique("two-nodes");
    let node = || {
        Arc::new(SubscriptionExecutor::new(
            ExecutorConfig::default().allow_anonymous(true),
        ))
    };
    let (node_a, node_b) = (node(), node());
    let request = |connection: &str| {
        SubscriptionRequest::new(connection, "1", "subscription { counted { n } }")
            .channels([channel.as_str()])
    };
    let on_a = node_a.register_subscription(request("a")).unwrap();
    let on_b = node_b.register_subscription(request("b")).unwrap();
    pump(runtime, bus_a.subscribe(&channel).await.unwrap(), node_a.clone());
    pump(runtime, bus_b.subscribe(&channel).await.unwrap(), node_b.clone());

    let report = node_a.publish(bus_a, counted(&channel, 1)).await.unwrap();
    assert_eq!(report.delivered, 1);
    // A second event is the witness: a duplicate of the first would come before it.
    node_a.publish(bus_a, counted(&channel, 2)).await.unwrap();
    for (node, key) in [(&node_a, on_a), (&node_b, on_b)] {
        for n in [1, 2] {
            let frame = next_frame(node, key).await;
            assert_eq!(frame["payload"]["data"]["counted"]["n"], n, "{frame}");
        }
    }
    assert_eq!(bus_a.stats().published, 2);
}

/// Two streams of one channel share one server subscription, both receive every message,
/// and both end when the channel is unsubscribed.
pub async fn every_stream_of_a_channel_receives_every_message_until_unsubscribed(bus: &dyn EventBus) {
    let channel = unique("fan");
    let mut first = bus.subscribe(&channel).await.unwrap();
    let mut second = bus.subscribe(&channel).await.unwrap();
    assert_eq!(bus.stats().subscribed_channels, 1);
    bus.publish(counted(&channel, 7)).await.unwrap();
    assert_eq!(next_event(&mut first).await.data["n"], 7);
    assert_eq!(next_event(&mut second).await.data["n"], 7);
    bus.unsubscribe(&channel).await.unwrap();
    for stream in [&mut first, &mut second] {
        assert!(within(PATIENCE, "stream end", stream.next()).await.is_none());
    }
    assert_eq!(bus.stats().subscribed_channels, 0);
}

/// Events whose data hold strings of each of `sizes` bytes arrive whole, in order.
pub async fn events_arrive_whole(publisher: &dyn EventBus, subscriber: &dyn EventBus, sizes: &[usize]) {
    let channel = unique("large");
    let mut stream = subscriber.subscribe(&channel).await.unwrap();
    for &size in sizes {
        let blob = "x".repeat(size);
        let event = Event::new("big", channel.as_str(), json!({ "blob": blob }));
        publisher.publish(Arc::new(event)).await.unwrap();
        let received = next_event(&mut stream).await;
        assert_eq!(received.data["blob"].as_str().unwrap().len(), size);
    }
}

/// An event published on each of `channels` reaches a stream of that channel, naming it.
pub async fn each_channel_round_trips(
    publisher: &dyn EventBus,
    subscriber: &dyn EventBus,
    channels: &[String],
) {
    for channel in channels {
        let mut stream = subscriber.subscribe(channel).await.unwrap();
        publisher.publish(counted(channel, 1)).await.unwrap();
        assert_eq!(&next_event(&mut stream).await.channel, channel);
    }
}

/// A channel's server-side subscription, as `server_subscribers` counts it for each of
/// `channels`, exists while a local stream listens and is gone once the channel is
/// unsubscribed; the stream then ends.
pub async fn the_server_channel_is_unsubscribed_after_the_last_local_stream(
    bus: &dyn EventBus,
    channels: &[String],
    server_subscribers: impl Fn(&str) -> i64,
) {
    for channel in channels {
        let mut stream = bus.subscribe(channel).await.unwrap();
        assert_eq!(server_subscribers(channel), 1, "{channel}");
        bus.unsubscribe(channel).await.unwrap();
        assert!(within(PATIENCE, "stream end", stream.next()).await.is_none());
        assert_eq!(server_subscribers(channel), 0, "{channel}");
    }
    assert_eq!(bus.stats().subscribed_channels, 0);
}

/// Payloads that are not events of `channel`, as a foreign publisher could send them: not
/// UTF-8, an object without an event's fields, an event of an unknown wire version, an
/// event of another channel. Each bus adds those its own framing makes tricky.
pub fn not_events(channel: &str) -> Vec<Vec<u8>> {
    let mut wrong_version: serde_json::Value =
        serde_json::from_slice(&counted(channel, 0).to_wire()).expect("the wire form is JSON");
    wrong_version["v"] = json!(99);
    vec![
        b"\xff\x00 garbage".to_vec(),
        b"{\"v\":1,\"id\":3}".to_vec(),
        wrong_version.to_string().into_bytes(),
        Event::new("t", "elsewhere", json!({})).to_wire(),
    ]
}

/// `inject` puts payloads that are not events on `channel`'s server channel, subscribed
/// meanwhile, and returns how many: the bus counts each as invalid and skips it, and an
/// event published after them is the stream's next message.
pub async fn messages_that_are_not_events_are_counted_and_skipped(
    bus: &dyn EventBus,
    channel: &str,
    inject: impl Future<Output = usize>,
) {
    let mut stream = bus.subscribe(channel).await.unwrap();
    let injected = inject.await;
    bus.publish(counted(channel, 42)).await.unwrap();
    assert_eq!(next_event(&mut stream).await.data["n"], 42);
    assert_eq!(bus.stats().invalid_messages, injected as u64);
}

/// With a bus that replays: `events` counted events published on each of `channels` while
/// `fault` (run once every stream has received event 100) cuts the subscriber off its
/// server arrive on every stream once and in order, with nothing after them; the subscriber
/// counts a reconnection and is healthy again. Returns the streams, still subscribed.
///
/// A publish that fails (the fault may reach the publisher too) is published again: each
/// number must still arrive once.
pub async fn with_replay_every_event_is_delivered_once_and_in_order_across_a_fault(
    publisher: &dyn EventBus,
    subscriber: &dyn EventBus,
    channels: &[String],
    events: u64,
    fault: impl Future<Output = ()>,
) -> Vec<EventStream> {
    let mut streams = Vec::new();
    for channel in channels {
        streams.push(subscriber.subscribe(channel).await.unwrap());
    }
    let publishing = async {
        for n in 0..events {
            for channel in channels {
                let event = counted(channel, n);
                while publisher.publish(event.clone()).await.is_err() {
                    yield_now().await;
                }
            }
            yield_now().await;
        }
    };
    let receiving = async {
        let mut fault = Some(fault);
        for expected in 0..events {
            for stream in streams.iter_mut() {
                let message = next(stream).await;
                assert_eq!(sequence(&message), Some(expected), "got {message:?}");
            }
            if expected == 100 {
                if let Some(fault) = fault.take() {
                    fault.await;
                }
            }
        }
    };
    zip(publishing, receiving).await;
    // Nothing more: the witness published last is the very next message.
    for (channel, stream) in channels.iter().zip(&mut streams) {
        publisher.publish(counted(channel, events)).await.unwrap();
        assert_eq!(sequence(&next(stream).await), Some(events));
    }
    assert!(subscriber.stats().reconnects >= 1);
    subscriber.health_check().await.unwrap();
    streams
}

/// With a bus that does not replay: while events are published without pause, `fault`
/// (run once 50 have arrived) cuts the subscriber off its server; the subscription then
/// receives an `EVENTS_GAP` notice, never a duplicated or reordered event, and events again
/// after it; the subscriber counts a reconnection.
pub async fn without_replay_a_fault_is_announced_as_a_gap_and_delivery_resumes(
    runtime: &Arc<dyn Runtime>,
    publisher: &dyn EventBus,
    subscriber: &dyn EventBus,
    fault: impl Future<Output = ()>,
) {
    let channel = unique("gapped");
    let node = Arc::new(SubscriptionExecutor::new(
        ExecutorConfig::default().allow_anonymous(true),
    ));
    let key = node
        .register_subscription(
            SubscriptionRequest::new("c", "1", "subscription { counted { n } }").channels([channel.as_str()]),
        )
        .unwrap();
    pump(
        runtime,
        subscriber.subscribe(&channel).await.unwrap(),
        node.clone(),
    );

    let stop = AtomicBool::new(false);
    let publishing = async {
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            // A publish the fault failed is not counted: the numbers stay consecutive.
            if publisher.publish(counted(&channel, n)).await.is_ok() {
                n += 1;
            }
            yield_now().await;
        }
    };
    let receiving = async {
        let mut fault = Some(fault);
        let mut last = None;
        let mut received = 0;
        let mut gap_seen = false;
        // Events before the fault, the gap notice, then events again.
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
                    if let Some(fault) = fault.take() {
                        fault.await;
                    }
                }
                if gap_seen {
                    break;
                }
                assert!(
                    received < 50 + 100_000,
                    "100000 events after the fault and no gap notice"
                );
            } else {
                assert_eq!(
                    frame["payload"]["errors"][0]["extensions"]["code"], EVENTS_GAP,
                    "{frame}"
                );
                assert!(received >= 50, "a gap before the fault: {frame}");
                gap_seen = true;
            }
        }
        stop.store(true, Ordering::Relaxed);
    };
    zip(publishing, receiving).await;
    assert!(subscriber.stats().reconnects >= 1);
}

/// What a subscriber must see after its buffers overflowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterOverflow {
    /// Every event, once and in order, and no gap notice: the bus replays.
    EveryEvent,
    /// Events in order and `EVENTS_GAP` notices whose counts make up exactly the rest.
    CountedGaps,
}

/// The bounds a scenario checks.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// [`PumpConfig::inbox_capacity`] of the pump.
    pub pump_inbox: usize,
    /// Messages each local stream of the subscribing bus holds.
    pub stream: usize,
    /// Messages waiting for the subscribing bus's processing task (0: the bus has none).
    pub received: usize,
}

/// A resolver that blocks the dispatcher on its first call until [`Gate::open`].
#[derive(Debug, Default)]
pub struct Gate {
    open: Signal,
    entered: Signal,
}

impl Gate {
    /// Let every call through, now and later.
    pub fn open(&self) {
        self.open.raise();
    }

    /// Wait until a call is blocked on the gate.
    pub async fn entered(&self) {
        self.entered.raised().await;
    }
}

impl Resolver for Gate {
    fn resolve_batch(&self, event: &Event, requests: &[ResolveRequest<'_>]) -> Vec<ResolveResult> {
        self.entered.raise();
        // The dispatcher's thread is the one to block: that is what the scenario tests.
        self.open.wait_timeout(Duration::MAX);
        requests
            .iter()
            .map(|_| Ok(json!({ "counted": { "n": event.data["n"] } })))
            .collect()
    }
}

/// A pump on `subscriber` whose resolver blocks on the first event while `events` more are
/// published on `publisher`: the pump's inbox, the bus's streams and its received-message
/// buffer never hold more than `bounds` says; once the resolver resumes, the subscriber
/// receives what `after` says.
pub async fn a_blocked_consumer_keeps_every_buffer_bounded(
    runtime: &Arc<dyn Runtime>,
    publisher: &dyn EventBus,
    subscriber: Arc<dyn EventBus>,
    events: u64,
    bounds: Bounds,
    after: AfterOverflow,
) {
    let channel = unique("slow");
    let executor = Arc::new(SubscriptionExecutor::new(
        ExecutorConfig::default()
            .allow_anonymous(true)
            // The response queue is not under test: it must hold whatever gets through.
            .queue_capacity(events as usize + 16),
    ));
    let gate = Arc::new(Gate::default());
    let key = executor
        .register_subscription(
            SubscriptionRequest::new("slow", "1", "subscription { counted { n } }")
                .channels([channel.as_str()])
                .resolver(gate.clone()),
        )
        .unwrap();
    let config = PumpConfig::default().inbox_capacity(bounds.pump_inbox);
    let pump = EventPump::start(executor.clone(), subscriber.clone(), runtime.clone(), config);
    assert!(pump.channel_ready(&channel).await);

    publisher.publish(counted(&channel, 0)).await.unwrap();
    within(PATIENCE, "the resolver is entered", gate.entered()).await;
    for n in 1..=events {
        publisher.publish(counted(&channel, n)).await.unwrap();
    }
    // The last event: once it is received or announced lost, everything was.
    let last = events + 1;
    publisher.publish(counted(&channel, last)).await.unwrap();

    let check = |when: &str| {
        let (pump_stats, bus_stats) = (pump.stats(), subscriber.stats());
        assert!(
            pump_stats.peak_pending_messages <= bounds.pump_inbox,
            "{when}: the pump's inbox held {} messages, over {}",
            pump_stats.peak_pending_messages,
            bounds.pump_inbox
        );
        assert!(
            bus_stats.stream_peak <= bounds.stream,
            "{when}: a bus stream held {} messages, over {}",
            bus_stats.stream_peak,
            bounds.stream
        );
        assert!(
            bus_stats.received_peak <= bounds.received,
            "{when}: the bus's received buffer held {} messages, over {}",
            bus_stats.received_peak,
            bounds.received
        );
    };
    check("while the resolver is blocked");
    gate.open();

    // The next event to arrive: every event before it arrived or was announced lost.
    let mut expected = 0;
    while expected <= last {
        let frame = next_frame(&executor, key).await;
        match frame["payload"]["data"]["counted"]["n"].as_u64() {
            Some(n) => {
                assert_eq!(n, expected, "events lost without a notice, or out of order");
                expected += 1;
            }
            None => {
                let error = &frame["payload"]["errors"][0]["extensions"];
                assert_eq!(error["code"], EVENTS_GAP, "{frame}");
                assert_eq!(
                    after,
                    AfterOverflow::CountedGaps,
                    "a bus with replay lost events: {frame}"
                );
                // Announced where the loss is: the events it counts are the next ones.
                expected += error["count"].as_u64().expect("a gap notice with its count");
            }
        }
    }
    assert_eq!(
        expected,
        last + 1,
        "a gap notice counted more events than were lost"
    );
    check("after the resolver resumed");
    let stats = pump.shutdown().await;
    if after == AfterOverflow::CountedGaps {
        assert!(
            stats.events_lost > 0,
            "nothing overflowed: the scenario tested nothing"
        );
    } else {
        assert!(
            subscriber.stats().events_dropped > 0,
            "nothing overflowed: the scenario tested nothing"
        );
    }
}

/// A client reads events with their cursors, its connection drops, events are published
/// (some of another tenant), and it subscribes again with the cursor of the last frame it
/// read: it gets exactly the events it missed and may see, in order, then live events,
/// none twice (an event published between the new registration and the replay is both in
/// the history and queued live). The publisher's own subscriber, which gets its frames
/// before the bus copy returns, sees the same cursors as the other node's.
pub async fn a_resumed_subscription_gets_exactly_what_it_missed_then_live_events(
    runtime: &Arc<dyn Runtime>,
    bus_a: &dyn EventBus,
    bus_b: &dyn EventBus,
) {
    let channel = unique("resume");
    let (node_a, node_b) = (
        Arc::new(SubscriptionExecutor::default()),
        Arc::new(SubscriptionExecutor::default()),
    );
    let request = |connection: &str| {
        SubscriptionRequest::new(connection, "1", "subscription { counted { n } }")
            .channels([channel.as_str()])
            .security_context(SecurityContext::new("alice").with_tenant("acme"))
    };
    let publish = |n: u64, tenant: &str| {
        let event = Event::new("counted", channel.as_str(), json!({ "n": n })).with_tenant(tenant);
        node_a.publish(bus_a, Arc::new(event))
    };
    pump(runtime, bus_a.subscribe(&channel).await.unwrap(), node_a.clone());
    pump(runtime, bus_b.subscribe(&channel).await.unwrap(), node_b.clone());
    let local = node_a.register_subscription(request("local")).unwrap();
    let first = node_b.register_subscription(request("first")).unwrap();

    for n in 1..=3 {
        publish(n, "acme").await.unwrap();
    }
    let mut last_cursor = String::new();
    for n in 1..=3 {
        let (remote, local) = (next_frame(&node_b, first).await, next_frame(&node_a, local).await);
        assert_eq!(remote["payload"]["data"]["counted"]["n"], n, "{remote}");
        let cursor = remote["payload"]["extensions"]["cursor"]
            .as_str()
            .expect("a cursor");
        assert_eq!(local["payload"]["extensions"]["cursor"], cursor, "{local}");
        last_cursor = cursor.to_owned();
    }

    // The client is gone; what it misses: 4 and 6 are its tenant's, 5 is not.
    node_b.complete_subscription(first).unwrap();
    publish(4, "acme").await.unwrap();
    publish(5, "globex").await.unwrap();
    publish(6, "acme").await.unwrap();

    let again = node_b.register_subscription(request("again")).unwrap();
    let mut resume = node_b.resume(again, &last_cursor).unwrap();
    // Registered before it is replayed: in the history, and queued live too.
    publish(7, "acme").await.unwrap();
    let mut replayed = Vec::new();
    while let Some(page) = within(PATIENCE, "a replay page", resume.next_page(&node_b, bus_b))
        .await
        .unwrap()
    {
        for frame in page {
            let frame: serde_json::Value = serde_json::from_slice(&frame).unwrap();
            assert!(frame["payload"]["errors"].is_null(), "no gap expected: {frame}");
            replayed.push(frame["payload"]["data"]["counted"]["n"].as_u64().unwrap());
        }
    }
    assert_eq!(replayed, [4, 6, 7]);

    publish(8, "acme").await.unwrap();
    let live = loop {
        let frame = within(PATIENCE, "a live frame", node_b.recv(again))
            .await
            .unwrap()
            .expect("open");
        if !resume.is_replayed(&frame) {
            break serde_json::from_slice::<serde_json::Value>(&frame).unwrap();
        }
    };
    assert_eq!(live["payload"]["data"]["counted"]["n"], 8, "{live}");
}

/// A cursor older than what the bus still holds gets an `EVENTS_GAP` notice before what is
/// left; `forget` removes the channel's history up to now (as retention would).
pub async fn a_cursor_older_than_the_history_gets_a_gap_first<F>(
    runtime: &Arc<dyn Runtime>,
    bus: &dyn EventBus,
    forget: impl FnOnce(String) -> F,
) where
    F: std::future::Future<Output = ()>,
{
    let channel = unique("resume-gap");
    let node = Arc::new(SubscriptionExecutor::new(
        ExecutorConfig::default().allow_anonymous(true),
    ));
    let request = |connection: &str| {
        SubscriptionRequest::new(connection, "1", "subscription { counted { n } }")
            .channels([channel.as_str()])
    };
    pump(runtime, bus.subscribe(&channel).await.unwrap(), node.clone());
    let first = node.register_subscription(request("first")).unwrap();
    node.publish(bus, counted(&channel, 1)).await.unwrap();
    let frame = next_frame(&node, first).await;
    let cursor = frame["payload"]["extensions"]["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    node.complete_subscription(first).unwrap();
    node.publish(bus, counted(&channel, 2)).await.unwrap();
    forget(channel.clone()).await;
    node.publish(bus, counted(&channel, 3)).await.unwrap();

    let again = node.register_subscription(request("again")).unwrap();
    let mut resume = node.resume(again, &cursor).unwrap();
    let mut frames = Vec::new();
    while let Some(page) = resume.next_page(&node, bus).await.unwrap() {
        frames.extend(
            page.iter()
                .map(|f| serde_json::from_slice::<serde_json::Value>(f).unwrap()),
        );
    }
    assert_eq!(
        frames[0]["payload"]["errors"][0]["extensions"]["code"], EVENTS_GAP,
        "{frames:?}"
    );
    let events: Vec<_> = frames[1..]
        .iter()
        .map(|f| f["payload"]["data"]["counted"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(events, [3]);
}
