//! The Redis bus: one connection per handle, demultiplexed to local streams.
//!
//! - [`RedisBus`]: [`EventBus`] over Redis pub/sub, with optional replay from Streams.
//!
//! One task per bus, spawned on the host's [`Runtime`], processes everything that arrives
//! in order: pub/sub messages, replays, and the end of the connection (then it reconnects
//! with backoff, resubscribes every channel and replays or signals a gap). Because that
//! task is the only one delivering, per-channel order is the order it handles them in.
//!
//! Back-pressure: redis-rs hands each pub/sub push to a callback as it parses it, without
//! buffering; the callback queues it for the processing task in a bounded mailbox
//! ([`RedisConfig::received_capacity`]) and never blocks, so the connection, which also
//! carries commands, is always read and Redis never accumulates output for this client
//! (nor disconnects it for `client-output-buffer-limit`). What a full mailbox or a full
//! local stream ([`RedisConfig::stream_capacity`]) cannot take is dropped and made good:
//! with replay, the channel is held and read again from its stream by cursor, in pages no
//! larger than its streams' room; without replay, its streams receive a gap notice with the
//! exact count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::{PushInfo, PushKind, Value};
use subcast_core::backend::within;
use subcast_core::backend::{
    ensure_channel, BusCounters, ChannelStream, ChannelStreams, Delivery, Inserted, Overflow, ReplayRequest,
};
use subcast_core::backend::{BoundedMailbox, Losses};
use subcast_core::{validate_channel, BusStats, Error, Event, EventBus, EventStream, Result, Runtime};

use crate::config::RedisConfig;
use crate::connection::{connect, Target};
use crate::replay::{max_deleted_id, parse_entries, split_payload, StreamId, PUBLISH_SCRIPT};

/// An [`EventBus`] over Redis: `PUBLISH` to deliver, `SUBSCRIBE` per channel in use.
///
/// Every handle (one per node) keeps one RESP3 connection, used both for commands and
/// for pub/sub pushes. The connection's driver and the bus's processing task run on the
/// [`Runtime`] given to [`RedisBus::connect`]. After a disconnection the bus reconnects by
/// itself; with [`RedisConfig::replay`] it then reads what it missed from the channel's
/// stream, otherwise every subscribed channel receives a [`BusMessage::Gap`].
///
/// # Examples
///
/// ```no_run
/// # async fn demo(runtime: std::sync::Arc<dyn subcast_core::Runtime>) -> subcast_core::Result<()> {
/// use std::sync::Arc;
/// use futures_lite::StreamExt;
/// use subcast_core::{BusMessage, Event, EventBus};
/// use subcast_redis::{RedisBus, RedisConfig};
///
/// let bus = RedisBus::connect("redis://127.0.0.1:6379", runtime, RedisConfig::default().replay(10_000)).await?;
/// let mut stream = bus.subscribe("users").await?;
/// bus.publish(Arc::new(Event::new("userCreated", "users", serde_json::json!({"id": 1})))).await?;
/// assert!(matches!(stream.next().await, Some(BusMessage::Event(_))));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    runtime: Arc<dyn Runtime>,
    target: Target,
    config: RedisConfig,
    state: Mutex<State>,
    /// Everything the processing task handles, in arrival order.
    notes: Arc<Notes>,
    /// Held across SUBSCRIBE / UNSUBSCRIBE so the server's set of channels follows ours.
    subscription: async_lock::Mutex<()>,
    /// Notified when a connection becomes available or the bus closes.
    connected: event_listener::Event,
    script: redis::Script,
    counters: BusCounters,
}

#[derive(Debug)]
struct State {
    connection: Option<MultiplexedConnection>,
    /// Connections made so far; the current one's number.
    generation: u64,
    channels: ChannelStreams<StreamId>,
    closed: bool,
}

/// The processing task's bounded mailbox; only pub/sub messages are ever dropped.
type Notes = BoundedMailbox<Note, Overflowed>;

/// Work for the processing task.
#[derive(Debug)]
enum Note {
    /// A pub/sub message: Redis channel name and payload.
    Message(Vec<u8>, Vec<u8>),
    /// Pub/sub messages the full mailbox dropped, by Redis channel.
    Dropped(HashMap<Vec<u8>, u64>),
    /// Replay a channel from its cursor (after its first SUBSCRIBE, a reconnection, or
    /// once a full stream has room).
    Replay(String),
    /// Connection number `n` has ended.
    Closed(u64),
}

