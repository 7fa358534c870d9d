//! The dispatcher thread: takes the bounded inbox's work in order and dispatches it,
//! splitting large fan-outs across the runtime's workers.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_listener::Event as Notify;

use crate::bus::BusMessage;
use crate::event::Event;
use crate::executor::{DispatchChunk, DispatchReport, PreparedDispatch};
use crate::frame::GraphQLError;
use crate::queue::RecvTimeoutError;
use crate::sync::block_until;

use super::stats::bump;
use super::Shared;
use crate::codes::BUS_CHANNEL_LOST;

/// Smallest chunk a fan-out is split into.
const MIN_CHUNK: usize = 512;

/// Chunks per delivering thread, so that a slow thread is compensated by the others.
const CHUNKS_PER_THREAD: usize = 4;

/// How long the dispatcher sleeps between two looks at an idle inbox.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

/// Work for the dispatcher thread, in the order it must be done.
#[derive(Debug)]
pub(super) enum Work {
    Bus(BusMessage),
    /// End the channel's subscriptions: its bus stream could not be restored.
    Fail(String),
}

/// The dispatcher thread: take work in order until the inbox is closed and drained.
pub(super) fn run_dispatcher(shared: Arc<Shared>) {
    loop {
        let work = match shared.inbox.recv_timeout(IDLE_WAIT) {
            Ok(work) => work,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Closed) => return,
        };
        if catch_unwind(AssertUnwindSafe(|| handle(&shared, work))).is_err() {
            bump(&shared.counters.dispatcher_panics);
        }
    }
}

fn handle(shared: &Shared, work: Work) {
    let (executor, counters) = (&shared.executor, &shared.counters);
    match work {
        Work::Bus(BusMessage::Event(event)) => dispatch(shared, &event),
        Work::Bus(BusMessage::Gap { channel, missed }) => {
            bump(&counters.gaps_signalled);
            if let Some(missed) = missed {
                counters.events_lost.fetch_add(missed, Ordering::Relaxed);
            }
            counters.record(&executor.signal_lost_events(&channel, missed));
        }
        Work::Fail(channel) => {
            let error = GraphQLError::new(
                BUS_CHANNEL_LOST,
                format!("the bus subscription of channel {channel:?} was lost and could not be restored"),
            );
            counters.record(&executor.fail_channel(&channel, error));
        }
    }
}

fn dispatch(shared: &Shared, event: &Arc<Event>) {
    let (executor, counters) = (&shared.executor, &shared.counters);
    // Copies of this node's own publishes were skipped by their link.
    let prepared = match executor.prepare_dispatch(event) {
        Ok(prepared) => prepared,
        Err(_) => {
            bump(&counters.invalid_events);
            return;
        }
    };
    bump(&counters.events_dispatched);
    let report = deliver(shared, prepared);
    counters.record(&report);
}

/// Queue a prepared dispatch's frames, in parallel chunks if the fan-out is large enough.
fn deliver(shared: &Shared, prepared: PreparedDispatch) -> DispatchReport {
    let config = &shared.config;
    let subscribers = prepared.subscribers();
    if config.parallelism == 0 || subscribers < config.parallel_threshold.max(2) {
        return prepared.deliver();
    }
    let threads = config.threads();
    let chunk_size = subscribers
        .div_ceil(threads.saturating_mul(CHUNKS_PER_THREAD))
        .max(MIN_CHUNK);
    let fan_out = Arc::new(FanOut::new(prepared.into_chunks(chunk_size)));
    let helpers = (fan_out.chunks.len() - 1).min(config.parallelism);
    if helpers == 0 {
        fan_out.help(false);
        return fan_out.report();
    }
    bump(&shared.counters.parallel_dispatches);
    for _ in 0..helpers {
        let fan_out = fan_out.clone();
        shared.runtime.spawn(Box::pin(async move {
            fan_out.help(true);
        }));
    }
    fan_out.help(false);
    fan_out.wait();
    shared.counters.chunks_on_runtime.fetch_add(
        fan_out.on_runtime.load(Ordering::Relaxed) as u64,
        Ordering::Relaxed,
    );
    fan_out.report()
}

/// The chunks of one split dispatch, claimed one at a time by whoever is free.
#[derive(Debug)]
struct FanOut {
    chunks: Vec<DispatchChunk>,
    next: AtomicUsize,
    unfinished: AtomicUsize,
    finished: Notify,
    report: Mutex<DispatchReport>,
    on_runtime: AtomicUsize,
}

/// One claimed chunk; counted as finished when dropped, even by a panic.
struct Claim<'a>(&'a FanOut);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if self.0.unfinished.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.finished.notify(usize::MAX);
        }
    }
}

impl FanOut {
    fn new(chunks: Vec<DispatchChunk>) -> Self {
        FanOut {
            next: AtomicUsize::new(0),
            unfinished: AtomicUsize::new(chunks.len()),
            chunks,
            finished: Notify::new(),
            report: Mutex::default(),
            on_runtime: AtomicUsize::new(0),
        }
    }

    /// Deliver chunks until none is left to claim.
    fn help(&self, on_runtime: bool) {
        loop {
            let index = self.next.fetch_add(1, Ordering::AcqRel);
            let Some(chunk) = self.chunks.get(index) else {
                return;
            };
            let _claim = Claim(self);
            let report = chunk.deliver();
            self.report
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .merge(&report);
            if on_runtime {
                self.on_runtime.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Block until every claimed chunk is delivered.
    fn wait(&self) {
        let done = || (self.unfinished.load(Ordering::Acquire) == 0).then_some(());
        block_until(&self.finished, Duration::MAX, done);
    }

    fn report(&self) -> DispatchReport {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::{SubscriptionExecutor, SubscriptionRequest};
    use crate::pump::PumpConfig;
    use crate::runtime::{BoxFuture, Runtime};
    use std::time::Instant;

    /// A runtime that never runs anything: whatever is spawned is dropped.
    #[derive(Debug)]
    struct StalledRuntime;

    impl Runtime for StalledRuntime {
        fn spawn(&self, _future: BoxFuture<'static, ()>) {}
        fn sleep(&self, _duration: Duration) -> BoxFuture<'static, ()> {
            Box::pin(std::future::pending())
        }
        fn now(&self) -> Instant {
            Instant::now()
        }
    }

    fn shared_with(executor: Arc<SubscriptionExecutor>, config: PumpConfig) -> Shared {
        Shared::new(
            executor,
            Arc::new(crate::InMemoryBus::new()),
            Arc::new(StalledRuntime),
            config,
        )
    }

    #[test]
    fn a_split_fan_out_is_delivered_even_when_the_runtime_runs_nothing() {
        let config = crate::executor::ExecutorConfig::default().allow_anonymous(true);
        let executor = Arc::new(SubscriptionExecutor::new(config));
        let keys: Vec<_> = (0..3000)
            .map(|n| {
                executor
                    .register_subscription(SubscriptionRequest::new(
                        format!("c{n}"),
                        "1",
                        "subscription { ticks }",
                    ))
                    .unwrap()
            })
            .collect();
        let shared = shared_with(
            executor.clone(),
            PumpConfig::default().parallel_threshold(2).parallelism(3),
        );
        let event = Arc::new(Event::new("tick", "ticks", serde_json::json!(1)));
        let report = deliver(&shared, executor.prepare_dispatch(&event).unwrap());
        assert_eq!(report.delivered, 3000);
        assert_eq!(shared.counters.parallel_dispatches.load(Ordering::Relaxed), 1);
        assert!(keys.iter().all(|k| executor.next_response(*k).unwrap().is_some()));
    }
}
