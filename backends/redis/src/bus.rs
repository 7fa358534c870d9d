//! The Redis bus: Redis pub/sub (and Streams for replay) as a [`BusSession`].
//!
//! - [`RedisBus`]: [`EventBus`](subcast_core::EventBus) over Redis pub/sub, with optional replay from Streams.
//!
//! Everything but the Redis commands is the shared skeleton, [`ServerBus`]: one RESP3
//! connection per handle, used both for commands and for pub/sub pushes, one processing
//! task, reconnection with backoff, replay or gap.
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

use std::sync::Arc;

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::{PushInfo, PushKind, RedisError, Value};
use subcast_core::backend::{BusSession, Current, Inbox, Received, ReplayError, ReplayPage, ServerBus};
use subcast_core::{delegate_event_bus, Error, Event, LogPosition, Result, Runtime};

use crate::config::RedisConfig;
use crate::connection::{connect, Target};
use crate::replay::{newest_position, read_page, split_payload, StreamId, PUBLISH_SCRIPT};

/// An [`EventBus`](subcast_core::EventBus) over Redis: `PUBLISH` to deliver, `SUBSCRIBE` per channel in use.
///
/// Every handle (one per node) keeps one RESP3 connection, used both for commands and
/// for pub/sub pushes. The connection's driver and the bus's processing task run on the
/// [`Runtime`] given to [`RedisBus::connect`]. After a disconnection the bus reconnects by
/// itself; with [`RedisConfig::replay`] it then reads what it missed from the channel's
/// stream, otherwise every subscribed channel receives a
/// [`BusMessage::Gap`](subcast_core::BusMessage::Gap).
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
    server: ServerBus<RedisSession>,
}

delegate_event_bus!(RedisBus, server);

/// Redis commands for the bus skeleton.
struct RedisSession {
    runtime: Arc<dyn Runtime>,
    target: Target,
    config: RedisConfig,
    script: redis::Script,
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
        let session = RedisSession {
            runtime: runtime.clone(),
            target: Target::parse(url, &config)?,
            script: redis::Script::new(PUBLISH_SCRIPT),
            config,
        };
        let settings = session.config.settings();
        let server = ServerBus::connect(session, runtime, settings).await?;
        Ok(RedisBus { server })
    }

    /// The settings this bus was made with.
    pub fn config(&self) -> &RedisConfig {
        &self.server.session().config
    }
}

/// A Redis command's failure as a bus error.
pub(crate) fn failed(what: String) -> impl FnOnce(RedisError) -> Error {
    move |error| Error::bus("redis", format!("{what} failed: {error}"), error)
}

#[async_trait]
impl BusSession for RedisSession {
    type Connection = MultiplexedConnection;
    type Position = StreamId;
    const NAME: &'static str = "Redis bus";

    fn replays(&self) -> bool {
        self.config.replay_len.is_some()
    }

    fn server_channel(&self, channel: &str) -> String {
        format!("{}{channel}", self.config.prefix)
    }

    async fn connect(&self, inbox: Inbox) -> Result<MultiplexedConnection> {
        let messages = inbox.clone();
        let on_push = move |info: PushInfo| {
            if info.kind != PushKind::Message {
                return;
            }
            let mut data = info.data.into_iter();
            if let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
                (data.next(), data.next())
            {
                // Not UTF-8: not one of ours.
                if let Ok(channel) = String::from_utf8(channel) {
                    messages.message(channel, payload);
                }
            }
        };
        let (connection, driver) =
            connect(&self.target, &*self.runtime, self.config.timeout, on_push).await?;
        self.runtime.spawn(Box::pin(async move {
            driver.await;
            inbox.ended();
        }));
        Ok(connection)
    }

    async fn subscribe(&self, connection: &MultiplexedConnection, channels: &[String]) -> Result<()> {
        let mut connection = connection.clone();
        connection
            .subscribe(channels)
            .await
            .map_err(failed(format!("SUBSCRIBE {channels:?}")))
    }

    async fn unsubscribe(&self, connection: &MultiplexedConnection, channel: &str) -> Result<()> {
        let mut connection = connection.clone();
        connection
            .unsubscribe(channel)
            .await
            .map_err(failed(format!("UNSUBSCRIBE {channel:?}")))
    }

    async fn publish(&self, current: Current<'_, Self>, event: &Event) -> Result<Option<StreamId>> {
        let mut connection = current.connection().await?;
        let server = self.server_channel(&event.channel);
        let wire = event.to_wire();
        let sent = match self.config.replay_len {
            Some(max_len) => {
                let mut script = self.script.key(&server);
                script.arg(&wire).arg(max_len).arg(&server);
                script.invoke_async::<Value>(&mut connection).await
            }
            None => {
                let publish = redis::cmd("PUBLISH").arg(&server).arg(&wire).clone();
                publish.query_async::<Value>(&mut connection).await
            }
        };
        // With replay, the script replies the stream id; a plain PUBLISH replies a count.
        let reply = sent.map_err(failed(format!("Redis publish on {server:?}")))?;
        Ok(self.config.replay_len.and_then(|_| StreamId::from_reply(&reply)))
    }

    async fn health_check(&self, connection: Option<MultiplexedConnection>) -> Result<()> {
        let Some(mut connection) = connection else {
            return Err(Error::bus_message(
                "redis",
                format!(
                    "not connected to Redis at {} (reconnecting)",
                    self.target.address()
                ),
            ));
        };
        let ping = redis::cmd("PING").query_async::<Value>(&mut connection).await;
        ping.map(drop).map_err(failed("Redis PING".to_owned()))
    }

    fn log_position(&self, position: &StreamId) -> Option<LogPosition> {
        Some(position.log_position())
    }

    fn position_of(&self, position: LogPosition) -> Option<StreamId> {
        Some(StreamId::from_log_position(position))
    }

    fn parse<'a>(&self, payload: &'a [u8]) -> std::result::Result<Received<'a, StreamId>, String> {
        let (position, wire) = split_payload(payload)?;
        Ok(Received::Event(position, wire))
    }

    async fn position(&self, connection: &MultiplexedConnection, channel: &str) -> Result<StreamId> {
        newest_position(&mut connection.clone(), &self.server_channel(channel)).await
    }

    async fn replay(
        &self,
        connection: &MultiplexedConnection,
        channel: &str,
        after: Option<&StreamId>,
        limit: usize,
    ) -> std::result::Result<ReplayPage<StreamId>, ReplayError> {
        let key = self.server_channel(channel);
        read_page(&mut connection.clone(), &key, after, limit).await
    }
}
