//! Publish-then-dispatch and the loop-back window: an event published through an executor
//! is dispatched locally exactly once, its bus copy recognised and skipped.

use std::collections::{HashSet, VecDeque};

use crate::event::{node_id, Event};
use crate::executor::SubscriptionExecutor;

/// Event ids dispatched locally by `publish_with_executor`, awaiting their bus copy.
#[derive(Debug, Default)]
pub(crate) struct LoopbackWindow {
    pub(crate) ids: HashSet<String>,
    pub(crate) order: VecDeque<String>,
}

impl SubscriptionExecutor {
    /// Remember that `event` is dispatched locally, so its bus copy is skipped.
    pub(crate) fn expect_loopback(&self, event: &Event) {
        let mut window = self.loopback.lock().unwrap_or_else(|e| e.into_inner());
        if window.ids.insert(event.id.clone()) {
            window.order.push_back(event.id.clone());
            while window.order.len() > self.config.loopback_window {
                if let Some(oldest) = window.order.pop_front() {
                    window.ids.remove(&oldest);
                }
            }
        }
    }

    /// Forget an expected loop-back copy (the publish failed).
    pub(crate) fn forget_loopback(&self, event: &Event) {
        self.loopback
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ids
            .remove(&event.id);
    }

    /// Whether `event`, received from a bus, is the copy of an event this executor already
    /// dispatched through `publish_with_executor`; a copy is recognised once.
    pub fn take_local_echo(&self, event: &Event) -> bool {
        event.origin == node_id()
            && self
                .loopback
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .ids
                .remove(&event.id)
    }
}
