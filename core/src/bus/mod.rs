//! Event buses: how events travel from publishers to every node's executor.
//!
//! - [`EventBus`]: the object-safe trait every bus implements: pure transport
//!   ([`SubscriptionExecutor::publish`](crate::SubscriptionExecutor::publish) publishes and
//!   dispatches locally in one step).
//! - [`EventStream`] / [`BusMessage`]: what a subscription to a bus channel yields.
//! - [`BusStats`]: counters every bus keeps.
//! - [`BoundedMailbox`]: the bounded queue behind every buffer between a bus server and the
//!   dispatcher, with [`Losses`] (what it refused, reported in order) and [`StreamLosses`]
//!   (refused bus messages, reported as one [`BusMessage::Gap`] with their count).
//! - [`ServerBus`]: the skeleton every bus over a server shares, parameterised by a
//!   [`BusSession`] (see [`server`]); [`Backoff`] for its reconnections.
//! - [`Cursor`] / [`LogPosition`]: where an event sits in a bus's history, as `next`
//!   frames carry it; [`EventBus::history`] reads what followed it ([`History`]).
//! - [`InMemoryBus`]: the embedded default, needing no runtime; each stream holds at most
//!   [`DEFAULT_STREAM_CAPACITY`] messages, and what a full stream refuses is announced with
//!   its count.
//!
//! Every buffer is bounded. When one is full, the side filling it either waits (the pump's
//! links stop reading their streams), or drops and says so in order: a bus without replay
//! announces a [`BusMessage::Gap`] carrying the exact number of events lost; a bus with
//! replay reads the dropped events again from its server once there is room.

use std::fmt::Debug;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use event_listener::{Event as Notify, EventListener};
use futures_core::Stream;

use crate::error::Result;
use crate::event::Event;
use crate::queue::{Mailbox, PopError, RecvTimeoutError};
use crate::sync::until;

pub mod cursor;
mod memory;
pub mod server;

pub use crate::error::CursorError;
pub use crate::event::LogPosition;
pub use cursor::{frame_cursor, Cursor, MAX_CURSOR_LEN};
pub use memory::InMemoryBus;
pub use server::{
    Backoff, BusSession, Current, Fetched, Inbox, Received, ReplayError, ReplayPage, Replayed, ServerBus,
    ServerSettings, DEFAULT_RECEIVED_CAPACITY,
};

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

/// What [`EventBus::history`] read.
#[derive(Debug, Clone)]
pub enum History {
    /// The bus keeps no history: what a client missed cannot be read again.
    Unavailable,
    /// A page of the channel's history.
    Page(HistoryPage),
}

/// One page of a channel's history, in order.
#[derive(Debug, Clone, Default)]
pub struct HistoryPage {
    /// The events after the requested position, each with its [`Event::position`].
    pub events: Vec<Arc<Event>>,
    /// Events after the requested position are gone (trimmed, cleaned up, or the server
    /// lost them): the reader must be told of a gap of unknown size.
    pub lost: bool,
    /// Where the next page starts after: past the last entry read, events or not.
    pub last: Option<LogPosition>,
    /// Whether the page reached the end of the history as it was when read.
    pub complete: bool,
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

    /// Send `event` like [`publish`](Self::publish), and return the position the bus's
    /// history gave it, if it keeps one.
    ///
    /// The default publishes and returns `None`: a bus without history.
    async fn publish_at(&self, event: Arc<Event>) -> Result<Option<LogPosition>> {
        self.publish(event).await.map(|()| None)
    }

    /// Receive the messages of `channel` until it is unsubscribed.
    async fn subscribe(&self, channel: &str) -> Result<EventStream>;

    /// Read at most `limit` events of `channel` after `after` from the bus's history, with
    /// their positions set.
    ///
    /// The default answers [`History::Unavailable`]: a bus without history (in-memory,
    /// Redis without replay, NATS without JetStream).
    async fn history(&self, channel: &str, after: LogPosition, limit: usize) -> Result<History> {
        let _ = (channel, after, limit);
        Ok(History::Unavailable)
    }

    /// End this handle's streams of `channel`.
    async fn unsubscribe(&self, channel: &str) -> Result<()>;

    /// Check that the bus can publish and receive now.
    async fn health_check(&self) -> Result<()>;

    /// Read the bus's counters.
    fn stats(&self) -> BusStats;
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
/// use subcast_core::backend::{Losses, StreamLosses};
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
/// use subcast_core::backend::{BoundedMailbox, Pushed, StreamLosses};
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

    /// The most items a bounded push has left queued: at most `capacity`. Control items
    /// queued past the bound with [`push_unbounded`](Self::push_unbounded) are not
    /// counted, since their number is bounded elsewhere.
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
        if bounded {
            self.peak.fetch_max(len + 1, Ordering::Relaxed);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;
    use serde_json::json;

    fn event(channel: &str) -> Arc<Event> {
        Arc::new(Event::new("t", channel, json!({})))
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
}
