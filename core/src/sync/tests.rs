use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::mailbox::RETAINED_CAPACITY;
use super::*;

#[test]
fn a_drained_mailbox_gives_back_the_buffer_of_a_burst() {
    let mailbox = Mailbox::new();
    for n in 0..1000 {
        mailbox.push(n).unwrap();
    }
    while mailbox.try_pop().is_some() {}
    let capacity = mailbox.lock().items.capacity();
    assert!(
        capacity <= 4 * RETAINED_CAPACITY,
        "kept room for {capacity} items"
    );
}

#[test]
fn concurrent_producers_and_consumers_lose_no_wakeup() {
    const PRODUCERS: u64 = 4;
    const PER_PRODUCER: u64 = 20_000;
    let mailbox = Arc::new(Mailbox::<u64>::new());
    let (taken, received) = std::sync::mpsc::channel();
    let consumers: Vec<_> = (0..3)
        .map(|i| {
            let (mailbox, taken) = (mailbox.clone(), taken.clone());
            std::thread::spawn(move || {
                if i == 0 {
                    // One consumer waits asynchronously, the others block.
                    futures_lite::future::block_on(async {
                        while let Some(n) = mailbox.recv().await {
                            taken.send(n).unwrap();
                        }
                    });
                } else {
                    while let Ok(n) = mailbox.recv_timeout(Duration::from_secs(600)) {
                        taken.send(n).unwrap();
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let mailbox = mailbox.clone();
            std::thread::spawn(move || {
                for n in 0..PER_PRODUCER {
                    mailbox.push(p * PER_PRODUCER + n).unwrap();
                }
            })
        })
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }
    // Every item must be taken while the mailbox is still open: closing wakes everyone
    // and would hide a lost wake-up.
    let mut all: Vec<u64> = (0..PRODUCERS * PER_PRODUCER)
        .map(|_| {
            received
                .recv_timeout(Duration::from_secs(60))
                .expect("an item was left waiting")
        })
        .collect();
    mailbox.close();
    consumers.into_iter().for_each(|c| c.join().unwrap());
    all.sort_unstable();
    assert_eq!(all, (0..PRODUCERS * PER_PRODUCER).collect::<Vec<_>>());
}

#[test]
fn or_returns_none_once_the_signal_is_raised() {
    let signal = Signal::default();
    signal.raise();
    let out = futures_lite::future::block_on(signal.or(std::future::pending::<()>()));
    assert_eq!(out, None);
}

#[test]
fn a_raise_on_another_thread_wakes_a_blocked_waiter() {
    let signal = Arc::new(Signal::new());
    let raiser = {
        let signal = signal.clone();
        std::thread::spawn(move || signal.raise())
    };
    assert!(signal.wait_timeout(Duration::MAX));
    raiser.join().unwrap();
}

#[test]
fn a_blocked_wait_on_a_signal_never_raised_times_out() {
    assert!(!Signal::new().wait_timeout(Duration::from_millis(1)));
}

#[test]
fn the_last_task_guard_dropped_ends_the_wait_for_idle() {
    let tasks = Arc::new(TaskCount::default());
    let guards: Vec<_> = (0..3).map(|_| tasks.enter()).collect();
    let dropper = std::thread::spawn(move || drop(guards));
    futures_lite::future::block_on(tasks.idle());
    dropper.join().unwrap();
    assert_eq!(tasks.running.load(Ordering::SeqCst), 0);
}
