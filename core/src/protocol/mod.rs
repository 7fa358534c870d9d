//! graphql-transport-ws as a state machine with no I/O.
//!
//! A [`Connection`] owns no socket, no task and no clock. The I/O loop around it feeds it
//! what arrived (a text message, a binary message, the current [`Instant`]) and carries out
//! the [`Action`]s it returns: send this text, close with this code, ask the application
//! whether to accept the connection, start or stop a subscription. Every rule of the
//! [protocol](https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md) lives here,
//! so a loop over axum, async-tungstenite or ASGI is a few dozen lines:
//!
//! ```text
//! loop {
//!     select {
//!         text message      => conn.feed_text(&text, Instant::now()),
//!         binary message    => conn.feed_binary(Instant::now()),
//!         peer closed/error => conn.disconnected(),
//!         a subscription's frame => socket.send(frame),   // and subscription_ended(id) after its last
//!         conn.next_deadline() passed => conn.tick(Instant::now()),
//!     }
//!     while let Some(action) = conn.poll_action() { carry it out }
//!     if conn.is_closed() { break }
//! }
//! ```
//!
//! - [`Connection`]: the state machine of one socket.
//! - [`Action`]: what the I/O loop must do next.
//! - [`SubscribePayload`]: the operation a `subscribe` message requests.
//! - [`ProtocolConfig`]: timers and limits.
//! - [`CloseCode`]: every close code, with [`SUBPROTOCOL`] and [`MAX_CLOSE_REASON_BYTES`].
//!
//! # Close codes
//!
//! | code | reason | when | client retries |
//! |---|---|---|---|
//! | 1001 | `Going away` | [`Connection::shutdown`] | yes |
//! | 1009 | `Message too big: …` | a text message over [`ProtocolConfig::max_message_bytes`] | no |
//! | 4400 | what is wrong | invalid message: not JSON, not an object, unknown or server-only `type`, a field missing or of the wrong type, an id over [`ProtocolConfig::max_id_bytes`], a binary message | no |
//! | 4401 | `Unauthorized` | `subscribe` before `connection_ack` | no |
//! | 4403 | the application's | [`Connection::refuse`] | yes |
//! | 4406 | `Subprotocol not acceptable` | the handshake lacks [`SUBPROTOCOL`] (sent by the I/O layer) | no |
//! | 4408 | `Connection initialisation timeout` | no `connection_init` within [`ProtocolConfig::connection_init_timeout`] | yes |
//! | 4409 | `Subscriber for <id> already exists` | `subscribe` with the id of an active subscription | no |
//! | 4429 | `Too many initialisation requests` | a second `connection_init` | no |
//! | 4429 | `Too many messages` | more messages than [`ProtocolConfig::message_rate`] allows | no |
//! | 4500 | the application's | [`Connection::internal_error`] | no |
//! | 4500 | `Actions were not drained` | a message fed while 64 actions wait to be polled | no |
//! | 4504 | `Keep-alive timeout` | no `pong` within [`ProtocolConfig::pong_timeout`] of a keep-alive `ping` | yes |
//!
//! Reasons are cut to [`MAX_CLOSE_REASON_BYTES`] on a character boundary. "Client retries"
//! is the graphql-ws client's behaviour; [`CloseCode::KeepAliveTimeout`] says why 4504.
//!
//! # Bounds
//!
//! A connection holds at most [`ProtocolConfig::max_subscriptions`] ids of at most
//! [`ProtocolConfig::max_id_bytes`] each, and its queue at most 64 actions from messages
//! plus one per active subscription and a close. A subscription over the limit gets an
//! `error` (`SUBSCRIPTION_LIMIT`) and the socket stays open.

mod close;
mod config;
mod message;

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

use serde_json::{Map, Value};

pub use close::{CloseCode, MAX_CLOSE_REASON_BYTES, SUBPROTOCOL};
pub use config::ProtocolConfig;
pub use message::SubscribePayload;

use crate::codes::SUBSCRIPTION_LIMIT;
use crate::frame::GraphQLError;
use crate::rate_limit::TokenBucket;
use message::ClientMessage;

/// Actions a loop that feeds messages without polling may leave queued; past this, the
/// connection closes rather than grow.
const MAX_PENDING_ACTIONS: usize = 64;

