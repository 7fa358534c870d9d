//! Event buses: how events travel from publishers to every node's executor.
//!
//! - [`EventBus`]: the object-safe trait every bus implements, with the provided
//!   [`EventBus::publish_with_executor`].
//! - [`EventStream`] / [`BusMessage`]: what a subscription to a bus channel yields.
//! - [`BusStats`]: counters every bus keeps.
//! - [`BoundedMailbox`]: the bounded queue behind every buffer between a bus server and the
//!   dispatcher, with [`Losses`] (what it refused, reported in order) and [`StreamLosses`]
//!   (refused bus messages, reported as one [`BusMessage::Gap`] with their count).
//! - [`InMemoryBus`]: the embedded default, needing no runtime; each stream holds at most
//!   [`DEFAULT_STREAM_CAPACITY`] messages, and what a full stream refuses is announced with
//!   its count.
//!
//! Every buffer is bounded. When one is full, the side filling it either waits (the pump's
//! links stop reading their streams), or drops and says so in order: a bus without replay
//! announces a [`BusMessage::Gap`] carrying the exact number of events lost; a bus with
//! replay reads the dropped events again from its server once there is room.

use std::collections::HashMap;
use std::fmt::Debug;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use event_listener::{Event as Notify, EventListener};
use futures_core::Stream;

use crate::error::Result;
use crate::event::{validate_channel, Event};
use crate::executor::{DispatchReport, SubscriptionExecutor};
use crate::queue::{Mailbox, PopError, RecvTimeoutError};
use crate::sync::until;

/// Messages one local bus stream holds before the bus's overflow policy applies.
pub const DEFAULT_STREAM_CAPACITY: usize = 1024;

/// What a bus subscription yields.
#[derive(Debug, Clone)]
pub enum BusMessage {
    /// An event published on the channel.
    Event(Arc<Event>),
    /// Events on `channel` were lost: a reconnection without replay, or a full buffer.
    Gap {
        /// The channel whose events are missing.
        channel: String,
        /// How many events were lost, when the bus knows (`None`: an unknown number, maybe none).
        missed: Option<u64>,
    },
}

/// The stream of messages of one bus channel; it ends when the channel is unsubscribed.
pub type EventStream = Pin<Box<dyn Stream<Item = BusMessage> + Send>>;

/// Counters a bus keeps about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusStats {
    /// Events accepted by `publish`.
    pub published: u64,
    /// Messages handed to local bus subscriptions.
    pub received: u64,
    /// Publishes that failed.
    pub publish_errors: u64,
    /// Bus messages skipped because they were not valid events.
    pub invalid_messages: u64,
    /// Channels this bus handle is subscribed to.
    pub subscribed_channels: usize,
    /// Reconnections to the server.
    pub reconnects: u64,
    /// Messages a full buffer could not take: announced to the channel's subscribers in a
    /// [`BusMessage::Gap`] with their count, or, on a bus with replay, read again from the
    /// server once there is room.
    pub events_dropped: u64,
    /// Gauge: the most messages one local stream has held at once (at most its capacity).
    pub stream_peak: usize,
    /// Gauge: the most server messages that have waited at once for the bus's processing
    /// task (at most its capacity; 0 for a bus without one).
    pub received_peak: usize,
}

