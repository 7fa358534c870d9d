//! Publish-then-dispatch and the loop-back window.
//!
//! - [`publish_then_dispatch`]: publish an event on a bus, then dispatch it locally, exactly
//!   once: the copy that comes back through the bus is recognised and skipped.
//! - [`LoopbackWindow`]: the ids of events dispatched locally, awaiting their bus copy.
//!
//! [`SubscriptionExecutor::publish`](crate::SubscriptionExecutor::publish) is the public
//! entry; the bus itself stays pure transport.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use crate::bus::{EventBus, LogPosition};
use crate::dispatch::DispatchReport;
use crate::error::Result;
use crate::event::{node_id, Event};

/// Event ids dispatched locally by a publish, awaiting their bus copy; at most `capacity`.
#[derive(Debug, Default)]
pub(crate) struct LoopbackWindow {
    ids: Mutex<LoopbackIds>,
}

#[derive(Debug, Default)]
struct LoopbackIds {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl LoopbackWindow {
    /// Remember that `event` is dispatched locally, so its bus copy is skipped; the oldest
    /// ids leave past `capacity`.
    fn expect(&self, event: &Event, capacity: usize) {
        let mut window = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if window.ids.insert(event.id.clone()) {
            window.order.push_back(event.id.clone());
            while window.order.len() > capacity {
                if let Some(oldest) = window.order.pop_front() {
                    window.ids.remove(&oldest);
                }
            }
        }
    }

    /// Forget an expected loop-back copy (the publish failed).
    fn forget(&self, event: &Event) {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ids
            .remove(&event.id);
    }

    /// Whether `event`, received from a bus, is the copy of an event dispatched locally; a
    /// copy is recognised once.
    pub(crate) fn take_echo(&self, event: &Event) -> bool {
        event.origin == node_id()
            && self
                .ids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .ids
                .remove(&event.id)
    }
}

/// Publish `event` on `bus`, then run `dispatch` (the local dispatch of the validated
/// event) with the position the bus's history gave it, if any.
///
/// The caller has validated `event`. If publishing fails, nothing is dispatched. A copy that
/// reached the bus although `publish` failed (a timeout after sending) or this future was
/// dropped is dispatched when it comes back, once.
pub(crate) async fn publish_then_dispatch<B, F>(
    bus: &B,
    event: &std::sync::Arc<Event>,
    window: &LoopbackWindow,
    capacity: usize,
    dispatch: F,
) -> Result<DispatchReport>
where
    B: EventBus + ?Sized,
    F: FnOnce(Option<LogPosition>) -> DispatchReport,
{
    // Announce before publishing: the loop-back copy may arrive before `publish` returns.
    // Until the local dispatch below runs — if the publish fails, or this future is
    // dropped mid-publish — the announcement is withdrawn, so a copy that reached the
    // bus anyway is dispatched when it comes back: once, never lost.
    let announced = LoopbackAnnouncement::new(window, event, capacity);
    // The position comes back with the publish, so local frames carry the cursor their
    // bus copies would have (which are skipped), without waiting for those copies.
    let position = bus.publish_at(event.clone()).await?;
    announced.keep();
    Ok(dispatch(position))
}

/// An event announced to a loop-back window; withdrawn on drop unless kept.
struct LoopbackAnnouncement<'a> {
    window: &'a LoopbackWindow,
    event: &'a Event,
    kept: bool,
}

impl<'a> LoopbackAnnouncement<'a> {
    fn new(window: &'a LoopbackWindow, event: &'a Event, capacity: usize) -> Self {
        window.expect(event, capacity);
        LoopbackAnnouncement {
            window,
            event,
            kept: false,
        }
    }

    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for LoopbackAnnouncement<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.window.forget(self.event);
        }
    }
}
