//! [`ChannelWatch`]: the channels in use, for bus drivers.

use std::sync::Arc;

use crate::queue::Mailbox;

/// A change in the set of channels in use; see [`SubscriptionExecutor::watch_channels`](crate::SubscriptionExecutor::watch_channels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelChange {
    /// The first subscription on this channel was registered.
    Added(String),
    /// The last subscription on this channel ended.
    Removed(String),
}

/// A stream of [`ChannelChange`]s; dropping it stops the watch.
#[derive(Debug)]
pub struct ChannelWatch {
    pub(crate) changes: Arc<Mailbox<ChannelChange>>,
}

impl ChannelWatch {
    /// Wait for the next change; `None` once the executor is gone.
    pub async fn next(&self) -> Option<ChannelChange> {
        self.changes.recv().await
    }

    /// Take the next change without waiting.
    pub fn try_next(&self) -> Option<ChannelChange> {
        self.changes.try_pop()
    }

    /// Poll for the next change, keeping the wake-up registration in `listener`.
    pub fn poll_next(
        &self,
        cx: &mut std::task::Context<'_>,
        listener: &mut Option<event_listener::EventListener>,
    ) -> std::task::Poll<Option<ChannelChange>> {
        self.changes.poll_recv(cx, listener)
    }
}

impl Drop for ChannelWatch {
    fn drop(&mut self) {
        self.changes.close();
    }
}
