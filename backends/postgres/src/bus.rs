//! The PostgreSQL bus: LISTEN/NOTIFY and an outbox table as a [`BusSession`].
//!
//! - [`PostgresBus`]: [`EventBus`](subcast_core::EventBus) over LISTEN/NOTIFY with every event kept in an outbox.
//!
//! Everything but the SQL is the shared skeleton, [`ServerBus`]: a listening session per
//! handle, one processing task that handles in order everything it receives (reading the
//! outbox row when the event did not fit in the notification), replays, and the end of the
//! session (then it reconnects with backoff, LISTENs again and replays every channel from
//! its cursor). Publishing uses a second session, with prepared statements.
//!
//! Back-pressure: tokio-postgres reads one message from the socket per poll and keeps no
//! queue of notifications; the bus polls the listening session continuously and queues each
//! notification for the processing task in a bounded mailbox
//! ([`PostgresConfig::received_capacity`]). It never stops reading: the same session runs
//! the bus's queries, and a listener that stops reading holds back PostgreSQL's shared
//! notification queue for everyone. What a full mailbox or a full local stream
//! ([`PostgresConfig::stream_capacity`]) cannot take is dropped, and its channel is read
//! again from the outbox by its cursor, in pages no larger than its streams' room.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use subcast_core::backend::within;
use subcast_core::backend::{
    BusSession, Current, Fetched, Inbox, Received, ReplayError, ReplayPage, Replayed, ServerBus,
};
use subcast_core::{delegate_event_bus, Error, Event, LogPosition, Result, Runtime};
use tokio_postgres::{AsyncMessage, Client, Statement};

use crate::config::PostgresConfig;
use crate::connection::{connect, describe, Target};
use crate::outbox::{lock_key, notify_channel, quote_ident, Notice, Outbox, NOTIFY_LIMIT};

/// Room kept in a notification for `<id>:` before the event.
const ID_ROOM: usize = 24;

/// An [`EventBus`](subcast_core::EventBus) over PostgreSQL LISTEN/NOTIFY, with an outbox table for replay.
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
    server: ServerBus<PostgresSession>,
}

delegate_event_bus!(PostgresBus, server);

/// LISTEN/NOTIFY and outbox statements for the bus skeleton.
struct PostgresSession {
    database: Arc<Database>,
}

/// What both sessions share with the cleanup task.
#[derive(Debug)]
struct Database {
    runtime: Arc<dyn Runtime>,
    target: Target,
    config: PostgresConfig,
    outbox: Outbox,
    publisher: async_lock::Mutex<Option<Arc<Publisher>>>,
    /// Set, and `closing` notified, when the bus is dropped.
    closed: AtomicBool,
    closing: event_listener::Event,
}

/// The publishing session with its prepared statements.
#[derive(Debug)]
struct Publisher {
    client: Client,
    inline: Statement,
    keyed: Statement,
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
        let settings = config.settings();
        let database = Arc::new(Database {
            runtime: runtime.clone(),
            target: Target::parse(url)?,
            outbox: Outbox::new(&config),
            config,
            publisher: async_lock::Mutex::new(None),
            closed: AtomicBool::new(false),
            closing: event_listener::Event::new(),
        });
        // The outbox must exist before a channel's first position is read from it.
        database.publisher().await?;
        let session = PostgresSession {
            database: database.clone(),
        };
        let server = ServerBus::connect(session, runtime.clone(), settings).await?;
        if let Some(retention) = database.config.retention {
            let interval = database.config.cleanup_interval;
            let cleaning = clean(Arc::downgrade(&database), runtime.clone(), interval, retention);
            runtime.spawn(Box::pin(cleaning));
        }
        Ok(PostgresBus { server })
    }

    /// The settings this bus was made with.
    pub fn config(&self) -> &PostgresConfig {
        &self.server.session().database.config
    }

    /// Delete events older than the retention now; returns how many were deleted.
    pub async fn clean_outbox(&self) -> Result<u64> {
        let database = &self.server.session().database;
        match database.config.retention {
            Some(retention) => database.clean(retention).await,
            None => Ok(0),
        }
    }
}

impl Drop for PostgresBus {
    fn drop(&mut self) {
        let database = &self.server.session().database;
        database.closed.store(true, Ordering::SeqCst);
        database.closing.notify(usize::MAX);
    }
}

/// A statement's failure as a bus error.
fn failed(what: String) -> impl FnOnce(tokio_postgres::Error) -> Error {
    move |error| {
        let message = format!("{what} failed: {}", describe(&error));
        Error::bus("postgres", message, error)
    }
}

#[async_trait]
impl BusSession for PostgresSession {
    type Connection = Arc<Client>;
    type Position = i64;
    const NAME: &'static str = "PostgreSQL bus";

    fn replays(&self) -> bool {
        true
    }

    fn server_channel(&self, channel: &str) -> String {
        notify_channel(&self.database.config.channel_prefix, channel)
    }

