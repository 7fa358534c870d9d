//! The NATS bus: core NATS subjects (and JetStream for replay) as a [`BusSession`].
//!
//! - [`NatsBus`]: [`EventBus`](subcast_core::EventBus) over NATS, with optional replay
//!   from a JetStream stream.
//!
//! Everything but the NATS operations is the shared skeleton, [`ServerBus`]: one
//! connection per handle, one core-NATS subscription per channel in use, one processing
//! task, reconnection with backoff, replay or gap.
//!
//! # How the live path learns each event's sequence
//!
//! With JetStream, a node publishes an event on `<prefix>.stored.<hex>` through JetStream
//! (the publish returns once the stream has stored it and acknowledged its sequence). The
//! stream republishes every event it stores, in stream order, on `<prefix>.live.<hex>`
//! with the headers `Nats-Sequence` (its stream sequence) and `Nats-Last-Sequence` (the
//! sequence of the previous event stored on the same subject). Nodes subscribe to the live
//! subject with a plain core-NATS subscription, so:
//!
//! - every live event carries its position, and the skeleton's cursor per channel drops
//!   what the replay already delivered: once each;
//! - the stream sends the republished events in sequence order over one connection, so a
//!   subscriber receives them in order;
//! - `Nats-Last-Sequence` names the event before: if it is not the one this subscription
//!   received last, one was lost in transit, and the bus reconnects and replays;
//! - after a reconnection or an overflow, the bus reads the stream from its cursor
//!   (an ephemeral consumer filtered on the channel's subject, read in batches), so nothing
//!   stored is missed.
//!
//! The alternatives were weaker: a core-NATS copy published beside the JetStream publish
//! cannot carry a sequence it does not know yet (and two publishers' copies may arrive in
//! an order other than the stream's); an ordered push consumer per channel costs a
//! server-side consumer per channel and node. Republishing costs one stream setting.
//!
//! Without JetStream, events go over core NATS on the live subject, at most once: a
//! disconnection is announced to every stream of every channel as an `EVENTS_GAP`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_trait::async_trait;
use bytes::Bytes;
use futures_lite::StreamExt;
use subcast_core::backend::{
    BusSession, Current, Inbox, Received, ReplayError, ReplayPage, Replayed, ServerBus,
};
use subcast_core::{delegate_event_bus, Error, Event, LogPosition, Result, Runtime};
use tokio::runtime::Handle;

use crate::config::NatsConfig;
use crate::connection::{split_payload, NatsConnection, Target};
use crate::subject::Subjects;

/// An [`EventBus`](subcast_core::EventBus) over NATS: core-NATS subjects to deliver, an
/// optional JetStream stream to replay.
///
/// Every handle (one per node) keeps one NATS connection. async-nats runs on tokio:
/// [`NatsBus::connect`] must be called inside a tokio runtime, whose handle keeps running
/// the connection and its readers; the bus's processing task runs on the [`Runtime`] given
/// to it. After a disconnection the bus reconnects by itself; with
/// [`NatsConfig::jetstream`] it then reads what it missed from the stream, otherwise every
/// subscribed channel receives a [`BusMessage::Gap`](subcast_core::BusMessage::Gap).
///
/// # Examples
///
/// ```no_run
/// # async fn demo(runtime: std::sync::Arc<dyn subcast_core::Runtime>) -> subcast_core::Result<()> {
/// use std::sync::Arc;
/// use futures_lite::StreamExt;
/// use subcast_core::{BusMessage, Event, EventBus};
/// use subcast_nats::{JetStreamConfig, NatsBus, NatsConfig};
///
/// let config = NatsConfig::default().jetstream(JetStreamConfig::default());
/// let bus = NatsBus::connect("nats://127.0.0.1:4222", runtime, config).await?;
/// let mut stream = bus.subscribe("users").await?;
/// bus.publish(Arc::new(Event::new("userCreated", "users", serde_json::json!({"id": 1})))).await?;
/// assert!(matches!(stream.next().await, Some(BusMessage::Event(_))));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct NatsBus {
    server: ServerBus<NatsSession>,
}

delegate_event_bus!(NatsBus, server);

/// NATS operations for the bus skeleton.
struct NatsSession {
    /// The tokio runtime async-nats runs on.
    tokio: Handle,
    target: Target,
    subjects: Subjects,
    config: NatsConfig,
}

