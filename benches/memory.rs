//! Bytes held per idle subscription: 100k subscriptions registered, no frames queued.
//!
//! Counts live heap bytes with a counting global allocator before and after registering.
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
}
