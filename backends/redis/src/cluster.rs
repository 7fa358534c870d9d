//! The Redis Cluster bus: sharded pub/sub (and per-channel Streams for replay) as a [`BusSession`].
//!
//! - [`RedisClusterBus`]: [`EventBus`](subcast_core::EventBus) over `SPUBLISH` /
//!   `SSUBSCRIBE` (Redis 7), with optional replay from Streams.
//!
//! redis-rs's cluster connection keeps one RESP3 connection per primary, routes every
//! command by the slot of its first key or shard channel (following `MOVED` / `ASK`), and
//! hands every push to a callback without buffering. The bus names a channel's shard
//! channel and its replay stream with the same string (`<prefix><channel>`): channels and
//! keys are separate namespaces, and one name is one slot, so the publish script
//! (`XADD` then `SPUBLISH`) runs on the one node owning both.
//!
//! Loss is never silent. redis-rs repairs a lost node connection by itself, but what was
//! published meanwhile would be missed without a word; so when any node's connection drops,
//! or a node unsubscribes one of our shard channels itself (its slot moved to another node),
//! the whole cluster connection is reported ended and the shared skeleton reconnects:
//! every channel is subscribed again (routed to its slot's current owner) and read again
//! from its stream (with replay) or announced as a gap (without).

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value};
use subcast_core::backend::within;
use subcast_core::backend::{BusSession, Current, Inbox, Received, ReplayError, ReplayPage, ServerBus};
use subcast_core::{delegate_event_bus, Error, Event, LogPosition, Result, Runtime};

use crate::bus::failed;
use crate::config::RedisConfig;
use crate::replay::{newest_position, read_page, split_payload, StreamId, CLUSTER_PUBLISH_SCRIPT};

/// The URL scheme naming a cluster by its seed nodes.
const CLUSTER_SCHEME: &str = "redis+cluster://";

/// Longest wait redis-rs is given for one node connection (its own timer, which must not
/// overflow); the bus's own timeout ([`RedisConfig::timeout`]) still bounds every operation.
const MAX_NODE_CONNECT_TIMEOUT: Duration = Duration::from_secs(3600);

/// An [`EventBus`](subcast_core::EventBus) over Redis Cluster: `SPUBLISH` to deliver,
/// `SSUBSCRIBE` per channel in use, each channel on the shard that owns its slot.
///
/// Every handle (one per node of the application) keeps one RESP3 connection per cluster
/// primary, used both for commands and for sharded pub/sub pushes. Channels spread over the
/// shards by the hash slot of `<prefix><channel>`; a channel name holding a hash tag
/// (`orders{eu}`, `invoices{eu}`) pins channels to one slot. With [`RedisConfig::replay`],
/// each channel's stream has the same name, so it lives on the same shard, and an atomic
/// script there appends the event and publishes `<stream id> <event>`.
///
/// After any node's connection drops, or a slot of a subscribed channel moves to another
/// node, the bus reconnects to the cluster, subscribes every channel again where its slot
/// now lives, and replays what it missed from the streams (with replay) or announces a
/// [`BusMessage::Gap`](subcast_core::BusMessage::Gap) (without).
///
/// # Examples
///
/// ```no_run
/// # async fn demo(runtime: std::sync::Arc<dyn subcast_core::Runtime>) -> subcast_core::Result<()> {
/// use std::sync::Arc;
/// use futures_lite::StreamExt;
/// use subcast_core::{BusMessage, Event, EventBus};
/// use subcast_redis::{RedisClusterBus, RedisConfig};
///
/// let url = "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003";
/// let bus = RedisClusterBus::connect(url, runtime, RedisConfig::default().replay(10_000)).await?;
/// let mut stream = bus.subscribe("users").await?;
/// bus.publish(Arc::new(Event::new("userCreated", "users", serde_json::json!({"id": 1})))).await?;
/// assert!(matches!(stream.next().await, Some(BusMessage::Event(_))));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RedisClusterBus {
    server: ServerBus<ClusterSession>,
}

