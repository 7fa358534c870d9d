//! The networked-bus skeleton; its documentation, with a complete session, is on the
//! public `subcast_core::backend` module.
mod backoff;
pub mod channels;
pub mod counters;
mod session;
pub mod stream;
mod task;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use async_trait::async_trait;

pub use backoff::Backoff;
use channels::{ChannelStreams, Inserted, Overflow};
use counters::BusCounters;
pub use session::{
    BusSession, Current, Fetched, Inbox, Received, ReplayError, ReplayPage, Replayed, ServerSettings,
};
use stream::{ChannelStream, ReplayRequest};

use super::{
    BoundedMailbox, BusStats, EventBus, EventStream, History, HistoryPage, LogPosition, Losses,
    DEFAULT_STREAM_CAPACITY,
};
use crate::error::{Error, Result};
use crate::event::{validate_channel, Event};
use crate::runtime::{within, Runtime};

/// Server messages that may wait for a bus's processing task, by default.
pub const DEFAULT_RECEIVED_CAPACITY: usize = 1024;

impl Default for ServerSettings {
    /// 5 s timeout, [`Backoff::default`], [`DEFAULT_RECEIVED_CAPACITY`] and
    /// [`DEFAULT_STREAM_CAPACITY`].
    fn default() -> Self {
        ServerSettings {
            timeout: std::time::Duration::from_secs(5),
            reconnect: Backoff::default(),
            received_capacity: DEFAULT_RECEIVED_CAPACITY,
            stream_capacity: DEFAULT_STREAM_CAPACITY,
        }
    }
}

/// An [`EventBus`] over a server, speaking to it through the session `S`.
///
/// One connection per handle (one handle per node). The connection's messages and its end
/// are handled in order by one task on the [`Runtime`] given to [`ServerBus::connect`];
/// because that task is the only one delivering, per-channel order is the order it handles
/// them in. The [`backend`](crate::backend) module docs show a complete session.
pub struct ServerBus<S: BusSession> {
    shared: Arc<Shared<S>>,
}

struct Shared<S: BusSession> {
    session: S,
    runtime: Arc<dyn Runtime>,
    settings: ServerSettings,
    state: Mutex<State<S>>,
    /// Everything the processing task handles, in arrival order.
    notes: Arc<Notes>,
    /// Held across subscribing and unsubscribing, so the server's channels follow ours.
    subscription: async_lock::Mutex<()>,
    /// Notified when a connection becomes available or the bus closes.
    connected: event_listener::Event,
    counters: BusCounters,
}

struct State<S: BusSession> {
    connection: Option<S::Connection>,
    /// Connections opened so far; the current one's number.
    generation: u64,
    channels: ChannelStreams<S::Position>,
    /// Server channel name → channel name, for every subscribed channel.
    by_server: HashMap<String, String>,
    closed: bool,
}

/// The processing task's bounded mailbox; only server messages are ever dropped.
type Notes = BoundedMailbox<Note, Overflowed>;

/// Work for the processing task.
#[derive(Debug)]
enum Note {
    /// A message: server channel and payload.
    Message(String, Vec<u8>),
    /// Messages the full mailbox dropped, by server channel.
    Dropped(HashMap<String, u64>),
    /// Replay a channel from its cursor (after its first subscription, a reconnection, a
    /// dropped message, or once a full stream has room).
    Replay(String),
    /// Connection number `n` has ended.
    Closed(u64),
}

/// Messages dropped by the processing task's full mailbox, by server channel.
#[derive(Debug, Default)]
struct Overflowed(HashMap<String, u64>);

