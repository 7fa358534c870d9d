//! subcast-nats: the NATS [`EventBus`](subcast_core::EventBus) for running subcast on many nodes.
//!
//! An event published on any node reaches every node whose executors listen on its
//! channel over a core-NATS subscription; with JetStream, a stream keeps it for replay.
//! Everything on the wire is [`Event::to_wire`](subcast_core::Event::to_wire).
//!
//! - [`NatsBus`]: the bus; [`NatsBus::connect`] takes a `nats://` or `tls://` URL, the
//!   host's [`Runtime`](subcast_core::Runtime) and a [`NatsConfig`].
//! - [`NatsConfig`]: subject prefix, credentials, TLS roots, [`JetStreamConfig`], timeouts,
//!   reconnection backoff, buffer bounds; checked by [`NatsConfig::validate`] when connecting.
//! - Subjects: any channel name (1–255 bytes, `.`, `*`, `>`, spaces, Unicode) becomes the
//!   token `<hex of its UTF-8 bytes>`, so `<prefix>.live.<hex>` never collides and is
//!   always a valid subject.
//! - Replay (opt-in, [`NatsConfig::jetstream`]): publishing goes through JetStream into a
//!   stream over `<prefix>.stored.>` with retention limits (max age, messages, bytes), which
//!   republishes each stored event with its sequence on the live subject. Each node
//!   remembers the last sequence delivered per channel and, after a reconnection or an
//!   overflow, reads the stream from there: every event arrives once and in order. Events
//!   the stream removed (retention) before a node read them are announced as a gap. The
//!   module docs of `bus` justify the design.
//! - Without JetStream: core NATS, at most once; a disconnection is announced to every
//!   stream as a [`BusMessage::Gap`](subcast_core::BusMessage::Gap).
//! - Bounded memory: messages wait in a buffer of [`NatsConfig::received_capacity`], each
//!   local stream holds [`NatsConfig::stream_capacity`] events; what does not fit is read
//!   again from the stream (JetStream) or announced with its count.
//! - Credentials: user and password in the URL (`nats://user:password@host:4222`), a token
//!   ([`NatsConfig::token`]) or a `.creds` file ([`NatsConfig::credentials_file`]). TLS:
//!   `tls://` URLs, verified (rustls, ring) against [`NatsConfig::tls_root_certificates`] or, without
//!   them, the operating system's certificate store.
//! - Runtime: async-nats runs on tokio, so [`NatsBus::connect`] must be called inside a
//!   tokio runtime (the `subcast` facade's `nats` feature enables `tokio`); the bus's
//!   processing task runs on the host's `Runtime`.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod bus;
mod config;
mod connection;
mod subject;

pub use bus::NatsBus;
pub use config::{JetStreamConfig, NatsConfig, DEFAULT_RECEIVED_CAPACITY, DEFAULT_STREAM};
