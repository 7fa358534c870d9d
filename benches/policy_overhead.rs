//! What security policies and rate limits cost per dispatch, measured interleaved.
//!
//! For N = 100, 10k, 100k subscriptions, three executors — no checks, every security policy,
//! every policy plus per-user rate limits — dispatch one event in turn, round after round, so
//! that background load hits all three alike. Prints the median dispatch time of each and the
//! overhead over no checks.
//!
//! Run: `cargo bench --bench policy_overhead`

mod common;

use std::time::Duration;

use common::{Checks, Fanout};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let checks = [Checks::None, Checks::Policies, Checks::PoliciesAndLimits];
    println!("| subscribers | no checks | policies | overhead | policies + rate limits | overhead |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for (n, rounds) in [(100, 2000), (10_000, 200), (100_000, 30)] {
        let mut fanouts: Vec<Fanout> = checks.iter().map(|c| Fanout::new(n, *c)).collect();
        let events = [common::event(), common::tenant_event(), common::tenant_event()];
        let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); checks.len()];
        for round in 0..rounds + rounds / 10 {
            for i in 0..checks.len() {
                // Rotate who goes first, so no series always runs on a cold or warm cache.
                let at = (i + round) % checks.len();
                let elapsed = fanouts[at].dispatch_once(&events[at]);
                if round >= rounds / 10 {
                    samples[at].push(elapsed);
                }
            }
        }
        let medians: Vec<Duration> = samples
            .iter_mut()
            .map(|s| {
                s.sort_unstable();
                s[s.len() / 2]
            })
            .collect();
        let overhead = |i: usize| (medians[i].as_secs_f64() / medians[0].as_secs_f64() - 1.0) * 100.0;
        println!(
            "| {n} | {:.1?} | {:.1?} | {:+.0} % | {:.1?} | {:+.0} % |",
            medians[0],
            medians[1],
            overhead(1),
            medians[2],
            overhead(2)
        );
    }
}