/// What the I/O loop must do next, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write this text message.
    Send(String),
    /// The client sent `connection_init`: decide, then call [`Connection::accept`] or
    /// [`Connection::refuse`]. Pings are answered meanwhile; `subscribe` closes with 4401.
    Authenticate {
        /// The `connection_init` payload (`null` and absent both read as `None`).
        payload: Option<Map<String, Value>>,
    },
    /// Start subscription `id`. It is active from now on; end it with
    /// [`Connection::complete_subscription`], [`Connection::fail_subscription`] (a refusal
    /// too) or [`Connection::subscription_ended`].
    Subscribe {
        /// The operation id, unique among the connection's active subscriptions.
        id: String,
        /// The requested operation.
        payload: SubscribePayload,
    },
    /// Stop subscription `id` and send nothing more for it: the client completed it, or the
    /// connection is closing.
    Unsubscribe {
        /// The operation id.
        id: String,
    },
    /// Send a close frame with `code` and `reason`, then stop reading. Always the last action.
    Close {
        /// The close code.
        code: CloseCode,
        /// The reason, at most [`MAX_CLOSE_REASON_BYTES`] of UTF-8.
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingInit,
    Authenticating,
    Ready,
    Closed,
}

/// The graphql-transport-ws state of one socket.
///
/// # Examples
///
/// A full exchange, with time passed in rather than read:
///
/// ```
/// use std::time::{Duration, Instant};
/// use subcast_core::{Action, CloseCode, Connection, GraphQLError, ProtocolConfig};
///
/// let start = Instant::now();
/// let mut conn = Connection::new(ProtocolConfig::default(), start);
///
/// conn.feed_text(r#"{"type":"connection_init","payload":{"token":"t"}}"#, start);
/// let Some(Action::Authenticate { payload }) = conn.poll_action() else { panic!() };
/// assert_eq!(payload.unwrap()["token"], "t");
/// conn.accept(None);
/// assert_eq!(conn.poll_action(), Some(Action::Send(r#"{"type":"connection_ack"}"#.into())));
///
/// let query = "subscription { users { id } }";
/// conn.feed_text(&format!(r#"{{"id":"1","type":"subscribe","payload":{{"query":"{query}"}}}}"#), start);
/// let Some(Action::Subscribe { id, payload }) = conn.poll_action() else { panic!() };
/// assert_eq!((id.as_str(), payload.query.as_str()), ("1", query));
///
/// conn.feed_text(r#"{"type":"ping","payload":{"n":1}}"#, start);
/// assert_eq!(conn.poll_action(), Some(Action::Send(r#"{"type":"pong","payload":{"n":1}}"#.into())));
///
/// // A second subscription the application refuses: one `error`, and the id is free again.
/// conn.feed_text(r#"{"id":"2","type":"subscribe","payload":{"query":"{"}}"#, start);
/// assert!(matches!(conn.poll_action(), Some(Action::Subscribe { .. })));
/// conn.fail_subscription("2", &[GraphQLError::new("GRAPHQL_VALIDATION_FAILED", "syntax error")]);
/// let Some(Action::Send(error)) = conn.poll_action() else { panic!() };
/// assert!(error.starts_with(r#"{"id":"2","type":"error","payload":[{"message":"syntax error""#));
///
/// // The keep-alive ping is due 12 s after the start.
/// assert_eq!(conn.next_deadline(), Some(start + Duration::from_secs(12)));
/// conn.tick(start + Duration::from_secs(12));
/// assert_eq!(conn.poll_action(), Some(Action::Send(r#"{"type":"ping"}"#.into())));
/// conn.feed_text(r#"{"type":"pong"}"#, start + Duration::from_secs(13));
///
/// conn.shutdown();
/// assert_eq!(conn.poll_action(), Some(Action::Unsubscribe { id: "1".into() }));
/// assert_eq!(
///     conn.poll_action(),
///     Some(Action::Close { code: CloseCode::GoingAway, reason: "Going away".into() })
/// );
/// assert!(conn.is_closed() && conn.poll_action().is_none());
/// ```
#[derive(Debug)]
pub struct Connection {
    config: ProtocolConfig,
    phase: Phase,
    /// Origin of the rate limiter's clock.
    origin: Instant,
    init_deadline: Option<Instant>,
    /// When the next keep-alive `ping` is due; `None` while one awaits its `pong`.
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    /// Ordered so that closing unsubscribes in a reproducible order.
    subscriptions: BTreeSet<String>,
    actions: VecDeque<Action>,
    message_rate: Option<TokenBucket>,
}

