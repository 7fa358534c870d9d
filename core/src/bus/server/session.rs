//! [`BusSession`]: the part of a networked bus that speaks to its server, and the types it
//! exchanges with the [`ServerBus`](super::ServerBus) skeleton around it.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::backoff::Backoff;
use super::{Note, Notes, Shared};
use crate::bus::LogPosition;
use crate::error::Result;
use crate::event::Event;

/// One server's protocol, as a [`ServerBus`](crate::backend::ServerBus) needs it.
///
/// The skeleton calls these methods with a timeout around each, from one task at a time
/// per connection, and keeps everything else: channels and their reference counts, local
/// streams and their bounds, the order of subscribe and unsubscribe, reconnecting with
/// [`Backoff`], and replaying (or announcing a gap) after a reconnection or an overflow.
///
/// The replay methods ([`position`](Self::position), [`replay`](Self::replay),
/// [`fetch`](Self::fetch)) are only called when [`replays`](Self::replays) says so; their
/// defaults serve a bus without history.
///
/// The [`backend`](crate::backend) module docs show a complete implementation.
#[async_trait]
pub trait BusSession: Send + Sync + Sized + 'static {
    /// One open connection, cheap to clone (a handle on the socket's driver).
    type Connection: Clone + Send + Sync + 'static;
    /// Where an event sits in the server's history (a stream entry id, an outbox row id);
    /// positions only grow. `()` for a bus without history.
    type Position: Ord + Clone + Send + Sync + Debug + 'static;

    /// Names the bus in errors and logs ("Redis bus").
    const NAME: &'static str;

    /// Whether the server keeps the history [`replay`](Self::replay) reads. Without it, a
    /// reconnection or an overflow is announced as a [`BusMessage::Gap`](crate::BusMessage::Gap).
    fn replays(&self) -> bool;

    /// The server's name of `channel` (what [`subscribe`](Self::subscribe) and
    /// [`Inbox::message`] use). Two channels with one server name are refused.
    fn server_channel(&self, channel: &str) -> String;

    /// Open a connection. Hand every message it receives to `inbox` without waiting, and
    /// call [`Inbox::ended`] once when it ends: the bus then reconnects.
    async fn connect(&self, inbox: Inbox) -> Result<Self::Connection>;

    /// Subscribe `connection` to `server_channels` (one on a first stream, every channel
    /// after a reconnection).
    async fn subscribe(&self, connection: &Self::Connection, server_channels: &[String]) -> Result<()>;

    /// Unsubscribe `connection` from `server_channel`.
    async fn unsubscribe(&self, connection: &Self::Connection, server_channel: &str) -> Result<()>;

    /// Send `event` to every node; `current` gives the receiving connection to a bus that
    /// publishes on it. With replay, return the position the server's history gave it
    /// (local subscribers' frames carry it as their cursor).
    async fn publish(&self, current: Current<'_, Self>, event: &Event) -> Result<Option<Self::Position>>;

    /// Check that the server answers; `connection` is `None` while reconnecting.
    async fn health_check(&self, connection: Option<Self::Connection>) -> Result<()>;

    /// `position` as a client's [`Cursor`](crate::Cursor) holds it, for a bus with replay.
    ///
    /// The default has none: frames carry no cursor.
    fn log_position(&self, position: &Self::Position) -> Option<LogPosition> {
        let _ = position;
        None
    }

    /// The position a client's cursor names, if it is one this bus can have written.
    fn position_of(&self, position: LogPosition) -> Option<Self::Position> {
        let _ = position;
        None
    }

    /// Split a message's payload into the event and its position.
    ///
    /// The default reads the payload as the event's wire form, without a position.
    fn parse<'a>(&self, payload: &'a [u8]) -> std::result::Result<Received<'a, Self::Position>, String> {
        Ok(Received::Event(None, payload))
    }

    /// With replay: the newest position of `channel` now. Called before subscribing a
    /// channel, so that everything after it arrives live or through the replay that follows.
    async fn position(&self, connection: &Self::Connection, channel: &str) -> Result<Self::Position> {
        let _ = (connection, channel);
        Err(crate::Error::bus_message(
            Self::NAME,
            format!("{} keeps no history", Self::NAME),
        ))
    }

    /// With replay: at most `limit` entries of `channel` after `after` (`None`: from the start).
    async fn replay(
        &self,
        connection: &Self::Connection,
        channel: &str,
        after: Option<&Self::Position>,
        limit: usize,
    ) -> std::result::Result<ReplayPage<Self::Position>, ReplayError> {
        let _ = (connection, channel, after, limit);
        Err(ReplayError::Failed(format!("{} keeps no history", Self::NAME)))
    }

    /// The event at `position` of `channel`, for a message that carried only its position.
    async fn fetch(
        &self,
        connection: &Self::Connection,
        channel: &str,
        position: &Self::Position,
    ) -> Result<Fetched> {
        let _ = (connection, channel, position);
        Ok(Fetched::Invalid("a message without its event".to_owned()))
    }
}