/// Pub/sub messages dropped by the processing task's full mailbox, by Redis channel.
#[derive(Debug, Default)]
struct Overflowed(HashMap<Vec<u8>, u64>);

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

impl RedisBus {
    /// Connect to the Redis server at `url` (`redis://[user:password@]host[:port][/db]`, or
    /// `rediss://` for TLS with the `tls` feature).
    ///
    /// Fails with a clear error, within `config.timeout`, on an invalid configuration (see
    /// [`RedisConfig::validate`]), a bad URL, an unreachable server or a failed TLS
    /// handshake. Background work runs on `runtime`.
    pub async fn connect(url: &str, runtime: Arc<dyn Runtime>, config: RedisConfig) -> Result<RedisBus> {
        config.validate()?;
        let target = Target::parse(url, &config)?;
        let notes = Arc::new(Notes::new(config.received_capacity));
        let overflow = match config.replay_len {
            Some(_) => {
                let notes = notes.clone();
                let request: ReplayRequest = Arc::new(move |channel: &str| {
                    let _ = notes.push_unbounded(Note::Replay(channel.to_owned()));
                });
                Overflow::Replay(request)
            }
            None => Overflow::Announce,
        };
        let state = State {
            connection: None,
            generation: 0,
            channels: ChannelStreams::new(config.stream_capacity, overflow),
            closed: false,
        };
        let inner = Arc::new(Inner {
            runtime,
            target,
            script: redis::Script::new(PUBLISH_SCRIPT),
            config,
            state: Mutex::new(state),
            notes,
            subscription: async_lock::Mutex::new(()),
            connected: event_listener::Event::new(),
            counters: BusCounters::default(),
        });
        let connection = inner.open_connection().await?;
        inner.state().connection = Some(connection);
        let weak = Arc::downgrade(&inner);
        let notes = inner.notes.clone();
        inner.runtime.spawn(Box::pin(process(weak, notes)));
        Ok(RedisBus { inner })
    }

    /// The settings this bus was made with.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        let mut state = self.inner.state();
        state.closed = true;
        state.connection = None;
        state.channels.close_all();
        drop(state);
        self.inner.notes.close();
        self.inner.connected.notify(usize::MAX);
    }
}