impl Connection {
    /// A connection whose socket opened at `now`, waiting for `connection_init`.
    pub fn new(config: ProtocolConfig, now: Instant) -> Self {
        Connection {
            phase: Phase::AwaitingInit,
            origin: now,
            init_deadline: now.checked_add(config.connection_init_timeout),
            next_ping: config.keep_alive.and_then(|interval| now.checked_add(interval)),
            pong_deadline: None,
            subscriptions: BTreeSet::new(),
            actions: VecDeque::new(),
            message_rate: config.message_rate.map(TokenBucket::new),
            config,
        }
    }

    /// The configuration this connection runs with.
    pub fn config(&self) -> &ProtocolConfig {
        &self.config
    }

    /// Handle a text message that arrived at `now`.
    pub fn feed_text(&mut self, text: &str, now: Instant) {
        if !self.admit(now) {
            return;
        }
        if text.len() > self.config.max_message_bytes {
            let reason = format!(
                "Message too big: {} bytes, over the limit of {}",
                text.len(),
                self.config.max_message_bytes
            );
            return self.close(CloseCode::MessageTooBig, &reason);
        }
        match message::parse(text, self.config.max_id_bytes) {
            Ok(message) => self.handle(message, now),
            Err(reason) => self.close(CloseCode::BadRequest, &reason),
        }
    }

    /// Handle a binary message that arrived at `now`: the protocol has none, so it closes
    /// the connection with 4400.
    pub fn feed_binary(&mut self, now: Instant) {
        if self.admit(now) {
            self.close(CloseCode::BadRequest, "Binary messages are not supported");
        }
    }

