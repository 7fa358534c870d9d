//! The connection loop: one task per socket feeds the client's messages to a
//! [`Connection`], carries out its actions, and writes every subscription's frames.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::Value;
use subcast_core::BoxFuture;
use subcast_core::{
    Action, Connection, ConnectionInbox, InboxItem, Resume, SecurityContext, SubscribePayload,
    SubscriptionExecutor, SubscriptionKey, SubscriptionRequest,
};

use crate::endpoint::{Accepted, ConnectRequest, Endpoint, RequestInfo};
use crate::message::WsMessage;

/// Why [`Endpoint::serve`] returned early.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Writing to the socket failed.
    #[error("writing to the WebSocket failed: {0}")]
    Socket(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// How long the loop reads (and discards) after its close frame, waiting for the peer's: a
/// socket dropped with unread data is reset, and a reset can destroy the close frame in
/// flight, leaving the client a 1006 instead of the code.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// Process-wide, so two endpoints sharing an executor never share a connection id.
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// Ends every subscription of the connection however the task ends: returned, failed,
/// panicked or cancelled.
struct Cleanup {
    executor: Arc<SubscriptionExecutor>,
    connection_id: Arc<str>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // `UnknownConnection` only says no subscription was left.
        let _ = self.executor.complete_connection(&self.connection_id);
    }
}

/// What woke the loop.
enum Wake<E> {
    Socket(Option<Result<WsMessage, E>>),
    Frames,
    Timer,
    Shutdown,
}

/// Whether the loop goes on after carrying out the actions.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

impl Endpoint {
    /// Serve one graphql-transport-ws socket until it closes; its subscriptions all end
    /// when this returns, or when the future is dropped.
    ///
    /// `socket` is any WebSocket whose messages an adapter converts to [`WsMessage`]; the
    /// handshake (sub-protocol `graphql-transport-ws`) is the adapter's. Frames are
    /// buffered only in the subscriptions' response queues: the loop takes them when the
    /// socket has written the previous batch.
    pub async fn serve<S, E>(&self, socket: S, request: RequestInfo) -> Result<(), ServeError>
    where
        S: Stream<Item = Result<WsMessage, E>> + Sink<WsMessage, Error = E> + Unpin + Send,
        E: std::error::Error + Send + Sync + 'static,
    {
        let connection_id: Arc<str> =
            format!("ws-{}", NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed)).into();
        let _open = self.shutdown.enter();
        let _cleanup = Cleanup {
            executor: self.executor.clone(),
            connection_id: connection_id.clone(),
        };
        let mut session = Session {
            endpoint: self,
            connection: Connection::new(self.protocol.clone(), self.runtime.now()),
            connection_id,
            inbox: ConnectionInbox::new(),
            keys: HashMap::new(),
            resumed: HashMap::new(),
            context: None,
            expires_at: None,
            request,
        };
        session.run(socket).await
    }
}

/// The state of one served socket.
struct Session<'a> {
    endpoint: &'a Endpoint,
    connection: Connection,
    connection_id: Arc<str>,
    inbox: ConnectionInbox,
    keys: HashMap<String, SubscriptionKey>,
    /// Resumed subscriptions, to skip the live frames their replay already wrote.
    resumed: HashMap<String, Resume>,
    context: Option<SecurityContext>,
    /// When the accepted credentials expire.
    expires_at: Option<Instant>,
    request: RequestInfo,
}

