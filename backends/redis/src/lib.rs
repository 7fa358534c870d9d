//! subcast-redis: the Redis [`EventBus`](subcast_core::EventBus) for running subcast on many nodes.
//!
//! An event published on any node is `PUBLISH`ed on `<prefix><channel>`; every node whose
//! executors listen on the channel holds a `SUBSCRIBE` for it and hands the event to its
//! local bus streams. Everything on the wire is [`Event::to_wire`](subcast_core::Event::to_wire).
//!
//! - [`RedisBus`]: the bus; [`RedisBus::connect`] takes a `redis://` or `rediss://` URL,
//!   the host's [`Runtime`](subcast_core::Runtime) and a [`RedisConfig`].
//! - `RedisClusterBus` (feature `cluster`; `redis-cluster` on the `subcast` facade): the
//!   same bus over Redis Cluster (Redis 7+) with sharded pub/sub (`SPUBLISH` /
//!   `SSUBSCRIBE`), each channel on the shard owning its slot; `RedisClusterBus::connect`
//!   takes `redis+cluster://host:port,host:port` or a `redis://` seed URL.
//! - [`RedisConfig`]: channel prefix, replay, timeouts, reconnection backoff, buffer bounds,
//!   TLS roots; checked by [`RedisConfig::validate`] when connecting.
//! - Bounded memory: pub/sub messages wait in a buffer of [`RedisConfig::received_capacity`],
//!   each local stream holds [`RedisConfig::stream_capacity`] events. The connection is
//!   always read, so Redis never buffers output for this client. What does not fit is read
//!   again from the stream by cursor (with replay), or announced to the channel's streams as
//!   a [`BusMessage::Gap`](subcast_core::BusMessage::Gap) with the exact number lost.
//! - Replay (opt-in, [`RedisConfig::replay`]): each publish is an atomic script doing `XADD`
//!   (capped with `MAXLEN ~`) then `PUBLISH "<stream id> <event>"`. Each node remembers the
//!   last stream id delivered per channel; after a reconnection it reads the stream from
//!   there (`XRANGE`), so every event is delivered once and in order. Without replay, a
//!   disconnection is reported to every stream as [`BusMessage::Gap`](subcast_core::BusMessage::Gap).
//! - Messages that are not valid events are counted in
//!   [`BusStats::invalid_messages`](subcast_core::BusStats) and skipped with a log line.
//! - Features: `tokio` (default) opens sockets with tokio, `smol` with async-net (which
//!   works under any runtime, so it is used when both are enabled).
//!   Background work always runs on the `Runtime` the host passes in.
//! - TLS (feature `tls`, off by default; `redis-tls` on the `subcast` facade): `rediss://`
//!   URLs connect over TLS with rustls on its `ring` provider (built with a C compiler
//!   alone: no cmake, no OpenSSL). The server certificate is always verified against the URL's
//!   host (a name or an IP address), chaining to the CAs given to
//!   `RedisConfig::tls_root_certificates` or, without them, to the Mozilla roots bundled
//!   by the `webpki-roots` crate; the operating system's certificate store is not read.
//!   A handshake that fails (unknown CA, wrong host, not a TLS server) fails
//!   [`RedisBus::connect`] with [`Error::Bus`](subcast_core::Error::Bus), within
//!   [`RedisConfig::timeout`]. Without the feature, a `rediss://` URL is refused with an
//!   error naming it. Client certificates are not supported.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod bus;
#[cfg(feature = "cluster")]
mod cluster;
mod config;
mod connection;
mod replay;
#[cfg(feature = "tls")]
mod tls;

pub use bus::RedisBus;
#[cfg(feature = "cluster")]
pub use cluster::RedisClusterBus;
pub use config::{RedisConfig, DEFAULT_RECEIVED_CAPACITY};
