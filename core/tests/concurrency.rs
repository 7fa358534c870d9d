//! The executor under concurrent dispatch, registration and completion.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;
use subcast_core::{Event, ExecutorConfig, SubscriptionExecutor, SubscriptionRequest};

const QUERY: &str = "subscription { ticks { n } }";

#[test]
fn stable_subscribers_get_every_event_while_their_cohort_churns() {
    const STABLE: usize = 200;
    const DISPATCHERS: usize = 2;
    const EVENTS_EACH: usize = 200;
    let executor = Arc::new(SubscriptionExecutor::new(
        ExecutorConfig::default()
            .queue_capacity(DISPATCHERS * EVENTS_EACH)
            .allow_anonymous(true),
    ));
    let stable: Vec<_> = (0..STABLE)
        .map(|n| {
            executor
                .register_subscription(SubscriptionRequest::new(format!("stable-{n}"), "1", QUERY))
                .unwrap()
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let (churning, churn_started) = std::sync::mpsc::channel();
    let churn = {
        let (executor, done) = (executor.clone(), done.clone());
        std::thread::spawn(move || {
            let mut round = 0u64;
            while !done.load(Ordering::Acquire) {
                if round == 1 {
                    // Dispatch starts only once the cohort has churned, so the two overlap.
                    let _ = churning.send(());
                }
                let keys: Vec<_> = (0..50)
                    .map(|n| {
                        let request =
                            SubscriptionRequest::new(format!("churn-{n}"), round.to_string(), QUERY);
                        executor.register_subscription(request).unwrap()
                    })
                    .collect();
                for key in keys {
                    executor.complete_subscription(key).unwrap();
                }
                round += 1;
            }
            round
        })
    };
    churn_started.recv().unwrap();
    std::thread::scope(|scope| {
        for d in 0..DISPATCHERS {
            let executor = &executor;
            scope.spawn(move || {
                for n in 0..EVENTS_EACH {
                    let event = Arc::new(Event::new("tick", "ticks", json!({"n": d * EVENTS_EACH + n})));
                    executor.dispatch_event_to_subscriptions(&event).unwrap();
                }
            });
        }
    });
    done.store(true, Ordering::Release);
    churn.join().unwrap();
    for key in stable {
        let mut seen: Vec<u64> = std::iter::from_fn(|| executor.next_response(key).unwrap())
            .map(|frame| {
                let frame: serde_json::Value = serde_json::from_slice(&frame).unwrap();
                frame["payload"]["data"]["ticks"]["n"].as_u64().unwrap()
            })
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..(DISPATCHERS * EVENTS_EACH) as u64).collect::<Vec<_>>());
    }
    let stats = executor.stats();
    assert_eq!((stats.subscriptions, stats.cohorts), (STABLE, 1));
}

#[test]
fn concurrent_dispatch_gaps_and_reads_on_a_small_queue_lose_no_count() {
    use std::time::Duration;
    use subcast_core::{DropReason, OverflowPolicy};

    const DISPATCHERS: usize = 3;
    const EVENTS_EACH: usize = 2_000;
    const GAPS: usize = 500;
    for overflow in [OverflowPolicy::DropOldest, OverflowPolicy::DropNewest] {
        let executor = Arc::new(SubscriptionExecutor::new(
            ExecutorConfig::default()
                .queue_capacity(4)
                .queue_max_bytes(256)
                .overflow(overflow)
                .allow_anonymous(true),
        ));
        let key = executor
            .register_subscription(SubscriptionRequest::new("c", "1", QUERY))
            .unwrap();
        let queue = executor.response_queue(key).unwrap();
        let reader = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                let (mut data, mut lagged, mut gaps) = (0u64, 0u64, 0u64);
                while let Ok(frame) = queue.recv_timeout(Duration::from_secs(60)) {
                    let frame: serde_json::Value = serde_json::from_slice(&frame).unwrap();
                    let extensions = &frame["payload"]["errors"][0]["extensions"];
                    match extensions["code"].as_str() {
                        None => data += 1,
                        Some("EVENTS_LAGGED") => lagged += extensions["count"].as_u64().unwrap(),
                        Some("EVENTS_GAP") => gaps += extensions["count"].as_u64().unwrap(),
                        Some(other) => panic!("unexpected notice {other}"),
                    }
                }
                (data, lagged, gaps)
            })
        };
        let dispatchers: Vec<_> = (0..DISPATCHERS)
            .map(|_| {
                let executor = executor.clone();
                std::thread::spawn(move || {
                    let mut dropped = 0;
                    for n in 0..EVENTS_EACH {
                        let event = Arc::new(Event::new("tick", "ticks", json!({ "n": n })));
                        let report = executor.dispatch_event_to_subscriptions(&event).unwrap();
                        assert_eq!(report.dropped(DropReason::QueueClosed), 0);
                        dropped += report.dropped_total();
                    }
                    dropped
                })
            })
            .collect();
        for _ in 0..GAPS {
            executor.signal_gap("ticks");
        }
        let refused: usize = dispatchers.into_iter().map(|d| d.join().unwrap()).sum();
        executor.complete_subscription(key).unwrap();
        let (data, lagged, gaps) = reader.join().unwrap();
        assert_eq!(data + lagged, (DISPATCHERS * EVENTS_EACH) as u64, "{overflow:?}");
        assert_eq!(gaps, GAPS as u64, "{overflow:?}");
        if overflow == OverflowPolicy::DropOldest {
            assert_eq!(refused, 0);
        }
    }
}
