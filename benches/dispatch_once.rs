//! A few dispatches of one 150 B event to 10k subscribers, then every frame read: a
//! workload small enough for `valgrind --tool=callgrind`, whose instruction counts, unlike
//! wall-clock time, repeat on a busy machine.
//!
//! Run: `cargo bench --bench dispatch_once --no-run`, then, on the executable it names,
//! `valgrind --tool=callgrind --toggle-collect='*dispatch_event_to_subscriptions*' <exe>`
//! (the dispatch) or `--toggle-collect='*ResponseQueue*try_next*'` (the reads).

mod common;

use std::hint::black_box;

use common::{Checks, Fanout};

/// Dispatches measured.
const ROUNDS: usize = 10;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mut fanout = Fanout::new(10_000, Checks::None);
    let event = common::event_of_size(150);
    for _ in 0..ROUNDS {
        black_box(fanout.dispatch_and_drain_once(&event));
    }
}
