//! The connection inbox: one wake-up per connection, every subscription drained in one call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use serde_json::json;
use subcast_core::{
    ConnectionInbox, Event, FrameBody, FramePrefix, GraphQLError, InboxItem, OverflowPolicy, ResponseQueue,
    SecurityContext, SubscriptionExecutor, SubscriptionRequest,
};

fn queue(id: &str) -> Arc<ResponseQueue> {
    Arc::new(ResponseQueue::new(
        FramePrefix::new(id),
        1024,
        OverflowPolicy::DropOldest,
    ))
}

/// The body of a `next` frame carrying `n`; a queue adds the id of its subscription.
fn frame(_id: &str, n: u64) -> FrameBody {
    FrameBody::next_data(&json!(n))
}

/// The frames of `items` as (id, data) pairs, and the ends as (id, terminal).
fn frames(items: &[InboxItem]) -> Vec<(String, u64)> {
    items
        .iter()
        .filter_map(|item| match item {
            InboxItem::Frame { id, frame } => {
                let value: serde_json::Value = serde_json::from_slice(frame).unwrap();
                Some((id.to_string(), value["payload"]["data"].as_u64()?))
            }
            InboxItem::Ended { .. } => None,
        })
        .collect()
}

fn ends(items: &[InboxItem]) -> Vec<(String, bool)> {
    items
        .iter()
        .filter_map(|item| match item {
            InboxItem::Ended { id, terminal } => Some((id.to_string(), *terminal)),
            InboxItem::Frame { .. } => None,
        })
        .collect()
}

#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_frame_on_any_subscription_wakes_the_connection_waiter() {
    let inbox = ConnectionInbox::new();
    let (a, b) = (queue("a"), queue("b"));
    inbox.attach("a", a.clone()).unwrap();
    inbox.attach("b", b.clone()).unwrap();
    let mut items = Vec::new();
    // Attaching marks a queue ready once: the first drain finds nothing.
    assert_eq!(inbox.drain(&mut items), 0);

    let wakes = Arc::new(CountingWaker::default());
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    let mut listener = None;
    assert_eq!(inbox.poll_recv(&mut cx, &mut listener, &mut items), Poll::Pending);

    b.push(frame("b", 1));
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert_eq!(
        inbox.poll_recv(&mut cx, &mut listener, &mut items),
        Poll::Ready(1)
    );
    assert_eq!(frames(&items), [("b".to_owned(), 1)]);
}

#[test]
fn pushes_to_a_queue_already_ready_wake_the_connection_once() {
    let inbox = ConnectionInbox::new();
    let a = queue("a");
    inbox.attach("a", a.clone()).unwrap();
    inbox.drain(&mut Vec::new());

    let wakes = Arc::new(CountingWaker::default());
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    let mut listener = None;
    let mut items = Vec::new();
    assert_eq!(inbox.poll_recv(&mut cx, &mut listener, &mut items), Poll::Pending);
    for n in 0..5 {
        a.push(frame("a", n));
    }
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert_eq!(
        inbox.poll_recv(&mut cx, &mut listener, &mut items),
        Poll::Ready(5)
    );
}

#[test]
fn drain_takes_the_frames_of_every_subscription_in_per_subscription_order() {
    let inbox = ConnectionInbox::new();
    let (a, b) = (queue("a"), queue("b"));
    inbox.attach("a", a.clone()).unwrap();
    inbox.attach("b", b.clone()).unwrap();
    for n in 0..3 {
        a.push(frame("a", n));
        b.push(frame("b", 10 + n));
    }
    let mut items = Vec::new();
    assert_eq!(inbox.drain(&mut items), 6);
    let got = frames(&items);
    let of = |id: &str| -> Vec<u64> { got.iter().filter(|(i, _)| i == id).map(|(_, n)| *n).collect() };
    assert_eq!(of("a"), [0, 1, 2]);
    assert_eq!(of("b"), [10, 11, 12]);
    assert_eq!(inbox.drain(&mut items), 0);
}

#[test]
fn frames_queued_before_the_queue_was_attached_are_drained() {
    let inbox = ConnectionInbox::new();
    let a = queue("a");
    a.push(frame("a", 1));
    inbox.attach("a", a).unwrap();
    let mut items = Vec::new();
    assert_eq!(futures_lite::future::block_on(inbox.recv(&mut items)), 1);
    assert_eq!(frames(&items), [("a".to_owned(), 1)]);
}

#[test]
fn a_completed_subscription_is_reported_ended_without_a_terminal_frame() {
    let executor = SubscriptionExecutor::default();
    let inbox = ConnectionInbox::new();
    let request = SubscriptionRequest::new("c", "1", "subscription { users { id } }")
        .security_context(SecurityContext::new("alice"));
    let key = executor.register_subscription(request).unwrap();
    inbox.attach("1", executor.response_queue(key).unwrap()).unwrap();
    executor
        .dispatch_event_to_subscriptions(&Arc::new(Event::new("e", "users", json!({"id": "7"}))))
        .unwrap();
    executor.complete_connection("c").unwrap();

    let mut items = Vec::new();
    inbox.drain(&mut items);
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(matches!(&items[0], InboxItem::Frame { id, .. } if &**id == "1"));
    assert_eq!(ends(&items), [("1".to_owned(), false)]);
    assert!(inbox.is_empty());
}