impl NatsBus {
    /// Connect to the NATS server at `url` (`nats://[user:password@]host[:port]`, or
    /// `tls://` for TLS).
    ///
    /// Fails with a clear error, within `config.timeout`, on an invalid configuration (see
    /// [`NatsConfig::validate`]), a bad URL, a call outside a tokio runtime, an unreachable
    /// server, refused credentials, a failed TLS handshake, a server without JetStream
    /// (with [`NatsConfig::jetstream`]) or a stream of that name with other subjects.
    pub async fn connect(url: &str, runtime: Arc<dyn Runtime>, config: NatsConfig) -> Result<NatsBus> {
        config.validate()?;
        let target = Target::parse(url)?;
        let tokio = Handle::try_current().map_err(|_| {
            Error::bus_message(
                "nats",
                "NatsBus::connect must be called inside a tokio runtime (async-nats runs on tokio)"
                    .to_owned(),
            )
        })?;
        let session = NatsSession {
            tokio,
            target,
            subjects: Subjects::new(&config.prefix),
            config,
        };
        let settings = session.config.settings();
        let server = ServerBus::connect(session, runtime, settings).await?;
        Ok(NatsBus { server })
    }

    /// The settings this bus was made with.
    pub fn config(&self) -> &NatsConfig {
        &self.server.session().config
    }
}

impl NatsSession {
    /// Run `operation` on the tokio runtime async-nats needs (here if already on one).
    async fn on_tokio<T: Send + 'static>(
        &self,
        operation: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        if Handle::try_current().is_ok() {
            return operation.await;
        }
        self.tokio
            .spawn(operation)
            .await
            .map_err(|e| Error::bus("nats", format!("the NATS bus's tokio task failed: {e}"), e))?
    }

    fn stream(connection: &NatsConnection) -> Result<&async_nats::jetstream::stream::Stream> {
        match &connection.jetstream {
            Some((_, stream)) => Ok(stream),
            None => Err(Error::bus_message(
                "nats",
                "NATS bus: JetStream is off".to_owned(),
            )),
        }
    }
}

#[async_trait]
impl BusSession for NatsSession {
    type Connection = NatsConnection;
    type Position = u64;
    const NAME: &'static str = "NATS bus";

    fn replays(&self) -> bool {
        self.config.jetstream.is_some()
    }

    fn server_channel(&self, channel: &str) -> String {
        self.subjects.live(channel)
    }

    async fn connect(&self, inbox: Inbox) -> Result<NatsConnection> {
        let (target, config, subjects) = (self.target.clone(), self.config.clone(), self.subjects.clone());
        self.on_tokio(async move { NatsConnection::open(&target, &config, &subjects, inbox).await })
            .await
    }

    async fn subscribe(&self, connection: &NatsConnection, server_channels: &[String]) -> Result<()> {
        let (connection, subjects) = (connection.clone(), server_channels.to_vec());
        self.on_tokio(async move { connection.subscribe(&subjects).await })
            .await
    }

    async fn unsubscribe(&self, connection: &NatsConnection, server_channel: &str) -> Result<()> {
        connection.unsubscribe(server_channel);
        Ok(())
    }

    async fn publish(&self, current: Current<'_, Self>, event: &Event) -> Result<Option<u64>> {
        let connection = current.connection().await?;
        let payload = Bytes::from(event.to_wire());
        match self.config.jetstream.is_some() {
            true => {
                let subject = self.subjects.stored(&event.channel);
                // Within the stream's duplicate window, publishing the same event again
                // (a retry after a lost acknowledgement) stores it once.
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(async_nats::header::NATS_MESSAGE_ID, event.id.as_str());
                self.on_tokio(async move {
                    let Some((context, _)) = &connection.jetstream else {
                        return Err(Error::bus_message(
                            "nats",
                            "NATS bus: JetStream is off".to_owned(),
                        ));
                    };
                    let failed = |e: &dyn std::fmt::Display| {
                        Error::bus_message(
                            "nats",
                            format!("NATS JetStream publish on {subject:?} failed: {e}"),
                        )
                    };
                    let ack = context
                        .publish_with_headers(subject.clone(), headers, payload)
                        .await
                        .map_err(|e| failed(&e))?;
                    ack.await.map(|ack| Some(ack.sequence)).map_err(|e| failed(&e))
                })
                .await
            }
            false => {
                if connection.is_ended() {
                    return Err(Error::bus_message(
                        "nats",
                        "NATS publish failed: the connection ended".to_owned(),
                    ));
                }
                let subject = self.subjects.live(&event.channel);
                connection
                    .client
                    .publish(subject.clone(), payload)
                    .await
                    .map(|()| None)
                    .map_err(|e| Error::bus("nats", format!("NATS publish on {subject:?} failed: {e}"), e))
            }
        }
    }

