//! The graphql-transport-ws state machine, driven message by message: every rule of the
//! protocol is one test, with time passed in and no network.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{json, Value};
use subcast_core::{
    Action, BucketConfig, CloseCode, Connection, GraphQLError, ProtocolConfig, SubscribePayload,
    MAX_CLOSE_REASON_BYTES,
};

const INIT: &str = r#"{"type":"connection_init"}"#;
const SECOND: Duration = Duration::from_secs(1);

fn drain(conn: &mut Connection) -> Vec<Action> {
    std::iter::from_fn(|| conn.poll_action()).collect()
}

fn subscribe(id: &str) -> String {
    json!({"id": id, "type": "subscribe", "payload": {"query": "subscription { users { id } }"}}).to_string()
}

fn complete(id: &str) -> String {
    json!({"id": id, "type": "complete"}).to_string()
}

fn sent(actions: &[Action]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Send(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn close_of(actions: &[Action]) -> Option<(u16, &str)> {
    match actions.last() {
        Some(Action::Close { code, reason }) => Some((code.as_u16(), reason.as_str())),
        _ => None,
    }
}

/// A connection acknowledged at `now`, its actions drained.
fn acknowledged(config: ProtocolConfig, now: Instant) -> Connection {
    let mut conn = Connection::new(config, now);
    conn.feed_text(INIT, now);
    conn.accept(None);
    drain(&mut conn);
    conn
}

fn with_subscription(id: &str, now: Instant) -> Connection {
    let mut conn = acknowledged(ProtocolConfig::default(), now);
    conn.feed_text(&subscribe(id), now);
    drain(&mut conn);
    conn
}

fn fed(conn: &mut Connection, text: &str, now: Instant) -> Vec<Action> {
    conn.feed_text(text, now);
    drain(conn)
}

// connection_init

#[test]
fn connection_init_asks_the_application_with_its_payload() {
    let now = Instant::now();
    let mut conn = Connection::new(ProtocolConfig::default(), now);
    let actions = fed(
        &mut conn,
        r#"{"type":"connection_init","payload":{"token":"abc"}}"#,
        now,
    );
    let Some(Action::Authenticate {
        payload: Some(payload),
    }) = actions.first()
    else {
        panic!("expected Authenticate, got {actions:?}");
    };
    assert_eq!(payload["token"], "abc");
    assert_eq!(actions.len(), 1);
}

#[test]
fn connection_init_with_null_payload_asks_with_no_payload() {
    let now = Instant::now();
    let mut conn = Connection::new(ProtocolConfig::default(), now);
    let actions = fed(&mut conn, r#"{"type":"connection_init","payload":null}"#, now);
    assert_eq!(actions, vec![Action::Authenticate { payload: None }]);
}

#[test]
fn accepted_connection_sends_connection_ack_without_payload() {
    let now = Instant::now();
    let mut conn = Connection::new(ProtocolConfig::default(), now);
    conn.feed_text(INIT, now);
    drain(&mut conn);
    conn.accept(None);
    assert_eq!(
        drain(&mut conn),
        vec![Action::Send(r#"{"type":"connection_ack"}"#.into())]
    );
}

#[test]
fn accepted_connection_sends_connection_ack_with_the_application_payload() {
    let now = Instant::now();
    let mut conn = Connection::new(ProtocolConfig::default(), now);
    conn.feed_text(INIT, now);
    drain(&mut conn);
    conn.accept(json!({"server": "subcast", "version": 1}).as_object().cloned());
    assert_eq!(
        sent(&drain(&mut conn)),
        vec![r#"{"type":"connection_ack","payload":{"server":"subcast","version":1}}"#]
    );
}

#[test]
fn refused_connection_closes_with_4403() {
    let now = Instant::now();
    let mut conn = Connection::new(ProtocolConfig::default(), now);
    conn.feed_text(INIT, now);
    drain(&mut conn);
    conn.refuse("Forbidden");
    assert_eq!(close_of(&drain(&mut conn)), Some((4403, "Forbidden")));
    assert!(conn.is_closed());
}

#[test]
fn accept_before_connection_init_sends_nothing() {
    let now = Instant::now();
    let mut conn = Connection::new(ProtocolConfig::default(), now);
    conn.accept(None);
    assert!(drain(&mut conn).is_empty());
}

#[test]
fn second_connection_init_closes_with_4429() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default(), now);
    assert_eq!(
        close_of(&fed(&mut conn, INIT, now)),
        Some((4429, "Too many initialisation requests"))
    );
}

#[test]
fn second_connection_init_while_authenticating_closes_with_4429() {
    let now = Instant::now();
    let mut conn = Connection::new(ProtocolConfig::default(), now);
    conn.feed_text(INIT, now);
    drain(&mut conn);
    assert_eq!(
        close_of(&fed(&mut conn, INIT, now)).map(|(code, _)| code),
        Some(4429)
    );
}

#[test]
fn missing_connection_init_closes_with_4408_at_the_timeout() {
    let now = Instant::now();
    let config = ProtocolConfig::default().connection_init_timeout(3 * SECOND);
    let mut conn = Connection::new(config, now);
    assert_eq!(conn.next_deadline(), Some(now + 3 * SECOND));
    conn.tick(now + 3 * SECOND - Duration::from_millis(1));
    assert!(drain(&mut conn).is_empty());
    conn.tick(now + 3 * SECOND);
    assert_eq!(
        close_of(&drain(&mut conn)),
        Some((4408, "Connection initialisation timeout"))
    );
}

#[test]
fn connection_init_after_the_timeout_closes_with_4408() {
    let now = Instant::now();
    let mut conn = Connection::new(ProtocolConfig::default().connection_init_timeout(SECOND), now);
    assert_eq!(
        close_of(&fed(&mut conn, INIT, now + 2 * SECOND)).map(|(code, _)| code),
        Some(4408)
    );
}

#[test]
fn connection_init_in_time_clears_the_timeout_even_while_authenticating() {
    let now = Instant::now();
    let config = ProtocolConfig::default()
        .connection_init_timeout(SECOND)
        .keep_alive(None);
    let mut conn = Connection::new(config, now);
    conn.feed_text(INIT, now);
    drain(&mut conn);
    assert_eq!(conn.next_deadline(), None);
    conn.tick(now + 60 * SECOND);
    assert!(drain(&mut conn).is_empty());
    assert!(!conn.is_closed());
}

// subscribe

#[test]
fn subscribe_before_ack_closes_with_4401() {
    let now = Instant::now();
    let mut conn = Connection::new(ProtocolConfig::default(), now);
    assert_eq!(
        close_of(&fed(&mut conn, &subscribe("1"), now)),
        Some((4401, "Unauthorized"))
    );
}

#[test]
fn subscribe_while_authenticating_closes_with_4401() {
    let now = Instant::now();
    let mut conn = Connection::new(ProtocolConfig::default(), now);
    conn.feed_text(INIT, now);
    drain(&mut conn);
    assert_eq!(
        close_of(&fed(&mut conn, &subscribe("1"), now)).map(|(code, _)| code),
        Some(4401)
    );
}

#[test]
fn subscribe_after_ack_starts_the_subscription_with_its_payload() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default(), now);
    let message = json!({"id": "op-1", "type": "subscribe", "payload": {
        "query": "subscription S($n: Int) { users(n: $n) { id } }",
        "operationName": "S",
        "variables": {"n": 3},
        "extensions": {"persisted": true},
    }});
    let actions = fed(&mut conn, &message.to_string(), now);
    assert_eq!(
        actions,
        vec![Action::Subscribe {
            id: "op-1".into(),
            payload: SubscribePayload {
                query: "subscription S($n: Int) { users(n: $n) { id } }".into(),
                operation_name: Some("S".into()),
                variables: json!({"n": 3}).as_object().cloned(),
                extensions: json!({"persisted": true}).as_object().cloned(),
            },
        }]
    );
    assert!(conn.is_active("op-1"));
}

#[test]
fn subscribe_with_nullish_optional_fields_reads_them_as_none() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default(), now);
    let message = r#"{"id":"1","type":"subscribe","payload":{"query":"q","operationName":null,"variables":null,"extensions":null}}"#;
    let Some(Action::Subscribe { payload, .. }) = fed(&mut conn, message, now).pop() else {
        panic!("expected Subscribe");
    };
    assert_eq!(
        (payload.operation_name, payload.variables, payload.extensions),
        (None, None, None)
    );
}