#[test]
fn a_subscription_ended_by_an_error_frame_is_reported_terminal_after_it() {
    let executor = SubscriptionExecutor::default();
    let inbox = ConnectionInbox::new();
    let request = SubscriptionRequest::new("c", "1", "subscription { users { id } }")
        .security_context(SecurityContext::new("alice"));
    let key = executor.register_subscription(request).unwrap();
    inbox.attach("1", executor.response_queue(key).unwrap()).unwrap();
    executor.fail_channel("users", GraphQLError::new("GONE", "the channel is gone"));

    let mut items = Vec::new();
    inbox.drain(&mut items);
    let InboxItem::Frame { frame, .. } = &items[0] else {
        panic!("expected the error frame first: {items:?}")
    };
    assert!(frame.starts_with(br#"{"id":"1","type":"error""#));
    assert_eq!(ends(&items), [("1".to_owned(), true)]);
}

#[test]
fn a_detached_subscription_is_no_longer_drained() {
    let inbox = ConnectionInbox::new();
    let (a, b) = (queue("a"), queue("b"));
    inbox.attach("a", a.clone()).unwrap();
    inbox.attach("b", b.clone()).unwrap();
    assert!(inbox.detach("a"));
    a.push(frame("a", 1));
    b.push(frame("b", 2));
    let mut items = Vec::new();
    inbox.drain(&mut items);
    assert_eq!(frames(&items), [("b".to_owned(), 2)]);
}

#[test]
fn a_queue_attaches_to_one_inbox_and_one_id() {
    let (first, second) = (ConnectionInbox::new(), ConnectionInbox::new());
    let a = queue("a");
    first.attach("a", a.clone()).unwrap();
    assert!(first.attach("a", queue("a")).is_err());
    assert!(second.attach("a", a).is_err());
    assert!(second.is_empty());
}

#[test]
fn dropping_the_inbox_releases_its_queues() {
    let a = queue("a");
    let inbox = ConnectionInbox::new();
    inbox.attach("a", a.clone()).unwrap();
    assert_eq!(Arc::strong_count(&a), 2);
    drop(inbox);
    assert_eq!(Arc::strong_count(&a), 1);
    // The queue still works without anyone draining it through an inbox.
    a.push(frame("a", 1));
    assert_eq!(a.len(), 1);
}

/// A producer on another thread pushes to two queues while the writer waits, drains and
/// waits again: every frame arrives, each queue's in order. A lost wake-up would leave the
/// writer asleep beside queued frames until the (generous) timeout, failing the test.
#[test]
fn no_wake_up_is_lost_under_a_concurrent_producer() {
    const FRAMES: u64 = 20_000;
    let inbox = ConnectionInbox::new();
    let (a, b) = (queue("a"), queue("b"));
    inbox.attach("a", a.clone()).unwrap();
    inbox.attach("b", b.clone()).unwrap();
    let producer = std::thread::spawn(move || {
        for n in 0..FRAMES {
            let (queue, id) = if n % 2 == 0 { (&a, "a") } else { (&b, "b") };
            // The queues hold 1024 frames: wait for room rather than lose frames to overflow.
            while queue.len() >= 1000 {
                std::thread::yield_now();
            }
            queue.push(frame(id, n));
        }
    });
    let mut seen = Vec::new();
    let mut items = Vec::new();
    while (seen.len() as u64) < FRAMES {
        items.clear();
        let taken = inbox.recv_timeout(Duration::from_secs(30), &mut items);
        assert!(
            taken > 0,
            "woken for nothing or never woken after {} frames",
            seen.len()
        );
        seen.extend(frames(&items));
    }
    producer.join().unwrap();
    for id in ["a", "b"] {
        let of: Vec<u64> = seen.iter().filter(|(i, _)| i == id).map(|(_, n)| *n).collect();
        let expected: Vec<u64> = (0..FRAMES).filter(|n| (n % 2 == 0) == (id == "a")).collect();
        assert_eq!(of, expected, "frames of {id}");
    }
}

#[test]
fn no_wake_up_is_lost_by_an_async_writer() {
    const FRAMES: u64 = 20_000;
    let inbox = ConnectionInbox::new();
    let a = queue("a");
    inbox.attach("a", a.clone()).unwrap();
    let producer = std::thread::spawn(move || {
        for n in 0..FRAMES {
            while a.len() >= 1000 {
                std::thread::yield_now();
            }
            a.push(frame("a", n));
        }
    });
    let got = futures_lite::future::block_on(async {
        let mut got = Vec::new();
        let mut items = Vec::new();
        while (got.len() as u64) < FRAMES {
            items.clear();
            inbox.recv(&mut items).await;
            got.extend(frames(&items).into_iter().map(|(_, n)| n));
        }
        got
    });
    producer.join().unwrap();
    assert_eq!(got, (0..FRAMES).collect::<Vec<_>>());
}
