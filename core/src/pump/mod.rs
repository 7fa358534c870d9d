//! The event pump: what drives a [`SubscriptionExecutor`] from an [`EventBus`] on a [`Runtime`].
//!
//! - [`EventPump`]: subscribes a bus channel when the first local subscription needs it,
//!   unsubscribes after the last, pumps bus messages into dispatch, shuts down cleanly.
//! - [`PumpConfig`]: when a fan-out is split across the runtime's workers, how lost bus
//!   streams are retried, and how many bus messages may wait for the dispatcher. Its
//!   fields are private: every builder keeps the configuration valid, so a pump never
//!   panics on it (a zero `max_attempts` is 1, a zero backoff is 1 ms, …).
//! - [`PumpStats`]: what the pump did, as a snapshot of counters.
//! - [`ChannelStatus`]: where one channel's bus subscription stands.
//!
//! Inside, three kinds of workers:
//!
//! - one *watcher* task follows [`SubscriptionExecutor::watch_channels`] and starts or stops
//!   one *link* per channel in use, one change at a time, so a channel removed and added
//!   again is unsubscribed before it is subscribed anew;
//! - each *link* task subscribes its channel and forwards every bus message to the
//!   dispatcher's inbox, which holds at most [`PumpConfig::inbox_capacity`] messages; when
//!   it is full, links stop reading their streams until the dispatcher catches up, so the
//!   bus's own policy applies (a bus with replay reads the events again later, one without
//!   announces the loss with its count); when the stream ends while the channel is still in use, it resubscribes
//!   with exponential backoff, then signals a gap; after [`PumpConfig::max_attempts`]
//!   failures in a row it fails the channel's subscriptions and keeps trying at the
//!   longest backoff;
//! - one *dispatcher* thread (a `std::thread`, not a task: resolvers are synchronous and
//!   may be slow) resolves each event once per cohort, then queues the frames itself, or,
//!   for fan-outs of at least [`PumpConfig::parallel_threshold`] subscriptions, splits
//!   them in chunks that the runtime's workers and the dispatcher deliver together.
//!
//! The dispatcher never depends on the runtime to make progress: it delivers every chunk
//! no worker has claimed yet, so a busy or stopped runtime slows a fan-out, never stalls it.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::thread::JoinHandle;
use std::time::Duration;

use event_listener::{Event as Notify, EventListener, Listener};

use crate::bus::{BoundedMailbox, BusMessage, EventBus, EventStream};
use crate::error::Result;
use crate::event::Event;
use crate::executor::{ChannelChange, DispatchChunk, DispatchReport, PreparedDispatch, SubscriptionExecutor};
use crate::frame::GraphQLError;
use crate::metrics::PrometheusText;
use crate::queue::RecvTimeoutError;
use crate::runtime::Runtime;

/// Code of the `error` frame ending the subscriptions of a channel whose bus subscription
/// could not be restored.
pub const BUS_CHANNEL_LOST: &str = "BUS_CHANNEL_LOST";

/// Fan-out from which a dispatch is split across the runtime's workers.
///
/// Measured on 2 idle cores, tokio with 2 workers, one consumer task per subscription
/// (`cargo bench --bench cross_runtime --all-features -- chunking`, medians of two runs):
/// splitting saved 4–16 % from 1,000 to 4,000 subscribers; above that it was erratic
/// (16,000: −8 % and +174 %; 64,000: +9 % and +30 %) because the helpers take CPU from the
/// consumer tasks they wake. With more cores than the consumers need, it should pay further
/// up; re-measure on the target machine, or turn it off with `parallelism(0)`.
pub const DEFAULT_PARALLEL_THRESHOLD: usize = 4096;

/// Smallest chunk a fan-out is split into.
const MIN_CHUNK: usize = 512;

/// Chunks per delivering thread, so that a slow thread is compensated by the others.
const CHUNKS_PER_THREAD: usize = 4;