    async fn health_check(&self, connection: Option<NatsConnection>) -> Result<()> {
        let Some(connection) = connection.filter(|connection| !connection.is_ended()) else {
            return Err(Error::bus_message(
                "nats",
                format!(
                    "not connected to NATS at {} (reconnecting)",
                    self.target.address()
                ),
            ));
        };
        self.on_tokio(async move { connection.round_trip().await }).await
    }

    fn log_position(&self, position: &u64) -> Option<LogPosition> {
        Some(LogPosition::new(*position, 0))
    }

    fn position_of(&self, position: LogPosition) -> Option<u64> {
        // Stream sequences have no second part.
        (position.minor == 0).then_some(position.major)
    }

    fn parse<'a>(&self, payload: &'a [u8]) -> std::result::Result<Received<'a, u64>, String> {
        let (sequence, wire) = split_payload(payload)?;
        Ok(Received::Event(sequence, wire))
    }

    async fn position(&self, connection: &NatsConnection, _channel: &str) -> Result<u64> {
        let connection = connection.clone();
        self.on_tokio(async move {
            let info = Self::stream(&connection)?
                .get_info()
                .await
                .map_err(|e| Error::bus("nats", format!("NATS JetStream stream info failed: {e}"), e))?;
            Ok(info.state.last_sequence)
        })
        .await
    }

    async fn replay(
        &self,
        connection: &NatsConnection,
        channel: &str,
        after: Option<&u64>,
        limit: usize,
    ) -> std::result::Result<ReplayPage<u64>, ReplayError> {
        let (connection, subject) = (connection.clone(), self.subjects.stored(channel));
        let cursor = after.copied().unwrap_or(0);
        let read = self.on_tokio(async move { Ok(read_page(&connection, &subject, cursor, limit).await) });
        match read.await {
            Ok(page) => page,
            Err(error) => Err(ReplayError::Failed(error.to_string())),
        }
    }
}

/// At most `limit` events of `subject` after `cursor`, with what the stream lost.
async fn read_page(
    connection: &NatsConnection,
    subject: &str,
    mut cursor: u64,
    limit: usize,
) -> std::result::Result<ReplayPage<u64>, ReplayError> {
    let failed = |what: String| match connection.is_ended() {
        true => ReplayError::Disconnected,
        false => ReplayError::Failed(what),
    };
    let stream = NatsSession::stream(connection).map_err(|e| ReplayError::Failed(e.to_string()))?;
    let state = stream
        .get_info()
        .await
        .map_err(|e| failed(format!("NATS JetStream stream info failed: {e}")))?
        .state;
    let mut entries = Vec::new();
    if state.last_sequence < cursor {
        // The server lost its store (or the stream was recreated): every event it holds
        // now is new to this node.
        cursor = state.first_sequence.saturating_sub(1);
        entries.push(Replayed::Rewind(cursor));
    } else if state.first_sequence > cursor.saturating_add(1) {
        // Retention removed events after the cursor; the stream cannot tell whether any
        // was on this subject, so the loss is announced.
        let lost = state.first_sequence - 1;
        entries.push(Replayed::Lost(Some(lost)));
        cursor = lost;
    }
    // One ephemeral consumer per page, filtered on the channel's subject, reads the page in
    // batches (a request per event would be a round trip per event). The server removes it
    // after `inactive_threshold` if this node goes away before deleting it.
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: subject.to_owned(),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: cursor.saturating_add(1),
            },
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            memory_storage: true,
            ..Default::default()
        })
        .await
        .map_err(|e| failed(format!("NATS JetStream consumer create failed: {e}")))?;
    let mut read = 0;
    let mut caught_up = false;
    while read < limit && !caught_up {
        let mut batch = consumer
            .fetch()
            .max_messages(limit - read)
            .messages()
            .await
            .map_err(|e| failed(format!("NATS JetStream fetch failed: {e}")))?;
        // An empty batch, or a message with nothing after it, is the end of the history.
        caught_up = true;
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| failed(format!("NATS JetStream fetch failed: {e}")))?;
            let info = message
                .info()
                .map_err(|e| failed(format!("NATS JetStream message without metadata: {e}")))?;
            caught_up = info.pending == 0;
            read += 1;
            entries.push(Replayed::Event(info.stream_sequence, message.payload.to_vec()));
        }
    }
    let name = consumer.cached_info().name.clone();
    // Left behind, it expires by itself.
    let _ = stream.delete_consumer(&name).await;
    Ok(ReplayPage { read, entries })
}
