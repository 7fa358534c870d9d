//! One wake-up per connection: a WebSocket's writer waits on its connection as a whole,
//! then takes the frames of every subscription in one call.
//!
//! - [`ConnectionInbox`]: the response queues of one connection, attached by subscription
//!   id; [`ConnectionInbox::drain`] takes what is ready, [`ConnectionInbox::recv`] waits for
//!   it (check–listen–check, on any executor), [`ConnectionInbox::recv_timeout`] blocks.
//! - [`InboxItem`]: a frame of one subscription, or the end of one.
//!
//! A queue costs its producers one atomic swap per push once attached: only the push that
//! finds the queue not yet marked ready wakes the connection, and that wake-up is a single
//! load when the writer is not waiting.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use event_listener::{Event, EventListener};

use crate::queue::{PopError, ResponseQueue};
use crate::sync::{block_until, poll_until};

/// What [`ConnectionInbox::drain`] took from one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxItem {
    /// A frame of subscription `id`, ready to be written as a text message.
    Frame {
        /// The subscription (operation) id the queue was attached with.
        id: Arc<str>,
        /// The graphql-transport-ws frame, UTF-8 JSON.
        frame: Bytes,
    },
    /// Subscription `id` ended: its queue is closed and every frame of it was drained. It
    /// is detached from the inbox.
    Ended {
        /// The subscription (operation) id.
        id: Arc<str>,
        /// Whether the last frame drained was an `error` or `complete` frame, which ended
        /// the operation for the client already; if not, the writer sends `complete`.
        terminal: bool,
    },
}

/// Why [`ConnectionInbox::attach`] refused a queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    /// Another queue is attached under this id.
    #[error("a queue is already attached as subscription {0:?}")]
    DuplicateId(String),
    /// The queue already wakes another inbox.
    #[error("the queue of subscription {0:?} is attached to another connection inbox")]
    OtherInbox(String),
}

/// The response queues of one connection and the one wake-up they share.
///
/// Dropping the inbox detaches every queue.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use subcast_core::{ConnectionInbox, Event, InboxItem, SecurityContext, SubscriptionExecutor, SubscriptionRequest};
///
/// let executor = SubscriptionExecutor::default();
/// let inbox = ConnectionInbox::new();
/// for id in ["a", "b"] {
///     let request = SubscriptionRequest::new("conn-1", id, "subscription { users { id } }")
///         .security_context(SecurityContext::new("alice"));
///     let key = executor.register_subscription(request).unwrap();
///     inbox.attach(id, executor.response_queue(key).unwrap()).unwrap();
/// }
/// executor
///     .dispatch_event_to_subscriptions(&Arc::new(Event::new("e", "users", serde_json::json!({"id": "7"}))))
///     .unwrap();
///
/// let mut items = Vec::new();
/// assert_eq!(futures_lite::future::block_on(inbox.recv(&mut items)), 2);
/// let ids: Vec<_> = items
///     .iter()
///     .map(|item| match item {
///         InboxItem::Frame { id, .. } => id.to_string(),
///         InboxItem::Ended { .. } => unreachable!(),
///     })
///     .collect();
/// assert_eq!(ids, ["a", "b"]);
/// ```
pub struct ConnectionInbox {
    shared: Arc<InboxShared>,
}

/// The part of an inbox its queues hold: the wake-up and the attached queues.
pub(crate) struct InboxShared {
    /// Shared with every attached queue, which wakes it (it never sees the rest).
    wake: Arc<Event>,
    attached: Mutex<Attached>,
}

#[derive(Default)]
struct Attached {
    /// In attach order, so a drain reads subscriptions in a stable order.
    entries: Vec<Entry>,
}

struct Entry {
    id: Arc<str>,
    queue: Arc<ResponseQueue>,
    /// Whether the last frame drained ended the operation (`error` or `complete`).
    terminal: bool,
}

