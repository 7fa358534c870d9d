//! `subcast._native.ConnectionInbox`: one wake-up per WebSocket connection, for an asyncio
//! writer that sends every subscription's frames.
//!
//! - `SubscriptionExecutor.connection_inbox()` makes one; `register_subscription(...,
//!   inbox=)` attaches the subscription's response queue to it.
//! - `ConnectionInbox::ready`: an asyncio future resolved (with `None`) once any attached
//!   subscription has frames or ended. Waiting is one small task on the executor's bridge
//!   thread, woken by the engine's connection inbox, never a poll.
//! - `ConnectionInbox::take_frames`: every ready frame as a `str`, in each subscription's
//!   order, checked against a [`ProtocolConnection`]: frames of subscriptions the client
//!   completed are dropped, and an ended subscription is completed in the protocol state.
//!
//! - A resumed subscription is attached once its replay is written, with a [`Seam`]:
//!   `take_frames` drops its live frames that the replay already wrote.
//!
//! Cancel-safety: the bridge task moves items into `held` under the lock; they leave it only
//! in `take_frames`. A cancelled `ready()` therefore loses nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_executor::Task;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use subcast_core::{frame_cursor, ConnectionInbox as CoreInbox, InboxItem, LogPosition, ResponseQueue};

use crate::bridge::Bridge;
use crate::errors::{raise, PyError};
use crate::protocol::ProtocolConnection;

/// The response queues of one connection and the one wake-up they share.
#[pyclass(frozen, module = "subcast._native")]
#[derive(Debug)]
pub struct ConnectionInbox {
    inbox: Arc<CoreInbox>,
    bridge: Arc<Bridge>,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Items the bridge task took, not yet handed to `take_frames`: always first in line.
    held: Vec<InboxItem>,
    waiter: Option<Waiter>,
    /// The bridge task waiting for items, if one was started.
    task: Option<Task<()>>,
    /// Whether that task is still waiting.
    waiting: bool,
    closed: bool,
    /// Where the replay of each resumed subscription ended, by subscription id.
    seams: HashMap<String, Seam>,
}

/// Where a resumed subscription's replay ended: live frames at or before it were written
/// by the replay (or read by the client before it reconnected).
#[derive(Debug, Clone, Default)]
pub struct Seam {
    /// The replayed channel.
    pub channel: String,
    /// The last position replayed.
    pub floor: LogPosition,
}

impl Seam {
    /// Whether `frame` is a `next` frame the replay already wrote.
    pub fn is_replayed(&self, frame: &[u8]) -> bool {
        frame_cursor(frame)
            .is_some_and(|cursor| cursor.channel == self.channel && cursor.position <= self.floor)
    }
}

#[derive(Debug)]
struct Waiter {
    event_loop: Py<PyAny>,
    future: Py<PyAny>,
}

impl ConnectionInbox {
    /// An inbox whose asyncio waits run on `bridge`.
    pub fn new(bridge: Arc<Bridge>) -> Self {
        ConnectionInbox {
            inbox: Arc::new(CoreInbox::new()),
            bridge,
            state: Arc::default(),
        }
    }

    /// Attach `queue` as subscription `id`; an error names why it was refused.
    pub fn attach(&self, py: Python<'_>, id: &str, queue: Arc<ResponseQueue>) -> PyResult<()> {
        self.inbox.attach(id, queue).map_err(|e| {
            raise(
                py,
                PyError::DuplicateSubscription,
                e.to_string(),
                subcast_core::BAD_REQUEST,
            )
        })
    }