/// A transport carrying events between publishers and executors, on one node or many.
///
/// # Examples
///
/// A bus that accepts and forgets everything:
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use subcast_core::{BusStats, Event, EventBus, EventStream, Result};
///
/// #[derive(Debug)]
/// struct NullBus;
///
/// #[async_trait]
/// impl EventBus for NullBus {
///     async fn publish(&self, _event: Arc<Event>) -> Result<()> { Ok(()) }
///     async fn subscribe(&self, _channel: &str) -> Result<EventStream> {
///         Ok(Box::pin(futures_lite::stream::empty()))
///     }
///     async fn unsubscribe(&self, _channel: &str) -> Result<()> { Ok(()) }
///     async fn health_check(&self) -> Result<()> { Ok(()) }
///     fn stats(&self) -> BusStats { BusStats::default() }
/// }
/// ```
#[async_trait]
pub trait EventBus: Send + Sync + Debug + 'static {
    /// Send `event` to every subscriber of its channel, on every node.
    async fn publish(&self, event: Arc<Event>) -> Result<()>;

    /// Receive the messages of `channel` until it is unsubscribed.
    async fn subscribe(&self, channel: &str) -> Result<EventStream>;

    /// End this handle's streams of `channel`.
    async fn unsubscribe(&self, channel: &str) -> Result<()>;

    /// Check that the bus can publish and receive now.
    async fn health_check(&self) -> Result<()>;

    /// Read the bus's counters.
    fn stats(&self) -> BusStats;

    /// Publish `event`, then dispatch it to `executor`'s subscriptions directly.
    ///
    /// If publishing fails, nothing is dispatched here. If it succeeds, the executor's frames
    /// are queued before this returns, and the copy that comes back through the bus is
    /// recognised by [`SubscriptionExecutor::dispatch_bus_message`] and not dispatched again.
    /// A copy that reached the bus although `publish` failed (a timeout after sending) or
    /// this future was dropped is dispatched when it comes back, once.
    async fn publish_with_executor(
        &self,
        event: Arc<Event>,
        executor: &SubscriptionExecutor,
    ) -> Result<DispatchReport> {
        // The one check every node's decoder applies too (depth, ids, channel), and this
        // executor's size limit: an event is refused here or readable everywhere.
        event.validate(executor.config().max_event_bytes)?;
        // Announce before publishing: the loop-back copy may arrive before `publish` returns.
        // Until the local dispatch below runs — if the publish fails, or this future is
        // dropped mid-publish — the announcement is withdrawn, so a copy that reached the
        // bus anyway is dispatched when it comes back: once, never lost.
        let announced = LoopbackAnnouncement::new(executor, &event);
        self.publish(event.clone()).await?;
        announced.keep();
        // Validated above, and immutable since: this `Arc` was held all along.
        Ok(executor.dispatch_validated(&event))
    }
}

/// An event announced to an executor as dispatched locally; withdrawn on drop unless kept.
struct LoopbackAnnouncement<'a> {
    executor: &'a SubscriptionExecutor,
    event: &'a Event,
    kept: bool,
}

impl<'a> LoopbackAnnouncement<'a> {
    fn new(executor: &'a SubscriptionExecutor, event: &'a Event) -> Self {
        executor.expect_loopback(event);
        LoopbackAnnouncement {
            executor,
            event,
            kept: false,
        }
    }

    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for LoopbackAnnouncement<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.executor.forget_loopback(self.event);
        }
    }
}

/// What a [`BoundedMailbox`] remembers about the items it refused, until it can report them
/// in order.
///
/// The record is handed to the consumer as one item (a notice) at the first chance: before
/// the next item that fits, or as soon as the consumer finds the mailbox empty.
pub trait Losses<T>: Default + Send {
    /// Add a refused `item` (possibly an earlier notice that did not fit) to the record.
    fn add(&mut self, item: T);
    /// Whether nothing is recorded.
    fn is_empty(&self) -> bool;
    /// Take the notice reporting everything recorded, leaving the record empty.
    fn take_notice(&mut self) -> Option<T>;
}

/// Nothing is recorded: for mailboxes whose producers wait for room instead of dropping.
impl<T> Losses<T> for () {
    fn add(&mut self, _item: T) {}
    fn is_empty(&self) -> bool {
        true
    }
    fn take_notice(&mut self) -> Option<T> {
        None
    }
}

/// The bus messages a full stream refused, reported as one [`BusMessage::Gap`].
///
/// Refused events are counted; a refused gap of unknown size makes the total unknown.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use subcast_core::bus::{Losses, StreamLosses};
/// use subcast_core::{BusMessage, Event};
///
/// let mut losses = StreamLosses::default();
/// for _ in 0..3 {
///     losses.add(BusMessage::Event(Arc::new(Event::new("t", "users", serde_json::json!({})))));
/// }
/// let notice = losses.take_notice();
/// assert!(matches!(notice, Some(BusMessage::Gap { missed: Some(3), .. })));
/// assert!(losses.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct StreamLosses {
    channel: Option<String>,
    events: u64,
    unknown: bool,
}

impl Losses<BusMessage> for StreamLosses {
    fn add(&mut self, item: BusMessage) {
        let channel = match item {
            BusMessage::Event(event) => {
                self.events += 1;
                if self.channel.is_some() {
                    return;
                }
                event.channel.clone()
            }
            BusMessage::Gap { channel, missed } => {
                match missed {
                    Some(missed) => self.events = self.events.saturating_add(missed),
                    None => self.unknown = true,
                }
                channel
            }
        };
        self.channel.get_or_insert(channel);
    }

