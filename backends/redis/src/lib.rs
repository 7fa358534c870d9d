//! subcast-redis: the Redis [`EventBus`](subcast_core::EventBus) for running subcast on many nodes.
//!
//! An event published on any node is `PUBLISH`ed on `<prefix><channel>`; every node whose
//! executors listen on the channel holds a `SUBSCRIBE` for it and hands the event to its
//! local bus streams. Everything on the wire is [`Event::to_wire`](subcast_core::Event::to_wire).
//!
//! - [`RedisBus`]: the bus; [`RedisBus::connect`] takes a `redis://` URL, the host's
//!   [`Runtime`](subcast_core::Runtime) and a [`RedisConfig`].
//! - [`RedisConfig`]: channel prefix, replay, timeouts, reconnection backoff.
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

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod bus;
mod config;
mod connection;
mod replay;

pub use bus::RedisBus;
pub use config::RedisConfig;
