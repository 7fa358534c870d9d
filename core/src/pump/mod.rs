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
//!   dispatcher's inbox (except the copies of events this node dispatched as it published
//!   them, which it skips without waking the dispatcher), which holds at most [`PumpConfig::inbox_capacity`] messages; when
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

mod config;
mod dispatcher;
mod link;
mod stats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use event_listener::Event as Notify;

use crate::bus::{BoundedMailbox, EventBus};
use crate::error::Result;
use crate::event::Event;
use crate::executor::{DispatchReport, SubscriptionExecutor};
use crate::runtime::Runtime;
use crate::sync::{until, Signal, TaskCount};

pub use config::{PumpConfig, DEFAULT_INBOX_CAPACITY, DEFAULT_PARALLEL_THRESHOLD, MIN_BACKOFF};
use dispatcher::{run_dispatcher, Work};
use link::{watch_channels, Link};
use stats::Counters;
pub use stats::PumpStats;

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
/// use subcast_core::{EventPump, PumpConfig};
/// use subcast_core::{BoxFuture, Runtime};
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
    /// through the bus is skipped (see [`SubscriptionExecutor::publish`]).
    pub async fn publish(&self, event: Arc<Event>) -> Result<DispatchReport> {
        self.shared.executor.publish(&*self.shared.bus, event).await
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
            (shared.stop.is_raised() || shared.status(channel) == Some(ChannelStatus::Subscribed))
                .then_some(())
        })
        .await;
        shared.status(channel) == Some(ChannelStatus::Subscribed)
    }

    /// Wait until the pump holds no bus subscription of `channel` (it was never needed,
    /// or it was unsubscribed after the last subscription ended).
    pub async fn channel_released(&self, channel: &str) -> bool {
        let shared = &self.shared;
        until(&shared.channels_changed, || {
            shared.status(channel).is_none().then_some(())
        })
        .await;
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
        self.shared.tasks.idle().await;
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
