//! Test support for the Redis Cluster bus: the cluster to use (`scripts/cluster` starts it),
//! raw connections to its nodes, and where a channel's slot lives.

#![allow(dead_code)]

use std::collections::BTreeSet;

use subcast_core::Runtime;
use subcast_redis::{RedisClusterBus, RedisConfig};

/// The cluster's seed URL (`SUBCAST_REDIS_CLUSTER_URL`, default the three local nodes of
/// `scripts/cluster`).
pub fn cluster_url() -> String {
    std::env::var("SUBCAST_REDIS_CLUSTER_URL")
        .unwrap_or_else(|_| "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003".to_owned())
}

/// A bus on the cluster.
pub async fn cluster_bus(runtime: std::sync::Arc<dyn Runtime>, config: RedisConfig) -> RedisClusterBus {
    RedisClusterBus::connect(&cluster_url(), runtime, config)
        .await
        .expect("connect to the Redis Cluster (run scripts/cluster)")
}

/// `host:port` of every seed of [`cluster_url`].
fn seeds() -> Vec<String> {
    let url = cluster_url();
    let nodes = url.trim_start_matches("redis+cluster://");
    let nodes = nodes.rsplit_once('@').map_or(nodes, |(_, nodes)| nodes);
    nodes
        .trim_end_matches('/')
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// A plain connection to the node at `address` (`host:port`).
pub fn node(address: &str) -> redis::Connection {
    redis::Client::open(format!("redis://{address}"))
        .and_then(|client| client.get_connection())
        .unwrap_or_else(|e| panic!("raw connection to {address}: {e}"))
}

/// A routing connection to the cluster (commands go to the node owning their key's slot).
pub fn routed() -> redis::cluster::ClusterConnection {
    let seeds: Vec<String> = seeds().iter().map(|seed| format!("redis://{seed}")).collect();
    redis::cluster::ClusterClient::new(seeds)
        .and_then(|client| client.get_connection())
        .expect("routing connection to the Redis Cluster")
}

/// The slot of `name` (a key or a shard channel), as the cluster computes it.
pub fn keyslot(name: &str) -> u16 {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(name)
        .query(&mut node(&seeds()[0]))
        .expect("CLUSTER KEYSLOT")
}

/// Every primary's `host:port` and slot ranges, from `CLUSTER SLOTS`.
pub fn primaries() -> Vec<(String, Vec<(u16, u16)>)> {
    let ranges: Vec<redis::Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query(&mut node(&seeds()[0]))
        .expect("CLUSTER SLOTS");
    let mut primaries: Vec<(String, Vec<(u16, u16)>)> = Vec::new();
    for range in ranges {
        let redis::Value::Array(parts) = range else {
            panic!("CLUSTER SLOTS: {range:?}")
        };
        let int = |value: &redis::Value| match value {
            redis::Value::Int(n) => *n,
            other => panic!("CLUSTER SLOTS: {other:?}"),
        };
        let (first, last) = (int(&parts[0]) as u16, int(&parts[1]) as u16);
        let redis::Value::Array(primary) = &parts[2] else {
            panic!("CLUSTER SLOTS: {parts:?}")
        };
        let host = match &primary[0] {
            redis::Value::BulkString(host) => String::from_utf8_lossy(host).into_owned(),
            other => panic!("CLUSTER SLOTS host: {other:?}"),
        };
        let address = format!("{host}:{}", int(&primary[1]));
        match primaries.iter_mut().find(|(known, _)| *known == address) {
            Some((_, slots)) => slots.push((first, last)),
            None => primaries.push((address, vec![(first, last)])),
        }
    }
    primaries
}

/// The primary owning the slot of `name`.
pub fn owner(name: &str) -> String {
    let slot = keyslot(name);
    primaries()
        .into_iter()
        .find(|(_, ranges)| {
            ranges
                .iter()
                .any(|(first, last)| (*first..=*last).contains(&slot))
        })
        .map(|(address, _)| address)
        .unwrap_or_else(|| panic!("no primary owns slot {slot}"))
}

/// Unique channel names, with the bus's default prefix, until every primary owns at least
/// one; asserted with `CLUSTER KEYSLOT`.
pub fn channels_on_every_shard(name: &str) -> Vec<String> {
    let wanted = primaries().len();
    assert!(wanted >= 3, "the test cluster has {wanted} primaries, not 3");
    let mut owners = BTreeSet::new();
    let mut channels = Vec::new();
    while owners.len() < wanted {
        let channel = subcast_bus_testing::unique(name);
        if owners.insert(owner(&format!("subcast:{channel}"))) {
            channels.push(channel);
        }
    }
    channels
}

/// Subscribers of shard channel `server` on its owner.
pub fn shard_subscribers(server: &str) -> i64 {
    let (_, count): (String, i64) = redis::cmd("PUBSUB")
        .arg("SHARDNUMSUB")
        .arg(server)
        .query(&mut node(&owner(server)))
        .expect("PUBSUB SHARDNUMSUB");
    count
}

/// `CLIENT KILL TYPE pubsub` on every primary; returns how many clients were killed.
pub fn kill_pubsub_clients_on_every_node() -> i64 {
    primaries()
        .iter()
        .map(|(address, _)| {
            redis::cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg("pubsub")
                .query::<i64>(&mut node(address))
                .expect("CLIENT KILL TYPE pubsub")
        })
        .sum()
}

/// The node id of the node at `address`.
pub fn node_id(address: &str) -> String {
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query(&mut node(address))
        .expect("CLUSTER MYID")
}

/// Move `slot` from the node at `from` to the node at `to`, keys included, the way
/// `redis-cli --cluster reshard` does, and tell every primary.
pub fn move_slot(slot: u16, from: &str, to: &str) {
    let (from_id, to_id) = (node_id(from), node_id(to));
    let setslot = |address: &str, args: &[&str]| {
        let mut command = redis::cmd("CLUSTER");
        command.arg("SETSLOT").arg(slot);
        for arg in args {
            command.arg(*arg);
        }
        command
            .query::<()>(&mut node(address))
            .unwrap_or_else(|e| panic!("CLUSTER SETSLOT {slot} {args:?} on {address}: {e}"));
    };
    setslot(to, &["IMPORTING", &from_id]);
    setslot(from, &["MIGRATING", &to_id]);
    let (host, port) = to.rsplit_once(':').expect("host:port");
    loop {
        let keys: Vec<String> = redis::cmd("CLUSTER")
            .arg("GETKEYSINSLOT")
            .arg(slot)
            .arg(100)
            .query(&mut node(from))
            .expect("CLUSTER GETKEYSINSLOT");
        if keys.is_empty() {
            break;
        }
        redis::cmd("MIGRATE")
            .arg(host)
            .arg(port)
            .arg("")
            .arg(0)
            .arg(5000)
            .arg("KEYS")
            .arg(&keys)
            .query::<()>(&mut node(from))
            .expect("MIGRATE");
    }
    setslot(to, &["NODE", &to_id]);
    setslot(from, &["NODE", &to_id]);
    for (address, _) in primaries() {
        if address != from && address != to {
            setslot(&address, &["NODE", &to_id]);
        }
    }
}