impl InboxShared {
    fn attached(&self) -> MutexGuard<'_, Attached> {
        // Every critical section leaves the entries whole.
        self.attached.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for ConnectionInbox {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnectionInbox {
    /// An inbox with no queue attached.
    pub fn new() -> Self {
        ConnectionInbox {
            shared: Arc::new(InboxShared {
                wake: Arc::new(Event::new()),
                attached: Mutex::default(),
            }),
        }
    }

    /// Attach the queue of subscription `id`: from now on its frames, including those
    /// already queued, are drained here, and its end is reported as [`InboxItem::Ended`].
    pub fn attach(&self, id: impl Into<Arc<str>>, queue: Arc<ResponseQueue>) -> Result<(), AttachError> {
        let id = id.into();
        {
            let mut attached = self.shared.attached();
            if attached.entries.iter().any(|entry| entry.id == id) {
                return Err(AttachError::DuplicateId(id.to_string()));
            }
            attached.entries.push(Entry {
                id: id.clone(),
                queue: queue.clone(),
                terminal: false,
            });
        }
        // The entry is listed before the queue can wake us, so the wake-up finds it.
        if queue.attach_inbox(&self.shared.wake) {
            return Ok(());
        }
        self.detach(&id);
        Err(AttachError::OtherInbox(id.to_string()))
    }

    /// Detach subscription `id` without draining it (the client completed it); `false` if
    /// it was not attached.
    pub fn detach(&self, id: &str) -> bool {
        let mut attached = self.shared.attached();
        let before = attached.entries.len();
        attached.entries.retain(|entry| &*entry.id != id);
        attached.entries.len() != before
    }

    /// Number of attached subscriptions.
    pub fn len(&self) -> usize {
        self.shared.attached().entries.len()
    }

    /// Whether no subscription is attached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Take every frame ready now, in each subscription's order, appending them to `out`;
    /// returns how many items were appended. Ended subscriptions are reported after their
    /// last frame and detached.
    pub fn drain(&self, out: &mut Vec<InboxItem>) -> usize {
        let before = out.len();
        let mut attached = self.shared.attached();
        attached.entries.retain_mut(|entry| {
            // Cleared before reading: a push after the read sets it again and wakes us.
            if !entry.queue.take_ready() {
                return true;
            }
            loop {
                match entry.queue.pop() {
                    Ok(frame) => {
                        entry.terminal = ends_operation(&frame, entry.queue.prefix().len());
                        out.push(InboxItem::Frame {
                            id: entry.id.clone(),
                            frame,
                        });
                    }
                    Err(PopError::Empty) => return true,
                    Err(PopError::Closed) => {
                        out.push(InboxItem::Ended {
                            id: entry.id.clone(),
                            terminal: entry.terminal,
                        });
                        return false;
                    }
                }
            }
        });
        out.len() - before
    }

    /// Wait, on any executor, until at least one item is ready, then drain every ready
    /// item into `out`; returns how many were appended. Never returns 0.
    ///
    /// Cancel-safe: items are appended only by the poll that returns them.
    pub async fn recv(&self, out: &mut Vec<InboxItem>) -> usize {
        let mut listener = None;
        std::future::poll_fn(|cx| self.poll_recv(cx, &mut listener, out)).await
    }

    /// Poll for ready items, keeping the wake-up registration in `listener`; on `Ready`
    /// they are in `out` and the count is returned.
    pub fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        listener: &mut Option<EventListener>,
        out: &mut Vec<InboxItem>,
    ) -> Poll<usize> {
        poll_until(&self.shared.wake, cx, listener, || self.take(out))
    }

    /// Block this thread until at least one item is ready (then drain every ready item
    /// into `out` and return how many) or `timeout` passes (then return 0).
    pub fn recv_timeout(&self, timeout: Duration, out: &mut Vec<InboxItem>) -> usize {
        // A timeout took nothing.
        block_until(&self.shared.wake, timeout, || self.take(out)).unwrap_or(0)
    }

    /// Drain what is ready; `None` if nothing was: an inbox waits for as long as it lives.
    fn take(&self, out: &mut Vec<InboxItem>) -> Option<usize> {
        match self.drain(out) {
            0 => None,
            taken => Some(taken),
        }
    }
}

impl Drop for ConnectionInbox {
    fn drop(&mut self) {
        // Queues hold the shared part: break the cycle through their entries.
        self.shared.attached().entries.clear();
    }
}

impl fmt::Debug for ConnectionInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attached = self.shared.attached();
        let ids: Vec<&str> = attached.entries.iter().map(|e| &*e.id).collect();
        f.debug_struct("ConnectionInbox").field("attached", &ids).finish()
    }
}

impl fmt::Debug for InboxShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxShared").finish_non_exhaustive()
    }
}

/// Whether `frame`, whose id prefix is `prefix_len` bytes, is an `error` or `complete`
/// frame: after either, graphql-transport-ws sends nothing more for the operation.
fn ends_operation(frame: &[u8], prefix_len: usize) -> bool {
    let body = frame.get(prefix_len..).unwrap_or_default();
    body.starts_with(br#""type":"error""#) || body.starts_with(br#""type":"complete""#)
}