/// How long the dispatcher sleeps between two looks at an idle inbox.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

/// Bus messages that may wait for the dispatcher, by default.
pub const DEFAULT_INBOX_CAPACITY: usize = 1024;

/// Shortest retry delay: a zero backoff would retry in a busy loop.
pub const MIN_BACKOFF: Duration = Duration::from_millis(1);

/// How an [`EventPump`] dispatches, recovers and bounds its inbox.
///
/// The fields are private and every builder keeps them valid (see each builder), so no
/// configuration can make a pump panic or spin.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use subcast_core::pump::PumpConfig;
///
/// let config = PumpConfig::default()
///     .parallel_threshold(10_000)
///     .backoff(Duration::from_millis(10), Duration::from_secs(1))
///     .max_attempts(5)
///     .inbox_capacity(256);
/// assert_eq!(config.inbox(), 256);
/// // Out-of-range values are brought into range, never kept.
/// let clamped = PumpConfig::default().max_attempts(0).inbox_capacity(0);
/// assert_eq!((clamped.attempts(), clamped.inbox()), (1, 1));
/// ```
#[derive(Debug, Clone)]
pub struct PumpConfig {
    parallel_threshold: usize,
    parallelism: usize,
    backoff: Duration,
    max_backoff: Duration,
    max_attempts: NonZeroU32,
    inbox_capacity: usize,
}

impl Default for PumpConfig {
    fn default() -> Self {
        PumpConfig {
            parallel_threshold: DEFAULT_PARALLEL_THRESHOLD,
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            max_attempts: NonZeroU32::new(8).unwrap_or(NonZeroU32::MIN),
            inbox_capacity: DEFAULT_INBOX_CAPACITY,
        }
    }
}

impl PumpConfig {
    /// Split fan-outs of at least `subscriptions` across the runtime's workers (default
    /// [`DEFAULT_PARALLEL_THRESHOLD`]; `usize::MAX` never splits; below 2, every fan-out of
    /// 2 or more is split).
    pub fn parallel_threshold(mut self, subscriptions: usize) -> Self {
        self.parallel_threshold = subscriptions;
        self
    }

    /// Let at most `tasks` runtime tasks help deliver a split fan-out (default: the
    /// available parallelism; 0 turns splitting off). A split never uses more tasks than
    /// it has chunks.
    pub fn parallelism(mut self, tasks: usize) -> Self {
        self.parallelism = tasks;
        self
    }

    /// Retry a lost channel after `first`, doubling up to `max` (defaults 50 ms and 5 s).
    ///
    /// `first` is at least [`MIN_BACKOFF`] and `max` at least `first`; `Duration::MAX`
    /// means: do not retry.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = first.max(MIN_BACKOFF);
        self.max_backoff = max.max(self.backoff);
        self
    }

    /// End a channel's subscriptions after `attempts` failed resubscriptions in a row
    /// (default 8; at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = NonZeroU32::new(attempts).unwrap_or(NonZeroU32::MIN);
        self
    }

    /// Let at most `messages` bus messages wait for the dispatcher (default
    /// [`DEFAULT_INBOX_CAPACITY`]; at least 1).
    ///
    /// When the inbox is full, the pump stops reading its bus streams until the dispatcher
    /// has caught up. Memory held by waiting messages is at most `messages` times the
    /// largest event.
    pub fn inbox_capacity(mut self, messages: usize) -> Self {
        self.inbox_capacity = messages.max(1);
        self
    }

    /// The most bus messages that wait for the dispatcher.
    pub fn inbox(&self) -> usize {
        self.inbox_capacity
    }

    /// Failed resubscriptions in a row after which a channel's subscriptions are ended.
    pub fn attempts(&self) -> u32 {
        self.max_attempts.get()
    }

    /// The delay before the attempt following `failures` failures in a row.
    pub fn retry_delay(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }

    /// Delivering threads of a split fan-out (the dispatcher and its helpers); 1: no split.
    fn threads(&self) -> usize {
        self.parallelism.saturating_add(1)
    }
}