#[test]
fn duplicate_active_id_closes_with_4409() {
    let now = Instant::now();
    let mut conn = with_subscription("1", now);
    assert_eq!(
        close_of(&fed(&mut conn, &subscribe("1"), now)),
        Some((4409, "Subscriber for 1 already exists"))
    );
}

#[test]
fn id_completed_by_the_client_may_be_reused() {
    let now = Instant::now();
    let mut conn = with_subscription("1", now);
    conn.feed_text(&complete("1"), now);
    drain(&mut conn);
    assert!(matches!(
        fed(&mut conn, &subscribe("1"), now).as_slice(),
        [Action::Subscribe { .. }]
    ));
}

#[test]
fn id_completed_by_the_server_may_be_reused() {
    let now = Instant::now();
    let mut conn = with_subscription("1", now);
    conn.complete_subscription("1");
    drain(&mut conn);
    assert!(matches!(
        fed(&mut conn, &subscribe("1"), now).as_slice(),
        [Action::Subscribe { .. }]
    ));
}

#[test]
fn subscription_over_the_limit_gets_an_error_and_the_connection_stays_open() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default().max_subscriptions(2), now);
    conn.feed_text(&subscribe("1"), now);
    conn.feed_text(&subscribe("2"), now);
    drain(&mut conn);
    let actions = fed(&mut conn, &subscribe("3"), now);
    let [Action::Send(error)] = actions.as_slice() else {
        panic!("expected one error, got {actions:?}");
    };
    let error: Value = serde_json::from_str(error).expect("JSON");
    assert_eq!((&error["id"], &error["type"]), (&json!("3"), &json!("error")));
    assert_eq!(error["payload"][0]["extensions"]["code"], "SUBSCRIPTION_LIMIT");
    assert!(!conn.is_closed() && !conn.is_active("3"));
}

