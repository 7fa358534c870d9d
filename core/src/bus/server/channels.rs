//! The node side of a networked bus: one server connection, demultiplexed to local streams.
//!
//! A bus over a server (Redis, PostgreSQL, …) holds one server-side subscription per
//! channel however many local streams listen on it, and hands each message it receives to
//! every stream of the message's channel. This module is that bookkeeping, shared by every
//! such bus and free of any runtime or socket:
//!
//! - [`ChannelStreams`]: every channel a bus handle is subscribed to, keyed by name, with
//!   its local streams' bounded mailboxes and its replay position (dedupe and gap detection).
//! - [`Overflow`]: what a full local stream means: drop and announce the loss with its
//!   count (a bus without replay), or stop delivering the channel and read it again from
//!   the server by its cursor once the stream has room (a bus with replay).
//! - [`Delivery`]: what became of one event handed to a channel.
//! - [`SubscribedChannel`]: one such channel's replay position and replay hold.
//! - [`Inserted`]: whether a new stream is its channel's first (the server side must
//!   subscribe) or joins a channel already subscribed.
//! - [`StreamReceiver`] / [`ChannelStream`]: the receiving end of one stream, and the
//!   [`EventStream`](crate::EventStream) a bus's `subscribe` returns; dropping it runs the
//!   bus's clean-up.
//! - [`BusCounters`]: the live counters behind [`EventBus::stats`](crate::EventBus::stats).
//! - [`ensure_channel`]: refuse an event that arrived on another channel than it names.
//!
//! Memory: each local stream holds at most its capacity of messages
//! ([`DEFAULT_STREAM_CAPACITY`] by default), whatever
//! the consumer does; a replay reads at most the room its streams have.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::bus::{BusMessage, Pushed, DEFAULT_STREAM_CAPACITY};
use crate::event::Event;

use super::stream::{resume_level, ReplayRequest, Resume, StreamMailbox, StreamReceiver};

/// Most events one replay step reads, however much room its streams have: replies stay
/// small and a huge capacity never becomes a count the server refuses.
pub const MAX_REPLAY_PAGE: usize = 1024;

/// What a bus does when a local stream of a channel is full.
#[derive(Clone)]
pub enum Overflow {
    /// Drop what does not fit; the stream's consumer then receives one
    /// [`BusMessage::Gap`] with the number dropped. For a bus without replay.
    Announce,
    /// Stop delivering the channel (its cursor stays at the last event delivered) and call
    /// the request once the full stream is down to half its capacity, so the bus reads
    /// the channel again from its cursor. For a bus with replay: nothing is lost.
    Replay(ReplayRequest),
}

impl fmt::Debug for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Overflow::Announce => "Announce",
            Overflow::Replay(_) => "Replay",
        })
    }
}

/// One local stream as its channel sees it.
#[derive(Debug)]
struct Slot {
    id: u64,
    mailbox: Arc<StreamMailbox>,
    /// Set when the channel fell behind on this stream: its consumer asks for the replay.
    waiting: Arc<AtomicBool>,
}

/// One channel a bus handle is subscribed to on the server.
///
/// `P` is the bus's replay position: a stream entry id, an outbox row id.
#[derive(Debug)]
pub struct SubscribedChannel<P> {
    /// The local streams of the channel.
    streams: Vec<Slot>,
    /// Position of the last event delivered (or the position at subscription), for replay.
    pub cursor: Option<P>,
    /// Live messages are dropped until the pending replay, which will include them, runs.
    pub pending_replay: bool,
    /// A replay is queued and has not started yet.
    replay_requested: Arc<AtomicBool>,
}

impl<P> SubscribedChannel<P> {
    fn room(&self) -> usize {
        self.streams
            .iter()
            .map(|slot| slot.mailbox.room_left())
            .min()
            .unwrap_or(0)
    }
}

/// What [`ChannelStreams::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The channel was new: the server side must be subscribed.
    First,
    /// Another local stream already listens on the channel.
    Joined,
}

/// What became of an event handed to [`ChannelStreams::deliver_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued to this many streams (with [`Overflow::Announce`], full streams counted it
    /// as lost instead).
    Delivered(u64),
    /// At or before the channel's cursor: delivered already.
    Duplicate,
    /// A stream was full ([`Overflow::Replay`]): not delivered, the cursor stays, and the
    /// channel is replayed from it once there is room.
    Behind,
    /// The channel is not subscribed.
    Unsubscribed,
}