/// Where a channel's bus subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelStatus {
    /// The first subscription is being made.
    Subscribing,
    /// The bus stream is live: events published from now on are received.
    Subscribed,
    /// The stream was lost (or never made); the pump is retrying.
    Resubscribing,
}

/// What an [`EventPump`] did; every counter but the gauges only grows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PumpStats {
    /// Bus events dispatched.
    pub events_dispatched: u64,
    /// Bus copies of events this node already dispatched, skipped.
    pub duplicates_skipped: u64,
    /// Bus events refused by the executor (invalid channel, data too large).
    pub invalid_events: u64,
    /// Dispatches split across the runtime's workers.
    pub parallel_dispatches: u64,
    /// Chunks of split dispatches delivered by runtime tasks (the rest by the dispatcher).
    pub chunks_on_runtime: u64,
    /// `next` frames and notices queued.
    pub frames_delivered: u64,
    /// `error` frames queued (resolver errors and panics, failed channels).
    pub error_frames: u64,
    /// Frames lost to full or closed queues.
    pub frames_dropped: u64,
    /// Bus streams that ended while their channel was in use.
    pub streams_lost: u64,
    /// Failed attempts to subscribe a channel.
    pub subscribe_errors: u64,
    /// Channels subscribed again after a loss or failure.
    pub resubscribes: u64,
    /// Gap notices signalled to a channel's subscribers after a resubscription.
    pub gaps_signalled: u64,
    /// Times a channel's subscriptions were ended because its stream could not be restored.
    pub channels_failed: u64,
    /// Failed unsubscriptions.
    pub unsubscribe_errors: u64,
    /// Panics caught on the dispatcher outside resolvers (resolver panics are error frames).
    pub dispatcher_panics: u64,
    /// Gauge: channels whose bus stream is live.
    pub subscribed_channels: usize,
    /// Gauge: bus messages waiting for the dispatcher.
    pub pending_messages: usize,
    /// Gauge: the most bus messages that have waited for the dispatcher at once (at most
    /// [`PumpConfig::inbox_capacity`]).
    pub peak_pending_messages: usize,
    /// Events the bus reported lost, with their count, and announced to subscribers as
    /// `EVENTS_GAP` notices carrying it.
    pub events_lost: u64,
}

impl PumpStats {
    /// The Prometheus text exposition (format 0.0.4) of these counters, as `subcast_pump_*`.
    ///
    /// # Examples
    ///
    /// ```
    /// let text = subcast_core::PumpStats::default().to_prometheus();
    /// assert!(text.contains("# TYPE subcast_pump_streams_lost_total counter"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut text = PrometheusText::default();
        let counters = [
            (
                "events_dispatched",
                "Bus events dispatched.",
                self.events_dispatched,
            ),
            (
                "duplicates_skipped",
                "Bus copies of events this node already dispatched.",
                self.duplicates_skipped,
            ),
            (
                "invalid_events",
                "Bus events refused by the executor.",
                self.invalid_events,
            ),
            (
                "parallel_dispatches",
                "Dispatches split across the runtime's workers.",
                self.parallel_dispatches,
            ),
            (
                "chunks_on_runtime",
                "Chunks of split dispatches delivered by runtime tasks.",
                self.chunks_on_runtime,
            ),
            (
                "frames_delivered",
                "next frames and notices queued by the pump.",
                self.frames_delivered,
            ),
            (
                "error_frames",
                "error frames queued by the pump.",
                self.error_frames,
            ),
            (
                "frames_dropped",
                "Frames lost to full or closed queues.",
                self.frames_dropped,
            ),
            (
                "streams_lost",
                "Bus streams that ended while their channel was in use.",
                self.streams_lost,
            ),
            (
                "subscribe_errors",
                "Failed attempts to subscribe a bus channel.",
                self.subscribe_errors,
            ),
            (
                "resubscribes",
                "Bus channels subscribed again after a loss.",
                self.resubscribes,
            ),
            (
                "gaps_signalled",
                "Gap notices sent after a resubscription.",
                self.gaps_signalled,
            ),
            (
                "channels_failed",
                "Channels whose subscriptions were ended for a lost stream.",
                self.channels_failed,
            ),
            (
                "unsubscribe_errors",
                "Failed bus unsubscriptions.",
                self.unsubscribe_errors,
            ),
            (
                "dispatcher_panics",
                "Panics caught on the dispatcher thread.",
                self.dispatcher_panics,
            ),
            (
                "events_lost",
                "Events the bus reported lost, announced to subscribers with their count.",
                self.events_lost,
            ),
        ];
        for (name, help, value) in counters {
            text.family(
                &format!("subcast_pump_{name}_total"),
                "counter",
                help,
                &[(None, value)],
            );
        }
        let gauges = [
            (
                "subscribed_channels",
                "Channels whose bus stream is live.",
                self.subscribed_channels,
            ),
            (
                "pending_messages",
                "Bus messages waiting for the dispatcher.",
                self.pending_messages,
            ),
            (
                "peak_pending_messages",
                "Most bus messages that have waited for the dispatcher at once.",
                self.peak_pending_messages,
            ),
        ];
        for (name, help, value) in gauges {
            text.family(
                &format!("subcast_pump_{name}"),
                "gauge",
                help,
                &[(None, value as u64)],
            );
        }
        text.finish()
    }
}