#[test]
fn subscription_under_the_limit_again_is_started() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default().max_subscriptions(1), now);
    conn.feed_text(&subscribe("1"), now);
    conn.feed_text(&complete("1"), now);
    drain(&mut conn);
    assert!(matches!(
        fed(&mut conn, &subscribe("2"), now).as_slice(),
        [Action::Subscribe { .. }]
    ));
}

// complete

#[test]
fn client_complete_unsubscribes_and_sends_nothing() {
    let now = Instant::now();
    let mut conn = with_subscription("1", now);
    assert_eq!(
        fed(&mut conn, &complete("1"), now),
        vec![Action::Unsubscribe { id: "1".into() }]
    );
}

#[test]
fn complete_for_an_unknown_id_is_ignored() {
    let now = Instant::now();
    let mut conn = with_subscription("1", now);
    assert!(fed(&mut conn, &complete("2"), now).is_empty());
    assert!(!conn.is_closed() && conn.is_active("1"));
}

#[test]
fn complete_before_ack_is_ignored() {
    let now = Instant::now();
    let mut conn = Connection::new(ProtocolConfig::default(), now);
    assert!(fed(&mut conn, &complete("1"), now).is_empty());
    assert!(!conn.is_closed());
}

#[test]
fn server_complete_after_the_client_completed_sends_nothing() {
    let now = Instant::now();
    let mut conn = with_subscription("1", now);
    conn.feed_text(&complete("1"), now);
    drain(&mut conn);
    assert!(!conn.complete_subscription("1"));
    assert!(drain(&mut conn).is_empty());
}