impl Losses<Note> for Overflowed {
    fn add(&mut self, note: Note) {
        match note {
            Note::Message(channel, _) => *self.0.entry(channel).or_default() += 1,
            Note::Dropped(counts) => {
                for (channel, count) in counts {
                    *self.0.entry(channel).or_default() += count;
                }
            }
            // Pushed unbounded: never dropped.
            Note::Replay(_) | Note::Closed(_) => {}
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn take_notice(&mut self) -> Option<Note> {
        (!self.0.is_empty()).then(|| Note::Dropped(std::mem::take(&mut self.0)))
    }
}

impl<S: BusSession> ServerBus<S> {
    /// Connect through `session`, with background work on `runtime`.
    ///
    /// Fails on settings that [`ServerSettings::problem`] refuses, or when the first
    /// connection fails.
    pub async fn connect(session: S, runtime: Arc<dyn Runtime>, settings: ServerSettings) -> Result<Self> {
        if let Some((field, rule)) = settings.problem() {
            return Err(Error::bus_message(
                S::NAME,
                format!("invalid {} settings: {field} {rule}", S::NAME),
            ));
        }
        let notes = Arc::new(Notes::new(settings.received_capacity));
        let overflow = match session.replays() {
            true => {
                let notes = notes.clone();
                let request: ReplayRequest = Arc::new(move |channel: &str| {
                    let _ = notes.push_unbounded(Note::Replay(channel.to_owned()));
                });
                Overflow::Replay(request)
            }
            false => Overflow::Announce,
        };
        let state = State {
            connection: None,
            generation: 0,
            channels: ChannelStreams::new(settings.stream_capacity, overflow),
            by_server: HashMap::new(),
            closed: false,
        };
        let shared = Arc::new(Shared {
            session,
            runtime,
            settings,
            state: Mutex::new(state),
            notes,
            subscription: async_lock::Mutex::new(()),
            connected: event_listener::Event::new(),
            counters: BusCounters::default(),
        });
        let connection = shared.open().await?;
        shared.state().connection = Some(connection);
        let task = task::process(Arc::downgrade(&shared), shared.notes.clone());
        shared.runtime.spawn(Box::pin(task));
        Ok(ServerBus { shared })
    }

    /// The session this bus speaks through.
    pub fn session(&self) -> &S {
        &self.shared.session
    }

    /// The settings this bus was made with.
    pub fn settings(&self) -> &ServerSettings {
        &self.shared.settings
    }
}

impl<S: BusSession> fmt::Debug for ServerBus<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBus")
            .field("bus", &S::NAME)
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl<S: BusSession> Drop for ServerBus<S> {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.closed = true;
        state.connection = None;
        state.channels.close_all();
        drop(state);
        self.shared.notes.close();
        self.shared.connected.notify(usize::MAX);
    }
}

#[async_trait]
impl<S: BusSession> EventBus for ServerBus<S> {
    async fn publish(&self, event: Arc<Event>) -> Result<()> {
        self.publish_at(event).await.map(drop)
    }

    async fn publish_at(&self, event: Arc<Event>) -> Result<Option<LogPosition>> {
        // The checks every node's `Event::from_wire` applies: refused here, or readable there.
        event.validate_wire()?;
        let shared = &*self.shared;
        let publish = shared.session.publish(Current { shared }, &event);
        let result = shared.within("publish", publish).await;
        shared.counters.count_publish(&result);
        Ok(result?.and_then(|position| shared.session.log_position(&position)))
    }

    async fn history(&self, channel: &str, after: LogPosition, limit: usize) -> Result<History> {
        validate_channel(channel)?;
        let shared = &*self.shared;
        if !shared.session.replays() {
            return Ok(History::Unavailable);
        }
        let Some(cursor) = shared.session.position_of(after) else {
            return Err(Error::bus_message(
                S::NAME,
                format!("position {after} is not one the {} writes", S::NAME),
            ));
        };
        let connection = shared.connection().await?;
        let read = shared
            .session
            .replay(&connection, channel, Some(&cursor), limit.max(1));
        let page = match shared.within("history", async { Ok(read.await) }).await? {
            Ok(page) => page,
            Err(ReplayError::Disconnected) => {
                return Err(Error::bus_message(
                    S::NAME,
                    format!("the {} connection was lost while reading history", S::NAME),
                ))
            }
            Err(ReplayError::Failed(reason)) => {
                return Err(Error::bus_message(
                    S::NAME,
                    format!("reading the history of {channel:?} failed: {reason}"),
                ))
            }
        };
        Ok(History::Page(shared.history_page(channel, page, limit.max(1))))
    }