impl Session<'_> {
    async fn run<S, E>(&mut self, mut socket: S) -> Result<(), ServeError>
    where
        S: Stream<Item = Result<WsMessage, E>> + Sink<WsMessage, Error = E> + Unpin + Send,
        E: std::error::Error + Send + Sync + 'static,
    {
        let runtime = self.endpoint.runtime.clone();
        let mut items = Vec::new();
        let mut timer: Option<(Instant, BoxFuture<'static, ()>)> = None;
        // Listening before the first check, so a shutdown started in between is seen.
        let mut shutdown = Some(self.endpoint.shutdown.listen());
        loop {
            if shutdown.is_some() && self.endpoint.shutdown.is_closing() {
                shutdown = None;
                self.connection.shutdown();
            }
            if self.carry_out(&mut socket).await? == Flow::Stop {
                return Ok(());
            }
            socket.flush().await.map_err(socket_error)?;

            let deadline = [self.connection.next_deadline(), self.expires_at]
                .into_iter()
                .flatten()
                .min();
            if timer.as_ref().map(|(at, _)| *at) != deadline {
                timer = deadline.map(|at| (at, runtime.sleep(at.saturating_duration_since(runtime.now()))));
            }
            let wake = {
                let read = async { Wake::Socket(socket.next().await) };
                let frames = async {
                    self.inbox.recv(&mut items).await;
                    Wake::Frames
                };
                let expiry = async {
                    match timer.as_mut() {
                        Some((_, sleep)) => sleep.await,
                        None => std::future::pending().await,
                    }
                    Wake::Timer
                };
                let closing = async {
                    match shutdown.as_mut() {
                        Some(listener) => listener.await,
                        None => std::future::pending().await,
                    }
                    Wake::Shutdown
                };
                let local = futures_lite::future::or(read, futures_lite::future::or(expiry, closing));
                futures_lite::future::or(frames, local).await
            };
            let now = runtime.now();
            match wake {
                Wake::Socket(Some(Ok(message))) => self.receive(message, now),
                // The peer closed, or the socket failed: nothing more can be written.
                Wake::Socket(None) => {
                    self.connection.disconnected();
                    return Ok(());
                }
                Wake::Socket(Some(Err(error))) => {
                    self.connection.disconnected();
                    // A message the library refused (too big, not UTF-8) still deserves its
                    // close code; any other failure leaves nothing to write to.
                    if let Some((code, reason)) = close_for_read_error(&error) {
                        let close = WsMessage::Close {
                            code,
                            reason: reason.into(),
                        };
                        if socket.send(close).await.is_ok() {
                            self.await_peer_close(&mut socket).await;
                        }
                    }
                    return Ok(());
                }
                Wake::Frames => {
                    for item in items.drain(..) {
                        self.write_item(&mut socket, item).await?;
                    }
                }
                Wake::Timer => {
                    timer = None;
                    if self.expires_at.is_some_and(|at| now >= at) {
                        self.expires_at = None;
                        self.connection.refuse("Forbidden: the credentials expired");
                    }
                    self.connection.tick(now);
                }
                // Seen at the top of the loop.
                Wake::Shutdown => {}
            }
        }
    }

    fn receive(&mut self, message: WsMessage, now: Instant) {
        match message {
            WsMessage::Text(bytes) => match std::str::from_utf8(&bytes) {
                Ok(text) => self.connection.feed_text(text, now),
                Err(_) => self.connection.feed_text(&String::from_utf8_lossy(&bytes), now),
            },
            WsMessage::Binary(_) => self.connection.feed_binary(now),
            // The WebSocket library answers pings; the protocol keeps alive with its own.
            WsMessage::Ping(_) | WsMessage::Pong(_) => {}
            WsMessage::Close { .. } => self.connection.disconnected(),
        }
    }

    /// Read and discard until the peer answers the close frame, the socket ends, or
    /// [`CLOSE_HANDSHAKE_TIMEOUT`] passes.
    async fn await_peer_close<S, E>(&self, socket: &mut S)
    where
        S: Stream<Item = Result<WsMessage, E>> + Unpin,
    {
        let drained = async {
            while let Some(Ok(message)) = socket.next().await {
                if matches!(message, WsMessage::Close { .. }) {
                    return;
                }
            }
        };
        let timeout = self.endpoint.runtime.sleep(CLOSE_HANDSHAKE_TIMEOUT);
        futures_lite::future::or(drained, timeout).await;
    }

    /// Carry out every queued action; `Stop` once the connection is closed.
    async fn carry_out<S, E>(&mut self, socket: &mut S) -> Result<Flow, ServeError>
    where
        S: Stream<Item = Result<WsMessage, E>> + Sink<WsMessage, Error = E> + Unpin,
        E: std::error::Error + Send + Sync + 'static,
    {
        while let Some(action) = self.connection.poll_action() {
            match action {
                Action::Send(text) => socket.feed(WsMessage::text(text)).await.map_err(socket_error)?,
                Action::Authenticate { payload } => {
                    socket.flush().await.map_err(socket_error)?;
                    self.authenticate(ConnectRequest {
                        payload,
                        request: self.request.clone(),
                    })
                    .await;
                }
                Action::Subscribe { id, payload } => self.subscribe(socket, id, payload).await?,
                Action::Unsubscribe { id } => self.unsubscribe(&id),
                Action::Close { code, reason } => {
                    let close = WsMessage::Close {
                        code: code.as_u16(),
                        reason,
                    };
                    // The peer may be gone already: the close is a courtesy.
                    if socket.send(close).await.is_ok() {
                        self.await_peer_close(socket).await;
                    }
                    return Ok(Flow::Stop);
                }
            }
        }
        Ok(if self.connection.is_closed() {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }

    async fn authenticate(&mut self, request: ConnectRequest) {
        let Some(hook) = self.endpoint.on_connect.clone() else {
            return self.accept(Accepted::anonymous());
        };
        let runtime = &self.endpoint.runtime;
        let decided = async { Some(hook(request).await) };
        let timeout = async {
            runtime.sleep(self.endpoint.auth_timeout).await;
            None
        };
        match futures_lite::future::or(decided, timeout).await {
            Some(Ok(accepted)) => self.accept(accepted),
            Some(Err(refused)) => self.connection.refuse(&refused.reason),
            None => self.connection.internal_error("Authentication timed out"),
        }
    }

    fn accept(&mut self, accepted: Accepted) {
        let now = self.endpoint.runtime.now();
        self.context = accepted.context;
        self.expires_at = accepted.valid_for.and_then(|valid| now.checked_add(valid));
        self.connection.accept(accepted.ack_payload);
    }

    async fn subscribe<S, E>(
        &mut self,
        socket: &mut S,
        id: String,
        payload: SubscribePayload,
    ) -> Result<(), ServeError>
    where
        S: Sink<WsMessage, Error = E> + Unpin,
        E: std::error::Error + Send + Sync + 'static,
    {
        let cursor = match payload.cursor() {
            Ok(cursor) => cursor.map(str::to_owned),
            Err(error) => {
                self.connection.fail_subscription(&id, &error.to_graphql_errors());
                return Ok(());
            }
        };
        let mut request = SubscriptionRequest::new(&*self.connection_id, id.as_str(), payload.query.as_str());
        if let Some(name) = &payload.operation_name {
            request = request.operation_name(name.as_str());
        }
        if let Some(variables) = &payload.variables {
            request = request.variables(Value::Object(variables.clone()));
        }
        if let Some(context) = &self.context {
            request = request.security_context(context.clone());
        }
        if let Some(hook) = &self.endpoint.on_subscribe {
            request = match hook(request, &payload) {
                Ok(request) => request,
                Err(error) => {
                    self.connection.fail_subscription(&id, &[error]);
                    return Ok(());
                }
            };
        }
        if let Some(cursor) = cursor {
            request = request.cursor(cursor);
        }
        let executor = self.endpoint.executor.clone();
        // Registered first, so live events queue up while the missed ones are replayed.
        let registered = executor
            .register_resumable(request)
            .and_then(|(key, resume)| Ok((key, resume, executor.response_queue(key)?)));
        let (key, resume, queue) = match registered {
            Ok(registered) => registered,
            Err(error) => {
                self.connection.fail_subscription(&id, &error.to_graphql_errors());
                return Ok(());
            }
        };
        self.keys.insert(id.clone(), key);
        if let Some(mut resume) = resume {
            self.replay(socket, &mut resume).await?;
            if resume.ended() {
                self.keys.remove(&id);
                let _ = executor.complete_subscription(key);
                self.connection.subscription_ended(&id);
                return Ok(());
            }
            self.resumed.insert(id.clone(), resume);
        }
        // A fresh queue under an id the connection holds once: attaching cannot fail.
        let _ = self.inbox.attach(id.as_str(), queue);
        Ok(())
    }

    /// Write what the subscription missed since its cursor, page by page, before its queue
    /// is read: the connection's other frames wait in their (bounded) queues meanwhile.
    async fn replay<S, E>(&mut self, socket: &mut S, resume: &mut Resume) -> Result<(), ServeError>
    where
        S: Sink<WsMessage, Error = E> + Unpin,
        E: std::error::Error + Send + Sync + 'static,
    {
        let executor = self.endpoint.executor.clone();
        let Some(bus) = self.endpoint.history.clone() else {
            let frames = resume.without_history(&executor).unwrap_or_default();
            return write_frames(socket, frames).await;
        };
        if let Some(ready) = &self.endpoint.channel_ready {
            ready(resume.channel().to_owned()).await;
        }
        loop {
            match resume.next_page(&executor, &*bus).await {
                Ok(Some(frames)) => write_frames(socket, frames).await?,
                Ok(None) => return Ok(()),
                // Only an unknown subscription fails: ended meanwhile, nothing to replay.
                Err(_) => return Ok(()),
            }
            socket.flush().await.map_err(socket_error)?;
        }
    }

    fn unsubscribe(&mut self, id: &str) {
        self.inbox.detach(id);
        self.resumed.remove(id);
        if let Some(key) = self.keys.remove(id) {
            // Already gone only if the executor ended it meanwhile.
            let _ = self.endpoint.executor.complete_subscription(key);
        }
    }

    async fn write_item<S, E>(&mut self, socket: &mut S, item: InboxItem) -> Result<(), ServeError>
    where
        S: Sink<WsMessage, Error = E> + Unpin,
        E: std::error::Error + Send + Sync + 'static,
    {
        match item {
            InboxItem::Frame { id, frame } => {
                // The seam of a resumed subscription: what the replay wrote is not sent twice.
                if self
                    .resumed
                    .get(&*id)
                    .is_some_and(|resume| resume.is_replayed(&frame))
                {
                    return Ok(());
                }
                if self.connection.is_active(&id) {
                    socket.feed(WsMessage::Text(frame)).await.map_err(socket_error)?;
                }
            }
            InboxItem::Ended { id, terminal } => {
                self.resumed.remove(&*id);
                if let Some(key) = self.keys.remove(&*id) {
                    // An `error` frame closes the queue but leaves the subscription registered.
                    let _ = self.endpoint.executor.complete_subscription(key);
                }
                if terminal {
                    self.connection.subscription_ended(&id);
                } else {
                    self.connection.complete_subscription(&id);
                }
            }
        }
        Ok(())
    }
}

/// The close frame owed for a message the WebSocket library refused to read: 1009 for one
/// over the limit, 1007 for text that is not UTF-8, 1002 for a broken frame.
fn close_for_read_error(error: &(dyn std::error::Error + 'static)) -> Option<(u16, &'static str)> {
    #[cfg(any(feature = "axum", feature = "tungstenite"))]
    {
        use tungstenite::error::{CapacityError, Error};
        // axum wraps the library's error: walk the chain.
        let mut cause = Some(error);
        while let Some(error) = cause {
            match error.downcast_ref::<Error>() {
                Some(Error::Capacity(CapacityError::MessageTooLong { .. })) => {
                    return Some((1009, "Message too big"))
                }
                Some(Error::Utf8(_)) => return Some((1007, "Invalid UTF-8")),
                Some(Error::Protocol(_)) => return Some((1002, "Protocol error")),
                _ => cause = error.source(),
            }
        }
    }
    let _ = error;
    None
}

/// Queue `frames` for writing, in order.
async fn write_frames<S, E>(socket: &mut S, frames: Vec<Bytes>) -> Result<(), ServeError>
where
    S: Sink<WsMessage, Error = E> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    for frame in frames {
        socket.feed(WsMessage::Text(frame)).await.map_err(socket_error)?;
    }
    Ok(())
}

fn socket_error<E: std::error::Error + Send + Sync + 'static>(error: E) -> ServeError {
    ServeError::Socket(Box::new(error))
}