    fn is_empty(&self) -> bool {
        self.channel.is_none()
    }

    fn take_notice(&mut self) -> Option<BusMessage> {
        let channel = self.channel.take()?;
        let missed = (!std::mem::take(&mut self.unknown)).then_some(self.events);
        self.events = 0;
        Some(BusMessage::Gap { channel, missed })
    }
}

/// Why [`BoundedMailbox::try_push`] gave an item back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused<T> {
    /// The mailbox holds as many items as it may.
    Full(T),
    /// The mailbox is closed.
    Closed(T),
}

/// What [`BoundedMailbox::push_or_lose`] did with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued.
    Queued,
    /// The mailbox was full: recorded as lost, to be reported to the consumer.
    Lost,
    /// The mailbox is closed: dropped.
    Closed,
}

/// A [`Mailbox`] that holds at most `capacity` items and records what it refuses.
///
/// Producers choose, per push, what a full mailbox means: give the item back
/// ([`try_push`](Self::try_push)), wait for room ([`push_when_room`](Self::push_when_room)),
/// or record the item in the [`Losses`] `L` ([`push_or_lose`](Self::push_or_lose)), which
/// reach the consumer as one notice, in order. A recorded loss and the notice reporting it
/// take no room of their own beyond one slot, so the mailbox never holds more than
/// `capacity` items, except for the few control items queued with
/// [`push_unbounded`](Self::push_unbounded).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use subcast_core::bus::{BoundedMailbox, Pushed, StreamLosses};
/// use subcast_core::{BusMessage, Event};
///
/// let event = |n: u64| BusMessage::Event(Arc::new(Event::new("t", "users", serde_json::json!(n))));
/// let mailbox = BoundedMailbox::<BusMessage, StreamLosses>::new(2);
/// assert_eq!(mailbox.push_or_lose(event(1)), Pushed::Queued);
/// assert_eq!(mailbox.push_or_lose(event(2)), Pushed::Queued);
/// assert_eq!(mailbox.push_or_lose(event(3)), Pushed::Lost);
/// let take = || futures_lite::future::block_on(mailbox.recv()).unwrap();
/// assert!(matches!(take(), BusMessage::Event(_)));
/// assert!(matches!(take(), BusMessage::Event(_)));
/// // Then the loss, with its count, where it happened.
/// assert!(matches!(take(), BusMessage::Gap { missed: Some(1), .. }));
/// assert_eq!(mailbox.peak(), 2);
/// ```
#[derive(Debug)]
pub struct BoundedMailbox<T, L = ()> {
    items: Mailbox<T>,
    capacity: usize,
    /// Locked only while `items` is locked (through `Mailbox::edit`), so a loss is recorded
    /// and reported in its place among the items.
    losses: Mutex<L>,
    peak: AtomicUsize,
    /// Fires when an item is taken or the mailbox closes.
    room: Notify,
}

impl<T, L: Losses<T>> BoundedMailbox<T, L> {
    /// An empty mailbox holding at most `capacity` items (at least 1).
    pub fn new(capacity: usize) -> Self {
        BoundedMailbox {
            items: Mailbox::new(),
            capacity: capacity.max(1),
            losses: Mutex::default(),
            peak: AtomicUsize::new(0),
            room: Notify::new(),
        }
    }

    /// The most items the mailbox holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of queued items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The most items that have been queued at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Whether one more item fits now (a pending loss notice takes a slot first).
    pub fn has_room(&self) -> bool {
        self.room_left() > 0
    }

    /// How many more items fit now (a pending loss notice takes a slot first).
    pub fn room_left(&self) -> usize {
        let Some(mut edit) = self.items.edit() else {
            return 0;
        };
        let pending = usize::from(!self.lock_losses().is_empty());
        self.capacity.saturating_sub(edit.len() + pending)
    }

    /// Refuse further pushes and wake every waiter; queued items stay readable.
    pub fn close(&self) -> bool {
        let closed = self.items.close();
        self.room.notify(usize::MAX);
        closed
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.items.is_closed()
    }

    /// Queue `item` if it fits; else give it back.
    pub fn try_push(&self, item: T) -> std::result::Result<(), Refused<T>> {
        self.push_with(
            item,
            true,
            Ok(()),
            |_, item| Err(Refused::Full(item)),
            |item| Err(Refused::Closed(item)),
        )
    }

