use super::*;
use serde_json::json;
use std::sync::Mutex;

fn event() -> Arc<Event> {
    Arc::new(Event::new("t", "c", json!({})))
}

/// Replay-mode channels whose replay requests are recorded.
fn replaying(capacity: usize) -> (ChannelStreams<u64>, Arc<Mutex<Vec<String>>>) {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let request: ReplayRequest = Arc::new(move |channel: &str| seen.lock().unwrap().push(channel.to_owned()));
    (ChannelStreams::new(capacity, Overflow::Replay(request)), requests)
}

#[test]
fn events_at_or_before_the_cursor_are_duplicates() {
    let mut channels = ChannelStreams::<u64>::default();
    let (_, receiver, first) = channels.insert("c");
    assert_eq!(first, Inserted::First);
    assert_eq!(channels.deliver_at("c", Some(5), event()), Delivery::Delivered(1));
    assert_eq!(channels.deliver_at("c", Some(5), event()), Delivery::Duplicate);
    assert_eq!(channels.deliver_at("c", Some(4), event()), Delivery::Duplicate);
    assert_eq!(channels.deliver_at("c", Some(6), event()), Delivery::Delivered(1));
    assert_eq!(channels.deliver_at("c", None, event()), Delivery::Delivered(1));
    assert_eq!(receiver.len(), 3);
}

#[test]
fn the_last_stream_leaving_removes_the_channel() {
    let mut channels = ChannelStreams::<u64>::default();
    let (a, _, _) = channels.insert("c");
    let (b, _, joined) = channels.insert("c");
    assert_eq!(joined, Inserted::Joined);
    assert!(!channels.remove_stream("c", a));
    assert!(channels.remove_stream("c", b));
    assert!(channels.is_empty());
}

#[test]
fn skipping_never_moves_the_cursor_back() {
    let mut channels = ChannelStreams::<u64>::default();
    let (_, receiver, _) = channels.insert("c");
    channels.skip_to("c", 5);
    channels.skip_to("c", 3);
    assert_eq!(channels.get_mut("c").unwrap().cursor, Some(5));
    assert_eq!(channels.deliver_at("c", Some(5), event()), Delivery::Duplicate);
    assert!(receiver.is_empty());
}

#[test]
fn a_gap_reaches_every_stream_with_its_count() {
    let mut channels = ChannelStreams::<u64>::default();
    let (_, mut first, _) = channels.insert("c");
    let (_, mut second, _) = channels.insert("c");
    channels.signal_gap("c", Some(4));
    for receiver in [&mut first, &mut second] {
        assert!(matches!(
            receiver.try_recv(),
            Some(BusMessage::Gap { channel, missed: Some(4) }) if channel == "c"
        ));
    }
}

#[test]
fn removing_a_channel_ends_its_streams() {
    let mut channels = ChannelStreams::<u64>::default();
    let (_, receiver, _) = channels.insert("c");
    assert!(channels.remove_channel("c"));
    assert!(receiver.is_closed());
    assert!(!channels.remove_channel("c"));
}

#[test]
fn a_full_stream_without_replay_drops_and_then_announces_the_exact_count() {
    let mut channels = ChannelStreams::<u64>::new(3, Overflow::Announce);
    let (_, mut receiver, _) = channels.insert("c");
    for n in 1..=10 {
        channels.deliver_at("c", Some(n), event());
    }
    assert_eq!(receiver.len(), 3);
    assert_eq!(channels.dropped(), 7);
    for _ in 0..3 {
        assert!(matches!(receiver.try_recv(), Some(BusMessage::Event(_))));
    }
    assert!(matches!(
        receiver.try_recv(),
        Some(BusMessage::Gap { missed: Some(7), .. })
    ));
    assert!(receiver.try_recv().is_none());
    assert_eq!(channels.peak(), 3);
}

#[test]
fn a_full_stream_with_replay_holds_the_channel_and_asks_for_a_replay_once_half_drained() {
    let (mut channels, requests) = replaying(4);
    let (_, mut receiver, _) = channels.insert("c");
    for n in 1..=4 {
        assert_eq!(channels.deliver_at("c", Some(n), event()), Delivery::Delivered(1));
    }
    assert_eq!(channels.deliver_at("c", Some(5), event()), Delivery::Behind);
    let subscribed = channels.get_mut("c").unwrap();
    assert_eq!(
        subscribed.cursor,
        Some(4),
        "the cursor stays at the last event delivered"
    );
    assert!(subscribed.pending_replay);
    receiver.try_recv();
    assert!(requests.lock().unwrap().is_empty(), "3 of 4 still queued");
    receiver.try_recv();
    assert_eq!(*requests.lock().unwrap(), ["c"]);
    // The replay reads only what the stream can take, and is not requested twice.
    assert_eq!(
        channels.begin_replay("c"),
        Some(ReplayStart {
            cursor: Some(4),
            room: 2
        })
    );
    receiver.try_recv();
    assert_eq!(requests.lock().unwrap().len(), 1);
}

#[test]
fn a_replay_step_that_read_a_full_page_requests_the_next_and_a_short_one_ends_the_hold() {
    let (mut channels, requests) = replaying(4);
    channels.insert("c");
    channels.request_replay("c");
    let start = channels.begin_replay("c").unwrap();
    assert_eq!(start.room, 4);
    channels.end_replay("c", false);
    assert_eq!(requests.lock().unwrap().len(), 2);
    channels.begin_replay("c");
    channels.end_replay("c", true);
    assert!(!channels.get_mut("c").unwrap().pending_replay);
}

#[test]
fn a_stream_drained_before_the_channel_waits_on_it_still_gets_its_replay() {
    let (mut channels, requests) = replaying(2);
    let (_, mut receiver, _) = channels.insert("c");
    channels.deliver_at("c", Some(1), event());
    channels.deliver_at("c", Some(2), event());
    // Drained between the bus seeing it full and marking it: the bus asks itself.
    let full_at_check = channels.get_mut("c").unwrap().room();
    assert_eq!(full_at_check, 0);
    receiver.try_recv();
    receiver.try_recv();
    channels.fall_behind("c");
    assert_eq!(*requests.lock().unwrap(), ["c"]);
}
