//! The node side of a networked bus: one server connection, demultiplexed to local streams.
//!
//! A bus over a server (Redis, PostgreSQL, …) holds one server-side subscription per
//! channel however many local streams listen on it, and hands each message it receives to
//! every stream of the message's channel. This module is that bookkeeping, shared by every
//! such bus and free of any runtime or socket:
//!
//! - [`ChannelStreams`]: every channel a bus handle is subscribed to, keyed by name, with
//!   its local streams' mailboxes and its replay position (dedupe and gap detection).
//! - [`SubscribedChannel`]: one such channel's replay position and replay hold.
//! - [`Inserted`]: whether a new stream is its channel's first (the server side must
//!   subscribe) or joins a channel already subscribed.
//! - [`ChannelStream`]: the [`EventStream`](crate::EventStream) a bus's `subscribe` returns;
//!   dropping it runs the bus's clean-up.
//! - [`BusCounters`]: the live counters behind [`EventBus::stats`](crate::EventBus::stats).
//! - [`ensure_channel`]: refuse an event that arrived on another channel than it names.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::EventListener;
use futures_core::Stream;

use crate::bus::{BusMessage, BusStats};
use crate::event::Event;
use crate::queue::Mailbox;

/// One channel a bus handle is subscribed to on the server.
///
/// `P` is the bus's replay position: a stream entry id, an outbox row id.
#[derive(Debug)]
pub struct SubscribedChannel<P> {
    /// The local streams of the channel, by stream id.
    streams: Vec<(u64, Arc<Mailbox<BusMessage>>)>,
    /// Position of the last event delivered (or the position at subscription), for replay.
    pub cursor: Option<P>,
    /// Live messages are dropped until the pending replay, which will include them, runs.
    pub pending_replay: bool,
}

/// What [`ChannelStreams::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The channel was new: the server side must be subscribed.
    First,
    /// Another local stream already listens on the channel.
    Joined,
}

/// Every channel of one bus handle, with its local streams and replay position.
///
/// Positions only move forward: [`ChannelStreams::deliver_at`] drops an event at or before
/// the channel's cursor, so an event seen both live and in a replay reaches each stream once.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use subcast_core::bus_channels::{ChannelStreams, Inserted};
/// use subcast_core::Event;
///
/// let mut channels = ChannelStreams::<u64>::default();
/// let (_, mailbox, inserted) = channels.insert("users");
/// assert_eq!(inserted, Inserted::First);
/// let event = Arc::new(Event::new("userCreated", "users", serde_json::json!({})));
/// assert_eq!(channels.deliver_at("users", Some(7), event.clone()), Some(1));
/// // Position 7 again (say, from a replay): a duplicate, not delivered.
/// assert_eq!(channels.deliver_at("users", Some(7), event), None);
/// assert_eq!(mailbox.len(), 1);
/// ```
#[derive(Debug)]
pub struct ChannelStreams<P> {
    by_name: HashMap<String, SubscribedChannel<P>>,
    next_id: u64,
}

impl<P> Default for ChannelStreams<P> {
    fn default() -> Self {
        ChannelStreams {
            by_name: HashMap::new(),
            next_id: 0,
        }
    }
}

impl<P: Ord> ChannelStreams<P> {
    /// Add a stream to `channel`; returns its id, its mailbox and whether it is the first.
    pub fn insert(&mut self, channel: &str) -> (u64, Arc<Mailbox<BusMessage>>, Inserted) {
        let id = self.next_id;
        self.next_id += 1;
        let mailbox = Arc::new(Mailbox::new());
        let inserted = match self.by_name.get_mut(channel) {
            Some(subscribed) => {
                subscribed.streams.push((id, mailbox.clone()));
                Inserted::Joined
            }
            None => {
                self.by_name.insert(
                    channel.to_owned(),
                    SubscribedChannel {
                        streams: vec![(id, mailbox.clone())],
                        cursor: None,
                        pending_replay: false,
                    },
                );
                Inserted::First
            }
        };
        (id, mailbox, inserted)
    }

    /// Remove one stream; `true` when the channel has no stream left (and is gone).
    pub fn remove_stream(&mut self, channel: &str, id: u64) -> bool {
        let Some(subscribed) = self.by_name.get_mut(channel) else {
            return false;
        };
        subscribed.streams.retain(|(sid, _)| *sid != id);
        if subscribed.streams.is_empty() {
            self.by_name.remove(channel);
            return true;
        }
        false
    }

    /// Remove the channel, closing its streams; `true` if it was subscribed.
    pub fn remove_channel(&mut self, channel: &str) -> bool {
        match self.by_name.remove(channel) {
            Some(subscribed) => {
                close(&subscribed);
                true
            }
            None => false,
        }
    }

    /// The channel's state, if subscribed.
    pub fn get_mut(&mut self, channel: &str) -> Option<&mut SubscribedChannel<P>> {
        self.by_name.get_mut(channel)
    }

