//! What only a bus implementer needs: the mechanisms a networked bus shares, the bounded
//! mailboxes between a bus and its readers, and a dispatch prepared once and split for
//! several workers.
//!
//! - [`ChannelStreams`] and friends: per-node channels, local streams, replay positions.
//! - [`BusCounters`]: the counters behind [`BusStats`](crate::BusStats).
//! - [`BoundedMailbox`], [`Losses`], [`StreamLosses`]: bounded buffers that announce losses.
//! - [`Mailbox`]: an unbounded queue with the check–listen–check wait.
//! - [`within`]: a future bounded in time on a [`Runtime`](crate::Runtime).
//! - [`PreparedDispatch`] / [`DispatchChunk`]: a dispatch resolved once, its fan-out split.
//! - [`ServerBus`] and [`BusSession`]: the skeleton every bus over a server shares.
//!
//! # The networked-bus skeleton
//!
//! The skeleton every bus over a server shares; a backend supplies only its session.
//!
//! - [`ServerBus`]: an [`EventBus`](crate::EventBus) over any [`BusSession`]. It keeps one server-side
//!   subscription per channel however many local streams listen on it (subscribed with the
//!   first stream, unsubscribed after the last), bounded local streams, one processing task
//!   that handles in order everything the connection receives, reconnection with
//!   [`Backoff`](crate::Backoff), and, after a reconnection or an overflow, a replay from each channel's
//!   cursor (a bus with history) or a [`BusMessage::Gap`](crate::BusMessage::Gap) (one
//!   without).
//! - [`BusSession`]: the small part that differs per server: connect, subscribe,
//!   unsubscribe, publish, and for a bus with history, read a page after a cursor.
//! - [`Inbox`], [`Current`], [`Received`], [`Fetched`], [`ReplayPage`], [`Replayed`],
//!   [`ReplayError`]: what the two exchange. [`ServerSettings`] and [`Backoff`](crate::Backoff): the
//!   settings every such bus has.
//! - Resume from a client's cursor: a session with replay converts its positions to and
//!   from a client's [`LogPosition`](crate::LogPosition) ([`BusSession::log_position`],
//!   [`BusSession::position_of`]) and returns the position of what it publishes; the
//!   skeleton then sets [`Event::position`](crate::Event::position) on every event it
//!   delivers, and answers [`EventBus::history`](crate::EventBus::history) with its
//!   [`replay`](BusSession::replay) pages.
//! - [`ChannelStreams`]: the bookkeeping underneath (channels, local streams, cursors, counters).
//! - `task.rs`: the processing task (messages, overflows, replays, reconnection).
//!
//! Back-pressure: the session hands what it receives to an [`Inbox`] that never waits, so
//! the connection is always read; what the bus's bounded queue
//! ([`ServerSettings::received_capacity`]) or a full local stream
//! ([`ServerSettings::stream_capacity`]) cannot take is made good: replayed from the
//! server by cursor, in pages no larger than the streams' room, or announced with its count.
//!
//! # Examples
//!
//! A complete session, over a "server" that is a shared list of connections in memory:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use async_trait::async_trait;
//! use futures_lite::StreamExt;
//! use subcast_core::backend::{BusSession, Current, Inbox, ServerBus, ServerSettings};
//! use subcast_core::{BusMessage, Event, EventBus, Result};
//! # use std::time::Duration;
//! # use subcast_core::{BoxFuture, Runtime};
//! # #[derive(Debug)]
//! # struct ThreadPerTask;
//! # impl Runtime for ThreadPerTask {
//! #     fn spawn(&self, future: BoxFuture<'static, ()>) {
//! #         std::thread::spawn(move || futures_lite::future::block_on(future));
//! #     }
//! #     fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
//! #         Box::pin(async move { std::thread::sleep(duration) })
//! #     }
//! #     fn now(&self) -> std::time::Instant { std::time::Instant::now() }
//! # }
//!
//! /// Every connection of every node: its inbox and the channels it listens on.
//! type Server = Arc<Mutex<Vec<(Inbox, Vec<String>)>>>;
//!
//! struct LoopbackSession(Server);
//!
//! #[async_trait]
//! impl BusSession for LoopbackSession {
//!     type Connection = usize; // an index into the server's list
//!     type Position = ();
//!     const NAME: &'static str = "loopback bus";
//!
//!     fn replays(&self) -> bool { false }
//!     fn server_channel(&self, channel: &str) -> String { channel.to_owned() }
//!     async fn connect(&self, inbox: Inbox) -> Result<usize> {
//!         let mut server = self.0.lock().unwrap();
//!         server.push((inbox, Vec::new()));
//!         Ok(server.len() - 1)
//!     }
//!     async fn subscribe(&self, connection: &usize, channels: &[String]) -> Result<()> {
//!         self.0.lock().unwrap()[*connection].1.extend_from_slice(channels);
//!         Ok(())
//!     }
//!     async fn unsubscribe(&self, connection: &usize, channel: &str) -> Result<()> {
//!         self.0.lock().unwrap()[*connection].1.retain(|c| c != channel);
//!         Ok(())
//!     }
//!     async fn publish(&self, _current: Current<'_, Self>, event: &Event) -> Result<Option<()>> {
//!         for (inbox, channels) in self.0.lock().unwrap().iter() {
//!             if channels.contains(&event.channel) {
//!                 inbox.message(event.channel.clone(), event.to_wire());
//!             }
//!         }
//!         Ok(None) // no history, no position
//!     }
//!     async fn health_check(&self, _connection: Option<usize>) -> Result<()> { Ok(()) }
//! }
//!
//! futures_lite::future::block_on(async {
//!     let server = Server::default();
//!     let session = LoopbackSession(server.clone());
//!     let bus = ServerBus::connect(session, Arc::new(ThreadPerTask), ServerSettings::default()).await?;
//!     let mut stream = bus.subscribe("users").await?;
//!     bus.publish(Arc::new(Event::new("userCreated", "users", serde_json::json!({"id": 1})))).await?;
//!     assert!(matches!(stream.next().await, Some(BusMessage::Event(e)) if e.data["id"] == 1));
//!     Ok::<_, subcast_core::Error>(())
//! })
//! .unwrap();
//! ```
#[doc(hidden)]
pub use crate::bus::server::__async_trait;
pub use crate::bus::server::channels::{
    ChannelStreams, Delivery, Inserted, Overflow, ReplayStart, SubscribedChannel, MAX_REPLAY_PAGE,
};
pub use crate::bus::server::counters::{ensure_channel, BusCounters};
pub use crate::bus::server::stream::{ChannelStream, ReplayRequest, StreamMailbox, StreamReceiver};
pub use crate::bus::{
    BoundedMailbox, BusSession, Current, Fetched, Inbox, Losses, Pushed, Received, Refused, ReplayError,
    ReplayPage, Replayed, ServerBus, ServerSettings, StreamLosses, DEFAULT_RECEIVED_CAPACITY,
};
pub use crate::dispatch::{DispatchChunk, PreparedDispatch};
pub use crate::queue::{Mailbox, PopError};
pub use crate::runtime::within;
pub use crate::sync::{block_until, poll_until, until};