#[async_trait]
impl EventBus for RedisBus {
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
        // Wait for a connection before taking the lock a reconnection needs.
        inner.connection().await?;
        let guard = inner.subscription.lock().await;
        let (id, receiver, inserted, connection) = {
            let mut state = inner.state();
            if state.closed {
                return Err(Error::Closed("Redis bus"));
            }
            let (id, receiver, inserted) = state.channels.insert(channel);
            (id, receiver, inserted, state.connection.clone())
        };
        if inserted == Inserted::First {
            let result = match connection {
                Some(connection) => inner.subscribe_server(channel, connection).await,
                None => Err(Error::bus_message(
                    "redis",
                    "the Redis connection was lost while subscribing",
                )),
            };
            if let Err(error) = result {
                inner.state().channels.remove_stream(channel, id);
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
        let (removed, connection) = {
            let mut state = inner.state();
            (state.channels.remove_channel(channel), state.connection.clone())
        };
        if let (true, Some(mut connection)) = (removed, connection) {
            let server = inner.server_channel(channel);
            within(
                &*inner.runtime,
                inner.config.timeout,
                "UNSUBSCRIBE",
                connection.unsubscribe(&server),
            )
            .await?
            .map_err(|e| Error::bus("redis", format!("UNSUBSCRIBE {server:?} failed: {e}"), e))?;
        }
        Ok(())
    }

    async fn health_check(&self) -> Result<()> {
        let inner = &self.inner;
        let connection = inner.state().connection.clone();
        let Some(mut connection) = connection else {
            return Err(Error::bus_message(
                "redis",
                format!(
                    "not connected to Redis at {} (reconnecting)",
                    inner.target.address()
                ),
            ));
        };
        let ping = async { redis::cmd("PING").query_async::<Value>(&mut connection).await };
        within(&*inner.runtime, inner.config.timeout, "Redis PING", ping)
            .await?
            .map_err(|e| Error::bus("redis", format!("Redis PING failed: {e}"), e))?;
        Ok(())
    }

    fn stats(&self) -> BusStats {
        let mut stats = self.inner.counters.stats(&self.inner.state().channels);
        stats.received_peak = self.inner.notes.peak();
        stats
    }
}

/// A stream was dropped: remove it, and UNSUBSCRIBE if it was the channel's last.
fn stream_dropped(weak: Weak<Inner>, channel: String, id: u64) {
    let Some(inner) = weak.upgrade() else {
        return;
    };
    if !inner.state().channels.remove_stream(&channel, id) {
        return;
    }
    let runtime = inner.runtime.clone();
    runtime.spawn(Box::pin(async move {
        let _guard = inner.subscription.lock().await;
        let connection = {
            let state = inner.state();
            if state.channels.contains(&channel) {
                None
            } else {
                state.connection.clone()
            }
        };
        if let Some(mut connection) = connection {
            let server = inner.server_channel(&channel);
            let unsubscribe = connection.unsubscribe(&server);
            if let Err(error) =
                within(&*inner.runtime, inner.config.timeout, "UNSUBSCRIBE", unsubscribe).await
            {
                log::warn!(
                    "subcast-redis: UNSUBSCRIBE {server:?} after the last stream was dropped: {error}"
                );
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
            Note::Message(channel, payload) => inner.on_message(&channel, &payload),
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

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn server_channel(&self, channel: &str) -> String {
        format!("{}{channel}", self.config.prefix)
    }

    /// Connect, with pushes and the end of the connection reported as notes.
    async fn open_connection(&self) -> Result<MultiplexedConnection> {
        let generation = {
            let mut state = self.state();
            state.generation += 1;
            state.generation
        };
        let notes = self.notes.clone();
        let on_push = move |info: PushInfo| {
            if info.kind != PushKind::Message {
                return;
            }
            let mut data = info.data.into_iter();
            if let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
                (data.next(), data.next())
            {
                // Never blocks: the connection carries commands too, and must always be read.
                notes.push_or_lose(Note::Message(channel, payload));
            }
        };
        let (connection, driver) =
            connect(&self.target, &*self.runtime, self.config.timeout, on_push).await?;
        let notes = self.notes.clone();
        self.runtime.spawn(Box::pin(async move {
            driver.await;
            let _ = notes.push_unbounded(Note::Closed(generation));
        }));
        Ok(connection)
    }

    /// The current connection, waiting up to the timeout while reconnecting.
    async fn connection(&self) -> Result<MultiplexedConnection> {
        let wait = async {
            loop {
                let listener = {
                    let state = self.state();
                    if state.closed {
                        return Err(Error::Closed("Redis bus"));
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
        within(
            &*self.runtime,
            self.config.timeout,
            "waiting for the Redis connection",
            wait,
        )
        .await?
    }

    async fn publish(&self, event: &Event) -> Result<()> {
        let mut connection = self.connection().await?;
        let server = self.server_channel(&event.channel);
        let wire = event.to_wire();
        let command = async {
            match self.config.replay_len {
                Some(max_len) => {
                    self.script
                        .key(&server)
                        .arg(&wire)
                        .arg(max_len)
                        .arg(&server)
                        .invoke_async::<Value>(&mut connection)
                        .await
                }
                None => {
                    redis::cmd("PUBLISH")
                        .arg(&server)
                        .arg(&wire)
                        .query_async::<Value>(&mut connection)
                        .await
                }
            }
        };
        within(&*self.runtime, self.config.timeout, "Redis publish", command)
            .await?
            .map_err(|e| Error::bus("redis", format!("Redis publish on {server:?} failed: {e}"), e))?;
        Ok(())
    }

    /// SUBSCRIBE a channel's first stream; with replay, pin its cursor first.
    async fn subscribe_server(&self, channel: &str, mut connection: MultiplexedConnection) -> Result<()> {
        let server = self.server_channel(channel);
        let replay = self.config.replay_len.is_some();
        let steps = async {
            if replay {
                // The position before SUBSCRIBE: everything after it reaches the stream, either
                // live or through the replay queued below.
                let reply: Value = redis::cmd("XREVRANGE")
                    .arg(&server)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut connection)
                    .await?;
                let last = parse_entries(reply)
                    .ok()
                    .and_then(|entries| entries.first().map(|(id, _)| *id))
                    .unwrap_or_default();
                if let Some(local) = self.state().channels.get_mut(channel) {
                    local.cursor = Some(last);
                    local.pending_replay = true;
                }
            }
            connection.subscribe(&server).await
        };
        within(&*self.runtime, self.config.timeout, "SUBSCRIBE", steps)
            .await?
            .map_err(|e| Error::bus("redis", format!("SUBSCRIBE {server:?} failed: {e}"), e))?;
        if replay {
            self.state().channels.request_replay(channel);
        }
        Ok(())
    }

    /// The subcast channel of a Redis channel, if it is one of ours.
    fn local_channel<'a>(&self, server_channel: &'a [u8]) -> Option<&'a str> {
        server_channel
            .strip_prefix(self.config.prefix.as_bytes())
            .and_then(|c| std::str::from_utf8(c).ok())
    }

    /// Messages the full mailbox dropped: read them again from the stream, or tell the
    /// channels' streams how many they lost.
    fn on_dropped(&self, counts: HashMap<Vec<u8>, u64>) {
        let replay = self.config.replay_len.is_some();
        let mut state = self.state();
        for (server_channel, count) in counts {
            self.counters.add_dropped(count);
            let Some(channel) = self.local_channel(&server_channel) else {
                continue;
            };
            if replay {
                state.channels.request_replay(channel);
            } else {
                state.channels.signal_gap(channel, Some(count));
            }
        }
    }

    /// Decode one pub/sub message and hand it to the channel's streams.
    fn on_message(&self, server_channel: &[u8], payload: &[u8]) {
        let Some(channel) = self.local_channel(server_channel) else {
            return;
        };
        let decoded = split_payload(payload)
            .map_err(|reason| reason.to_owned())
            .and_then(|(position, wire)| {
                let event = Event::from_wire(wire).map_err(|e| e.to_string())?;
                Ok((position, event))
            });
        let (position, event) = match decoded.and_then(|(p, e)| ensure_channel(channel, e).map(|e| (p, e))) {
            Ok(decoded) => decoded,
            Err(reason) => return self.invalid(channel, &reason),
        };
        let mut state = self.state();
        let Some(local) = state.channels.get_mut(channel) else {
            return;
        };
        if local.pending_replay {
            // The queued replay reads the stream after this message was published.
            return;
        }
        if let Delivery::Delivered(count) = state.channels.deliver_at(channel, position, Arc::new(event)) {
            self.counters.add_received(count);
        }
    }

    fn invalid(&self, channel: &str, reason: &str) {
        self.counters.add_invalid();
        log::warn!("subcast-redis: skipped an invalid message on channel {channel:?}: {reason}");
    }

    /// Deliver the next page of what the channel's stream holds after its cursor: at most
    /// what its local streams can take, skipping what was delivered; request the next page
    /// until caught up.
    async fn replay(&self, channel: &str) {
        let (start, connection) = {
            let mut state = self.state();
            let connection = state.connection.clone();
            match state.channels.begin_replay(channel) {
                Some(start) => (start, connection),
                None => return,
            }
        };
        // Without a connection the reconnection replays every channel.
        let Some(mut connection) = connection else {
            return;
        };
        let cursor = start.cursor.unwrap_or_default();
        let server = self.server_channel(channel);
        let read = async {
            let entries: Value = redis::cmd("XRANGE")
                .arg(&server)
                .arg(format!("({cursor}"))
                .arg("+")
                .arg("COUNT")
                .arg(start.room)
                .query_async(&mut connection)
                .await?;
            // Read after XRANGE: a trim past the cursor since then is reported as a gap too.
            let info = redis::cmd("XINFO")
                .arg("STREAM")
                .arg(&server)
                .query_async::<Value>(&mut connection)
                .await
                .ok();
            Ok::<_, redis::RedisError>((entries, info))
        };
        let (entries, info) = match within(&*self.runtime, self.config.timeout, "XRANGE", read).await {
            Ok(Ok(read)) => read,
            Ok(Err(error)) if error.is_connection_dropped() || error.is_io_error() => {
                return self.replay_after_reconnecting(channel);
            }
            Ok(Err(error)) => return self.replay_failed(channel, &error.to_string()),
            Err(error) => return self.replay_failed(channel, &error.to_string()),
        };
        let entries = match parse_entries(entries) {
            Ok(entries) => entries,
            Err(reason) => return self.replay_failed(channel, &reason),
        };
        // A stream never trimmed or deleted from reports `0-0`, so a channel that subscribed
        // while its stream was empty (cursor `0-0`) sees a gap only when something was lost.
        let trimmed = info.and_then(max_deleted_id).filter(|deleted| *deleted > cursor);
        let read = entries.len();
        let mut state = self.state();
        if !state.channels.contains(channel) {
            return;
        }
        if let Some(deleted) = trimmed {
            log::warn!("subcast-redis: the stream of {channel:?} was trimmed past this node's position");
            state.channels.signal_gap(channel, None);
            // Trimming removes a prefix: start after it, so the next page does not report it
            // again. (Entries deleted one by one may sit among those read: keep them.)
            if entries.first().is_none_or(|(first, _)| *first > deleted) {
                state.channels.skip_to(channel, deleted);
            }
        }
        for (id, wire) in entries {
            let event = wire
                .ok_or_else(|| "a stream entry without an event field".to_owned())
                .and_then(|wire| Event::from_wire(&wire).map_err(|e| e.to_string()))
                .and_then(|event| ensure_channel(channel, event));
            match event {
                Ok(event) => match state.channels.deliver_at(channel, Some(id), Arc::new(event)) {
                    Delivery::Delivered(count) => self.counters.add_received(count),
                    Delivery::Duplicate => {}
                    // Held again: the streams ask for the rest once they have room.
                    Delivery::Behind | Delivery::Unsubscribed => return,
                },
                Err(reason) => {
                    // Keep the position moving past the bad entry.
                    state.channels.skip_to(channel, id);
                    self.invalid(channel, &reason);
                }
            }
        }
        state.channels.end_replay(channel, read < start.room);
    }

    /// The connection died under a replay: hold live messages back until the reconnection's
    /// replay, or the ones still queued from this connection would skip what was missed.
    fn replay_after_reconnecting(&self, channel: &str) {
        if let Some(local) = self.state().channels.get_mut(channel) {
            local.pending_replay = true;
        }
    }

    fn replay_failed(&self, channel: &str, reason: &str) {
        log::warn!("subcast-redis: replay of {channel:?} failed, signalling a gap: {reason}");
        let mut state = self.state();
        state.channels.signal_gap(channel, None);
        state.channels.end_replay(channel, true);
    }

    /// The connection ended: reconnect with backoff, resubscribe, then replay or signal gaps.
    ///
    /// Returns `false` when the bus was closed meanwhile.
    async fn reconnect(&self) -> bool {
        {
            let mut state = self.state();
            state.connection = None;
            for channel in state.channels.names() {
                if self.config.replay_len.is_some() {
                    // Queued before anything the new connection receives, and held until then.
                    state.channels.request_replay(&channel);
                } else {
                    state.channels.signal_gap(&channel, None);
                }
            }
        }
        log::warn!(
            "subcast-redis: connection to {} lost, reconnecting",
            self.target.address()
        );
        let mut delay = self.config.reconnect_min;
        loop {
            if self.state().closed {
                return false;
            }
            match self.resubscribe().await {
                Ok(()) => {
                    self.counters.add_reconnect();
                    log::info!("subcast-redis: reconnected to {}", self.target.address());
                    return true;
                }
                Err(error) => {
                    log::warn!("subcast-redis: reconnection failed, retrying in {delay:?}: {error}");
                    self.runtime.sleep(delay).await;
                    delay = delay.saturating_mul(2).min(self.config.reconnect_max);
                }
            }
        }
    }

    /// Open a connection, SUBSCRIBE every channel on it, then make it the current one.
    async fn resubscribe(&self) -> Result<()> {
        let mut connection = self.open_connection().await?;
        let _guard = self.subscription.lock().await;
        let channels = self.state().channels.names();
        if !channels.is_empty() {
            let servers: Vec<String> = channels.iter().map(|c| self.server_channel(c)).collect();
            within(
                &*self.runtime,
                self.config.timeout,
                "SUBSCRIBE",
                connection.subscribe(&servers),
            )
            .await?
            .map_err(|e| Error::bus("redis", format!("SUBSCRIBE after reconnecting failed: {e}"), e))?;
        }
        let mut state = self.state();
        if state.closed {
            return Err(Error::Closed("Redis bus"));
        }
        state.connection = Some(connection);
        drop(state);
        self.connected.notify(usize::MAX);
        Ok(())
    }
}