    /// Open a listening session whose notifications and end go to `inbox`.
    async fn connect(&self, inbox: Inbox) -> Result<Arc<Client>> {
        let database = &self.database;
        let timeout = database.config.timeout;
        let (client, mut driver) = connect(&database.target, "listener", &*database.runtime, timeout).await?;
        database.runtime.spawn(Box::pin(async move {
            loop {
                match std::future::poll_fn(|cx| driver.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        // Never waits: see the module docs. A drop is made good by a replay.
                        inbox.message(n.channel().to_owned(), n.payload().as_bytes().to_vec());
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
            inbox.ended();
        }));
        Ok(Arc::new(client))
    }

    async fn subscribe(&self, listener: &Arc<Client>, channels: &[String]) -> Result<()> {
        let statements: String = channels
            .iter()
            .map(|notify| format!("LISTEN {};", quote_ident(notify)))
            .collect();
        let listen = listener.batch_execute(&statements).await;
        listen.map_err(failed(format!("LISTEN {channels:?}")))
    }

    async fn unsubscribe(&self, listener: &Arc<Client>, channel: &str) -> Result<()> {
        let statement = format!("UNLISTEN {}", quote_ident(channel));
        let unlisten = listener.batch_execute(&statement).await;
        unlisten.map_err(failed(format!("UNLISTEN {channel:?}")))
    }

    async fn publish(&self, _current: Current<'_, Self>, event: &Event) -> Result<Option<i64>> {
        self.database.publish(event).await.map(Some)
    }

    fn log_position(&self, position: &i64) -> Option<LogPosition> {
        u64::try_from(*position).ok().map(|id| LogPosition::new(id, 0))
    }

    fn position_of(&self, position: LogPosition) -> Option<i64> {
        // Outbox ids have no second part.
        (position.minor == 0)
            .then(|| i64::try_from(position.major).ok())
            .flatten()
    }

    async fn health_check(&self, listener: Option<Arc<Client>>) -> Result<()> {
        let database = &self.database;
        let publisher = database.publisher().await?;
        let select = publisher.client.simple_query("SELECT 1").await;
        select.map_err(failed("PostgreSQL health check".to_owned()))?;
        if listener.is_none() {
            return Err(Error::bus_message(
                "postgres",
                format!(
                    "the listening session to PostgreSQL at {} is reconnecting",
                    database.target.address()
                ),
            ));
        }
        Ok(())
    }

    fn parse<'a>(&self, payload: &'a [u8]) -> std::result::Result<Received<'a, i64>, String> {
        let text = std::str::from_utf8(payload).map_err(|e| e.to_string())?;
        Ok(match Notice::parse(text)? {
            Notice::Inline(id, wire) => Received::Event(Some(id), wire),
            Notice::Keyed(id) => Received::Position(id),
        })
    }

    async fn position(&self, listener: &Arc<Client>, channel: &str) -> Result<i64> {
        let newest = listener
            .query_one(&self.database.outbox.newest(), &[&channel])
            .await;
        Ok(newest
            .map_err(failed(format!("reading the newest id of {channel:?}")))?
            .get(0))
    }

    async fn replay(
        &self,
        listener: &Arc<Client>,
        channel: &str,
        after: Option<&i64>,
        limit: usize,
    ) -> std::result::Result<ReplayPage<i64>, ReplayError> {
        let outbox = &self.database.outbox;
        let cursor = after.copied().unwrap_or(0);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let read = async {
            // Ids behind the cursor mean the server lost commits (a crash without
            // synchronous_commit): start again from what it has, and report a gap.
            // Cleanup keeps each channel's newest id, so only lost commits put it behind.
            let newest: i64 = listener.query_one(&outbox.newest(), &[&channel]).await?.get(0);
            let from = cursor.min(newest);
            // Rows the cleanup deleted after `from` show as a marker among these rows.
            let rows = listener
                .query(&outbox.replay(), &[&channel, &from, &limit])
                .await?;
            Ok::<_, tokio_postgres::Error>((rows, from))
        };
        let (rows, from) = read
            .await
            .map_err(|error| match error.is_closed() || listener.is_closed() {
                true => ReplayError::Disconnected,
                false => ReplayError::Failed(describe(&error)),
            })?;
        let mut entries = Vec::with_capacity(rows.len() + 1);
        if from < cursor {
            entries.push(Replayed::Rewind(from));
        }
        let read = rows.len();
        entries.extend(rows.into_iter().map(|row| {
            let (id, wire): (i64, Vec<u8>) = (row.get(0), row.get(1));
            match wire.is_empty() {
                true => Replayed::Lost(Some(id)),
                false => Replayed::Event(id, wire),
            }
        }));
        Ok(ReplayPage { read, entries })
    }

    async fn fetch(&self, listener: &Arc<Client>, channel: &str, id: &i64) -> Result<Fetched> {
        let read = listener.query_opt(&self.database.outbox.read(), &[id]).await;
        let row = read.map_err(|e| Error::bus("postgres", describe(&e), e))?;
        let row: Option<(String, Vec<u8>)> = row.map(|row| (row.get(0), row.get(1)));
        Ok(match row {
            // Cleaned up since: the replay reports the gap.
            Some((row_channel, wire)) if row_channel == channel && wire.is_empty() => Fetched::Gone,
            Some((row_channel, wire)) if row_channel == channel => Fetched::Event(wire),
            Some(_) => Fetched::Invalid("the outbox row belongs to another channel".to_owned()),
            None => Fetched::Invalid("no outbox row has the notified id".to_owned()),
        })
    }
}

/// The cleanup task: delete old outbox rows every `interval` until the bus is dropped.
async fn clean(weak: Weak<Database>, runtime: Arc<dyn Runtime>, interval: Duration, retention: Duration) {
    loop {
        let closing = {
            let Some(database) = weak.upgrade() else {
                return;
            };
            // Listening before the check: a close after it still wakes the wait below.
            let closing = database.closing.listen();
            if database.closed.load(Ordering::SeqCst) {
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
        let Some(database) = weak.upgrade() else {
            return;
        };
        if database.closed.load(Ordering::SeqCst) {
            return;
        }
        if let Err(error) = database.clean(retention).await {
            log::warn!("subcast-postgres: outbox cleanup failed: {error}");
        }
    }
}

impl Database {
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

    /// Insert and notify; the outbox id of the row.
    async fn publish(&self, event: &Event) -> Result<i64> {
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
        let row = within(&*self.runtime, self.config.timeout, "PostgreSQL publish", insert)
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
        Ok(row.get(0))
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
