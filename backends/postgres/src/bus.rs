//! The PostgreSQL bus: a publishing session and a listening session per handle.
//!
//! - [`PostgresBus`]: [`EventBus`] over LISTEN/NOTIFY with every event kept in an outbox.
//!
//! One task per bus, spawned on the host's [`Runtime`], handles in order everything the
//! listening session receives: notifications (reading the outbox row when the event did not
//! fit in the notification), replays, and the end of the session (then it reconnects with
//! backoff, LISTENs again and replays every channel from its cursor).
//!
//! Back-pressure: tokio-postgres reads one message from the socket per poll and keeps no
//! queue of notifications; the bus polls the listening session continuously and queues each
//! notification for the processing task in a bounded mailbox
//! ([`PostgresConfig::received_capacity`]). It never stops reading: the same session runs
//! the bus's queries, and a listener that stops reading holds back PostgreSQL's shared
//! notification queue for everyone. What a full mailbox or a full local stream
//! ([`PostgresConfig::stream_capacity`]) cannot take is dropped, and its channel is read
//! again from the outbox by its cursor, in pages no larger than its streams' room.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use subcast_core::backend::within;
use subcast_core::backend::{
    ensure_channel, BusCounters, ChannelStream, ChannelStreams, Delivery, Inserted, Overflow, ReplayRequest,
};
use subcast_core::backend::{BoundedMailbox, Losses};
use subcast_core::{validate_channel, BusStats, Error, Event, EventBus, EventStream, Result, Runtime};
use tokio_postgres::{AsyncMessage, Client, Statement};

use crate::config::PostgresConfig;
use crate::connection::{connect, describe, Target};
use crate::outbox::{lock_key, notify_channel, quote_ident, Notice, Outbox, NOTIFY_LIMIT};

/// Room kept in a notification for `<id>:` before the event.
const ID_ROOM: usize = 24;

/// An [`EventBus`] over PostgreSQL LISTEN/NOTIFY, with an outbox table for replay.
///
/// Every publish inserts the event into the outbox and notifies its channel in the same
/// statement; the notification carries the row id, plus the event when it is small enough.
/// Each handle remembers, per channel, the id of the last event delivered; after a lost
/// session it reconnects by itself, LISTENs again and reads the outbox from there, so every
/// event is delivered once and in order as long as the outbox keeps it
/// ([`PostgresConfig::retention`]). Sockets come from the `tokio` or `smol` feature; all
/// background work runs on the [`Runtime`] given to [`PostgresBus::connect`].
///
/// # Examples
///
/// ```no_run
/// # async fn demo(runtime: std::sync::Arc<dyn subcast_core::Runtime>) -> subcast_core::Result<()> {
/// use std::sync::Arc;
/// use futures_lite::StreamExt;
/// use subcast_core::{BusMessage, Event, EventBus};
/// use subcast_postgres::{PostgresBus, PostgresConfig};
///
/// let bus = PostgresBus::connect("postgres://postgres@127.0.0.1/test", runtime, PostgresConfig::default()).await?;
/// let mut stream = bus.subscribe("users").await?;
/// bus.publish(Arc::new(Event::new("userCreated", "users", serde_json::json!({"id": 1})))).await?;
/// assert!(matches!(stream.next().await, Some(BusMessage::Event(_))));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PostgresBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    runtime: Arc<dyn Runtime>,
    target: Target,
    config: PostgresConfig,
    outbox: Outbox,
    state: Mutex<State>,
    /// Everything the processing task handles, in arrival order.
    notes: Arc<Notes>,
    /// Held across LISTEN / UNLISTEN so the server's set of channels follows ours.
    subscription: async_lock::Mutex<()>,
    /// Notified when a listening session becomes available or the bus closes.
    connected: event_listener::Event,
    /// Notified when the bus closes.
    closing: event_listener::Event,
    publisher: async_lock::Mutex<Option<Arc<Publisher>>>,
    counters: BusCounters,
}

#[derive(Debug)]
struct State {
    listener: Option<Arc<Client>>,
    /// Listening sessions opened so far; the current one's number.
    generation: u64,
    channels: ChannelStreams<i64>,
    /// NOTIFY channel name → subcast channel name.
    by_notify: HashMap<String, String>,
    closed: bool,
}

