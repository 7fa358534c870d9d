//! Bytes held per idle subscription: 100k subscriptions registered, no frames queued; and
//! bytes held per subscriber with one frame queued (150 B, 4 KB and 64 KB frames, 10k
//! subscribers of one cohort, none reading).
//!
//! Counts live heap bytes with a counting global allocator before and after.
//! Run: `cargo bench --bench memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use std::sync::Arc;

use subcast::{Event, ExecutorConfig, SubscriptionExecutor, SubscriptionRequest};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const N: usize = 100_000;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let executor = SubscriptionExecutor::new(ExecutorConfig::default().allow_anonymous(true));
    let before = LIVE.load(Ordering::Relaxed);
    let keys: Vec<_> = (0..N)
        .map(|i| {
            let request =
                SubscriptionRequest::new(format!("conn-{i}"), "1", "subscription { users { id name } }");
            executor
                .register_subscription(request)
                .expect("valid subscription")
        })
        .collect();
    let idle = LIVE.load(Ordering::Relaxed) - before - (keys.capacity() * size_of_val(&keys[0])) as isize;
    println!("subscriptions: {N}");
    println!(
        "heap bytes per idle subscription (never sent a frame): {:.0}",
        idle as f64 / N as f64
    );

    let event = Arc::new(Event::new("userCreated", "users", serde_json::json!({"id": "1"})));
    executor
        .dispatch_event_to_subscriptions(&event)
        .expect("valid event");
    for key in &keys {
        executor
            .next_response(*key)
            .expect("registered")
            .expect("one frame");
    }
    let drained = LIVE.load(Ordering::Relaxed) - before - (keys.capacity() * size_of_val(&keys[0])) as isize;
    println!(
        "heap bytes per subscription after one frame sent and drained: {:.0}",
        drained as f64 / N as f64
    );
    assert_eq!(executor.stats().subscriptions, N);
    drop((keys, executor));

    for size in [150, 4 * 1024, 64 * 1024] {
        queued_frame(size);
    }
}

/// Heap bytes per subscriber while one event's frame waits in each of 10k queues.
fn queued_frame(size: usize) {
    const SUBSCRIBERS: usize = 10_000;
    let executor = SubscriptionExecutor::new(ExecutorConfig::default().allow_anonymous(true));
    let keys: Vec<_> = (0..SUBSCRIBERS)
        .map(|i| {
            let request =
                SubscriptionRequest::new(format!("conn-{i}"), "1", "subscription { users { id name } }");
            executor
                .register_subscription(request)
                .expect("valid subscription")
        })
        .collect();
    let name = "x".repeat(size.saturating_sub(70));
    let event = Arc::new(Event::new(
        "userCreated",
        "users",
        serde_json::json!({"id": "1", "name": name}),
    ));
    let before = LIVE.load(Ordering::Relaxed);
    executor
        .dispatch_event_to_subscriptions(&event)
        .expect("valid event");
    let held = LIVE.load(Ordering::Relaxed) - before;
    let queue = executor.response_queue(keys[0]).expect("registered");
    println!(
        "frame {} B: heap bytes per subscriber with it queued: {:.0}; queued_bytes per subscriber: {}",
        queue.queued_bytes(),
        held as f64 / SUBSCRIBERS as f64,
        queue.queued_bytes()
    );
}