delegate_event_bus!(RedisClusterBus, server);

/// Redis Cluster commands for the bus skeleton.
struct ClusterSession {
    runtime: Arc<dyn Runtime>,
    seeds: Vec<ConnectionInfo>,
    config: RedisConfig,
    script: redis::Script,
}

impl fmt::Debug for ClusterSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSession")
            .field("seeds", &addresses(&self.seeds))
            .finish_non_exhaustive()
    }
}

/// One connection to the cluster (a connection per primary, behind redis-rs's router).
#[derive(Clone)]
struct Shards {
    connection: ClusterConnection,
    /// The shard channels this connection holds: a `sunsubscribe` push naming one of them
    /// comes from the server (its slot moved), not from us.
    subscribed: Arc<Mutex<HashSet<String>>>,
}

impl Shards {
    fn subscribed(&self) -> MutexGuard<'_, HashSet<String>> {
        self.subscribed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RedisClusterBus {
    /// Connect to the Redis Cluster reached through the seed nodes of `url`:
    /// `redis+cluster://[user:password@]host:port[,host:port...]`, or one `redis://` seed URL.
    ///
    /// One reachable seed is enough: the others nodes are found from its `CLUSTER SLOTS`.
    /// Fails with a clear error, within `config.timeout`, on an invalid configuration (see
    /// [`RedisConfig::validate`]), a bad URL (`rediss://`, a database other than 0, a
    /// missing host or port), or no reachable node. Background work runs on `runtime`.
    pub async fn connect(
        url: &str,
        runtime: Arc<dyn Runtime>,
        config: RedisConfig,
    ) -> Result<RedisClusterBus> {
        let seeds = match url.strip_prefix(CLUSTER_SCHEME) {
            Some(rest) => cluster_url_seeds(rest)?,
            None => vec![seed(url)?],
        };
        Self::start(seeds, runtime, config).await
    }

    /// Connect to the Redis Cluster reached through `seeds`, each a `redis://` URL
    /// (`redis://[user:password@]host:port`); as [`connect`](Self::connect) otherwise.
    pub async fn connect_seeds<S: AsRef<str>>(
        seeds: &[S],
        runtime: Arc<dyn Runtime>,
        config: RedisConfig,
    ) -> Result<RedisClusterBus> {
        if seeds.is_empty() {
            return Err(Error::bus_message(
                "redis",
                "invalid Redis Cluster seeds: none given",
            ));
        }
        let seeds = seeds
            .iter()
            .map(|url| seed(url.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        Self::start(seeds, runtime, config).await
    }

    async fn start(
        seeds: Vec<ConnectionInfo>,
        runtime: Arc<dyn Runtime>,
        config: RedisConfig,
    ) -> Result<Self> {
        config.validate()?;
        let settings = config.settings();
        let session = ClusterSession {
            runtime: runtime.clone(),
            seeds,
            script: redis::Script::new(CLUSTER_PUBLISH_SCRIPT),
            config,
        };
        let server = ServerBus::connect(session, runtime, settings).await?;
        Ok(RedisClusterBus { server })
    }

    /// The settings this bus was made with.
    pub fn config(&self) -> &RedisConfig {
        &self.server.session().config
    }
}

/// The seeds of a `redis+cluster://` URL, given without its scheme.
fn cluster_url_seeds(rest: &str) -> Result<Vec<ConnectionInfo>> {
    let invalid = |why: &str| Error::bus_message("redis", format!("invalid Redis Cluster URL: {why}"));
    let (credentials, nodes) = match rest.rsplit_once('@') {
        Some((credentials, nodes)) => (Some(credentials), nodes),
        None => (None, rest),
    };
    let (nodes, database) = nodes.split_once('/').unwrap_or((nodes, ""));
    if !matches!(database, "" | "0") {
        return Err(invalid("a cluster has only database 0"));
    }
    let seeds = nodes
        .split(',')
        .map(|node| {
            if node.is_empty() {
                return Err(invalid("an empty host in the node list"));
            }
            let (_, port) = node
                .rsplit_once(':')
                .ok_or_else(|| invalid(&format!("{node:?} has no port (host:port)")))?;
            port.parse::<u16>()
                .map_err(|_| invalid(&format!("{node:?} has no valid port")))?;
            match credentials {
                Some(credentials) => seed(&format!("redis://{credentials}@{node}")),
                None => seed(&format!("redis://{node}")),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(seeds)
}

/// One seed node's `redis://` URL, refused unless it names a TCP host of database 0.
fn seed(url: &str) -> Result<ConnectionInfo> {
    let invalid = |why: String| Error::bus_message("redis", format!("invalid Redis Cluster seed URL: {why}"));
    if url.starts_with("rediss://") {
        return Err(invalid(
            "rediss:// (TLS) is not supported by the Redis Cluster bus".to_owned(),
        ));
    }
    if !url.starts_with("redis://") {
        let scheme = url.split("://").next().unwrap_or_default();
        return Err(invalid(format!(
            "scheme must be redis:// or redis+cluster://, got {scheme:?}"
        )));
    }
    let info = url.into_connection_info().map_err(|e| invalid(e.to_string()))?;
    if !matches!(info.addr(), ConnectionAddr::Tcp(..)) {
        return Err(invalid(format!("unsupported address {}", info.addr())));
    }
    if info.redis_settings().db() != 0 {
        return Err(invalid("a cluster has only database 0".to_owned()));
    }
    Ok(info)
}

/// `host:port, ...` of `seeds`, for messages.
fn addresses(seeds: &[ConnectionInfo]) -> String {
    let addresses: Vec<String> = seeds.iter().map(|seed| seed.addr().to_string()).collect();
    addresses.join(", ")
}

#[async_trait]
impl BusSession for ClusterSession {
    type Connection = Shards;
    type Position = StreamId;
    const NAME: &'static str = "Redis Cluster bus";

    fn replays(&self) -> bool {
        self.config.replay_len.is_some()
    }

    fn server_channel(&self, channel: &str) -> String {
        format!("{}{channel}", self.config.prefix)
    }

    async fn connect(&self, inbox: Inbox) -> Result<Shards> {
        let subscribed = Arc::new(Mutex::new(HashSet::<String>::new()));
        let ended = AtomicBool::new(false);
        let on_push = {
            let subscribed = subscribed.clone();
            move |info: PushInfo| {
                let mut data = info.data.into_iter();
                let channel = match data.next() {
                    Some(Value::BulkString(channel)) => String::from_utf8(channel).ok(),
                    _ => None,
                };
                let end = match (info.kind, channel) {
                    // Once reported ended, the bus reads everything again from the
                    // cursors of the connection that replaces this one (or announces a gap):
                    // what this one still receives would only be duplicates.
                    (PushKind::SMessage, _) if ended.load(Ordering::SeqCst) => false,
                    (PushKind::SMessage, Some(channel)) => {
                        if let Some(Value::BulkString(payload)) = data.next() {
                            inbox.message(channel, payload);
                        }
                        false
                    }
                    (PushKind::Disconnection, _) => true,
                    (PushKind::SUnsubscribe, Some(channel)) => subscribed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .contains(&channel),
                    _ => false,
                };
                if end && !ended.swap(true, Ordering::SeqCst) {
                    inbox.ended();
                }
                Ok::<(), ()>(())
            }
        };
        let client = ClusterClientBuilder::new(self.seeds.clone())
            .use_protocol(ProtocolVersion::RESP3)
            .push_sender(on_push)
            .connection_timeout(self.config.timeout.min(MAX_NODE_CONNECT_TIMEOUT))
            .build()
            .map_err(|e| Error::bus("redis", format!("invalid Redis Cluster seeds: {e}"), e))?;
        let what = format!("connecting to Redis Cluster at {}", addresses(&self.seeds));
        let connection = within(
            &*self.runtime,
            self.config.timeout,
            &what,
            client.get_async_connection(),
        )
        .await?
        .map_err(|e| Error::bus("redis", format!("{what}: {e}"), e))?;
        Ok(Shards {
            connection,
            subscribed,
        })
    }

    async fn subscribe(&self, shards: &Shards, channels: &[String]) -> Result<()> {
        let mut connection = shards.connection.clone();
        // One at a time: SSUBSCRIBE refuses channels of different slots in one command.
        for channel in channels {
            shards.subscribed().insert(channel.clone());
            connection
                .ssubscribe(channel)
                .await
                .map_err(failed(format!("SSUBSCRIBE {channel:?}")))?;
        }
        Ok(())
    }

    async fn unsubscribe(&self, shards: &Shards, channel: &str) -> Result<()> {
        // Forgotten first: the confirmation push is ours, not a moved slot.
        shards.subscribed().remove(channel);
        let mut connection = shards.connection.clone();
        connection
            .sunsubscribe(channel)
            .await
            .map_err(failed(format!("SUNSUBSCRIBE {channel:?}")))
    }

    async fn publish(&self, current: Current<'_, Self>, event: &Event) -> Result<Option<StreamId>> {
        let mut connection = current.connection().await?.connection;
        let server = self.server_channel(&event.channel);
        let wire = event.to_wire();
        let sent = match self.config.replay_len {
            Some(max_len) => {
                let mut script = self.script.key(&server);
                script.arg(&wire).arg(max_len);
                script.invoke_async::<Value>(&mut connection).await
            }
            None => {
                let publish = redis::cmd("SPUBLISH").arg(&server).arg(&wire).clone();
                publish.query_async::<Value>(&mut connection).await
            }
        };
        // With replay, the script replies the stream id; a plain PUBLISH replies a count.
        let reply = sent.map_err(failed(format!("Redis Cluster publish on {server:?}")))?;
        Ok(self.config.replay_len.and_then(|_| StreamId::from_reply(&reply)))
    }

    async fn health_check(&self, shards: Option<Shards>) -> Result<()> {
        let Some(shards) = shards else {
            return Err(Error::bus_message(
                "redis",
                format!(
                    "not connected to Redis Cluster at {} (reconnecting)",
                    addresses(&self.seeds)
                ),
            ));
        };
        let mut connection = shards.connection;
        // Every primary must answer: each owns the channels of its slots.
        let every_primary = RoutingInfo::MultiNode((
            MultipleNodeRoutingInfo::AllMasters,
            Some(ResponsePolicy::AllSucceeded),
        ));
        connection
            .route_command(redis::cmd("PING"), every_primary)
            .await
            .map(drop)
            .map_err(failed("Redis Cluster PING of every primary".to_owned()))
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

    async fn position(&self, shards: &Shards, channel: &str) -> Result<StreamId> {
        newest_position(&mut shards.connection.clone(), &self.server_channel(channel)).await
    }

    async fn replay(
        &self,
        shards: &Shards,
        channel: &str,
        after: Option<&StreamId>,
        limit: usize,
    ) -> std::result::Result<ReplayPage<StreamId>, ReplayError> {
        let key = self.server_channel(channel);
        read_page(&mut shards.connection.clone(), &key, after, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_name_every_seed_with_the_credentials() {
        let seeds = cluster_url_seeds("user:secret@10.0.0.1:7001,node-b:7002/").unwrap();
        assert_eq!(addresses(&seeds), "10.0.0.1:7001, node-b:7002");
        for seed in &seeds {
            assert_eq!(seed.redis_settings().username(), Some("user"));
            assert_eq!(seed.redis_settings().password(), Some("secret"));
        }
    }

    #[test]
    fn malformed_cluster_urls_are_refused_saying_why() {
        for (rest, why) in [
            ("", "empty host"),
            ("a:1,,b:2", "empty host"),
            ("a:1,b", "no port"),
            ("a:x", "no valid port"),
            ("a:1/2", "database 0"),
        ] {
            let error = cluster_url_seeds(rest).unwrap_err().to_string();
            assert!(
                error.contains("Redis Cluster") && error.contains(why),
                "{rest}: {error}"
            );
        }
    }
}