/// Where a connection hands what it receives; given to [`BusSession::connect`].
#[derive(Debug, Clone)]
pub struct Inbox {
    pub(super) notes: Arc<Notes>,
    pub(super) generation: u64,
}

impl Inbox {
    /// Queue a message received on `server_channel`; never waits. What the bus's bounded
    /// queue cannot take is counted and made good (replayed, or announced as a gap).
    pub fn message(&self, server_channel: String, payload: Vec<u8>) {
        self.notes.push_or_lose(Note::Message(server_channel, payload));
    }

    /// Report that the connection has ended.
    pub fn ended(&self) {
        // Unbounded: one per connection, and never lost.
        let _ = self.notes.push_unbounded(Note::Closed(self.generation));
    }
}

/// The bus's current connection, for [`BusSession::publish`].
pub struct Current<'a, S: BusSession> {
    pub(super) shared: &'a Shared<S>,
}

impl<S: BusSession> Current<'_, S> {
    /// The current connection, waiting while the bus reconnects (up to its timeout).
    pub async fn connection(&self) -> Result<S::Connection> {
        self.shared.connection().await
    }
}

impl<S: BusSession> Debug for Current<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Current")
    }
}

/// What a message's payload holds, as [`BusSession::parse`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received<'a, P> {
    /// The event's wire form, at its position (`None`: never taken for a duplicate).
    Event(Option<P>, &'a [u8]),
    /// Only the position of an event too large for a message: read with [`BusSession::fetch`].
    Position(P),
}

/// What [`BusSession::fetch`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The event's wire form.
    Event(Vec<u8>),
    /// Deleted since: the channel is replayed, which announces the gap.
    Gone,
    /// Not an event of this channel: skipped and counted as invalid.
    Invalid(String),
}

/// One page of a channel's history, read by [`BusSession::replay`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayPage<P> {
    /// Entries the server returned (markers included): fewer than the limit means caught up.
    pub read: usize,
    /// What the page holds, in order.
    pub entries: Vec<Replayed<P>>,
}

/// One entry of a [`ReplayPage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed<P> {
    /// An event's wire form at its position.
    Event(P, Vec<u8>),
    /// An entry that is not a valid event: skipped, counted, and the cursor moves past it.
    Invalid(P, String),
    /// Events were lost (trimmed, cleaned up): announced as a gap of unknown size; with a
    /// position, the cursor moves up to it.
    Lost(Option<P>),
    /// The server's history ends before the cursor (it lost commits): the cursor moves back
    /// to this position and a gap is announced.
    Rewind(P),
}

/// Why [`BusSession::replay`] read nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayError {
    /// The connection is gone: the reconnection replays the channel.
    Disconnected,
    /// Any other failure: the channel's streams receive a gap.
    Failed(String),
}

/// The settings every networked bus shares, given to [`ServerBus::connect`](super::ServerBus::connect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSettings {
    /// Longest wait for connecting or for one operation of the session.
    pub timeout: Duration,
    /// Delays between reconnection attempts.
    pub reconnect: Backoff,
    /// Server messages that may wait for the bus's processing task.
    pub received_capacity: usize,
    /// Messages each local stream holds.
    pub stream_capacity: usize,
}

impl ServerSettings {
    /// What is wrong with these settings, as (field, rule), if anything: the timeout and the
    /// buffers must be positive, the backoff as [`Backoff::problem`] says.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use subcast_core::backend::ServerSettings;
    /// use subcast_core::Backoff;
    ///
    /// let settings = ServerSettings {
    ///     timeout: Duration::from_secs(5),
    ///     reconnect: Backoff::default(),
    ///     received_capacity: 0,
    ///     stream_capacity: 16,
    /// };
    /// assert_eq!(settings.problem(), Some(("received_capacity".to_owned(), "must be at least 1")));
    /// ```
    pub fn problem(&self) -> Option<(String, &'static str)> {
        if self.timeout.is_zero() {
            return Some(("timeout".to_owned(), "must be positive"));
        }
        if let Some((field, rule)) = self.reconnect.problem() {
            return Some((format!("reconnect.{field}"), rule));
        }
        if self.received_capacity == 0 {
            return Some(("received_capacity".to_owned(), "must be at least 1"));
        }
        if self.stream_capacity == 0 {
            return Some(("stream_capacity".to_owned(), "must be at least 1"));
        }
        None
    }
}