    /// Whether `channel` is subscribed.
    pub fn contains(&self, channel: &str) -> bool {
        self.by_name.contains_key(channel)
    }

    /// Names of every subscribed channel.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// Number of subscribed channels.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether no channel is subscribed.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Hand `message` to every stream of `channel`; returns how many took it.
    pub fn broadcast(&self, channel: &str, message: &BusMessage) -> u64 {
        self.by_name
            .get(channel)
            .map_or(0, |subscribed| push_all(subscribed, message))
    }

    /// Deliver `event` at `position` unless it is at or before the cursor, which it then becomes.
    ///
    /// Returns how many streams received it; `None` when it was a duplicate or the channel
    /// is not subscribed. An event without a position is always delivered.
    pub fn deliver_at(&mut self, channel: &str, position: Option<P>, event: Arc<Event>) -> Option<u64> {
        let subscribed = self.by_name.get_mut(channel)?;
        if let Some(position) = position {
            if subscribed
                .cursor
                .as_ref()
                .is_some_and(|cursor| position <= *cursor)
            {
                return None;
            }
            subscribed.cursor = Some(position);
        }
        Some(push_all(subscribed, &BusMessage::Event(event)))
    }

    /// Move the cursor up to `position` without delivering (past an entry that is not a
    /// valid event), so the next replay starts after it.
    pub fn skip_to(&mut self, channel: &str, position: P) {
        if let Some(subscribed) = self.by_name.get_mut(channel) {
            if subscribed.cursor.as_ref().is_none_or(|cursor| position > *cursor) {
                subscribed.cursor = Some(position);
            }
        }
    }

    /// End the channel's replay hold and tell its streams that events may be missing.
    pub fn signal_gap(&mut self, channel: &str) {
        if let Some(subscribed) = self.by_name.get_mut(channel) {
            subscribed.pending_replay = false;
            push_all(
                subscribed,
                &BusMessage::Gap {
                    channel: channel.to_owned(),
                },
            );
        }
    }

    /// Close every stream (the bus is shutting down).
    pub fn close_all(&mut self) {
        for subscribed in self.by_name.values() {
            close(subscribed);
        }
        self.by_name.clear();
    }
}

fn push_all<P>(subscribed: &SubscribedChannel<P>, message: &BusMessage) -> u64 {
    subscribed
        .streams
        .iter()
        .filter(|(_, mailbox)| mailbox.push(message.clone()).is_ok())
        .count() as u64
}

fn close<P>(subscribed: &SubscribedChannel<P>) {
    for (_, mailbox) in &subscribed.streams {
        mailbox.close();
    }
}

/// The stream of one `subscribe` call, reading a mailbox of [`ChannelStreams`].
///
/// Dropping it runs the clean-up the bus gave it (typically: remove the stream, and
/// unsubscribe on the server after the channel's last).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use futures_lite::StreamExt;
/// use subcast_core::bus_channels::{ChannelStream, ChannelStreams};
/// use subcast_core::{BusMessage, Event};
///
/// let mut channels = ChannelStreams::<u64>::default();
/// let (_, mailbox, _) = channels.insert("users");
/// let dropped = Arc::new(AtomicBool::new(false));
/// let flag = dropped.clone();
/// let mut stream = ChannelStream::new(mailbox, Box::new(move || flag.store(true, Ordering::SeqCst)));
/// channels.deliver_at("users", None, Arc::new(Event::new("t", "users", serde_json::json!({}))));
/// let message = futures_lite::future::block_on(stream.next());
/// assert!(matches!(message, Some(BusMessage::Event(_))));
/// drop(stream);
/// assert!(dropped.load(Ordering::SeqCst));
/// ```
pub struct ChannelStream {
    mailbox: Arc<Mailbox<BusMessage>>,
    listener: Option<EventListener>,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
}

impl ChannelStream {
    /// A stream over `mailbox` that runs `on_drop` when dropped.
    pub fn new(mailbox: Arc<Mailbox<BusMessage>>, on_drop: Box<dyn FnOnce() + Send>) -> Self {
        ChannelStream {
            mailbox,
            listener: None,
            on_drop: Some(on_drop),
        }
    }
}

impl fmt::Debug for ChannelStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelStream")
            .field("queued", &self.mailbox.len())
            .finish()
    }
}

impl Stream for ChannelStream {
    type Item = BusMessage;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BusMessage>> {
        let this = self.get_mut();
        this.mailbox.poll_recv(cx, &mut this.listener)
    }
}

impl Drop for ChannelStream {
    fn drop(&mut self) {
        if let Some(on_drop) = self.on_drop.take() {
            on_drop();
        }
    }
}