    /// Queue `item` if it fits; else record it as lost, to be reported to the consumer.
    pub fn push_or_lose(&self, item: T) -> Pushed {
        let lose = |losses: &mut L, item| {
            losses.add(item);
            Pushed::Lost
        };
        self.push_with(item, true, Pushed::Queued, lose, |_| Pushed::Closed)
    }

    /// Queue a control item whatever the bound; give it back if the mailbox is closed.
    ///
    /// For the few items whose number is bounded elsewhere (one per channel, one per
    /// connection), which must not be lost.
    pub fn push_unbounded(&self, item: T) -> std::result::Result<(), T> {
        self.push_with(item, false, Ok(()), |_, item| Err(item), Err)
    }

    /// Queue `item`, waiting as long as the mailbox is full; give it back if it closes.
    pub async fn push_when_room(&self, item: T) -> std::result::Result<(), T> {
        let mut item = Some(item);
        until(&self.room, || match self.try_push(item.take()?) {
            Ok(()) => Some(Ok(())),
            Err(Refused::Closed(back)) => Some(Err(back)),
            Err(Refused::Full(back)) => {
                item = Some(back);
                None
            }
        })
        .await
    }

    /// Push under the lock: `queued` if it went in, else what `full` or `closed` make of it.
    fn push_with<R>(
        &self,
        item: T,
        bounded: bool,
        queued: R,
        full: impl FnOnce(&mut L, T) -> R,
        closed: impl FnOnce(T) -> R,
    ) -> R {
        let Some(mut edit) = self.items.edit() else {
            return closed(item);
        };
        let mut losses = self.lock_losses();
        let mut len = edit.len();
        // A pending notice goes first whenever it fits, so a consumer waiting on an empty
        // mailbox is always woken by a push.
        if len < self.capacity || !bounded {
            if let Some(notice) = losses.take_notice() {
                edit.push(notice);
                len += 1;
            }
        }
        if bounded && len >= self.capacity {
            self.peak.fetch_max(len, Ordering::Relaxed);
            return full(&mut losses, item);
        }
        edit.push(item);
        self.peak.fetch_max(len + 1, Ordering::Relaxed);
        queued
    }

    /// Take the next item, or the notice of what was lost once nothing else is queued.
    fn take(&self) -> std::result::Result<T, PopError> {
        let taken = match self.items.edit() {
            Some(mut edit) => edit.pop().or_else(|| self.lock_losses().take_notice()),
            // Closed: what is queued stays readable; losses are moot.
            None => return self.items.pop(),
        };
        match taken {
            Some(item) => {
                self.room.notify_additional(1);
                Ok(item)
            }
            None => Err(PopError::Empty),
        }
    }

    /// Wait for the next item; `None` once the mailbox is closed and drained.
    pub async fn recv(&self) -> Option<T> {
        self.items.recv_with(|_| self.take()).await
    }

    /// Poll for the next item, keeping the wake-up registration in `listener`.
    pub fn poll_recv(&self, cx: &mut Context<'_>, listener: &mut Option<EventListener>) -> Poll<Option<T>> {
        self.items.poll_with(cx, listener, &mut |_| self.take())
    }

    /// Block the thread until an item arrives, the mailbox closes, or `timeout` passes.
    pub fn recv_timeout(&self, timeout: Duration) -> std::result::Result<T, RecvTimeoutError> {
        self.items.recv_timeout_with(timeout, |_| self.take())
    }

    /// Take the next item without waiting.
    pub fn try_pop(&self) -> Option<T> {
        self.take().ok()
    }