#[derive(Debug, Default)]
struct Counters {
    events_dispatched: AtomicU64,
    duplicates_skipped: AtomicU64,
    invalid_events: AtomicU64,
    parallel_dispatches: AtomicU64,
    chunks_on_runtime: AtomicU64,
    frames_delivered: AtomicU64,
    error_frames: AtomicU64,
    frames_dropped: AtomicU64,
    streams_lost: AtomicU64,
    subscribe_errors: AtomicU64,
    resubscribes: AtomicU64,
    gaps_signalled: AtomicU64,
    channels_failed: AtomicU64,
    unsubscribe_errors: AtomicU64,
    dispatcher_panics: AtomicU64,
    events_lost: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    fn record(&self, report: &DispatchReport) {
        self.frames_delivered
            .fetch_add(report.delivered as u64, Ordering::Relaxed);
        self.error_frames
            .fetch_add(report.errors as u64, Ordering::Relaxed);
        self.frames_dropped
            .fetch_add(report.dropped_total() as u64, Ordering::Relaxed);
    }
}

/// Work for the dispatcher thread, in the order it must be done.
#[derive(Debug)]
enum Work {
    Bus(BusMessage),
    /// End the channel's subscriptions: its bus stream could not be restored.
    Fail(String),
}

/// A flag that can be awaited, raised once.
#[derive(Debug, Default)]
struct Signal {
    raised: AtomicBool,
    notify: Notify,
}

impl Signal {
    fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        self.notify.notify(usize::MAX);
    }

    fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    async fn raised(&self) {
        until(&self.notify, || self.is_raised()).await;
    }

    /// Run `future` until it completes (`Some`) or the signal is raised (`None`).
    async fn or<F: Future>(&self, future: F) -> Option<F::Output> {
        let mut future = pin!(future);
        let mut listener: Option<EventListener> = None;
        std::future::poll_fn(|cx| {
            loop {
                if self.is_raised() {
                    return Poll::Ready(None);
                }
                match listener.as_mut() {
                    // Listen, then look again: a raise in between is not missed.
                    None => listener = Some(self.notify.listen()),
                    Some(waiting) => match std::pin::Pin::new(waiting).poll(cx) {
                        Poll::Ready(()) => listener = None,
                        Poll::Pending => break,
                    },
                }
            }
            future.as_mut().poll(cx).map(Some)
        })
        .await
    }
}