    async fn subscribe(&self, channel: &str) -> Result<EventStream> {
        validate_channel(channel)?;
        let shared = &self.shared;
        // Wait for a connection before taking the lock a reconnection needs.
        shared.connection().await?;
        let guard = shared.subscription.lock().await;
        let server = shared.session.server_channel(channel);
        let (id, receiver, inserted, connection) = {
            let mut state = shared.state();
            if state.closed {
                return Err(Error::Closed(S::NAME));
            }
            if let Some(other) = state.by_server.get(&server).filter(|other| *other != channel) {
                // Refused rather than mixed (a hash collision of server names).
                return Err(Error::bus_message(
                    S::NAME,
                    format!("channels {other:?} and {channel:?} map to the same server channel {server:?}"),
                ));
            }
            let (id, receiver, inserted) = state.channels.insert(channel);
            if inserted == Inserted::First {
                state.by_server.insert(server.clone(), channel.to_owned());
            }
            (id, receiver, inserted, state.connection.clone())
        };
        if inserted == Inserted::First {
            let result = match connection {
                Some(connection) => shared.subscribe_first(channel, server.clone(), &connection).await,
                None => Err(Error::bus_message(
                    S::NAME,
                    format!("the {} connection was lost while subscribing", S::NAME),
                )),
            };
            if let Err(error) = result {
                let mut state = shared.state();
                if state.channels.remove_stream(channel, id) {
                    state.by_server.remove(&server);
                }
                return Err(error);
            }
        }
        drop(guard);
        let weak = Arc::downgrade(shared);
        let channel = channel.to_owned();
        Ok(Box::pin(ChannelStream::new(
            receiver,
            Box::new(move || stream_dropped(weak, channel, id)),
        )))
    }

    async fn unsubscribe(&self, channel: &str) -> Result<()> {
        validate_channel(channel)?;
        let shared = &self.shared;
        let _guard = shared.subscription.lock().await;
        let server = shared.session.server_channel(channel);
        let connection = {
            let mut state = shared.state();
            if !state.channels.remove_channel(channel) {
                return Ok(());
            }
            state.by_server.remove(&server);
            state.connection.clone()
        };
        match connection {
            Some(connection) => shared.unsubscribe_server(&connection, &server).await,
            None => Ok(()),
        }
    }

    async fn health_check(&self) -> Result<()> {
        let shared = &self.shared;
        let connection = shared.state().connection.clone();
        shared
            .within("health check", shared.session.health_check(connection))
            .await
    }

    fn stats(&self) -> BusStats {
        let mut stats = self.shared.counters.stats(&self.shared.state().channels);
        stats.received_peak = self.shared.notes.peak();
        stats
    }
}

/// A stream was dropped: remove it, and unsubscribe on the server if it was the channel's last.
fn stream_dropped<S: BusSession>(weak: Weak<Shared<S>>, channel: String, id: u64) {
    let Some(shared) = weak.upgrade() else {
        return;
    };
    let server = shared.session.server_channel(&channel);
    {
        let mut state = shared.state();
        if !state.channels.remove_stream(&channel, id) {
            return;
        }
        state.by_server.remove(&server);
    }
    let runtime = shared.runtime.clone();
    runtime.spawn(Box::pin(async move {
        let _guard = shared.subscription.lock().await;
        let connection = {
            let state = shared.state();
            // Subscribed again meanwhile: the server must keep it.
            match state.channels.contains(&channel) {
                true => None,
                false => state.connection.clone(),
            }
        };
        if let Some(connection) = connection {
            if let Err(error) = shared.unsubscribe_server(&connection, &server).await {
                log::warn!(
                    "subcast: {}: unsubscribing after the last stream was dropped: {error}",
                    S::NAME
                );
            }
        }
    }));
}

impl<S: BusSession> Shared<S> {
    fn state(&self) -> MutexGuard<'_, State<S>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run one session operation within the timeout.
    async fn within<T>(&self, what: &str, operation: impl Future<Output = Result<T>>) -> Result<T> {
        let what = format!("{} {what}", S::NAME);
        within(&*self.runtime, self.settings.timeout, &what, operation).await?
    }

    /// Open a connection whose messages and end become notes.
    async fn open(&self) -> Result<S::Connection> {
        let generation = {
            let mut state = self.state();
            state.generation += 1;
            state.generation
        };
        let inbox = Inbox {
            notes: self.notes.clone(),
            generation,
        };
        self.session.connect(inbox).await
    }

    /// The current connection, waiting up to the timeout while reconnecting.
    async fn connection(&self) -> Result<S::Connection> {
        let wait = async {
            loop {
                let listener = {
                    let state = self.state();
                    if state.closed {
                        return Err(Error::Closed(S::NAME));
                    }
                    if let Some(connection) = &state.connection {
                        return Ok(connection.clone());
                    }
                    // Listening under the lock: the connection is set under it before notifying.
                    self.connected.listen()
                };
                listener.await;
            }
        };
        let what = format!("waiting for the {} connection", S::NAME);
        within(&*self.runtime, self.settings.timeout, &what, wait).await?
    }