    fn lock_losses(&self) -> MutexGuard<'_, L> {
        // Every critical section leaves the record whole: a panic elsewhere cannot corrupt it.
        self.losses.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The in-memory bus: events reach the streams of every handle on the same hub.
///
/// `InMemoryBus::new()` makes a hub; [`InMemoryBus::connect`] makes another handle on it,
/// standing for another node. Streams are [`BoundedMailbox`]es, so no runtime is needed.
///
/// The bus keeps no history to replay: a stream that is full (its consumer is slow) loses
/// the events published meanwhile, and its consumer then receives one [`BusMessage::Gap`]
/// with their exact number, where the loss happened. Each stream holds at most
/// [`DEFAULT_STREAM_CAPACITY`] messages, or what [`InMemoryBus::with_stream_capacity`] says.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use futures_lite::StreamExt;
/// use subcast_core::{BusMessage, Event, EventBus, InMemoryBus};
///
/// futures_lite::future::block_on(async {
///     let bus = InMemoryBus::new();
///     let mut stream = bus.subscribe("users").await.unwrap();
///     bus.publish(Arc::new(Event::new("userCreated", "users", serde_json::json!({})))).await.unwrap();
///     assert!(matches!(stream.next().await, Some(BusMessage::Event(e)) if e.channel == "users"));
/// });
/// ```
#[derive(Debug, Clone)]
pub struct InMemoryBus {
    hub: Arc<Hub>,
    handle: u64,
}

#[derive(Debug)]
struct Hub {
    channels: RwLock<HashMap<String, Vec<Subscriber>>>,
    stream_capacity: usize,
    next_id: AtomicU64,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    /// The peak of streams that have ended.
    stream_peak: AtomicUsize,
}

type StreamMailbox = BoundedMailbox<BusMessage, StreamLosses>;

#[derive(Debug)]
struct Subscriber {
    id: u64,
    handle: u64,
    mailbox: Arc<StreamMailbox>,
}

impl Default for InMemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryBus {
    /// Create a hub and a first handle on it.
    pub fn new() -> Self {
        Self::with_stream_capacity(DEFAULT_STREAM_CAPACITY)
    }

    /// Create a hub whose streams hold at most `messages` each (at least 1), and a first
    /// handle on it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use futures_lite::StreamExt;
    /// use subcast_core::{BusMessage, Event, EventBus, InMemoryBus};
    ///
    /// futures_lite::future::block_on(async {
    ///     let bus = InMemoryBus::with_stream_capacity(2);
    ///     let mut stream = bus.subscribe("users").await.unwrap();
    ///     for n in 0..5 {
    ///         bus.publish(Arc::new(Event::new("t", "users", serde_json::json!(n)))).await.unwrap();
    ///     }
    ///     assert!(matches!(stream.next().await, Some(BusMessage::Event(e)) if e.data == 0));
    ///     assert!(matches!(stream.next().await, Some(BusMessage::Event(e)) if e.data == 1));
    ///     assert!(matches!(stream.next().await, Some(BusMessage::Gap { missed: Some(3), .. })));
    ///     assert_eq!(bus.stats().events_dropped, 3);
    /// });
    /// ```
    pub fn with_stream_capacity(messages: usize) -> Self {
        let hub = Arc::new(Hub {
            channels: RwLock::default(),
            stream_capacity: messages.max(1),
            next_id: AtomicU64::new(0),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            stream_peak: AtomicUsize::new(0),
        });
        let handle = hub.next_id.fetch_add(1, Ordering::Relaxed);
        InMemoryBus { hub, handle }
    }

    /// Create another handle on the same hub, as a second node would have.
    pub fn connect(&self) -> Self {
        let handle = self.hub.next_id.fetch_add(1, Ordering::Relaxed);
        InMemoryBus {
            hub: self.hub.clone(),
            handle,
        }
    }

