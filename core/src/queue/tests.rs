use super::ledger::Entry;
use super::*;
use crate::codes::{EVENTS_GAP, EVENTS_LAGGED, QUEUE_OVERFLOW};
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

fn frame(_prefix: &FramePrefix, n: u64) -> FrameBody {
    FrameBody::next_data(&json!(n))
}

fn frame_len(prefix: &FramePrefix, body: &FrameBody) -> usize {
    prefix.splice(body).len()
}

fn parse(bytes: &Bytes) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn drain(queue: &ResponseQueue) -> Vec<Value> {
    std::iter::from_fn(|| queue.try_next())
        .map(|b| parse(&b))
        .collect()
}

#[test]
fn drop_oldest_keeps_the_newest_frames_and_reports_the_gap_first() {
    let prefix = FramePrefix::new("s");
    let queue = ResponseQueue::new(prefix.clone(), 3, OverflowPolicy::DropOldest);
    for n in 0..5 {
        queue.push(frame(&prefix, n));
    }
    let got = drain(&queue);
    assert_eq!(got.len(), 4);
    assert_eq!(
        got[0]["payload"]["errors"][0]["extensions"]["code"],
        EVENTS_LAGGED
    );
    assert_eq!(got[0]["payload"]["errors"][0]["extensions"]["count"], 2);
    let data: Vec<_> = got[1..].iter().map(|f| f["payload"]["data"].clone()).collect();
    assert_eq!(data, [json!(2), json!(3), json!(4)]);
    assert_eq!(queue.dropped(), 2);
}

#[test]
fn drop_newest_reports_the_gap_before_the_next_frame_that_fits() {
    let prefix = FramePrefix::new("s");
    let queue = ResponseQueue::new(prefix.clone(), 2, OverflowPolicy::DropNewest);
    let outcomes: Vec<_> = (0..4).map(|n| queue.push(frame(&prefix, n))).collect();
    assert_eq!(outcomes[2], PushOutcome::DroppedNewest);
    assert_eq!(outcomes[3], PushOutcome::DroppedNewest);
    queue.try_next().unwrap();
    queue.push(frame(&prefix, 9));
    let after = drain(&queue);
    assert_eq!(after[0]["payload"]["data"], 1);
    assert_eq!(after[1]["payload"]["errors"][0]["extensions"]["count"], 2);
    assert_eq!(after[2]["payload"]["data"], 9);
}

#[test]
fn drop_newest_reports_the_gap_after_the_last_frame_when_nothing_follows() {
    let prefix = FramePrefix::new("s");
    let queue = ResponseQueue::new(prefix.clone(), 2, OverflowPolicy::DropNewest);
    for n in 0..4 {
        queue.push(frame(&prefix, n));
    }
    let got = drain(&queue);
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[2]["payload"]["errors"][0]["extensions"]["code"],
        EVENTS_LAGGED
    );
    assert_eq!(got[2]["payload"]["errors"][0]["extensions"]["count"], 2);
}

fn notice_counts(frames: &[Value]) -> Vec<(String, u64)> {
    frames
        .iter()
        .filter_map(|f| {
            let ext = &f["payload"]["errors"][0]["extensions"];
            Some((ext["code"].as_str()?.to_owned(), ext["count"].as_u64()?))
        })
        .collect()
}

fn total(frames: &[Value], code: &str) -> u64 {
    notice_counts(frames)
        .iter()
        .filter(|(c, _)| c == code)
        .map(|(_, n)| n)
        .sum()
}

#[test]
fn the_byte_bound_applies_like_the_frame_bound_and_keeps_an_exact_total() {
    let prefix = FramePrefix::new("s");
    let one = frame_len(&prefix, &frame(&prefix, 1000));
    let queue = ResponseQueue::new(prefix.clone(), 100, OverflowPolicy::DropOldest).with_max_bytes(3 * one);
    for n in 1000..1010 {
        queue.push(frame(&prefix, n));
        assert!(queue.queued_bytes() <= 3 * one);
    }
    assert_eq!(queue.queued_bytes(), 3 * one);
    assert_eq!(queue.dropped(), 7);
    let got = drain(&queue);
    assert_eq!(total(&got, EVENTS_LAGGED), 7);
    assert_eq!(got.len(), 4);
    assert_eq!(queue.queued_bytes(), 0);
}