#[test]
fn server_completed_subscription_sends_complete_once() {
    let now = Instant::now();
    let mut conn = with_subscription("1", now);
    assert!(conn.complete_subscription("1"));
    assert!(!conn.complete_subscription("1"));
    assert_eq!(
        drain(&mut conn),
        vec![Action::Send(r#"{"id":"1","type":"complete"}"#.into())]
    );
}

#[test]
fn refused_subscription_sends_one_error_and_no_complete() {
    let now = Instant::now();
    let mut conn = with_subscription("1", now);
    assert!(conn.fail_subscription("1", &[GraphQLError::new("FIELD_FORBIDDEN", "no")]));
    assert!(!conn.complete_subscription("1"));
    assert!(!conn.fail_subscription("1", &[GraphQLError::new("FIELD_FORBIDDEN", "no")]));
    assert_eq!(
        drain(&mut conn),
        vec![Action::Send(
            r#"{"id":"1","type":"error","payload":[{"message":"no","extensions":{"code":"FIELD_FORBIDDEN"}}]}"#.into()
        )]
    );
    assert!(!conn.is_active("1"));
}

#[test]
fn subscription_ended_elsewhere_frees_the_id_and_sends_nothing() {
    let now = Instant::now();
    let mut conn = with_subscription("1", now);
    assert!(conn.subscription_ended("1"));
    assert!(drain(&mut conn).is_empty());
    assert!(!conn.complete_subscription("1"));
    assert!(matches!(
        fed(&mut conn, &subscribe("1"), now).as_slice(),
        [Action::Subscribe { .. }]
    ));
}

// ping and pong

#[test]
fn ping_is_answered_with_pong_carrying_the_same_payload() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default(), now);
    assert_eq!(
        fed(
            &mut conn,
            r#"{"type":"ping","payload":{"b":1,"a":[true,null]}}"#,
            now
        ),
        vec![Action::Send(
            r#"{"type":"pong","payload":{"b":1,"a":[true,null]}}"#.into()
        )]
    );
}

