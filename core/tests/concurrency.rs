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