/// Wait until `done()` holds, re-checking each time `notify` fires (check–listen–check).
async fn until(notify: &Notify, done: impl Fn() -> bool) {
    loop {
        if done() {
            return;
        }
        let listener = notify.listen();
        if done() {
            return;
        }
        listener.await;
    }
}

/// The pump's running tasks; a [`TaskGuard`] leaves when its task's future is dropped.
#[derive(Debug, Default)]
struct TaskCount {
    running: AtomicUsize,
    notify: Notify,
}

#[derive(Debug)]
struct TaskGuard(Arc<TaskCount>);

impl TaskCount {
    fn enter(self: &Arc<Self>) -> TaskGuard {
        self.running.fetch_add(1, Ordering::SeqCst);
        TaskGuard(self.clone())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.notify.notify(usize::MAX);
        }
    }
}

/// What the pump's workers share.
#[derive(Debug)]
struct Shared {
    executor: Arc<SubscriptionExecutor>,
    bus: Arc<dyn EventBus>,
    runtime: Arc<dyn Runtime>,
    config: PumpConfig,
    inbox: BoundedMailbox<Work>,
    counters: Counters,
    channels: Mutex<HashMap<String, ChannelStatus>>,
    /// Fires when a channel's status changes or the pump stops.
    channels_changed: Notify,
    stop: Signal,
    tasks: Arc<TaskCount>,
}

impl Shared {
    fn new(
        executor: Arc<SubscriptionExecutor>,
        bus: Arc<dyn EventBus>,
        runtime: Arc<dyn Runtime>,
        config: PumpConfig,
    ) -> Self {
        Shared {
            executor,
            bus,
            runtime,
            inbox: BoundedMailbox::new(config.inbox_capacity),
            config,
            counters: Counters::default(),
            channels: Mutex::default(),
            channels_changed: Notify::new(),
            stop: Signal::default(),
            tasks: Arc::default(),
        }
    }

    fn channels(&self) -> MutexGuard<'_, HashMap<String, ChannelStatus>> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_status(&self, channel: &str, status: Option<ChannelStatus>) {
        {
            let mut channels = self.channels();
            match status {
                Some(status) => channels.insert(channel.to_owned(), status),
                None => channels.remove(channel),
            };
        }
        self.channels_changed.notify(usize::MAX);
    }

    fn status(&self, channel: &str) -> Option<ChannelStatus> {
        self.channels().get(channel).copied()
    }

    /// Queue `work` for the dispatcher, waiting while the inbox is full; `false` when the
    /// link was stopped or the inbox closed meanwhile.
    async fn push(&self, link: &Link, work: Work) -> bool {
        matches!(link.stop.or(self.inbox.push_when_room(work)).await, Some(Ok(())))
    }

    fn spawn(
        self: &Arc<Self>,
        task: impl FnOnce(Arc<Shared>) -> futures_core::future::BoxFuture<'static, ()>,
    ) {
        let guard = self.tasks.enter();
        let body = task(self.clone());
        self.runtime.spawn(Box::pin(async move {
            // The guard leaves last: once the count is zero, no task holds `Shared`.
            let _guard = guard;
            body.await;
        }));
    }
}

