//! [`ChannelWatch`]: the channels in use, for bus drivers.

use std::sync::Arc;

use super::SubscriptionExecutor;
use crate::queue::Mailbox;

impl SubscriptionExecutor {
    /// Watch the set of channels with at least one subscription.
    ///
    /// The watch first yields `Added` for every channel already in use, then each change
    /// in order. A driver uses it to subscribe a bus channel when the first subscription
    /// needs it and to unsubscribe after the last.
    pub fn watch_channels(&self) -> ChannelWatch {
        let changes = Arc::new(Mailbox::new());
        let mut registry = self.registry_mut();
        for channel in registry.channels.keys() {
            let _ = changes.push(ChannelChange::Added(channel.to_string()));
        }
        registry.watchers.push(changes.clone());
        ChannelWatch { changes }
    }
}

/// A change in the set of channels in use; see [`SubscriptionExecutor::watch_channels`].
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
    changes: Arc<Mailbox<ChannelChange>>,
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