/// Where a replay starts: returned by [`ChannelStreams::begin_replay`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayStart<P> {
    /// Replay what comes after this position (`None`: the bus's start).
    pub cursor: Option<P>,
    /// Read at most this many events: what every stream of the channel can take now, at
    /// most [`MAX_REPLAY_PAGE`].
    pub room: usize,
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
/// use subcast_core::backend::{ChannelStreams, Delivery, Inserted, Overflow};
/// use subcast_core::Event;
///
/// let mut channels = ChannelStreams::<u64>::new(16, Overflow::Announce);
/// let (_, receiver, inserted) = channels.insert("users");
/// assert_eq!(inserted, Inserted::First);
/// let event = Arc::new(Event::new("userCreated", "users", serde_json::json!({})));
/// assert_eq!(channels.deliver_at("users", Some(7), event.clone()), Delivery::Delivered(1));
/// // Position 7 again (say, from a replay): a duplicate, not delivered.
/// assert_eq!(channels.deliver_at("users", Some(7), event), Delivery::Duplicate);
/// assert_eq!(receiver.len(), 1);
/// ```
#[derive(Debug)]
pub struct ChannelStreams<P> {
    by_name: HashMap<String, SubscribedChannel<P>>,
    next_id: u64,
    capacity: usize,
    overflow: Overflow,
    /// Events not queued to a full stream.
    dropped: u64,
    /// The peak of streams that have ended.
    retired_peak: usize,
}

impl<P> Default for ChannelStreams<P> {
    fn default() -> Self {
        ChannelStreams::new(DEFAULT_STREAM_CAPACITY, Overflow::Announce)
    }
}

impl<P> ChannelStreams<P> {
    /// No channel yet; each stream will hold at most `capacity` messages (at least 1), and
    /// `overflow` says what a full one means.
    pub fn new(capacity: usize, overflow: Overflow) -> Self {
        ChannelStreams {
            by_name: HashMap::new(),
            next_id: 0,
            capacity: capacity.max(1),
            overflow,
            dropped: 0,
            retired_peak: 0,
        }
    }
}

impl<P: Ord + Clone> ChannelStreams<P> {
    /// Add a stream to `channel`; returns its id, its receiving end and whether it is the first.
    pub fn insert(&mut self, channel: &str) -> (u64, StreamReceiver, Inserted) {
        let id = self.next_id;
        self.next_id += 1;
        let mailbox = Arc::new(StreamMailbox::new(self.capacity));
        let waiting = Arc::new(AtomicBool::new(false));
        let slot = Slot {
            id,
            mailbox: mailbox.clone(),
            waiting: waiting.clone(),
        };
        let (inserted, requested) = match self.by_name.get_mut(channel) {
            Some(subscribed) => {
                subscribed.streams.push(slot);
                (Inserted::Joined, subscribed.replay_requested.clone())
            }
            None => {
                let requested = Arc::new(AtomicBool::new(false));
                self.by_name.insert(
                    channel.to_owned(),
                    SubscribedChannel {
                        streams: vec![slot],
                        cursor: None,
                        pending_replay: false,
                        replay_requested: requested.clone(),
                    },
                );
                (Inserted::First, requested)
            }
        };
        let resume = match &self.overflow {
            Overflow::Announce => None,
            Overflow::Replay(request) => Some(Resume {
                channel: channel.to_owned(),
                waiting,
                requested,
                request: request.clone(),
            }),
        };
        (id, StreamReceiver { mailbox, resume }, inserted)
    }