/// Drives a [`SubscriptionExecutor`] from an [`EventBus`], on a [`Runtime`].
///
/// One pump per bus handle: [`EventBus::unsubscribe`] ends every stream of the handle's
/// channel. Dropping the pump stops it without waiting; [`EventPump::shutdown`] waits.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use subcast_core::pump::{EventPump, PumpConfig};
/// use subcast_core::runtime::{BoxFuture, Runtime};
/// use subcast_core::{Event, EventBus, InMemoryBus, SecurityContext, SubscriptionExecutor, SubscriptionRequest};
///
/// # #[derive(Debug)]
/// # struct ThreadPerTask;
/// # impl Runtime for ThreadPerTask {
/// #     fn spawn(&self, future: BoxFuture<'static, ()>) {
/// #         std::thread::spawn(move || futures_lite::future::block_on(future));
/// #     }
/// #     fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
/// #         Box::pin(async move { std::thread::sleep(duration) })
/// #     }
/// #     fn now(&self) -> std::time::Instant { std::time::Instant::now() }
/// # }
/// futures_lite::future::block_on(async {
///     let executor = Arc::new(SubscriptionExecutor::default());
///     let bus = Arc::new(InMemoryBus::new());
///     let pump = EventPump::start(executor.clone(), bus.clone(), Arc::new(ThreadPerTask), PumpConfig::default());
///     let key = executor
///         .register_subscription(
///             SubscriptionRequest::new("conn", "1", "subscription { users { id } }")
///                 .security_context(SecurityContext::new("alice")),
///         )
///         .unwrap();
///     assert!(pump.channel_ready("users").await);
///     // Published by any node: the pump receives it from the bus and dispatches it.
///     bus.publish(Arc::new(Event::new("userCreated", "users", serde_json::json!({"id": "1"})))).await.unwrap();
///     let frame = executor.recv(key).await.unwrap().unwrap();
///     assert_eq!(&frame[..], br#"{"id":"1","type":"next","payload":{"data":{"users":{"id":"1"}}}}"#);
///     pump.shutdown().await;
/// });
/// ```
#[derive(Debug)]
pub struct EventPump {
    shared: Arc<Shared>,
    dispatcher: Option<JoinHandle<()>>,
    dispatcher_done: Arc<Signal>,
}

impl EventPump {
    /// Start pumping `bus` into `executor`: a watcher task on `runtime` and a dispatcher thread.
    pub fn start(
        executor: Arc<SubscriptionExecutor>,
        bus: Arc<dyn EventBus>,
        runtime: Arc<dyn Runtime>,
        config: PumpConfig,
    ) -> EventPump {
        let shared = Arc::new(Shared::new(executor, bus, runtime, config));
        let dispatcher_done = Arc::new(Signal::default());
        let dispatcher = {
            let shared = shared.clone();
            let done = dispatcher_done.clone();
            std::thread::Builder::new()
                .name("subcast-dispatcher".into())
                .spawn(move || {
                    run_dispatcher(shared);
                    done.raise();
                })
                .expect("spawning the subcast dispatcher thread")
        };
        shared.spawn(|shared| Box::pin(watch_channels(shared)));
        EventPump {
            shared,
            dispatcher: Some(dispatcher),
            dispatcher_done,
        }
    }

    /// The executor this pump feeds.
    pub fn executor(&self) -> &Arc<SubscriptionExecutor> {
        &self.shared.executor
    }

    /// The bus this pump reads.
    pub fn bus(&self) -> &Arc<dyn EventBus> {
        &self.shared.bus
    }

    /// Publish `event` on the bus and dispatch it to this node's subscriptions at once.
    ///
    /// Local subscribers have their frames when this returns; the copy that comes back
    /// through the bus is skipped (see [`EventBus::publish_with_executor`]).
    pub async fn publish(&self, event: Arc<Event>) -> Result<DispatchReport> {
        self.shared
            .bus
            .publish_with_executor(event, &self.shared.executor)
            .await
    }

    /// Where `channel`'s bus subscription stands; `None` when the pump does not hold one.
    pub fn channel_status(&self, channel: &str) -> Option<ChannelStatus> {
        self.shared.status(channel)
    }

    /// Wait until `channel`'s bus stream is live; `false` if the pump stopped first.
    ///
    /// Events published after this returns `true` reach the channel's subscriptions.
    pub async fn channel_ready(&self, channel: &str) -> bool {
        let shared = &self.shared;
        until(&shared.channels_changed, || {
            shared.stop.is_raised() || shared.status(channel) == Some(ChannelStatus::Subscribed)
        })
        .await;
        shared.status(channel) == Some(ChannelStatus::Subscribed)
    }