#[test]
fn a_large_frame_evicts_as_many_older_frames_as_it_needs() {
    let prefix = FramePrefix::new("s");
    let small = frame(&prefix, 1);
    let small_len = frame_len(&prefix, &small);
    let queue =
        ResponseQueue::new(prefix.clone(), 100, OverflowPolicy::DropOldest).with_max_bytes(4 * small_len);
    for _ in 0..4 {
        queue.push(small.clone());
    }
    // Two small frames' worth of text: with its envelope, it needs three evicted.
    let large = FrameBody::next_data(&json!("x".repeat(small_len + 10)));
    let large_len = frame_len(&prefix, &large);
    assert!(large_len > 2 * small_len && large_len <= 3 * small_len);
    assert_eq!(queue.push(large), PushOutcome::QueuedEvictedOldest { evicted: 3 });
    assert_eq!(queue.queued_bytes(), small_len + large_len);
}

#[test]
fn a_frame_over_the_byte_bound_still_fits_an_empty_queue() {
    let prefix = FramePrefix::new("s");
    let queue = ResponseQueue::new(prefix.clone(), 4, OverflowPolicy::DropNewest).with_max_bytes(1);
    assert_eq!(queue.push(frame(&prefix, 1)), PushOutcome::Queued);
    assert_eq!(queue.push(frame(&prefix, 2)), PushOutcome::DroppedNewest);
}

#[test]
fn notices_evicted_by_drop_oldest_are_merged_and_read_first() {
    let prefix = FramePrefix::new("s");
    let queue = ResponseQueue::new(prefix.clone(), 2, OverflowPolicy::DropOldest);
    assert!(queue.push_notice(Notice::Gap, 1));
    assert!(queue.push_notice(Notice::RateLimited, 5));
    for n in 0..4 {
        queue.push(frame(&prefix, n));
    }
    assert!(queue.push_notice(Notice::Gap, 1));
    let got = drain(&queue);
    assert_eq!(total(&got, EVENTS_GAP), 2);
    assert_eq!(total(&got, crate::codes::RATE_LIMITED), 5);
    assert_eq!(total(&got, EVENTS_LAGGED), 3);
    let data: Vec<_> = got.iter().filter(|f| f["payload"]["data"].is_number()).collect();
    assert_eq!(data.len(), 1);
}

#[test]
fn a_notice_that_finds_a_drop_newest_queue_full_waits_and_is_not_lost() {
    let prefix = FramePrefix::new("s");
    let queue = ResponseQueue::new(prefix.clone(), 1, OverflowPolicy::DropNewest);
    queue.push(frame(&prefix, 0));
    assert!(queue.push_notice(Notice::RateLimited, 2));
    assert!(queue.push_notice(Notice::Gap, 1));
    assert!(queue.push_notice(Notice::RateLimited, 3));
    let got = drain(&queue);
    assert_eq!(got[0]["payload"]["data"], 0);
    assert_eq!(total(&got, crate::codes::RATE_LIMITED), 5);
    assert_eq!(total(&got, EVENTS_GAP), 1);
}

#[test]
fn notices_pending_when_a_close_policy_queue_overflows_come_before_its_error() {
    let prefix = FramePrefix::new("s");
    let queue = ResponseQueue::new(prefix.clone(), 1, OverflowPolicy::Close);
    queue.push(frame(&prefix, 0));
    assert!(queue.push_notice(Notice::Gap, 1));
    assert_eq!(queue.push(frame(&prefix, 1)), PushOutcome::ClosedOnOverflow);
    assert!(!queue.push_notice(Notice::Gap, 1));
    let got = drain(&queue);
    assert_eq!(got.len(), 3);
    assert_eq!(total(&got, EVENTS_GAP), 1);
    assert_eq!(got[2]["type"], "error");
}

#[test]
fn neighbouring_notices_of_one_kind_merge_into_one_frame() {
    let prefix = FramePrefix::new("s");
    let queue = ResponseQueue::new(prefix.clone(), 8, OverflowPolicy::DropOldest);
    for _ in 0..5 {
        queue.push_notice(Notice::Gap, 1);
    }
    assert_eq!(notice_counts(&drain(&queue)), [(EVENTS_GAP.to_owned(), 5)]);
}