    /// Run the timers due at `now`: the `connection_init` timeout, keep-alive `ping`s and
    /// their `pong` timeout. Call it when [`next_deadline`](Self::next_deadline) passes;
    /// every `feed_*` runs it too.
    pub fn tick(&mut self, now: Instant) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.phase == Phase::AwaitingInit && self.init_deadline.is_some_and(|at| now >= at) {
            return self.close(
                CloseCode::ConnectionInitialisationTimeout,
                "Connection initialisation timeout",
            );
        }
        if self.pong_deadline.is_some_and(|at| now >= at) {
            return self.close(CloseCode::KeepAliveTimeout, "Keep-alive timeout");
        }
        if self.next_ping.is_some_and(|at| now >= at) {
            self.next_ping = None;
            self.pong_deadline = now.checked_add(self.config.pong_timeout);
            self.actions.push_back(Action::Send(message::PING.into()));
        }
    }

    /// When [`tick`](Self::tick) must run next; `None` if no timer is set.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.phase == Phase::Closed {
            return None;
        }
        [self.init_deadline, self.next_ping, self.pong_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next action to carry out, oldest first.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Accept the connection after [`Action::Authenticate`]: send `connection_ack`, with
    /// `payload` if there is one. Ignored in any other state.
    pub fn accept(&mut self, payload: Option<Map<String, Value>>) {
        if self.phase == Phase::Authenticating {
            self.phase = Phase::Ready;
            self.actions
                .push_back(Action::Send(message::connection_ack(payload)));
        }
    }

    /// Refuse the connection: close it with 4403 and `reason` (the protocol suggests
    /// `Forbidden`). Also ends an accepted connection whose credentials expired.
    pub fn refuse(&mut self, reason: &str) {
        self.close(CloseCode::Forbidden, reason);
    }

    /// The server ended subscription `id`: send `complete`, once. `false` (and nothing sent)
    /// if `id` is not active, e.g. because the client completed it first.
    pub fn complete_subscription(&mut self, id: &str) -> bool {
        let active = self.subscriptions.remove(id);
        if active {
            self.actions.push_back(Action::Send(message::complete(id)));
        }
        active
    }

    /// Subscription `id` was refused (invalid document, forbidden, …) or failed: send one
    /// `error` with `errors` and no `complete`; the id is free again. `false` (and nothing
    /// sent) if `id` is not active.
    pub fn fail_subscription(&mut self, id: &str, errors: &[GraphQLError]) -> bool {
        let active = self.subscriptions.remove(id);
        if active {
            self.actions.push_back(Action::Send(message::error(id, errors)));
        }
        active
    }

    /// Subscription `id` ended and its last frame (`complete` or `error`) was already sent
    /// by another path, such as the executor's response queue: free the id, send nothing.
    /// `false` if `id` is not active.
    pub fn subscription_ended(&mut self, id: &str) -> bool {
        self.subscriptions.remove(id)
    }

    /// Whether `id` is an active subscription.
    pub fn is_active(&self, id: &str) -> bool {
        self.subscriptions.contains(id)
    }

    /// The server failed: close with 4500 and `reason`.
    pub fn internal_error(&mut self, reason: &str) {
        self.close(CloseCode::InternalServerError, reason);
    }

    /// The server shuts down: close with 1001 `Going away`, after which the client reconnects.
    pub fn shutdown(&mut self) {
        self.close(CloseCode::GoingAway, "Going away");
    }

    /// The socket is gone (the peer closed it or it failed): drop the messages not yet sent
    /// and unsubscribe every active subscription, without a close action.
    pub fn disconnected(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        self.actions.retain(|action| !matches!(action, Action::Send(_)));
        self.end();
    }

    /// Whether the connection is closed: nothing more is fed, only queued actions remain.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Run the timers, then say whether a message may be handled: open, actions drained,
    /// within the message rate.
    fn admit(&mut self, now: Instant) -> bool {
        self.tick(now);
        if self.phase == Phase::Closed {
            return false;
        }
        if self.actions.len() >= MAX_PENDING_ACTIONS {
            self.close(CloseCode::InternalServerError, "Actions were not drained");
            return false;
        }
        let since_open = now.saturating_duration_since(self.origin);
        if self
            .message_rate
            .as_ref()
            .is_some_and(|bucket| !bucket.try_take(since_open))
        {
            self.close(CloseCode::TooManyRequests, "Too many messages");
            return false;
        }
        true
    }

    fn handle(&mut self, message: ClientMessage, now: Instant) {
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.phase != Phase::AwaitingInit {
                    return self.close(CloseCode::TooManyRequests, "Too many initialisation requests");
                }
                self.phase = Phase::Authenticating;
                self.init_deadline = None;
                self.actions.push_back(Action::Authenticate { payload });
            }
            ClientMessage::Ping { payload } => self.actions.push_back(Action::Send(message::pong(payload))),
            ClientMessage::Pong => {
                self.pong_deadline = None;
                self.next_ping = self
                    .config
                    .keep_alive
                    .and_then(|interval| now.checked_add(interval));
            }
            ClientMessage::Subscribe { id, payload } => {
                if self.phase != Phase::Ready {
                    return self.close(CloseCode::Unauthorized, "Unauthorized");
                }
                if self.subscriptions.contains(&id) {
                    let reason = format!("Subscriber for {id} already exists");
                    return self.close(CloseCode::SubscriberAlreadyExists, &reason);
                }
                if self.subscriptions.len() >= self.config.max_subscriptions {
                    let error = GraphQLError::new(
                        SUBSCRIPTION_LIMIT,
                        format!(
                            "Too many active subscriptions on this connection (limit {})",
                            self.config.max_subscriptions
                        ),
                    );
                    return self
                        .actions
                        .push_back(Action::Send(message::error(&id, &[error])));
                }
                self.subscriptions.insert(id.clone());
                self.actions.push_back(Action::Subscribe { id, payload });
            }
            ClientMessage::Complete { id } => {
                // An unknown id is one the server already ended: the protocol says ignore it.
                if self.subscriptions.remove(&id) {
                    self.actions.push_back(Action::Unsubscribe { id });
                }
            }
        }
    }

    fn close(&mut self, code: CloseCode, reason: &str) {
        if self.phase == Phase::Closed {
            return;
        }
        self.end();
        self.actions.push_back(Action::Close {
            code,
            reason: close::close_reason(reason),
        });
    }

    fn end(&mut self) {
        self.phase = Phase::Closed;
        self.init_deadline = None;
        self.next_ping = None;
        self.pong_deadline = None;
        for id in std::mem::take(&mut self.subscriptions) {
            self.actions.push_back(Action::Unsubscribe { id });
        }
    }
}