#[test]
fn ping_without_payload_is_answered_with_pong_without_payload() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default(), now);
    assert_eq!(
        sent(&fed(&mut conn, r#"{"type":"ping"}"#, now)),
        vec![r#"{"type":"pong"}"#]
    );
    assert_eq!(
        sent(&fed(&mut conn, r#"{"type":"ping","payload":null}"#, now)),
        vec![r#"{"type":"pong"}"#]
    );
}

#[test]
fn ping_before_connection_init_is_answered() {
    let now = Instant::now();
    let mut conn = Connection::new(ProtocolConfig::default(), now);
    assert_eq!(
        sent(&fed(&mut conn, r#"{"type":"ping"}"#, now)),
        vec![r#"{"type":"pong"}"#]
    );
    assert!(!conn.is_closed());
}

#[test]
fn pong_is_ignored() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default(), now);
    assert!(fed(&mut conn, r#"{"type":"pong","payload":{"x":1}}"#, now).is_empty());
    assert!(!conn.is_closed());
}

// keep-alive

#[test]
fn keep_alive_sends_a_ping_every_interval() {
    let now = Instant::now();
    let config = ProtocolConfig::default().keep_alive(Some(10 * SECOND));
    let mut conn = acknowledged(config, now);
    assert_eq!(conn.next_deadline(), Some(now + 10 * SECOND));
    conn.tick(now + 10 * SECOND);
    assert_eq!(drain(&mut conn), vec![Action::Send(r#"{"type":"ping"}"#.into())]);
    conn.feed_text(r#"{"type":"pong"}"#, now + 11 * SECOND);
    assert_eq!(conn.next_deadline(), Some(now + 21 * SECOND));
    conn.tick(now + 21 * SECOND);
    assert_eq!(sent(&drain(&mut conn)), vec![r#"{"type":"ping"}"#]);
}

#[test]
fn missing_pong_closes_with_4504_at_the_pong_timeout() {
    let now = Instant::now();
    let config = ProtocolConfig::default()
        .keep_alive(Some(10 * SECOND))
        .pong_timeout(5 * SECOND);
    let mut conn = acknowledged(config, now);
    conn.tick(now + 10 * SECOND);
    drain(&mut conn);
    assert_eq!(conn.next_deadline(), Some(now + 15 * SECOND));
    conn.tick(now + 15 * SECOND);
    assert_eq!(close_of(&drain(&mut conn)), Some((4504, "Keep-alive timeout")));
    assert!(CloseCode::KeepAliveTimeout.is_retried_by_client());
}

#[test]
fn pong_in_time_keeps_the_connection_open() {
    let now = Instant::now();
    let config = ProtocolConfig::default()
        .keep_alive(Some(10 * SECOND))
        .pong_timeout(5 * SECOND);
    let mut conn = acknowledged(config, now);
    conn.tick(now + 10 * SECOND);
    conn.feed_text(r#"{"type":"pong"}"#, now + 14 * SECOND);
    conn.tick(now + 16 * SECOND);
    assert_eq!(sent(&drain(&mut conn)), vec![r#"{"type":"ping"}"#]);
    assert!(!conn.is_closed());
}

#[test]
fn one_ping_is_outstanding_at_a_time() {
    let now = Instant::now();
    let config = ProtocolConfig::default()
        .keep_alive(Some(SECOND))
        .pong_timeout(60 * SECOND);
    let mut conn = acknowledged(config, now);
    for second in 1..30 {
        conn.tick(now + second * SECOND);
    }
    assert_eq!(sent(&drain(&mut conn)), vec![r#"{"type":"ping"}"#]);
}

#[test]
fn keep_alive_disabled_sends_no_ping() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default().keep_alive(None), now);
    assert_eq!(conn.next_deadline(), None);
    conn.tick(now + 3600 * SECOND);
    assert!(drain(&mut conn).is_empty());
}

#[test]
fn timers_too_far_away_never_fire() {
    let now = Instant::now();
    let config = ProtocolConfig::default()
        .connection_init_timeout(Duration::MAX)
        .keep_alive(Some(Duration::MAX));
    let mut conn = Connection::new(config, now);
    assert_eq!(conn.next_deadline(), None);
    conn.tick(now + 3600 * SECOND);
    assert!(drain(&mut conn).is_empty());
}

// closing

#[test]
fn shutdown_closes_with_1001_going_away() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default(), now);
    conn.shutdown();
    assert_eq!(close_of(&drain(&mut conn)), Some((1001, "Going away")));
    assert!(CloseCode::GoingAway.is_retried_by_client());
}

#[test]
fn internal_error_closes_with_4500_and_the_reason() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default(), now);
    conn.internal_error("executor unavailable");
    assert_eq!(close_of(&drain(&mut conn)), Some((4500, "executor unavailable")));
}

#[test]
fn closing_unsubscribes_every_active_subscription_before_the_close() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default(), now);
    conn.feed_text(&subscribe("a"), now);
    conn.feed_text(&subscribe("b"), now);
    drain(&mut conn);
    conn.shutdown();
    let actions = drain(&mut conn);
    assert_eq!(
        actions[..2],
        [
            Action::Unsubscribe { id: "a".into() },
            Action::Unsubscribe { id: "b".into() }
        ]
    );
    assert_eq!(close_of(&actions).map(|(code, _)| code), Some(1001));
    assert_eq!(actions.len(), 3);
}

#[test]
fn disconnected_unsubscribes_every_active_subscription_without_a_close() {
    let now = Instant::now();
    let mut conn = with_subscription("1", now);
    conn.feed_text(r#"{"type":"ping"}"#, now);
    conn.disconnected();
    assert_eq!(drain(&mut conn), vec![Action::Unsubscribe { id: "1".into() }]);
    assert!(conn.is_closed());
}

#[test]
fn nothing_happens_after_the_close() {
    let now = Instant::now();
    let mut conn = with_subscription("1", now);
    conn.shutdown();
    drain(&mut conn);
    conn.feed_text(r#"{"type":"ping"}"#, now);
    conn.feed_text(&subscribe("2"), now);
    conn.feed_binary(now);
    conn.tick(now + 3600 * SECOND);
    conn.internal_error("late");
    conn.shutdown();
    assert!(!conn.complete_subscription("1"));
    assert!(drain(&mut conn).is_empty());
    assert_eq!(conn.next_deadline(), None);
}

#[test]
fn close_reason_is_cut_to_123_bytes_on_a_char_boundary() {
    let now = Instant::now();
    // "Subscriber for x" is 16 bytes; each "é" 2: the 123rd byte would split one.
    let id = format!("x{}", "é".repeat(100));
    let mut conn = with_subscription(&id, now);
    let actions = fed(&mut conn, &subscribe(&id), now);
    let expected = format!("Subscriber for x{}", "é".repeat(53));
    assert_eq!(expected.len(), 122);
    assert_eq!(close_of(&actions), Some((4409, expected.as_str())));
}

// invalid input

#[test]
fn invalid_messages_close_with_4400_and_say_why() {
    let cases = [
        ("{", "Invalid JSON"),
        ("[]", "Message is expected to be an object, but got array"),
        ("42", "Message is expected to be an object, but got number"),
        ("{}", "Message is missing the 'type' property"),
        (r#"{"type":""}"#, "Message is missing the 'type' property"),
        (
            r#"{"type":7}"#,
            "Message expects the 'type' property to be a string, but got number",
        ),
        (
            r#"{"type":"subscription"}"#,
            "Invalid message 'type' property \"subscription\"",
        ),
        (
            r#"{"type":"next","id":"1","payload":{}}"#,
            "Unexpected message of type next received",
        ),
        (
            r#"{"type":"connection_ack"}"#,
            "Unexpected message of type connection_ack received",
        ),
        (
            r#"{"type":"ping","payload":"x"}"#,
            "\"ping\" message expects the 'payload' property to be an object",
        ),
        (
            r#"{"type":"connection_init","payload":[1]}"#,
            "\"connection_init\" message expects the 'payload'",
        ),
        (
            r#"{"type":"subscribe","payload":{"query":"q"}}"#,
            "\"subscribe\" message expects the 'id' property to be a string, but got undefined",
        ),
        (
            r#"{"type":"subscribe","id":1,"payload":{"query":"q"}}"#,
            "\"subscribe\" message expects the 'id' property to be a string, but got number",
        ),
        (
            r#"{"type":"subscribe","id":"","payload":{"query":"q"}}"#,
            "\"subscribe\" message requires a non-empty 'id' property",
        ),
        (
            r#"{"type":"subscribe","id":"1"}"#,
            "\"subscribe\" message expects the 'payload' property to be an object, but got undefined",
        ),
        (
            r#"{"type":"subscribe","id":"1","payload":{}}"#,
            "'query' property to be a string, but got undefined",
        ),
        (
            r#"{"type":"subscribe","id":"1","payload":{"query":1}}"#,
            "'query' property to be a string, but got number",
        ),
        (
            r#"{"type":"subscribe","id":"1","payload":{"query":"q","variables":[]}}"#,
            "'variables' property to be an object or nullish",
        ),
        (
            r#"{"type":"subscribe","id":"1","payload":{"query":"q","extensions":"x"}}"#,
            "'extensions' property to be an object or nullish",
        ),
        (
            r#"{"type":"subscribe","id":"1","payload":{"query":"q","operationName":{}}}"#,
            "'operationName' property to be a string or nullish",
        ),
        (
            r#"{"type":"complete"}"#,
            "\"complete\" message expects the 'id' property to be a string",
        ),
        (
            r#"{"type":"complete","id":null}"#,
            "\"complete\" message expects the 'id' property to be a string, but got null",
        ),
    ];
    for (message, expected) in cases {
        let now = Instant::now();
        let mut conn = acknowledged(ProtocolConfig::default(), now);
        let actions = fed(&mut conn, message, now);
        let Some((4400, reason)) = close_of(&actions) else {
            panic!("{message}: expected 4400, got {actions:?}");
        };
        assert!(
            reason.contains(expected),
            "{message}: reason {reason:?} lacks {expected:?}"
        );
    }
}

#[test]
fn binary_message_closes_with_4400() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default(), now);
    conn.feed_binary(now);
    assert_eq!(
        close_of(&drain(&mut conn)),
        Some((4400, "Binary messages are not supported"))
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default(), now);
    assert_eq!(
        sent(&fed(&mut conn, r#"{"type":"ping","id":5,"extra":[1,2]}"#, now)),
        vec![r#"{"type":"pong"}"#]
    );
}

#[test]
fn id_longer_than_the_limit_closes_with_4400() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default().max_id_bytes(8), now);
    let actions = fed(&mut conn, &subscribe("123456789"), now);
    assert_eq!(
        close_of(&actions),
        Some((4400, "\"subscribe\" message 'id' is 9 bytes, over the limit of 8"))
    );
}

#[test]
fn id_at_the_limit_is_accepted() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default().max_id_bytes(8), now);
    assert!(matches!(
        fed(&mut conn, &subscribe("12345678"), now).as_slice(),
        [Action::Subscribe { .. }]
    ));
}

#[test]
fn oversized_message_closes_with_1009() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default().max_message_bytes(64), now);
    let message = json!({"type": "ping", "payload": {"pad": "x".repeat(64)}}).to_string();
    assert_eq!(
        close_of(&fed(&mut conn, &message, now)),
        Some((
            1009,
            format!("Message too big: {} bytes, over the limit of 64", message.len()).as_str()
        ))
    );
}

#[test]
fn deeply_nested_json_closes_with_4400() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default(), now);
    let nested = format!(
        r#"{{"type":"ping","payload":{{"a":{}1{}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert_eq!(
        close_of(&fed(&mut conn, &nested, now)).map(|(code, _)| code),
        Some(4400)
    );
}

#[test]
fn message_flood_closes_with_4429() {
    let now = Instant::now();
    let config = ProtocolConfig::default().message_rate(Some(BucketConfig::new(10, 1.0)));
    let mut conn = Connection::new(config, now);
    for _ in 0..10 {
        assert_eq!(
            sent(&fed(&mut conn, r#"{"type":"ping"}"#, now)),
            vec![r#"{"type":"pong"}"#]
        );
    }
    assert_eq!(
        close_of(&fed(&mut conn, r#"{"type":"ping"}"#, now)),
        Some((4429, "Too many messages"))
    );
}

#[test]
fn message_rate_refills_with_time() {
    let now = Instant::now();
    let config = ProtocolConfig::default().message_rate(Some(BucketConfig::new(2, 1.0)));
    let mut conn = acknowledged(config, now);
    conn.feed_text(&subscribe("1"), now);
    drain(&mut conn);
    assert!(matches!(
        fed(&mut conn, &subscribe("2"), now + SECOND).as_slice(),
        [Action::Subscribe { .. }]
    ));
    assert!(!conn.is_closed());
}

#[test]
fn undrained_actions_close_the_connection_with_4500() {
    let now = Instant::now();
    let mut conn = acknowledged(ProtocolConfig::default().message_rate(None), now);
    for _ in 0..1000 {
        conn.feed_text(r#"{"type":"ping"}"#, now);
    }
    let actions = drain(&mut conn);
    assert!(actions.len() <= 65, "{} actions queued", actions.len());
    assert_eq!(close_of(&actions), Some((4500, "Actions were not drained")));
}

// properties

/// Valid messages after `connection_init`.
fn valid_message() -> impl Strategy<Value = String> {
    let id = prop_oneof![Just("1".to_owned()), Just("2".to_owned()), "[a-z0-9é]{1,6}"];
    prop_oneof![
        Just(r#"{"type":"ping","payload":{"a":1}}"#.to_owned()),
        Just(r#"{"type":"pong"}"#.to_owned()),
        id.clone().prop_map(|id| subscribe(&id)),
        id.prop_map(|id| complete(&id)),
    ]
}

fn client_message() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(INIT.to_owned()),
        3 => valid_message(),
        1 => "\\PC{0,40}",
        1 => "[\\[\\]{}\":,a-z0-9 ]{0,40}",
        1 => prop::sample::select(vec!["type", "id", "payload", "query", "subscribe", "ping", "null", "1", ""])
            .prop_map(|word| format!(r#"{{"type":"{word}","id":{word},"payload":{{"query":{word}}}}}"#)),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Text(String),
    Binary,
    Tick(u64),
    Accept,
    Refuse,
    Complete(String),
    Fail(String),
    Ended(String),
    Poll,
}

fn step() -> impl Strategy<Value = Step> {
    let id = prop_oneof![Just("1".to_owned()), Just("2".to_owned())];
    prop_oneof![
        6 => client_message().prop_map(Step::Text),
        1 => Just(Step::Binary),
        2 => (0u64..20_000).prop_map(Step::Tick),
        2 => Just(Step::Accept),
        1 => Just(Step::Refuse),
        1 => id.clone().prop_map(Step::Complete),
        1 => id.clone().prop_map(Step::Fail),
        1 => id.prop_map(Step::Ended),
        3 => Just(Step::Poll),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_message_sequences_never_panic_and_queue_boundedly(steps in prop::collection::vec(step(), 0..200)) {
        let start = Instant::now();
        let mut now = start;
        let max_subscriptions = 4;
        let config = ProtocolConfig::default().max_subscriptions(max_subscriptions).message_rate(None);
        let mut conn = Connection::new(config, now);
        let mut closes = 0;
        for step in steps {
            match step {
                Step::Text(text) => conn.feed_text(&text, now),
                Step::Binary => conn.feed_binary(now),
                Step::Tick(millis) => {
                    now += Duration::from_millis(millis);
                    conn.tick(now);
                }
                Step::Accept => conn.accept(None),
                Step::Refuse => conn.refuse("Forbidden"),
                Step::Complete(id) => { conn.complete_subscription(&id); }
                Step::Fail(id) => { conn.fail_subscription(&id, &[GraphQLError::new("X", "x")]); }
                Step::Ended(id) => { conn.subscription_ended(&id); }
                Step::Poll => {
                    for action in drain(&mut conn) {
                        if let Action::Close { reason, .. } = &action {
                            prop_assert!(reason.len() <= MAX_CLOSE_REASON_BYTES);
                            closes += 1;
                        }
                    }
                }
            }
            let queued: Vec<Action> = drain(&mut conn);
            prop_assert!(queued.len() <= 3 + max_subscriptions, "{} actions queued", queued.len());
            for action in &queued {
                if let Action::Close { reason, .. } = action {
                    prop_assert!(reason.len() <= MAX_CLOSE_REASON_BYTES);
                    closes += 1;
                }
            }
            prop_assert!(closes <= 1);
            prop_assert!(conn.next_deadline().is_none_or(|at| at >= start));
        }
    }

    #[test]
    fn undrained_queue_stays_bounded(messages in prop::collection::vec(valid_message(), 0..500)) {
        let now = Instant::now();
        let mut conn = Connection::new(ProtocolConfig::default().max_subscriptions(8).message_rate(None), now);
        conn.feed_text(INIT, now);
        conn.accept(None);
        for message in &messages {
            conn.feed_text(message, now);
        }
        let queued = drain(&mut conn).len();
        prop_assert!(queued <= 64 + 2 + 8 + 1, "{queued} actions queued");
    }
}
