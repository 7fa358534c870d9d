//! The same engine on every runtime: publish → every subscriber's consumer task has its frame.
//!
//! - `cross_runtime/<runtime>/<subscribers>`: one event published on the in-memory bus by
//!   another node, received by the pump, dispatched, and read by one consumer task per
//!   subscription; timed until the last consumer has its frame. Runtimes: tokio
//!   multi-thread (2 workers), tokio current-thread, smol (2 threads), and a no-runtime
//!   baseline (dispatch and drain on the calling thread, no tasks, no wake-ups).
//! - `chunking/<inline|split>/<subscribers>`: tokio multi-thread, the fan-out delivered by
//!   the dispatcher alone or split across the workers, to place
//!   `pump::DEFAULT_PARALLEL_THRESHOLD`.
//!
//! Runtimes, subscriptions and consumer tasks are built outside the timed region.
//!
//! Run: `cargo bench --bench cross_runtime --all-features`, then
//! `python3 scripts/plot_cross_runtime.py` for the table and `benches/results/cross_runtime.svg`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use event_listener::Listener;
use serde_json::json;
use subcast::{
    Event, EventBus, EventPump, ExecutorConfig, InMemoryBus, PumpConfig, Runtime, SmolRuntime,
    SubscriptionExecutor, SubscriptionRequest, TokioRuntime,
};

const SIZES: [usize; 4] = [1, 100, 10_000, 100_000];
const CHUNKING_SIZES: [usize; 5] = [1_000, 2_000, 4_000, 16_000, 64_000];
const WORKERS: usize = 2;

/// How many frames the consumer tasks have read, and a wake-up for whoever waits on it.
#[derive(Default)]
struct Progress {
    received: AtomicU64,
    reached: event_listener::Event,
}

impl Progress {
    fn wait_for(&self, target: u64) {
        loop {
            if self.received.load(Ordering::Acquire) >= target {
                return;
            }
            let listener = self.reached.listen();
            if self.received.load(Ordering::Acquire) >= target {
                return;
            }
            listener.wait();
        }
    }
}

/// Builds one of the hosts below.
type HostBuilder = fn() -> Host;

/// A runtime the benchmark owns, and how to end it.
enum Host {
    Tokio(tokio::runtime::Runtime),
    TokioCurrentThread {
        stop: Arc<(AtomicBool, event_listener::Event)>,
        driver: std::thread::JoinHandle<()>,
        handle: tokio::runtime::Handle,
    },
    Smol(Arc<SmolRuntime>),
}

impl Host {
    fn tokio_multi_thread() -> Host {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_time()
            .build()
            .unwrap();
        Host::Tokio(tokio)
    }

    fn tokio_current_thread() -> Host {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let handle = tokio.handle().clone();
        let stop = Arc::new((AtomicBool::new(false), event_listener::Event::new()));
        let driver = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                tokio.block_on(async move {
                    loop {
                        if stop.0.load(Ordering::SeqCst) {
                            return;
                        }
                        let listener = stop.1.listen();
                        if stop.0.load(Ordering::SeqCst) {
                            return;
                        }
                        listener.await;
                    }
                })
            })
        };
        Host::TokioCurrentThread { stop, driver, handle }
    }

    fn smol() -> Host {
        Host::Smol(Arc::new(SmolRuntime::with_threads(WORKERS)))
    }

    fn runtime(&self) -> Arc<dyn Runtime> {
        match self {
            Host::Tokio(tokio) => Arc::new(TokioRuntime::new(tokio.handle().clone())),
            Host::TokioCurrentThread { handle, .. } => Arc::new(TokioRuntime::new(handle.clone())),
            Host::Smol(smol) => smol.clone(),
        }
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self {
            Host::Tokio(tokio) => tokio.block_on(future),
            // Wait from outside: the runtime's own thread keeps driving its tasks.
            _ => futures_lite::future::block_on(future),
        }
    }

    fn end(self) {
        match self {
            Host::Tokio(tokio) => drop(tokio),
            Host::TokioCurrentThread { stop, driver, .. } => {
                stop.0.store(true, Ordering::SeqCst);
                stop.1.notify(usize::MAX);
                driver.join().unwrap();
            }
            Host::Smol(smol) => smol.shutdown(),
        }
    }
}

/// `subscribers` subscriptions on one node, a consumer task each, fed by a pump.
struct Fixture {
    host: Host,
    executor: Arc<SubscriptionExecutor>,
    bus: Arc<InMemoryBus>,
    pump: EventPump,
    progress: Arc<Progress>,
    subscribers: u64,
}