    /// Wait until the pump holds no bus subscription of `channel` (it was never needed,
    /// or it was unsubscribed after the last subscription ended).
    pub async fn channel_released(&self, channel: &str) -> bool {
        let shared = &self.shared;
        until(&shared.channels_changed, || shared.status(channel).is_none()).await;
        true
    }

    /// Read the pump's counters.
    pub fn stats(&self) -> PumpStats {
        let c = &self.shared.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let subscribed_channels = self
            .shared
            .channels()
            .values()
            .filter(|s| **s == ChannelStatus::Subscribed)
            .count();
        PumpStats {
            events_dispatched: load(&c.events_dispatched),
            duplicates_skipped: load(&c.duplicates_skipped),
            invalid_events: load(&c.invalid_events),
            parallel_dispatches: load(&c.parallel_dispatches),
            chunks_on_runtime: load(&c.chunks_on_runtime),
            frames_delivered: load(&c.frames_delivered),
            error_frames: load(&c.error_frames),
            frames_dropped: load(&c.frames_dropped),
            streams_lost: load(&c.streams_lost),
            subscribe_errors: load(&c.subscribe_errors),
            resubscribes: load(&c.resubscribes),
            gaps_signalled: load(&c.gaps_signalled),
            channels_failed: load(&c.channels_failed),
            unsubscribe_errors: load(&c.unsubscribe_errors),
            dispatcher_panics: load(&c.dispatcher_panics),
            subscribed_channels,
            pending_messages: self.shared.inbox.len(),
            peak_pending_messages: self.shared.inbox.peak(),
            events_lost: load(&c.events_lost),
        }
    }

    /// Stop the pump and wait: tasks end, bus channels are unsubscribed, the dispatcher
    /// finishes the messages it already received and its thread is joined.
    ///
    /// Returns the final counters. Response queues are left as they are: queued frames
    /// stay drainable, and the subscriptions stay registered. The runtime must keep running
    /// until this returns.
    pub async fn shutdown(mut self) -> PumpStats {
        self.signal_stop();
        let tasks = self.shared.tasks.clone();
        until(&tasks.notify, || tasks.running.load(Ordering::SeqCst) == 0).await;
        self.shared.inbox.close();
        self.dispatcher_done.raised().await;
        if let Some(thread) = self.dispatcher.take() {
            // The thread has finished; a panic there was already counted or is moot now.
            let _ = thread.join();
        }
        self.stats()
    }

    fn signal_stop(&self) {
        self.shared.stop.raise();
        self.shared.channels_changed.notify(usize::MAX);
    }
}

impl Drop for EventPump {
    fn drop(&mut self) {
        if self.dispatcher.is_some() {
            self.signal_stop();
            // The dispatcher drains what it has and ends on its own; it is not joined here.
            self.shared.inbox.close();
        }
    }
}

/// Follow the executor's channels: one link per channel in use.
async fn watch_channels(shared: Arc<Shared>) {
    let watch = shared.executor.watch_channels();
    let mut links: HashMap<String, Arc<Link>> = HashMap::new();
    while let Some(Some(change)) = shared.stop.or(watch.next()).await {
        match change {
            ChannelChange::Added(channel) => {
                if let Entry::Vacant(slot) = links.entry(channel) {
                    let link = Arc::new(Link::default());
                    shared.set_status(slot.key(), Some(ChannelStatus::Subscribing));
                    let (task_link, task_channel) = (link.clone(), slot.key().clone());
                    shared.spawn(move |shared| Box::pin(run_link(shared, task_channel, task_link)));
                    slot.insert(link);
                }
            }
            ChannelChange::Removed(channel) => {
                if let Some(link) = links.remove(&channel) {
                    release(&shared, &channel, &link).await;
                }
            }
        }
    }
    for (channel, link) in links {
        release(&shared, &channel, &link).await;
    }
}