    /// Remove one stream; `true` when the channel has no stream left (and is gone).
    pub fn remove_stream(&mut self, channel: &str, id: u64) -> bool {
        let Some(subscribed) = self.by_name.get_mut(channel) else {
            return false;
        };
        let mut retired = 0;
        subscribed.streams.retain(|slot| {
            if slot.id == id {
                retired = slot.mailbox.peak();
            }
            slot.id != id
        });
        self.retired_peak = self.retired_peak.max(retired);
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
                self.retire(&subscribed);
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

    /// Events not queued because a stream was full (announced, or left to a replay).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The most messages one stream has held at once.
    pub fn peak(&self) -> usize {
        self.by_name
            .values()
            .flat_map(|subscribed| &subscribed.streams)
            .map(|slot| slot.mailbox.peak())
            .fold(self.retired_peak, usize::max)
    }

    /// Deliver `event` at `position` unless it is at or before the cursor, which it then
    /// becomes. An event without a position is never a duplicate.
    pub fn deliver_at(&mut self, channel: &str, position: Option<P>, event: Arc<Event>) -> Delivery {
        let replay = matches!(self.overflow, Overflow::Replay(_));
        let Some(subscribed) = self.by_name.get_mut(channel) else {
            return Delivery::Unsubscribed;
        };
        if let Some(position) = &position {
            if subscribed
                .cursor
                .as_ref()
                .is_some_and(|cursor| position <= cursor)
            {
                return Delivery::Duplicate;
            }
        }
        if replay && subscribed.room() == 0 {
            self.dropped += 1;
            self.fall_behind(channel);
            return Delivery::Behind;
        }
        if let Some(position) = position {
            subscribed.cursor = Some(position);
        }
        let mut queued = 0;
        for slot in &subscribed.streams {
            match slot.mailbox.push_or_lose(BusMessage::Event(event.clone())) {
                Pushed::Queued => queued += 1,
                Pushed::Lost => self.dropped += 1,
                Pushed::Closed => {}
            }
        }
        Delivery::Delivered(queued)
    }

    /// Move the cursor up to `position` without delivering (past an entry that is not a
    /// valid event, or past events known to be gone), so the next replay starts after it.
    pub fn skip_to(&mut self, channel: &str, position: P) {
        if let Some(subscribed) = self.by_name.get_mut(channel) {
            if subscribed.cursor.as_ref().is_none_or(|cursor| position > *cursor) {
                subscribed.cursor = Some(position);
            }
        }
    }

    /// Tell the channel's streams that events were lost: `missed` of them, or an unknown
    /// number with `None`. A stream too full to take the notice reports it when it can.
    pub fn signal_gap(&mut self, channel: &str, missed: Option<u64>) {
        if let Some(subscribed) = self.by_name.get_mut(channel) {
            let gap = BusMessage::Gap {
                channel: channel.to_owned(),
                missed,
            };
            for slot in &subscribed.streams {
                slot.mailbox.push_or_lose(gap.clone());
            }
        }
    }

    /// Hold the channel's live messages back and have it replayed from its cursor
    /// ([`Overflow::Replay`] only); one request is queued at a time.
    pub fn request_replay(&mut self, channel: &str) {
        let Overflow::Replay(request) = &self.overflow else {
            return;
        };
        if let Some(subscribed) = self.by_name.get_mut(channel) {
            subscribed.pending_replay = true;
            if !subscribed.replay_requested.swap(true, Ordering::SeqCst) {
                request(channel);
            }
        }
    }

    /// Start a requested replay: where to read from and how much the streams can take.
    ///
    /// `None` when there is nothing to do now: the channel is gone, or a stream is full
    /// (the replay is requested again once it has room).
    pub fn begin_replay(&mut self, channel: &str) -> Option<ReplayStart<P>> {
        let subscribed = self.by_name.get_mut(channel)?;
        subscribed.replay_requested.store(false, Ordering::SeqCst);
        subscribed.pending_replay = true;
        let room = subscribed.room().min(MAX_REPLAY_PAGE);
        let cursor = subscribed.cursor.clone();
        if room == 0 {
            self.fall_behind(channel);
            return None;
        }
        Some(ReplayStart { cursor, room })
    }

    /// End a replay step: with `caught_up` (the server had fewer events than asked for and
    /// none was held back), live messages flow again; else the next step is requested.
    pub fn end_replay(&mut self, channel: &str, caught_up: bool) {
        let Some(subscribed) = self.by_name.get_mut(channel) else {
            return;
        };
        if caught_up {
            subscribed.pending_replay = false;
        } else if subscribed
            .streams
            .iter()
            .all(|slot| !slot.waiting.load(Ordering::SeqCst))
        {
            self.request_replay(channel);
        }
    }

    /// A stream is full: hold the channel until each full stream is down to half.
    fn fall_behind(&mut self, channel: &str) {
        let Some(subscribed) = self.by_name.get_mut(channel) else {
            return;
        };
        subscribed.pending_replay = true;
        let mut waiting_on = 0;
        for slot in &subscribed.streams {
            let level = resume_level(slot.mailbox.capacity());
            if slot.mailbox.len() <= level {
                continue;
            }
            slot.waiting.store(true, Ordering::SeqCst);
            // Its consumer may have drained it before it could see the flag; the swap
            // makes sure that exactly one of us asks for the replay.
            if slot.mailbox.len() <= level && slot.waiting.swap(false, Ordering::SeqCst) {
                continue;
            }
            waiting_on += 1;
        }
        if waiting_on == 0 {
            // Every stream has room again: nobody else will ask.
            self.request_replay(channel);
        }
    }

    /// Close every stream (the bus is shutting down).
    pub fn close_all(&mut self) {
        for (_, subscribed) in std::mem::take(&mut self.by_name) {
            self.retire(&subscribed);
        }
    }

    fn retire(&mut self, subscribed: &SubscribedChannel<P>) {
        for slot in &subscribed.streams {
            slot.mailbox.close();
            self.retired_peak = self.retired_peak.max(slot.mailbox.peak());
        }
    }
}

#[cfg(test)]
mod tests;