impl Fixture {
    fn new(host: Host, subscribers: usize, config: PumpConfig) -> Fixture {
        let runtime = host.runtime();
        let executor = Arc::new(SubscriptionExecutor::new(
            ExecutorConfig::default().allow_anonymous(true),
        ));
        let bus = Arc::new(InMemoryBus::new());
        let pump = EventPump::start(executor.clone(), bus.clone(), runtime.clone(), config);
        let progress = Arc::new(Progress::default());
        for n in 0..subscribers {
            let request = SubscriptionRequest::new(format!("conn-{n}"), "1", "subscription { ticks { n } }");
            let key = executor.register_subscription(request).unwrap();
            let queue = executor.response_queue(key).unwrap();
            let progress = progress.clone();
            let every = subscribers as u64;
            runtime.spawn(Box::pin(async move {
                while queue.recv().await.is_some() {
                    let received = progress.received.fetch_add(1, Ordering::AcqRel) + 1;
                    if received % every == 0 {
                        progress.reached.notify(usize::MAX);
                    }
                }
            }));
        }
        assert!(host.block_on(pump.channel_ready("ticks")));
        Fixture {
            host,
            executor,
            bus,
            pump,
            progress,
            subscribers: subscribers as u64,
        }
    }

    /// Publish `iters` events one after the other, each awaited by every consumer.
    fn run(&self, iters: u64) -> Duration {
        let mut target = self.progress.received.load(Ordering::Acquire);
        let start = Instant::now();
        for n in 0..iters {
            let mut event = Event::new("tick", "ticks", json!({ "n": n }));
            event.origin = "publisher-node".into();
            futures_lite::future::block_on(self.bus.publish(Arc::new(event))).unwrap();
            target += self.subscribers;
            self.progress.wait_for(target);
        }
        start.elapsed()
    }

    fn end(self) {
        let Fixture {
            host, executor, pump, ..
        } = self;
        host.block_on(pump.shutdown());
        // Completing the subscriptions closes the queues: the consumer tasks end.
        for n in 0..executor.stats().connections {
            let _ = executor.complete_connection(&format!("conn-{n}"));
        }
        host.end();
    }
}

/// No runtime at all: dispatch on this thread, then drain every queue on this thread.
fn baseline(c: &mut Criterion, subscribers: usize) {
    let executor = SubscriptionExecutor::new(ExecutorConfig::default().allow_anonymous(true));
    let queues: Vec<_> = (0..subscribers)
        .map(|n| {
            let request = SubscriptionRequest::new(format!("conn-{n}"), "1", "subscription { ticks { n } }");
            let key = executor.register_subscription(request).unwrap();
            executor.response_queue(key).unwrap()
        })
        .collect();
    let mut group = c.benchmark_group("cross_runtime");
    configure(&mut group, subscribers);
    group.bench_function(BenchmarkId::new("no_runtime", subscribers), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for n in 0..iters {
                let event = Arc::new(Event::new("tick", "ticks", json!({ "n": n })));
                executor.dispatch_event_to_subscriptions(&event).unwrap();
                for queue in &queues {
                    criterion::black_box(queue.try_next().unwrap());
                }
            }
            start.elapsed()
        })
    });
    group.finish();
}

fn configure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    subscribers: usize,
) {
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(if subscribers >= 10_000 {
        Duration::from_secs(4)
    } else {
        Duration::from_secs(2)
    });
}

fn cross_runtime(c: &mut Criterion) {
    let hosts: [(&str, HostBuilder); 3] = [
        ("tokio_multi_thread", Host::tokio_multi_thread),
        ("tokio_current_thread", Host::tokio_current_thread),
        ("smol", Host::smol),
    ];
    for subscribers in SIZES {
        for (name, host) in hosts {
            let fixture = Fixture::new(host(), subscribers, PumpConfig::default().parallelism(WORKERS));
            let mut group = c.benchmark_group("cross_runtime");
            configure(&mut group, subscribers);
            group.bench_function(BenchmarkId::new(name, subscribers), |b| {
                b.iter_custom(|iters| fixture.run(iters))
            });
            group.finish();
            fixture.end();
        }
        baseline(c, subscribers);
    }
}

fn chunking(c: &mut Criterion) {
    for subscribers in CHUNKING_SIZES {
        for (name, threshold) in [("inline", usize::MAX), ("split", 0)] {
            let config = PumpConfig::default()
                .parallelism(WORKERS)
                .parallel_threshold(threshold);
            let fixture = Fixture::new(Host::tokio_multi_thread(), subscribers, config);
            let mut group = c.benchmark_group("chunking");
            configure(&mut group, subscribers);
            group.bench_function(BenchmarkId::new(name, subscribers), |b| {
                b.iter_custom(|iters| fixture.run(iters))
            });
            group.finish();
            fixture.end();
        }
    }
}

criterion_group!(benches, cross_runtime, chunking);
criterion_main!(benches);