/// Stop a channel's link, wait for its task to drop the stream, then unsubscribe.
async fn release(shared: &Shared, channel: &str, link: &Link) {
    link.stop.raise();
    link.finished.raised().await;
    if shared.bus.unsubscribe(channel).await.is_err() {
        bump(&shared.counters.unsubscribe_errors);
    }
    shared.set_status(channel, None);
}

/// One channel's bus subscription, as the watcher sees it.
#[derive(Debug, Default)]
struct Link {
    stop: Signal,
    finished: Signal,
}

/// Raises `finished` when the link's task ends, however it ends.
struct Finished(Arc<Link>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.finished.raise();
    }
}

/// Keep `channel` subscribed and forward its messages to the dispatcher until stopped.
async fn run_link(shared: Arc<Shared>, channel: String, link: Arc<Link>) {
    let _finished = Finished(link.clone());
    let mut failures: u32 = 0;
    // Events may have been missed: signal a gap once the stream is back.
    let mut gap = false;
    loop {
        match link.stop.or(shared.bus.subscribe(&channel)).await {
            None => return,
            Some(Ok(mut stream)) => {
                failures = 0;
                if gap {
                    bump(&shared.counters.resubscribes);
                    let gap_notice = Work::Bus(BusMessage::Gap {
                        channel: channel.clone(),
                        missed: None,
                    });
                    if !shared.push(&link, gap_notice).await {
                        return;
                    }
                }
                shared.set_status(&channel, Some(ChannelStatus::Subscribed));
                if forward(&shared, &link, &mut stream).await.is_none() {
                    return;
                }
                bump(&shared.counters.streams_lost);
            }
            Some(Err(_)) => {
                bump(&shared.counters.subscribe_errors);
                failures = failures.saturating_add(1);
                if failures % shared.config.max_attempts == 0 {
                    bump(&shared.counters.channels_failed);
                    if !shared.push(&link, Work::Fail(channel.clone())).await {
                        return;
                    }
                }
            }
        }
        gap = true;
        shared.set_status(&channel, Some(ChannelStatus::Resubscribing));
        let delay = shared.config.retry_delay(failures);
        if link.stop.or(shared.runtime.sleep(delay)).await.is_none() {
            return;
        }
    }
}

/// Forward `stream`'s messages to the dispatcher; `Some` when the stream ended by itself.
async fn forward(shared: &Shared, link: &Link, stream: &mut EventStream) -> Option<()> {
    loop {
        let next = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx));
        match link.stop.or(next).await? {
            // Not reading the stream while the inbox is full is the back-pressure.
            Some(message) => shared.push(link, Work::Bus(message)).await.then_some(())?,
            None => return Some(()),
        }
    }
}

/// The dispatcher thread: take work in order until the inbox is closed and drained.
fn run_dispatcher(shared: Arc<Shared>) {
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
    if executor.take_local_echo(event) {
        bump(&counters.duplicates_skipped);
        return;
    }
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
        loop {
            if self.unfinished.load(Ordering::Acquire) == 0 {
                return;
            }
            let listener = self.finished.listen();
            if self.unfinished.load(Ordering::Acquire) == 0 {
                return;
            }
            listener.wait();
        }
    }

    fn report(&self) -> DispatchReport {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::SubscriptionRequest;
    use crate::runtime::BoxFuture;
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

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let config = PumpConfig::default().backoff(Duration::from_millis(10), Duration::from_millis(50));
        let delays: Vec<_> = (0..5).map(|n| config.retry_delay(n).as_millis()).collect();
        assert_eq!(delays, [10, 20, 40, 50, 50]);
        assert_eq!(config.retry_delay(u32::MAX), Duration::from_millis(50));
    }

    #[test]
    fn or_returns_none_once_the_signal_is_raised() {
        let signal = Signal::default();
        signal.raise();
        let out = futures_lite::future::block_on(signal.or(std::future::pending::<()>()));
        assert_eq!(out, None);
    }
}