    fn channels(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Vec<Subscriber>>> {
        self.hub.channels.read().unwrap_or_else(|e| e.into_inner())
    }

    fn channels_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Vec<Subscriber>>> {
        self.hub.channels.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl EventBus for InMemoryBus {
    async fn publish(&self, event: Arc<Event>) -> Result<()> {
        // What a networked bus would refuse, this one refuses too.
        event.validate_wire()?;
        self.hub.published.fetch_add(1, Ordering::Relaxed);
        let channels = self.channels();
        if let Some(subscribers) = channels.get(&event.channel) {
            for subscriber in subscribers {
                let counter = match subscriber.mailbox.push_or_lose(BusMessage::Event(event.clone())) {
                    Pushed::Queued => &self.hub.received,
                    Pushed::Lost => &self.hub.dropped,
                    Pushed::Closed => continue,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> Result<EventStream> {
        validate_channel(channel)?;
        let mailbox = Arc::new(StreamMailbox::new(self.hub.stream_capacity));
        let id = self.hub.next_id.fetch_add(1, Ordering::Relaxed);
        self.channels_mut()
            .entry(channel.to_owned())
            .or_default()
            .push(Subscriber {
                id,
                handle: self.handle,
                mailbox: mailbox.clone(),
            });
        Ok(Box::pin(MailboxStream {
            hub: self.hub.clone(),
            channel: channel.to_owned(),
            id,
            mailbox,
            listener: None,
        }))
    }

    async fn unsubscribe(&self, channel: &str) -> Result<()> {
        validate_channel(channel)?;
        let mut channels = self.channels_mut();
        if let Some(subscribers) = channels.get_mut(channel) {
            subscribers.retain(|s| {
                let mine = s.handle == self.handle;
                if mine {
                    s.mailbox.close();
                }
                !mine
            });
            if subscribers.is_empty() {
                channels.remove(channel);
            }
        }
        Ok(())
    }

    async fn health_check(&self) -> Result<()> {
        Ok(())
    }

    fn stats(&self) -> BusStats {
        let channels = self.channels();
        let subscribed_channels = channels
            .values()
            .filter(|subs| subs.iter().any(|s| s.handle == self.handle))
            .count();
        let live_peak = channels
            .values()
            .flatten()
            .map(|s| s.mailbox.peak())
            .max()
            .unwrap_or(0);
        BusStats {
            published: self.hub.published.load(Ordering::Relaxed),
            received: self.hub.received.load(Ordering::Relaxed),
            subscribed_channels,
            events_dropped: self.hub.dropped.load(Ordering::Relaxed),
            stream_peak: live_peak.max(self.hub.stream_peak.load(Ordering::Relaxed)),
            ..BusStats::default()
        }
    }
}

/// A bus subscription's stream; dropping it removes the subscription from the hub.
struct MailboxStream {
    hub: Arc<Hub>,
    channel: String,
    id: u64,
    mailbox: Arc<StreamMailbox>,
    listener: Option<EventListener>,
}

impl Stream for MailboxStream {
    type Item = BusMessage;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BusMessage>> {
        let this = self.get_mut();
        this.mailbox.poll_recv(cx, &mut this.listener)
    }
}

impl Drop for MailboxStream {
    fn drop(&mut self) {
        self.hub
            .stream_peak
            .fetch_max(self.mailbox.peak(), Ordering::Relaxed);
        let mut channels = self.hub.channels.write().unwrap_or_else(|e| e.into_inner());
        if let Some(subscribers) = channels.get_mut(&self.channel) {
            subscribers.retain(|s| s.id != self.id);
            if subscribers.is_empty() {
                channels.remove(&self.channel);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use futures_lite::future::block_on;
    use futures_lite::StreamExt;
    use serde_json::json;

    fn event(channel: &str) -> Arc<Event> {
        Arc::new(Event::new("t", channel, json!({})))
    }

    #[test]
    fn published_events_reach_every_handle_subscribed_to_the_channel() {
        block_on(async {
            let node_a = InMemoryBus::new();
            let node_b = node_a.connect();
            let mut on_a = node_a.subscribe("users").await.unwrap();
            let mut on_b = node_b.subscribe("users").await.unwrap();
            let mut other = node_b.subscribe("posts").await.unwrap();
            let sent = event("users");
            node_a.publish(sent.clone()).await.unwrap();
            node_a.publish(event("posts")).await.unwrap();
            for stream in [&mut on_a, &mut on_b] {
                match stream.next().await {
                    Some(BusMessage::Event(got)) => assert_eq!(got.id, sent.id),
                    other => panic!("expected the event, got {other:?}"),
                }
            }
            assert!(matches!(other.next().await, Some(BusMessage::Event(e)) if e.channel == "posts"));
            assert_eq!(node_a.stats().published, 2);
            assert_eq!(node_a.stats().received, 3);
        });
    }

    #[test]
    fn unsubscribe_ends_only_this_handles_streams() {
        block_on(async {
            let node_a = InMemoryBus::new();
            let node_b = node_a.connect();
            let mut on_a = node_a.subscribe("users").await.unwrap();
            let mut on_b = node_b.subscribe("users").await.unwrap();
            node_a.unsubscribe("users").await.unwrap();
            assert!(on_a.next().await.is_none());
            assert_eq!(node_a.stats().subscribed_channels, 0);
            node_b.publish(event("users")).await.unwrap();
            assert!(on_b.next().await.is_some());
        });
    }

    #[test]
    fn dropping_a_stream_removes_its_subscription() {
        block_on(async {
            let bus = InMemoryBus::new();
            drop(bus.subscribe("users").await.unwrap());
            assert_eq!(bus.stats().subscribed_channels, 0);
            bus.publish(event("users")).await.unwrap();
            assert_eq!(bus.stats().received, 0);
        });
    }

    #[test]
    fn a_producer_waiting_for_room_resumes_when_an_item_is_taken() {
        let mailbox = Arc::new(BoundedMailbox::<u32>::new(1));
        mailbox.try_push(1).unwrap();
        assert_eq!(mailbox.try_push(2), Err(Refused::Full(2)));
        let producer = {
            let mailbox = mailbox.clone();
            std::thread::spawn(move || block_on(mailbox.push_when_room(2)))
        };
        assert_eq!(block_on(mailbox.recv()), Some(1));
        assert_eq!(producer.join().unwrap(), Ok(()));
        assert_eq!(block_on(mailbox.recv()), Some(2));
        assert_eq!(mailbox.peak(), 1);
    }

    #[test]
    fn a_producer_waiting_for_room_gets_its_item_back_when_the_mailbox_closes() {
        let mailbox = Arc::new(BoundedMailbox::<u32>::new(1));
        mailbox.try_push(1).unwrap();
        let producer = {
            let mailbox = mailbox.clone();
            std::thread::spawn(move || block_on(mailbox.push_when_room(2)))
        };
        mailbox.close();
        assert_eq!(producer.join().unwrap(), Err(2));
        assert_eq!(block_on(mailbox.recv()), Some(1));
        assert_eq!(block_on(mailbox.recv()), None);
    }

    #[test]
    fn losses_are_announced_once_the_mailbox_runs_dry_without_waiting_for_another_push() {
        let mailbox = BoundedMailbox::<BusMessage, StreamLosses>::new(1);
        assert_eq!(
            mailbox.push_or_lose(BusMessage::Event(event("c"))),
            Pushed::Queued
        );
        assert_eq!(mailbox.push_or_lose(BusMessage::Event(event("c"))), Pushed::Lost);
        assert_eq!(mailbox.push_or_lose(BusMessage::Event(event("c"))), Pushed::Lost);
        assert!(matches!(mailbox.try_pop(), Some(BusMessage::Event(_))));
        assert!(matches!(
            mailbox.try_pop(),
            Some(BusMessage::Gap { missed: Some(2), .. })
        ));
        assert!(mailbox.try_pop().is_none());
    }

    #[test]
    fn a_refused_gap_of_unknown_size_makes_the_announced_count_unknown() {
        let mailbox = BoundedMailbox::<BusMessage, StreamLosses>::new(1);
        mailbox.push_or_lose(BusMessage::Event(event("c")));
        mailbox.push_or_lose(BusMessage::Event(event("c")));
        let gap = BusMessage::Gap {
            channel: "c".into(),
            missed: None,
        };
        assert_eq!(mailbox.push_or_lose(gap), Pushed::Lost);
        mailbox.try_pop();
        assert!(matches!(
            mailbox.try_pop(),
            Some(BusMessage::Gap { missed: None, .. })
        ));
    }

    #[test]
    fn a_slow_in_memory_subscriber_holds_at_most_its_capacity_and_learns_how_many_it_missed() {
        block_on(async {
            let bus = InMemoryBus::with_stream_capacity(4);
            let mut stream = bus.subscribe("users").await.unwrap();
            for _ in 0..1000 {
                bus.publish(event("users")).await.unwrap();
            }
            assert_eq!(bus.stats().stream_peak, 4);
            assert_eq!(bus.stats().events_dropped, 996);
            for _ in 0..4 {
                assert!(matches!(stream.next().await, Some(BusMessage::Event(_))));
            }
            assert!(matches!(
                stream.next().await,
                Some(BusMessage::Gap {
                    missed: Some(996),
                    ..
                })
            ));
            bus.publish(event("users")).await.unwrap();
            assert!(matches!(stream.next().await, Some(BusMessage::Event(_))));
        });
    }

    #[test]
    fn invalid_channel_names_are_refused() {
        block_on(async {
            let bus = InMemoryBus::new();
            assert!(matches!(
                bus.subscribe("").await,
                Err(Error::InvalidChannel { .. })
            ));
            assert!(bus.publish(event(&"x".repeat(300))).await.is_err());
        });
    }
}
