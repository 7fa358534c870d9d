//! Resume from a client's cursor, without a server: the cursor in `next` frames, the
//! `subscribe` extension, and every way a client's cursor is refused.

use std::sync::Arc;
use std::time::Instant;

use proptest::prelude::*;
use serde_json::{json, Value};
use subcast_core::{
    frame_cursor, Action, Connection, Cursor, Event, InMemoryBus, LogPosition, ProtocolConfig,
    SecurityContext, SubscriptionExecutor, SubscriptionKey, SubscriptionRequest, EVENTS_GAP, INVALID_CURSOR,
};

fn subscribed(executor: &SubscriptionExecutor) -> SubscriptionKey {
    let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks { n } }")
        .security_context(SecurityContext::new("alice"));
    executor.register_subscription(request).unwrap()
}

fn positioned(n: u64, position: LogPosition) -> Arc<Event> {
    let mut event = Event::new("tick", "ticks", json!({ "n": n }));
    event.position = Some(position);
    Arc::new(event)
}

fn json_of(frame: &[u8]) -> Value {
    serde_json::from_slice(frame).unwrap()
}

#[test]
fn a_subscribe_hands_the_cursor_in_its_extensions_to_the_application() {
    let now = Instant::now();
    let mut conn = Connection::new(ProtocolConfig::default(), now);
    conn.feed_text(r#"{"type":"connection_init"}"#, now);
    conn.accept(None);
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription { ticks { n } }",
        "extensions": {"cursor": "1.7469636b73.5-0"},
    }});
    conn.feed_text(&subscribe.to_string(), now);
    let actions: Vec<Action> = std::iter::from_fn(|| conn.poll_action()).collect();
    let payload = actions
        .iter()
        .find_map(|action| match action {
            Action::Subscribe { payload, .. } => Some(payload),
            _ => None,
        })
        .expect("a subscribe action");
    assert_eq!(payload.cursor().unwrap(), Some("1.7469636b73.5-0"));
}

#[test]
fn a_cursor_extension_that_is_not_a_string_is_refused_as_an_invalid_cursor() {
    let payload = subcast_core::SubscribePayload {
        query: "subscription { ticks { n } }".into(),
        operation_name: None,
        variables: None,
        extensions: Some(json!({"cursor": {"position": 5}}).as_object().unwrap().clone()),
    };
    assert_eq!(payload.cursor().unwrap_err().code(), INVALID_CURSOR);
}

#[test]
fn next_frames_of_an_event_from_a_history_carry_its_cursor() {
    let executor = SubscriptionExecutor::default();
    let key = subscribed(&executor);
    let position = LogPosition::new(1_700_000_000_000, 2);
    executor
        .dispatch_event_to_subscriptions(&positioned(1, position))
        .unwrap();
    let frame = executor.next_response(key).unwrap().unwrap();
    let parsed = json_of(&frame);
    assert_eq!(parsed["payload"]["data"]["ticks"]["n"], 1);
    let cursor = parsed["payload"]["extensions"]["cursor"].as_str().unwrap();
    assert_eq!(Cursor::parse(cursor).unwrap(), Cursor::new("ticks", position));
    assert_eq!(frame_cursor(&frame), Some(Cursor::new("ticks", position)));
}

#[test]
fn next_frames_of_an_event_without_a_position_carry_no_cursor() {
    let executor = SubscriptionExecutor::default();
    let key = subscribed(&executor);
    let event = Arc::new(Event::new("tick", "ticks", json!({ "n": 1 })));
    futures_lite::future::block_on(executor.publish(&InMemoryBus::new(), event)).unwrap();
    let frame = executor.next_response(key).unwrap().unwrap();
    assert!(json_of(&frame)["payload"].get("extensions").is_none());
    assert_eq!(frame_cursor(&frame), None);
}

#[test]
fn a_malformed_cursor_is_refused_with_invalid_cursor() {
    let executor = SubscriptionExecutor::default();
    let key = subscribed(&executor);
    for cursor in ["", "garbage", "1.zz.1-0", "9.7469636b73.1-0", "1.7469636b73.1-x"] {
        let error = executor.resume(key, cursor).unwrap_err();
        assert_eq!(error.code(), INVALID_CURSOR, "{cursor:?}: {error}");
    }
}

#[test]
fn a_cursor_of_a_channel_the_subscription_does_not_listen_to_is_refused() {
    let executor = SubscriptionExecutor::default();
    let key = subscribed(&executor);
    let elsewhere = Cursor::new("tocks", LogPosition::new(1, 0)).encode();
    assert_eq!(
        executor.resume(key, &elsewhere).unwrap_err().code(),
        INVALID_CURSOR
    );
}

#[test]
fn on_a_bus_without_history_a_cursor_gets_a_gap_of_unknown_size() {
    let (bus, executor) = (InMemoryBus::new(), SubscriptionExecutor::default());
    let key = subscribed(&executor);
    let cursor = Cursor::new("ticks", LogPosition::new(3, 0)).encode();
    let mut resume = executor.resume(key, &cursor).unwrap();
    let page = futures_lite::future::block_on(resume.next_page(&executor, &bus))
        .unwrap()
        .unwrap();
    assert_eq!(page.len(), 1);
    let notice = json_of(&page[0]);
    assert_eq!(notice["id"], "1");
    assert_eq!(notice["payload"]["errors"][0]["extensions"]["code"], EVENTS_GAP);
    assert!(notice["payload"]["errors"][0]["extensions"]["count"].is_null());
    assert!(futures_lite::future::block_on(resume.next_page(&executor, &bus))
        .unwrap()
        .is_none());
}

#[test]
fn live_frames_at_or_before_the_cursor_are_recognised_as_already_seen() {
    let executor = SubscriptionExecutor::default();
    let key = subscribed(&executor);
    let cursor = Cursor::new("ticks", LogPosition::new(10, 0)).encode();
    let resume = executor.resume(key, &cursor).unwrap();
    for (n, major, seen) in [(1, 9, true), (2, 10, true), (3, 11, false)] {
        executor
            .dispatch_event_to_subscriptions(&positioned(n, LogPosition::new(major, 0)))
            .unwrap();
        let frame = executor.next_response(key).unwrap().unwrap();
        assert_eq!(resume.is_replayed(&frame), seen, "event {n}");
    }
}

proptest! {
    #[test]
    fn no_client_string_makes_resume_panic(cursor in ".{0,600}") {
        let executor = SubscriptionExecutor::default();
        let key = subscribed(&executor);
        if let Err(error) = executor.resume(key, &cursor) {
            prop_assert_eq!(error.code(), INVALID_CURSOR);
        }
    }

    #[test]
    fn every_cursor_reads_back_as_written(channel in "[^\u{0}]{1,60}", major: u64, minor: u64) {
        let cursor = Cursor::new(channel, LogPosition::new(major, minor));
        prop_assert_eq!(Cursor::parse(&cursor.encode()), Ok(cursor));
    }
}