/// The publishing session with its prepared statements.
#[derive(Debug)]
struct Publisher {
    client: Client,
    inline: Statement,
    keyed: Statement,
}

/// The processing task's bounded mailbox; only notifications are ever dropped.
type Notes = BoundedMailbox<Note, Overflowed>;

/// Work for the processing task.
#[derive(Debug)]
enum Note {
    /// A notification: NOTIFY channel and payload.
    Notification(String, String),
    /// Notifications the full mailbox dropped, by NOTIFY channel.
    Dropped(HashMap<String, u64>),
    /// Replay a channel from its cursor (after its first LISTEN, a reconnection, a dropped
    /// notification, or once a full stream has room).
    Replay(String),
    /// Listening session number `n` has ended.
    Closed(u64),
}

/// Notifications dropped by the processing task's full mailbox, by NOTIFY channel.
#[derive(Debug, Default)]
struct Overflowed(HashMap<String, u64>);

impl Losses<Note> for Overflowed {
    fn add(&mut self, note: Note) {
        match note {
            Note::Notification(channel, _) => *self.0.entry(channel).or_default() += 1,
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

impl PostgresBus {
    /// Connect to PostgreSQL at `url` (`postgres://user[:password]@host[:port]/database`).
    ///
    /// Creates the outbox table if missing. Fails with a clear error, within
    /// `config.timeout`, on an invalid configuration (see [`PostgresConfig::validate`]), a
    /// bad URL or an unreachable server. Background work runs on `runtime`.
    pub async fn connect(
        url: &str,
        runtime: Arc<dyn Runtime>,
        config: PostgresConfig,
    ) -> Result<PostgresBus> {
        config.validate()?;
        let target = Target::parse(url)?;
        let notes = Arc::new(Notes::new(config.received_capacity));
        let request: ReplayRequest = {
            let notes = notes.clone();
            Arc::new(move |channel: &str| {
                let _ = notes.push_unbounded(Note::Replay(channel.to_owned()));
            })
        };
        let state = State {
            listener: None,
            generation: 0,
            channels: ChannelStreams::new(config.stream_capacity, Overflow::Replay(request)),
            by_notify: HashMap::new(),
            closed: false,
        };
        let inner = Arc::new(Inner {
            runtime,
            target,
            outbox: Outbox::new(&config),
            config,
            state: Mutex::new(state),
            notes,
            subscription: async_lock::Mutex::new(()),
            connected: event_listener::Event::new(),
            closing: event_listener::Event::new(),
            publisher: async_lock::Mutex::new(None),
            counters: BusCounters::default(),
        });
        inner.publisher().await?;
        let listener = inner.open_listener().await?;
        inner.state().listener = Some(listener);
        inner
            .runtime
            .spawn(Box::pin(process(Arc::downgrade(&inner), inner.notes.clone())));
        if let Some(retention) = inner.config.retention {
            let runtime = inner.runtime.clone();
            let interval = inner.config.cleanup_interval;
            runtime.spawn(Box::pin(clean(
                Arc::downgrade(&inner),
                inner.runtime.clone(),
                interval,
                retention,
            )));
        }
        Ok(PostgresBus { inner })
    }

    /// The settings this bus was made with.
    pub fn config(&self) -> &PostgresConfig {
        &self.inner.config
    }

    /// Delete events older than the retention now; returns how many were deleted.
    pub async fn clean_outbox(&self) -> Result<u64> {
        match self.inner.config.retention {
            Some(retention) => self.inner.clean(retention).await,
            None => Ok(0),
        }
    }
}

impl Drop for PostgresBus {
    fn drop(&mut self) {
        let mut state = self.inner.state();
        state.closed = true;
        state.listener = None;
        state.channels.close_all();
        drop(state);
        self.inner.notes.close();
        self.inner.connected.notify(usize::MAX);
        self.inner.closing.notify(usize::MAX);
    }
}

#[async_trait]
impl EventBus for PostgresBus {
    async fn publish(&self, event: Arc<Event>) -> Result<()> {
        // The checks every node's `Event::from_wire` applies: refused here, or readable there.
        event.validate_wire()?;
        let result = self.inner.publish(&event).await;
        self.inner.counters.count_publish(&result);
        result
    }

    async fn subscribe(&self, channel: &str) -> Result<EventStream> {
        validate_channel(channel)?;
        let inner = &self.inner;
        // Wait for a session before taking the lock a reconnection needs.
        inner.listener().await?;
        let guard = inner.subscription.lock().await;
        let notify = notify_channel(&inner.config.channel_prefix, channel);
        let (id, receiver, inserted, listener) = {
            let mut state = inner.state();
            if state.closed {
                return Err(Error::Closed("PostgreSQL bus"));
            }
            if let Some(other) = state.by_notify.get(&notify).filter(|other| *other != channel) {
                // Only a SHA-256 collision gets here; refused rather than mixed.
                return Err(Error::bus_message(
                    "postgres",
                    format!("channels {other:?} and {channel:?} map to the same NOTIFY channel {notify:?}"),
                ));
            }
            let (id, receiver, inserted) = state.channels.insert(channel);
            if inserted == Inserted::First {
                state.by_notify.insert(notify.clone(), channel.to_owned());
            }
            (id, receiver, inserted, state.listener.clone())
        };
        if inserted == Inserted::First {
            let result = match listener {
                Some(listener) => inner.listen(channel, &notify, &listener).await,
                None => Err(Error::bus_message(
                    "postgres",
                    "the PostgreSQL session was lost while subscribing",
                )),
            };
            if let Err(error) = result {
                let mut state = inner.state();
                if state.channels.remove_stream(channel, id) {
                    state.by_notify.remove(&notify);
                }
                return Err(error);
            }
        }
        drop(guard);
        let weak = Arc::downgrade(inner);
        let channel = channel.to_owned();
        Ok(Box::pin(ChannelStream::new(
            receiver,
            Box::new(move || stream_dropped(weak, channel, id)),
        )))
    }

    async fn unsubscribe(&self, channel: &str) -> Result<()> {
        validate_channel(channel)?;
        let inner = &self.inner;
        let _guard = inner.subscription.lock().await;
        let notify = notify_channel(&inner.config.channel_prefix, channel);
        let (removed, listener) = {
            let mut state = inner.state();
            let removed = state.channels.remove_channel(channel);
            if removed {
                state.by_notify.remove(&notify);
            }
            (removed, state.listener.clone())
        };
        if let (true, Some(listener)) = (removed, listener) {
            inner.unlisten(&notify, &listener).await?;
        }
        Ok(())
    }

    async fn health_check(&self) -> Result<()> {
        let inner = &self.inner;
        let publisher = inner.publisher().await?;
        within(
            &*inner.runtime,
            inner.config.timeout,
            "PostgreSQL health check",
            async { publisher.client.simple_query("SELECT 1").await },
        )
        .await?
        .map_err(|e| {
            Error::bus(
                "postgres",
                format!("PostgreSQL health check failed: {}", describe(&e)),
                e,
            )
        })?;
        if inner.state().listener.is_none() {
            return Err(Error::bus_message(
                "postgres",
                format!(
                    "the listening session to PostgreSQL at {} is reconnecting",
                    inner.target.address()
                ),
            ));
        }
        Ok(())
    }

    fn stats(&self) -> BusStats {
        let mut stats = self.inner.counters.stats(&self.inner.state().channels);
        stats.received_peak = self.inner.notes.peak();
        stats
    }
}

/// A stream was dropped: remove it, and UNLISTEN if it was the channel's last.
fn stream_dropped(weak: Weak<Inner>, channel: String, id: u64) {
    let Some(inner) = weak.upgrade() else {
        return;
    };
    let notify = notify_channel(&inner.config.channel_prefix, &channel);
    {
        let mut state = inner.state();
        if !state.channels.remove_stream(&channel, id) {
            return;
        }
        state.by_notify.remove(&notify);
    }
    let runtime = inner.runtime.clone();
    runtime.spawn(Box::pin(async move {
        let _guard = inner.subscription.lock().await;
        let listener = {
            let state = inner.state();
            if state.by_notify.contains_key(&notify) {
                None
            } else {
                state.listener.clone()
            }
        };
        if let Some(listener) = listener {
            if let Err(error) = inner.unlisten(&notify, &listener).await {
                log::warn!("subcast-postgres: UNLISTEN after the last stream was dropped: {error}");
            }
        }
    }));
}

/// The processing task: handle notes in order until the bus is dropped.
async fn process(weak: Weak<Inner>, notes: Arc<Notes>) {
    while let Some(note) = notes.recv().await {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        match note {
            Note::Notification(channel, payload) => inner.on_notification(&channel, &payload).await,
            Note::Dropped(counts) => inner.on_dropped(counts),
            Note::Replay(channel) => inner.replay(&channel).await,
            Note::Closed(generation) => {
                if generation == inner.state().generation && !inner.reconnect().await {
                    return;
                }
            }
        }
    }
}

/// The cleanup task: delete old outbox rows every `interval` until the bus is dropped.
async fn clean(weak: Weak<Inner>, runtime: Arc<dyn Runtime>, interval: Duration, retention: Duration) {
    loop {
        let closing = {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            // Listening before the check: a close after it still wakes the wait below.
            let closing = inner.closing.listen();
            if inner.state().closed {
                return;
            }
            closing
        };
        // The strong handle is dropped while waiting, so the bus can close meanwhile.
        let closed = futures_lite::future::or(
            async {
                closing.await;
                true
            },
            async {
                runtime.sleep(interval).await;
                false
            },
        )
        .await;
        if closed {
            return;
        }
        let Some(inner) = weak.upgrade() else {
            return;
        };
        if inner.state().closed {
            return;
        }
        if let Err(error) = inner.clean(retention).await {
            log::warn!("subcast-postgres: outbox cleanup failed: {error}");
        }
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The publishing session, opened again if it was lost.
    async fn publisher(&self) -> Result<Arc<Publisher>> {
        let mut slot = self.publisher.lock().await;
        if let Some(publisher) = slot.as_ref().filter(|p| !p.client.is_closed()) {
            return Ok(publisher.clone());
        }
        let timeout = self.config.timeout;
        let (client, driver) = connect(&self.target, "publisher", &*self.runtime, timeout).await?;
        self.runtime.spawn(Box::pin(async move {
            if let Err(error) = driver.await {
                log::warn!("subcast-postgres: publishing session ended: {error}");
            }
        }));
        let prepare = async {
            // Every new publishing session makes sure the outbox exists (cheap when it does).
            client.batch_execute(&self.outbox.create()).await?;
            if !self.config.synchronous_commit {
                client.batch_execute("SET synchronous_commit = off").await?;
            }
            let inline = client.prepare(&self.outbox.publish(true)).await?;
            let keyed = client.prepare(&self.outbox.publish(false)).await?;
            Ok::<_, tokio_postgres::Error>((inline, keyed))
        };
        let (inline, keyed) = within(
            &*self.runtime,
            timeout,
            "preparing the publish statements",
            prepare,
        )
        .await?
        .map_err(|e| {
            Error::bus(
                "postgres",
                format!(
                    "cannot create the outbox or prepare the publish statements: {}",
                    describe(&e)
                ),
                e,
            )
        })?;
        let publisher = Arc::new(Publisher {
            client,
            inline,
            keyed,
        });
        *slot = Some(publisher.clone());
        Ok(publisher)
    }

    async fn publish(&self, event: &Event) -> Result<()> {
        let publisher = self.publisher().await?;
        let wire = event.to_wire();
        let notify = notify_channel(&self.config.channel_prefix, &event.channel);
        let statement = if wire.len() + ID_ROOM < NOTIFY_LIMIT {
            &publisher.inline
        } else {
            &publisher.keyed
        };
        let lock = lock_key(&notify);
        let insert = async {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
                [&event.channel, &wire, &lock, &notify];
            publisher.client.query_one(statement, &params).await
        };
        within(&*self.runtime, self.config.timeout, "PostgreSQL publish", insert)
            .await?
            .map_err(|e| {
                Error::bus(
                    "postgres",
                    format!(
                        "PostgreSQL publish on {:?} failed: {}",
                        event.channel,
                        describe(&e)
                    ),
                    e,
                )
            })?;
        Ok(())
    }

    /// Open a listening session whose notifications and end become notes.
    async fn open_listener(&self) -> Result<Arc<Client>> {
        let generation = {
            let mut state = self.state();
            state.generation += 1;
            state.generation
        };
        let (client, mut driver) =
            connect(&self.target, "listener", &*self.runtime, self.config.timeout).await?;
        let notes = self.notes.clone();
        self.runtime.spawn(Box::pin(async move {
            loop {
                match std::future::poll_fn(|cx| driver.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        // Never waits: see the module docs. A drop is made good by a replay.
                        notes
                            .push_or_lose(Note::Notification(n.channel().to_owned(), n.payload().to_owned()));
                    }
                    Some(Ok(AsyncMessage::Notice(notice))) => {
                        log::info!("subcast-postgres: server notice: {}", notice.message());
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        log::warn!("subcast-postgres: listening session ended: {error}");
                        break;
                    }
                    None => break,
                }
            }
            let _ = notes.push_unbounded(Note::Closed(generation));
        }));
        Ok(Arc::new(client))
    }

    /// The current listening session, waiting up to the timeout while reconnecting.
    async fn listener(&self) -> Result<Arc<Client>> {
        let wait = async {
            loop {
                let listener = {
                    let state = self.state();
                    if state.closed {
                        return Err(Error::Closed("PostgreSQL bus"));
                    }
                    if let Some(client) = &state.listener {
                        return Ok(client.clone());
                    }
                    // Listening under the lock: the session is set under it before notifying.
                    self.connected.listen()
                };
                listener.await;
            }
        };
        within(
            &*self.runtime,
            self.config.timeout,
            "waiting for the PostgreSQL session",
            wait,
        )
        .await?
    }

    /// LISTEN a channel's first stream: pin its cursor, LISTEN, then queue its replay.
    async fn listen(&self, channel: &str, notify: &str, listener: &Client) -> Result<()> {
        let steps = async {
            // The newest id before LISTEN: everything after it arrives live or in the replay.
            let newest: i64 = listener
                .query_one(&self.outbox.newest(), &[&channel])
                .await?
                .get(0);
            if let Some(local) = self.state().channels.get_mut(channel) {
                local.cursor = Some(newest);
                local.pending_replay = true;
            }
            listener
                .batch_execute(&format!("LISTEN {}", quote_ident(notify)))
                .await
        };
        within(&*self.runtime, self.config.timeout, "LISTEN", steps)
            .await?
            .map_err(|e| {
                Error::bus(
                    "postgres",
                    format!("LISTEN {notify:?} failed: {}", describe(&e)),
                    e,
                )
            })?;
        self.state().channels.request_replay(channel);
        Ok(())
    }

    async fn unlisten(&self, notify: &str, listener: &Client) -> Result<()> {
        let sql = format!("UNLISTEN {}", quote_ident(notify));
        let unlisten = listener.batch_execute(&sql);
        within(&*self.runtime, self.config.timeout, "UNLISTEN", unlisten)
            .await?
            .map_err(|e| {
                Error::bus(
                    "postgres",
                    format!("UNLISTEN {notify:?} failed: {}", describe(&e)),
                    e,
                )
            })
    }

    /// Notifications the full mailbox dropped: read their channels again from the outbox.
    fn on_dropped(&self, counts: HashMap<String, u64>) {
        let mut state = self.state();
        for (notify, count) in counts {
            self.counters.add_dropped(count);
            if let Some(channel) = state.by_notify.get(&notify).cloned() {
                state.channels.request_replay(&channel);
            }
        }
    }

    /// Decode one notification, reading the outbox row if need be, and deliver it.
    async fn on_notification(&self, notify: &str, payload: &str) {
        let Some(channel) = self.state().by_notify.get(notify).cloned() else {
            return;
        };
        let notice = match Notice::parse(payload) {
            Ok(notice) => notice,
            Err(reason) => return self.invalid(&channel, reason),
        };
        let id = match notice {
            Notice::Inline(id, _) | Notice::Keyed(id) => id,
        };
        {
            let mut state = self.state();
            let Some(local) = state.channels.get_mut(&channel) else {
                return;
            };
            // Pending: the queued replay covers it. At or before the cursor: delivered already.
            if local.pending_replay || local.cursor.is_some_and(|cursor| id <= cursor) {
                return;
            }
        }
        let wire: Cow<'_, [u8]> = match notice {
            Notice::Inline(_, wire) => Cow::Borrowed(wire),
            Notice::Keyed(id) => match self.read_row(id).await {
                // Cleaned up since: the replay reports the gap.
                Ok(Some((row_channel, wire))) if row_channel == channel && wire.is_empty() => {
                    return self.replay_later(&channel);
                }
                Ok(Some((row_channel, wire))) if row_channel == channel => Cow::Owned(wire),
                Ok(Some(_)) => return self.invalid(&channel, "the outbox row belongs to another channel"),
                Ok(None) => return self.invalid(&channel, "no outbox row has the notified id"),
                Err(error) => {
                    log::warn!("subcast-postgres: reading outbox row {id} failed, replaying: {error}");
                    return self.replay_later(&channel);
                }
            },
        };
        let event = match Event::from_wire(&wire)
            .map_err(|e| e.to_string())
            .and_then(|event| ensure_channel(&channel, event))
        {
            Ok(event) => event,
            Err(reason) => return self.invalid(&channel, &reason),
        };
        let mut state = self.state();
        // Held meanwhile (the outbox read awaited): the replay will bring it.
        if state
            .channels
            .get_mut(&channel)
            .is_some_and(|local| local.pending_replay)
        {
            return;
        }
        if let Delivery::Delivered(count) = state.channels.deliver_at(&channel, Some(id), Arc::new(event)) {
            self.counters.add_received(count);
        }
    }

    async fn read_row(&self, id: i64) -> Result<Option<(String, Vec<u8>)>> {
        let listener = self.listener().await?;
        let read = async { listener.query_opt(&self.outbox.read(), &[&id]).await };
        let row = within(&*self.runtime, self.config.timeout, "reading an outbox row", read)
            .await?
            .map_err(|e| Error::bus("postgres", describe(&e), e))?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    fn invalid(&self, channel: &str, reason: &str) {
        self.counters.add_invalid();
        log::warn!("subcast-postgres: skipped an invalid notification on channel {channel:?}: {reason}");
    }

    /// Deliver the next page of the channel's outbox rows after its cursor: at most what
    /// its local streams can take, skipping what was delivered; request the next page until
    /// caught up.
    async fn replay(&self, channel: &str) {
        let (start, listener) = {
            let mut state = self.state();
            let listener = state.listener.clone();
            match state.channels.begin_replay(channel) {
                Some(start) => (start, listener),
                None => return,
            }
        };
        // Without a session the reconnection replays every channel.
        let Some(listener) = listener else {
            return;
        };
        let cursor = start.cursor.unwrap_or(0);
        let limit = i64::try_from(start.room).unwrap_or(i64::MAX);
        let read = async {
            // Ids behind the cursor mean the server lost commits (a crash without
            // synchronous_commit): start again from what it has, and report a gap.
            // Cleanup keeps each channel's newest id, so only lost commits put it behind.
            let newest: i64 = listener
                .query_one(&self.outbox.newest(), &[&channel])
                .await?
                .get(0);
            let from = cursor.min(newest);
            // Rows the cleanup deleted after `from` show as a marker among these rows.
            let rows = listener
                .query(&self.outbox.replay(), &[&channel, &from, &limit])
                .await?;
            Ok::<_, tokio_postgres::Error>((rows, from))
        };
        let (rows, from) = match within(&*self.runtime, self.config.timeout, "outbox replay", read).await {
            Ok(Ok(read)) => read,
            Ok(Err(error)) if error.is_closed() || listener.is_closed() => {
                return self.replay_later(channel);
            }
            Ok(Err(error)) => return self.replay_failed(channel, &describe(&error)),
            Err(error) => return self.replay_failed(channel, &error.to_string()),
        };
        let read = rows.len();
        let mut state = self.state();
        let Some(local) = state.channels.get_mut(channel) else {
            return;
        };
        if from < cursor {
            log::warn!("subcast-postgres: the outbox is behind this node's position on {channel:?}");
            local.cursor = Some(from);
            state.channels.signal_gap(channel, None);
        }
        for row in rows {
            let id: i64 = row.get(0);
            let wire: Vec<u8> = row.get(1);
            if wire.is_empty() {
                log::warn!(
                    "subcast-postgres: outbox rows after this node's position on {channel:?} were deleted"
                );
                state.channels.signal_gap(channel, None);
                state.channels.skip_to(channel, id);
                continue;
            }
            let event = Event::from_wire(&wire)
                .map_err(|e| e.to_string())
                .and_then(|event| ensure_channel(channel, event));
            match event {
                Ok(event) => match state.channels.deliver_at(channel, Some(id), Arc::new(event)) {
                    Delivery::Delivered(count) => self.counters.add_received(count),
                    Delivery::Duplicate => {}
                    // Held again: the streams ask for the rest once they have room.
                    Delivery::Behind | Delivery::Unsubscribed => return,
                },
                Err(reason) => {
                    // Keep the position moving past the bad row.
                    state.channels.skip_to(channel, id);
                    self.invalid(channel, &reason);
                }
            }
        }
        state.channels.end_replay(channel, read < start.room);
    }

    /// Delivery from the cursor on broke off (an outbox read failed): hold the channel's live
    /// notifications back and queue a replay. If the session died, the reconnection's replay
    /// comes first; either way nothing after the cursor is skipped.
    fn replay_later(&self, channel: &str) {
        self.state().channels.request_replay(channel);
    }

    fn replay_failed(&self, channel: &str, reason: &str) {
        log::warn!("subcast-postgres: replay of {channel:?} failed, signalling a gap: {reason}");
        let mut state = self.state();
        state.channels.signal_gap(channel, None);
        state.channels.end_replay(channel, true);
    }

    /// The listening session ended: reconnect with backoff, LISTEN again, replay.
    ///
    /// Returns `false` when the bus was closed meanwhile.
    async fn reconnect(&self) -> bool {
        {
            let mut state = self.state();
            state.listener = None;
            // Queued before anything the new session receives, and held until then.
            for channel in state.channels.names() {
                state.channels.request_replay(&channel);
            }
        }
        log::warn!(
            "subcast-postgres: listening session to {} lost, reconnecting",
            self.target.address()
        );
        let mut delay = self.config.reconnect_min;
        loop {
            if self.state().closed {
                return false;
            }
            match self.relisten().await {
                Ok(()) => {
                    self.counters.add_reconnect();
                    log::info!("subcast-postgres: reconnected to {}", self.target.address());
                    return true;
                }
                Err(error) => {
                    log::warn!("subcast-postgres: reconnection failed, retrying in {delay:?}: {error}");
                    self.runtime.sleep(delay).await;
                    delay = delay.saturating_mul(2).min(self.config.reconnect_max);
                }
            }
        }
    }

    /// Open a listening session, LISTEN every channel on it, then make it the current one.
    async fn relisten(&self) -> Result<()> {
        let listener = self.open_listener().await?;
        let _guard = self.subscription.lock().await;
        let statements: String = self
            .state()
            .by_notify
            .keys()
            .map(|notify| format!("LISTEN {};", quote_ident(notify)))
            .collect();
        if !statements.is_empty() {
            within(
                &*self.runtime,
                self.config.timeout,
                "LISTEN",
                listener.batch_execute(&statements),
            )
            .await?
            .map_err(|e| {
                Error::bus(
                    "postgres",
                    format!("LISTEN after reconnecting failed: {}", describe(&e)),
                    e,
                )
            })?;
        }
        let mut state = self.state();
        if state.closed {
            return Err(Error::Closed("PostgreSQL bus"));
        }
        state.listener = Some(listener);
        drop(state);
        self.connected.notify(usize::MAX);
        Ok(())
    }

    async fn clean(&self, retention: Duration) -> Result<u64> {
        let publisher = self.publisher().await?;
        let seconds = retention.as_secs_f64();
        let delete = async {
            publisher
                .client
                .query_one(&self.outbox.cleanup(), &[&seconds])
                .await
        };
        let row = within(&*self.runtime, self.config.timeout, "outbox cleanup", delete)
            .await?
            .map_err(|e| Error::bus("postgres", format!("outbox cleanup failed: {}", describe(&e)), e))?;
        let deleted: i64 = row.get(0);
        Ok(u64::try_from(deleted).unwrap_or(0))
    }
}
