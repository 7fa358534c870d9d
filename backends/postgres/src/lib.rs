//! subcast-postgres: the PostgreSQL [`EventBus`](subcast_core::EventBus) for running subcast on many nodes.
//!
//! An event published on any node becomes a row of the outbox table and a `NOTIFY` on its
//! channel; every node whose executors listen on the channel holds a `LISTEN` for it and
//! hands the event to its local bus streams. Everything stored or notified is
//! [`Event::to_wire`](subcast_core::Event::to_wire).
//!
//! - [`PostgresBus`]: the bus; [`PostgresBus::connect`] takes a `postgres://` or
//!   `postgresql://` URL, the host's [`Runtime`](subcast_core::Runtime) and a [`PostgresConfig`].
//! - [`PostgresConfig`]: outbox schema and table, retention, timeouts, reconnection backoff,
//!   buffer bounds; checked by [`PostgresConfig::validate`] when connecting.
//! - The outbox `(id bigserial, channel, payload bytea, created_at)` holds every event; the
//!   notification carries `<id>:<event>` when that fits in NOTIFY's 8000 bytes, else `<id>`
//!   and the listener reads the row. A channel's ids grow in notification order, so the id
//!   of the last event delivered is a replay cursor: after a lost session the bus
//!   reconnects, LISTENs again and reads the outbox after it, delivering every event once
//!   and in order.
//! - NOTIFY channels are `subcast:<channel>`, or `subcast:#` and 160 bits of the channel's
//!   SHA-256 when that is longer than 63 bytes or the channel starts with `#`: no literal
//!   name can look like a hashed one, so distinct channels never share a notification.
//!   `LISTEN` identifiers are quoted, and `pg_notify` takes the channel as a parameter.
//! - Bounded memory: notifications wait in a buffer of [`PostgresConfig::received_capacity`],
//!   each local stream holds [`PostgresConfig::stream_capacity`] events; what does not fit
//!   is read again from the outbox by cursor once there is room, so a slow consumer loses
//!   nothing and costs no memory beyond those bounds.
//! - Notifications that are not valid events are counted in
//!   [`BusStats::invalid_messages`](subcast_core::BusStats) and skipped with a log line.
//! - Features: `tokio` (default) opens sockets with tokio, `smol` with async-net (which
//!   works under any runtime, so it is used when both are enabled).
//!   tokio-postgres runs over them through `connect_raw`: no tokio runtime is needed.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod bus;
mod config;
mod connection;
mod outbox;

pub use bus::PostgresBus;
pub use config::{PostgresConfig, DEFAULT_RECEIVED_CAPACITY, MAX_RETENTION};