    /// Attach the queue of a resumed subscription once its replay is written: its live
    /// frames up to `seam` are dropped.
    pub fn attach_resumed(
        &self,
        py: Python<'_>,
        id: &str,
        queue: Arc<ResponseQueue>,
        seam: Seam,
    ) -> PyResult<()> {
        // Before attaching: a frame taken meanwhile is checked against it.
        self.lock().seams.insert(id.to_owned(), seam);
        self.attach(py, id, queue).inspect_err(|_| {
            self.lock().seams.remove(id);
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Start the bridge task that waits for the next items, unless one waits already.
    fn start_waiting(&self, state: &mut State) {
        if state.waiting || state.closed {
            return;
        }
        state.waiting = true;
        let inbox = self.inbox.clone();
        let shared = self.state.clone();
        state.task = Some(self.bridge.spawn_owned(async move {
            let mut items = Vec::new();
            inbox.recv(&mut items).await;
            let waiter = {
                let mut state = lock(&shared);
                state.held.append(&mut items);
                state.waiting = false;
                state.waiter.take()
            };
            if let Some(waiter) = waiter {
                Python::attach(|py| wake(py, waiter));
            }
        }));
    }
}

#[pymethods]
impl ConnectionInbox {
    /// An awaitable resolved with `None` once frames (or the end of a subscription) are
    /// ready for `take_frames`; at once if some are. Cancelling it loses nothing.
    fn ready<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
        let future = event_loop.call_method0("create_future")?;
        let mut state = self.lock();
        if state.held.is_empty() && !state.closed {
            self.inbox.drain(&mut state.held);
        }
        if !state.held.is_empty() || state.closed {
            drop(state);
            future.call_method1("set_result", (py.None(),))?;
            return Ok(future);
        }
        state.waiter = Some(Waiter {
            event_loop: event_loop.unbind(),
            future: future.clone().unbind(),
        });
        self.start_waiting(&mut state);
        Ok(future)
    }

    /// Take every ready item: `(frames, ended)`. `frames` are the text messages to send, in
    /// order (frames of subscriptions `connection` no longer holds are dropped); `ended` are
    /// the ids of subscriptions whose queue ended, already marked ended in `connection`
    /// (a `complete` is queued there unless their last frame was `error` or `complete`).
    fn take_frames<'py>(
        &self,
        py: Python<'py>,
        connection: &Bound<'py, ProtocolConnection>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let items = {
            let mut state = self.lock();
            let mut items = std::mem::take(&mut state.held);
            if !state.closed {
                self.inbox.drain(&mut items);
            }
            if !state.seams.is_empty() {
                let seams = &mut state.seams;
                items.retain(|item| match item {
                    InboxItem::Frame { id, frame } => {
                        seams.get(&**id).is_none_or(|seam| !seam.is_replayed(frame))
                    }
                    InboxItem::Ended { id, .. } => {
                        seams.remove(&**id);
                        true
                    }
                });
            }
            items
        };
        let mut connection = connection.borrow_mut();
        let frames = PyList::empty(py);
        let ended = PyList::empty(py);
        for item in items {
            match item {
                InboxItem::Frame { id, frame } => {
                    if connection.connection.is_active(&id) {
                        // The engine encodes frames as UTF-8 JSON: the check is the only cost.
                        let text = match std::str::from_utf8(&frame) {
                            Ok(text) => PyString::new(py, text),
                            Err(_) => PyString::new(py, &String::from_utf8_lossy(&frame)),
                        };
                        frames.append(text)?;
                    }
                }
                InboxItem::Ended { id, terminal } => {
                    if terminal {
                        connection.connection.subscription_ended(&id);
                    } else {
                        connection.connection.complete_subscription(&id);
                    }
                    ended.append(PyString::new(py, &id))?;
                }
            }
        }
        PyTuple::new(py, [frames.into_any(), ended.into_any()])
    }

    /// Detach subscription `id` without taking its frames (the client completed it);
    /// `False` if it was not attached.
    fn detach(&self, id: &str) -> bool {
        self.lock().seams.remove(id);
        self.inbox.detach(id)
    }

    /// Number of attached subscriptions.
    fn __len__(&self) -> usize {
        self.inbox.len()
    }

    /// Stop waiting and drop what is held: the socket is gone. A pending `ready()` resolves.
    fn close(&self, py: Python<'_>) {
        let (task, waiter) = {
            let mut state = self.lock();
            state.closed = true;
            state.held.clear();
            state.waiting = false;
            (state.task.take(), state.waiter.take())
        };
        // Dropping the task cancels its wait (and releases the engine's inbox).
        py.detach(|| drop(task));
        if let Some(waiter) = waiter {
            wake(py, waiter);
        }
    }
}

impl Drop for ConnectionInbox {
    fn drop(&mut self) {
        let task = self.lock().task.take();
        drop(task);
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every critical section leaves the state whole.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Resolve `waiter`'s future on its event loop's thread; a closed loop has no one to wake.
fn wake(py: Python<'_>, waiter: Waiter) {
    let Ok(resolve) = Bound::new(
        py,
        ResolveReady {
            future: waiter.future,
        },
    ) else {
        return;
    };
    let _ = waiter
        .event_loop
        .bind(py)
        .call_method1("call_soon_threadsafe", (resolve,));
}

/// The callback an event loop runs to resolve a `ready()` future that is still pending.
#[pyclass(frozen, module = "subcast._native")]
struct ResolveReady {
    future: Py<PyAny>,
}

#[pymethods]
impl ResolveReady {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let future = self.future.bind(py);
        if !future.call_method0("done")?.is_truthy()? {
            future.call_method1("set_result", (py.None(),))?;
        }
        Ok(())
    }
}
