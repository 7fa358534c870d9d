//! subcast-postgres: the PostgreSQL [`EventBus`](subcast_core::EventBus) for running subcast on many nodes.
//!
//! An event published on any node becomes a row of the outbox table and a `NOTIFY` on its
//! channel; every node whose executors listen on the channel holds a `LISTEN` for it and
//! hands the event to its local bus streams. Everything stored or notified is
//! [`Event::to_wire`](subcast_core::Event::to_wire).
//!
//! - [`PostgresBus`]: the bus; [`PostgresBus::connect`] takes a `postgres://` or
//!   `postgresql://` URL, the host's [`Runtime`](subcast_core::Runtime) and a [`PostgresConfig`].
//! - [`PostgresConfig`]: outbox schema and table, retention, timeouts, reconnection backoff.
//! - The outbox `(id bigserial, channel, payload bytea, created_at)` holds every event; the
//!   notification carries `<id>:<event>` when that fits in NOTIFY's 8000 bytes, else `<id>`
//!   and the listener reads the row. A channel's ids grow in notification order, so the id
//!   of the last event delivered is a replay cursor: after a lost session the bus
//!   reconnects, LISTENs again and reads the outbox after it, delivering every event once
//!   and in order.
//! - NOTIFY channels are `subcast:<channel>`, or a SHA-256 digest when longer than 63 bytes;
//!   `LISTEN` identifiers are quoted, and `pg_notify` takes the channel as a parameter.
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