    /// Subscribe a channel's first stream; with replay, pin its cursor first and queue its
    /// replay after, so everything after the cursor arrives live or through the replay.
    async fn subscribe_first(&self, channel: &str, server: String, connection: &S::Connection) -> Result<()> {
        let replays = self.session.replays();
        if replays {
            let newest = self
                .within("position", self.session.position(connection, channel))
                .await?;
            if let Some(local) = self.state().channels.get_mut(channel) {
                local.cursor = Some(newest);
                local.pending_replay = true;
            }
        }
        let servers = [server];
        self.within("subscribe", self.session.subscribe(connection, &servers))
            .await?;
        if replays {
            self.state().channels.request_replay(channel);
        }
        Ok(())
    }

    /// A replay page as a client's history: decoded events with their positions, and
    /// whether something after the cursor is gone.
    fn history_page(&self, channel: &str, page: ReplayPage<S::Position>, limit: usize) -> HistoryPage {
        let mut history = HistoryPage {
            complete: page.read < limit,
            ..HistoryPage::default()
        };
        let position = |p: &S::Position| self.session.log_position(p);
        for entry in page.entries {
            match entry {
                Replayed::Event(at, wire) => {
                    history.last = position(&at).or(history.last);
                    match task::decode(channel, &wire) {
                        Ok(mut event) => {
                            event.position = position(&at);
                            history.events.push(Arc::new(event));
                        }
                        Err(reason) => self.invalid(channel, &reason),
                    }
                }
                Replayed::Invalid(at, reason) => {
                    history.last = position(&at).or(history.last);
                    self.invalid(channel, &reason);
                }
                Replayed::Lost(at) => {
                    history.lost = true;
                    if let Some(at) = at {
                        history.last = position(&at).or(history.last);
                    }
                }
                Replayed::Rewind(at) => {
                    history.lost = true;
                    history.last = position(&at);
                }
            }
        }
        history
    }

    async fn unsubscribe_server(&self, connection: &S::Connection, server: &str) -> Result<()> {
        self.within("unsubscribe", self.session.unsubscribe(connection, server))
            .await
    }
}

/// Implement [`EventBus`](crate::EventBus) for a type by handing every method to its
/// field `$field`, an [`EventBus`](crate::EventBus) (typically a [`ServerBus`]).
///
/// # Examples
///
/// ```
/// use subcast_core::{delegate_event_bus, InMemoryBus};
///
/// #[derive(Debug)]
/// struct MyBus {
///     inner: InMemoryBus,
/// }
/// delegate_event_bus!(MyBus, inner);
/// ```
#[macro_export]
macro_rules! delegate_event_bus {
    ($bus:ty, $field:ident) => {
        #[$crate::backend::__async_trait]
        impl $crate::EventBus for $bus {
            async fn publish(&self, event: ::std::sync::Arc<$crate::Event>) -> $crate::Result<()> {
                $crate::EventBus::publish(&self.$field, event).await
            }
            async fn publish_at(
                &self,
                event: ::std::sync::Arc<$crate::Event>,
            ) -> $crate::Result<::std::option::Option<$crate::LogPosition>> {
                $crate::EventBus::publish_at(&self.$field, event).await
            }
            async fn subscribe(&self, channel: &str) -> $crate::Result<$crate::EventStream> {
                $crate::EventBus::subscribe(&self.$field, channel).await
            }
            async fn history(
                &self,
                channel: &str,
                after: $crate::LogPosition,
                limit: usize,
            ) -> $crate::Result<$crate::History> {
                $crate::EventBus::history(&self.$field, channel, after, limit).await
            }
            async fn unsubscribe(&self, channel: &str) -> $crate::Result<()> {
                $crate::EventBus::unsubscribe(&self.$field, channel).await
            }
            async fn health_check(&self) -> $crate::Result<()> {
                $crate::EventBus::health_check(&self.$field).await
            }
            fn stats(&self) -> $crate::BusStats {
                $crate::EventBus::stats(&self.$field)
            }
        }
    };
}

#[doc(hidden)]
pub use async_trait::async_trait as __async_trait;