/// The counters a networked bus keeps, read as [`BusStats`].
///
/// # Examples
///
/// ```
/// use subcast_core::bus_channels::BusCounters;
///
/// let counters = BusCounters::default();
/// counters.count_publish(&Ok::<(), ()>(()));
/// counters.count_publish(&Err::<(), ()>(()));
/// counters.add_received(3);
/// let stats = counters.stats(1);
/// assert_eq!((stats.published, stats.publish_errors, stats.received), (1, 1, 3));
/// assert_eq!(stats.subscribed_channels, 1);
/// ```
#[derive(Debug, Default)]
pub struct BusCounters {
    published: AtomicU64,
    received: AtomicU64,
    publish_errors: AtomicU64,
    invalid_messages: AtomicU64,
    reconnects: AtomicU64,
}

impl BusCounters {
    /// Count a publish as done or failed, by its result.
    pub fn count_publish<T, E>(&self, result: &Result<T, E>) {
        let counter = match result {
            Ok(_) => &self.published,
            Err(_) => &self.publish_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Count `messages` handed to local streams.
    pub fn add_received(&self, messages: u64) {
        self.received.fetch_add(messages, Ordering::Relaxed);
    }

    /// Count one message skipped because it was not a valid event.
    pub fn add_invalid(&self) {
        self.invalid_messages.fetch_add(1, Ordering::Relaxed);
    }

    /// Count one reconnection to the server.
    pub fn add_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now, with the number of channels the bus handle is subscribed to.
    pub fn stats(&self, subscribed_channels: usize) -> BusStats {
        BusStats {
            published: self.published.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            publish_errors: self.publish_errors.load(Ordering::Relaxed),
            invalid_messages: self.invalid_messages.load(Ordering::Relaxed),
            subscribed_channels,
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }
}

/// `event`, if it names the `channel` it arrived on; else why it is refused.
///
/// A message carries its channel twice (in the server's channel and in the event); a bus
/// delivers it only when they agree.
///
/// # Examples
///
/// ```
/// use subcast_core::bus_channels::ensure_channel;
/// use subcast_core::Event;
///
/// let event = Event::new("t", "users", serde_json::json!({}));
/// assert!(ensure_channel("users", event.clone()).is_ok());
/// assert!(ensure_channel("posts", event).is_err());
/// ```
pub fn ensure_channel(channel: &str, event: Event) -> Result<Event, String> {
    if event.channel == channel {
        Ok(event)
    } else {
        Err(format!(
            "the event names channel {:?} but arrived on {channel:?}",
            event.channel
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Arc<Event> {
        Arc::new(Event::new("t", "c", json!({})))
    }

    #[test]
    fn events_at_or_before_the_cursor_are_duplicates() {
        let mut channels = ChannelStreams::<u64>::default();
        let (_, mailbox, first) = channels.insert("c");
        assert_eq!(first, Inserted::First);
        assert_eq!(channels.deliver_at("c", Some(5), event()), Some(1));
        assert_eq!(channels.deliver_at("c", Some(5), event()), None);
        assert_eq!(channels.deliver_at("c", Some(4), event()), None);
        assert_eq!(channels.deliver_at("c", Some(6), event()), Some(1));
        assert_eq!(channels.deliver_at("c", None, event()), Some(1));
        assert_eq!(mailbox.len(), 3);
    }

    #[test]
    fn the_last_stream_leaving_removes_the_channel() {
        let mut channels = ChannelStreams::<u64>::default();
        let (a, _, _) = channels.insert("c");
        let (b, _, joined) = channels.insert("c");
        assert_eq!(joined, Inserted::Joined);
        assert!(!channels.remove_stream("c", a));
        assert!(channels.remove_stream("c", b));
        assert!(channels.is_empty());
    }

    #[test]
    fn skipping_never_moves_the_cursor_back() {
        let mut channels = ChannelStreams::<u64>::default();
        let (_, mailbox, _) = channels.insert("c");
        channels.skip_to("c", 5);
        channels.skip_to("c", 3);
        assert_eq!(channels.get_mut("c").unwrap().cursor, Some(5));
        assert_eq!(channels.deliver_at("c", Some(5), event()), None);
        assert!(mailbox.is_empty());
    }

    #[test]
    fn a_gap_reaches_every_stream_and_ends_the_replay_hold() {
        let mut channels = ChannelStreams::<u64>::default();
        let (_, first, _) = channels.insert("c");
        let (_, second, _) = channels.insert("c");
        channels.get_mut("c").unwrap().pending_replay = true;
        channels.signal_gap("c");
        assert!(!channels.get_mut("c").unwrap().pending_replay);
        for mailbox in [first, second] {
            assert!(matches!(mailbox.try_pop(), Some(BusMessage::Gap { channel }) if channel == "c"));
        }
    }

    #[test]
    fn removing_a_channel_ends_its_streams() {
        let mut channels = ChannelStreams::<u64>::default();
        let (_, mailbox, _) = channels.insert("c");
        assert!(channels.remove_channel("c"));
        assert!(mailbox.is_closed());
        assert!(!channels.remove_channel("c"));
    }
}
