//! Graceful shutdown: every connection of an endpoint closes with 1001 `Going away`, which
//! graphql-ws clients answer by reconnecting (to another node, or to this one restarted).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use event_listener::{Event, EventListener};

/// Shared by an endpoint and its clones: whether it shuts down, and how many connections
/// it still serves.
#[derive(Debug, Default)]
pub(crate) struct ShutdownState {
    closing: AtomicBool,
    /// Notified once, when shutdown starts.
    started: Event,
    open: AtomicUsize,
    /// Notified each time a connection ends.
    ended: Event,
}

impl ShutdownState {
    /// Start the shutdown: every served connection, and any served from now on, closes.
    pub(crate) fn start(&self) {
        if !self.closing.swap(true, Ordering::SeqCst) {
            self.started.notify(usize::MAX);
        }
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// A listener for the start of the shutdown; check [`is_closing`](Self::is_closing)
    /// after creating it, so a start in between is not missed.
    pub(crate) fn listen(&self) -> EventListener {
        self.started.listen()
    }

    /// Count a served connection until the guard drops.
    pub(crate) fn enter(self: &Arc<Self>) -> OpenConnection {
        self.open.fetch_add(1, Ordering::SeqCst);
        OpenConnection(self.clone())
    }

    /// Wait until no connection is served.
    pub(crate) async fn drained(self: Arc<Self>) {
        loop {
            if self.open.load(Ordering::SeqCst) == 0 {
                return;
            }
            let listener = self.ended.listen();
            if self.open.load(Ordering::SeqCst) == 0 {
                return;
            }
            listener.await;
        }
    }
}

/// One served connection, counted until dropped (however its task ends).
#[derive(Debug)]
pub(crate) struct OpenConnection(Arc<ShutdownState>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        self.0.ended.notify(usize::MAX);
    }
}
