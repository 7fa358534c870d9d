//! Reading a queue: without waiting, async on any executor, or blocking; a frame is
//! joined with the queue's prefix here, by its reader. The `*_body` readers hand out the
//! body alone, for a reader that joins it with [`ResponseQueue::prefix`] straight into its
//! own buffer (the Python binding, into a `bytes` object): one copy per frame, not two.

use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use event_listener::EventListener;

use super::ledger::{Entry, Ledger};
use super::{OverflowPolicy, ResponseQueue};
use crate::frame::FrameBody;
use crate::sync::{shrink_if_drained, Mailbox, PopError, RecvTimeoutError};

impl ResponseQueue {
    /// Take the next frame without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// assert_eq!(queue.try_next(), None);
    /// queue.push(frame(1));
    /// assert_eq!(&queue.try_next().unwrap()[..], br#"{"id":"1","type":"next","payload":{"data":1}}"#);
    /// ```
    pub fn try_next(&self) -> Option<Bytes> {
        self.try_next_body().map(|body| self.prefix.splice(&body))
    }

    /// Take the next frame's body without waiting; the frame is [`ResponseQueue::prefix`]
    /// followed by it.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// queue.push(FrameBody::next_data(&serde_json::json!(1)));
    /// let body = queue.try_next_body().unwrap();
    /// let frame = [queue.prefix().as_bytes(), body.as_bytes()].concat();
    /// assert_eq!(&frame[..], br#"{"id":"1","type":"next","payload":{"data":1}}"#);
    /// ```
    pub fn try_next_body(&self) -> Option<FrameBody> {
        self.take(&self.frames).ok()
    }

    /// Wait for the next frame on any executor; `None` when the subscription has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// queue.push(frame(1));
    /// assert!(futures_lite::future::block_on(queue.recv()).is_some());
    /// queue.close();
    /// assert_eq!(futures_lite::future::block_on(queue.recv()), None);
    /// ```
    pub async fn recv(&self) -> Option<Bytes> {
        let body = self.frames.recv_with(|frames| self.take(frames)).await?;
        Some(self.prefix.splice(&body))
    }

    /// Poll for the next frame, keeping the wake-up registration in `listener`.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// queue.push(frame(1));
    /// let mut listener = None;
    /// let next = futures_lite::future::block_on(std::future::poll_fn(|cx| queue.poll_recv(cx, &mut listener)));
    /// assert!(next.is_some());
    /// ```
    pub fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        listener: &mut Option<EventListener>,
    ) -> Poll<Option<Bytes>> {
        self.poll_recv_body(cx, listener)
            .map(|body| body.map(|body| self.prefix.splice(&body)))
    }

    /// [`ResponseQueue::poll_recv`], handing out the frame's body alone (see
    /// [`ResponseQueue::try_next_body`]).
    pub fn poll_recv_body(
        &self,
        cx: &mut Context<'_>,
        listener: &mut Option<EventListener>,
    ) -> Poll<Option<FrameBody>> {
        self.frames
            .poll_with(cx, listener, &mut |frames| self.take(frames))
    }

    /// Block this thread until a frame arrives, the subscription ends, or `timeout` passes.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// use std::time::Duration;
    /// use subcast_core::RecvTimeoutError;
    ///
    /// queue.push(frame(1));
    /// assert!(queue.recv_timeout(Duration::from_secs(5)).is_ok());
    /// assert_eq!(queue.recv_timeout(Duration::ZERO), Err(RecvTimeoutError::Timeout));
    /// queue.close();
    /// assert_eq!(queue.recv_timeout(Duration::from_secs(5)), Err(RecvTimeoutError::Closed));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Bytes, RecvTimeoutError> {
        self.recv_timeout_body(timeout)
            .map(|body| self.prefix.splice(&body))
    }

    /// [`ResponseQueue::recv_timeout`], handing out the frame's body alone (see
    /// [`ResponseQueue::try_next_body`]).
    pub fn recv_timeout_body(&self, timeout: Duration) -> Result<FrameBody, RecvTimeoutError> {
        self.frames.recv_timeout_with(timeout, |frames| self.take(frames))
    }

    /// Take the next frame, telling an empty queue from an ended one.
    pub(crate) fn pop(&self) -> Result<Bytes, PopError> {
        self.take(&self.frames).map(|body| self.prefix.splice(&body))
    }

    /// The next body; the caller joins it with the prefix, outside the queue's lock.
    fn take(&self, frames: &Mailbox<Entry, Ledger>) -> Result<FrameBody, PopError> {
        let mut slots = frames.lock();
        if self.overflow == OverflowPolicy::DropOldest {
            // Evicted entries were the oldest: what they stood for comes first.
            if let Some((notice, count)) = slots.ledger.take_pending() {
                return Ok(self.render(notice, count));
            }
        }
        match slots.items.pop_front() {
            Some(Entry::Frame(body)) => {
                slots.ledger.bytes -= self.frame_len(&body);
                shrink_if_drained(&mut slots.items);
                drop(slots);
                Ok(body)
            }
            Some(Entry::Notice(notice, count)) => Ok(self.render(notice, count)),
            None => match slots.ledger.take_pending() {
                // Held back at the tail, and nothing came after them: read them now.
                Some((notice, count)) => Ok(self.render(notice, count)),
                None if frames.is_closed() => Err(PopError::Closed),
                None => Err(PopError::Empty),
            },
        }
    }
}