/// Give a networked bus's configuration the settings every such bus shares: the builder
/// methods `timeout`, `reconnect_backoff` and `buffers`, `settings()` for
/// [`ServerBus::connect`], and the checks its `validate` ends with.
///
/// The configuration must have the public fields `timeout: Duration`, `reconnect: Backoff`,
/// `received_capacity: usize` and `stream_capacity: usize`; they stay plain fields so that a
/// user reads and sets them like the bus's own. The invocation names the bus for errors, and
/// may add doc lines to `buffers` (what one buffered message weighs on that server).
///
/// Generated, besides the public builders:
///
/// - `pub fn settings(&self) -> ServerSettings`;
/// - `fn refuse(field, rule) -> Result<()>`: the error `invalid <Config>: <field> <rule>`;
/// - `fn validate_settings(&self) -> Result<()>`: refuses what [`ServerSettings::problem`]
///   finds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use subcast_core::{Backoff, Result};
///
/// /// Settings of a bus over an imaginary server.
/// #[derive(Debug, Clone)]
/// pub struct EchoConfig {
///     /// Longest wait for one operation.
///     pub timeout: Duration,
///     /// Delays between reconnection attempts.
///     pub reconnect: Backoff,
///     /// Messages waiting for the bus's task.
///     pub received_capacity: usize,
///     /// Messages each local stream holds.
///     pub stream_capacity: usize,
/// }
///
/// subcast_core::server_config!(EchoConfig, "echo");
///
/// impl EchoConfig {
///     /// Check every field.
///     pub fn validate(&self) -> Result<()> {
///         self.validate_settings()
///     }
/// }
///
/// let config = EchoConfig {
///     timeout: Duration::from_secs(1),
///     reconnect: Backoff::default(),
///     received_capacity: 16,
///     stream_capacity: 16,
/// };
/// let error = config.buffers(0, 16).validate().unwrap_err();
/// assert!(error.to_string().contains("invalid EchoConfig: received_capacity must be at least 1"));
/// ```
#[macro_export]
macro_rules! server_config {
    ($config:ident, $bus:literal $(, $(#[$buffers:meta])*)?) => {
        impl $config {
            /// Set the longest wait for connecting or for one operation.
            pub fn timeout(mut self, timeout: ::std::time::Duration) -> Self {
                self.timeout = timeout;
                self
            }

            /// Set the first and the longest delay between reconnection attempts.
            pub fn reconnect_backoff(mut self, min: ::std::time::Duration, max: ::std::time::Duration) -> Self {
                self.reconnect = $crate::Backoff::new(min, max);
                self
            }

            /// Bound the messages waiting for the bus's task (`received`) and the messages
            /// each local stream holds (`per_stream`).
            $($(#[$buffers])*)?
            pub fn buffers(mut self, received: usize, per_stream: usize) -> Self {
                self.received_capacity = received;
                self.stream_capacity = per_stream;
                self
            }

            /// The settings every networked bus shares, as this configuration sets them: what
            /// the [`ServerBus`](subcast_core::backend::ServerBus) skeleton takes.
            pub fn settings(&self) -> $crate::backend::ServerSettings {
                $crate::backend::ServerSettings {
                    timeout: self.timeout,
                    reconnect: self.reconnect,
                    received_capacity: self.received_capacity,
                    stream_capacity: self.stream_capacity,
                }
            }

            /// The error refusing this configuration because `field` breaks `rule`.
            fn refuse(field: &str, rule: &str) -> $crate::Result<()> {
                Err($crate::Error::bus_message(
                    $bus,
                    format!(concat!("invalid ", stringify!($config), ": {} {}"), field, rule),
                ))
            }

            /// Refuse the timeout, backoff or buffers if the shared settings' rules break.
            fn validate_settings(&self) -> $crate::Result<()> {
                match self.settings().problem() {
                    Some((field, rule)) => Self::refuse(&field, rule),
                    None => Ok(()),
                }
            }
        }
    };
}
