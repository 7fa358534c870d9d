//! Instructions one dispatch costs per subscriber, counted by valgrind's callgrind.
//!
//! Wall-clock benchmarks on a shared two-core machine move by 10–20 % with the load around
//! them; an instruction count repeats exactly for the same binary and input, so it is the
//! number to compare two commits by. `scripts/count-dispatch` builds this and runs it under
//! callgrind, counting only inside `dispatch_event_to_subscriptions`, for 1 and for 6
//! dispatches: the difference divided by 5 × N is the steady-state cost per subscriber
//! (first-dispatch allocations excluded).
//!
//! Arguments: `N CHECKS ROUNDS`, with CHECKS `none` or `policies` (every policy and rate
//! limit on, as in `cargo bench --bench dispatch`).

mod common;

use common::{Checks, Fanout};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let checks = match args.get(1).map(String::as_str) {
        Some("policies") => Checks::PoliciesAndLimits,
        _ => Checks::None,
    };
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let event = match checks {
        Checks::None => common::event(),
        _ => common::tenant_event(),
    };
    let mut fanout = Fanout::new(n, checks);
    for _ in 0..rounds {
        fanout.dispatch_once(&event);
    }
    println!("{rounds} dispatches to {n} subscribers ({checks:?})");
}