#[test]
fn a_notice_beside_a_frame_over_the_byte_bound_evicts_nothing() {
    let prefix = FramePrefix::new("s");
    let queue = ResponseQueue::new(prefix.clone(), 4, OverflowPolicy::DropOldest).with_max_bytes(1);
    queue.push(frame(&prefix, 1));
    assert!(queue.push_notice(Notice::Gap, 1));
    assert_eq!(queue.dropped(), 0);
    assert_eq!(drain(&queue).len(), 2);
}

#[test]
fn queues_of_a_cohort_hold_one_body_between_them_and_read_whole_frames() {
    let body = FrameBody::next_data(&json!({"s": "x".repeat(4096)}));
    let queues: Vec<_> = ["a", "b"]
        .map(|id| ResponseQueue::new(FramePrefix::new(id), 4, OverflowPolicy::DropOldest))
        .into_iter()
        .collect();
    for queue in &queues {
        queue.push(body.clone());
        let slots = queue.frames.lock();
        let Some(Entry::Frame(held)) = slots.items.front() else {
            panic!("a frame is queued");
        };
        assert_eq!(held.as_bytes().as_ptr(), body.as_bytes().as_ptr());
    }
    for queue in &queues {
        assert_eq!(queue.try_next().unwrap(), queue.prefix().splice(&body));
    }
}

#[test]
fn an_entry_is_one_bytes_handle_in_size() {
    assert_eq!(size_of::<Entry>(), size_of::<Bytes>());
}

#[test]
fn close_policy_ends_the_subscription_with_an_overflow_error() {
    let prefix = FramePrefix::new("s");
    let queue = ResponseQueue::new(prefix.clone(), 1, OverflowPolicy::Close);
    assert_eq!(queue.push(frame(&prefix, 0)), PushOutcome::Queued);
    assert_eq!(queue.push(frame(&prefix, 1)), PushOutcome::ClosedOnOverflow);
    assert_eq!(queue.push(frame(&prefix, 2)), PushOutcome::Closed);
    let got = drain(&queue);
    assert_eq!(got[1]["type"], "error");
    assert_eq!(got[1]["payload"][0]["extensions"]["code"], QUEUE_OVERFLOW);
    assert_eq!(
        queue.recv_timeout(Duration::from_secs(5)),
        Err(RecvTimeoutError::Closed)
    );
}

#[test]
fn recv_timeout_times_out_on_an_empty_open_queue() {
    let queue = ResponseQueue::new(FramePrefix::new("s"), 4, OverflowPolicy::DropOldest);
    assert_eq!(
        queue.recv_timeout(Duration::from_millis(1)),
        Err(RecvTimeoutError::Timeout)
    );
}

#[test]
fn closed_queue_is_drained_before_receivers_end() {
    let prefix = FramePrefix::new("s");
    let queue = ResponseQueue::new(prefix.clone(), 4, OverflowPolicy::DropOldest);
    queue.push(frame(&prefix, 1));
    queue.close();
    assert_eq!(queue.push(frame(&prefix, 2)), PushOutcome::Closed);
    assert!(futures_lite::future::block_on(queue.recv()).is_some());
    assert!(futures_lite::future::block_on(queue.recv()).is_none());
}

#[test]
fn a_waiting_receiver_wakes_for_each_frame() {
    let prefix = FramePrefix::new("s");
    let queue = Arc::new(ResponseQueue::new(
        prefix.clone(),
        1024,
        OverflowPolicy::DropOldest,
    ));
    let reader = {
        let queue = queue.clone();
        std::thread::spawn(move || {
            futures_lite::future::block_on(async {
                let mut n = 0;
                while queue.recv().await.is_some() {
                    n += 1;
                }
                n
            })
        })
    };
    for n in 0..10_000 {
        // Keep the queue from overflowing: the point is wake-ups, not capacity.
        while queue.len() > 512 {
            std::thread::yield_now();
        }
        queue.push(frame(&prefix, n));
    }
    queue.close();
    assert_eq!(reader.join().unwrap(), 10_000);
}
