//! The receiving end of one local stream of a networked bus.
//!
//! - [`StreamReceiver`]: a stream's bounded mailbox, and the way its consumer asks for a
//!   replay once it has room again.
//! - [`ChannelStream`]: the [`EventStream`](crate::EventStream) a bus's `subscribe` returns;
//!   dropping it runs the bus's clean-up.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::EventListener;
use futures_core::Stream;

use crate::bus::{BoundedMailbox, BusMessage, StreamLosses};

/// The bounded mailbox of one local stream.
pub type StreamMailbox = BoundedMailbox<BusMessage, StreamLosses>;

/// Queues a replay of the named channel. It is called both under the lock the bus keeps
/// its [`ChannelStreams`](super::channels::ChannelStreams) in and from a consumer's thread, so it must only queue work,
/// never take that lock.
pub type ReplayRequest = Arc<dyn Fn(&str) + Send + Sync>;

/// How far a full stream must drain before its channel is replayed: to half, so a replay
/// step has room for a page, not for one event at a time.
pub(super) fn resume_level(capacity: usize) -> usize {
    capacity / 2
}

/// How a stream's consumer asks for the replay of a channel that fell behind on it.
pub(super) struct Resume {
    pub(super) channel: String,
    pub(super) waiting: Arc<AtomicBool>,
    pub(super) requested: Arc<AtomicBool>,
    pub(super) request: ReplayRequest,
}

/// The receiving end of one local stream: its mailbox, and (with [`Overflow::Replay`](super::channels::Overflow::Replay))
/// the way to ask for a replay once it has room again.
pub struct StreamReceiver {
    pub(super) mailbox: Arc<StreamMailbox>,
    pub(super) resume: Option<Resume>,
}

impl StreamReceiver {
    /// Number of queued messages.
    pub fn len(&self) -> usize {
        self.mailbox.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.mailbox.is_empty()
    }

    /// Whether the stream was closed (its channel unsubscribed or the bus closed).
    pub fn is_closed(&self) -> bool {
        self.mailbox.is_closed()
    }

    /// Take the next message without waiting.
    pub fn try_recv(&mut self) -> Option<BusMessage> {
        let message = self.mailbox.try_pop();
        if message.is_some() {
            self.taken();
        }
        message
    }

    fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        listener: &mut Option<EventListener>,
    ) -> Poll<Option<BusMessage>> {
        let polled = self.mailbox.poll_recv(cx, listener);
        if let Poll::Ready(Some(_)) = polled {
            self.taken();
        }
        polled
    }

    /// A message was taken: if the channel waits for this stream, and it is down to half,
    /// ask for the replay.
    fn taken(&self) {
        let Some(resume) = &self.resume else {
            return;
        };
        if resume.waiting.load(Ordering::SeqCst)
            && self.mailbox.len() <= resume_level(self.mailbox.capacity())
            && resume.waiting.swap(false, Ordering::SeqCst)
            && !resume.requested.swap(true, Ordering::SeqCst)
        {
            (resume.request)(&resume.channel);
        }
    }
}

impl fmt::Debug for StreamReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReceiver")
            .field("queued", &self.mailbox.len())
            .field("capacity", &self.mailbox.capacity())
            .finish()
    }
}

/// The stream of one `subscribe` call, reading a [`StreamReceiver`] of [`ChannelStreams`](super::channels::ChannelStreams).
///
/// Dropping it runs the clean-up the bus gave it (typically: remove the stream, and
/// unsubscribe on the server after the channel's last).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use futures_lite::StreamExt;
/// use subcast_core::backend::{ChannelStream, ChannelStreams};
/// use subcast_core::{BusMessage, Event};
///
/// let mut channels = ChannelStreams::<u64>::default();
/// let (_, receiver, _) = channels.insert("users");
/// let dropped = Arc::new(AtomicBool::new(false));
/// let flag = dropped.clone();
/// let mut stream = ChannelStream::new(receiver, Box::new(move || flag.store(true, Ordering::SeqCst)));
/// channels.deliver_at("users", None, Arc::new(Event::new("t", "users", serde_json::json!({}))));
/// let message = futures_lite::future::block_on(stream.next());
/// assert!(matches!(message, Some(BusMessage::Event(_))));
/// drop(stream);
/// assert!(dropped.load(Ordering::SeqCst));
/// ```
pub struct ChannelStream {
    receiver: StreamReceiver,
    listener: Option<EventListener>,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
}

impl ChannelStream {
    /// A stream over `receiver` that runs `on_drop` when dropped.
    pub fn new(receiver: StreamReceiver, on_drop: Box<dyn FnOnce() + Send>) -> Self {
        ChannelStream {
            receiver,
            listener: None,
            on_drop: Some(on_drop),
        }
    }
}

impl fmt::Debug for ChannelStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelStream")
            .field("receiver", &self.receiver)
            .finish()
    }
}

impl Stream for ChannelStream {
    type Item = BusMessage;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BusMessage>> {
        let this = self.get_mut();
        this.receiver.poll_recv(cx, &mut this.listener)
    }
}

impl Drop for ChannelStream {
    fn drop(&mut self) {
        if let Some(on_drop) = self.on_drop.take() {
            on_drop();
        }
    }
}
