//! Inboxes: one subscription's frames as every kind of Python consumer takes them.
//!
//! - [`Inbox::take`] and [`Inbox::take_into`]: non-blocking takes (`next_event`,
//!   `next_events`, `drain_connection`).
//! - [`Inbox::recv_blocking`]: a blocking wait with the GIL released (`recv_blocking`).
//! - [`Inbox::recv_future`]: an asyncio future resolved with the next frame (`recv`).
//!
//! Cancel-safety: a frame leaves the response queue only into `held`, under the inbox
//! lock, and leaves `held` only on the event loop's thread straight into a future that is
//! still pending. A cancelled `recv` therefore loses nothing: its frame stays first in
//! `held`, and every consumer takes from `held` before the queue, so order is kept too.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use event_listener::EventListener;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;
use subcast_core::RecvTimeoutError;
use subcast_core::{FrameBody, ResponseQueue};

use crate::bridge::Bridge;

/// What a non-blocking take found.
#[derive(Debug)]
pub enum Taken {
    /// The next frame's body: [`Inbox::bytes`] makes the frame.
    Frame(FrameBody),
    /// No frame yet.
    Empty,
    /// The subscription has ended and every frame was taken.
    Ended,
}

/// The frames of one subscription and the asyncio futures waiting for them.
#[derive(Debug)]
pub struct Inbox {
    queue: Arc<ResponseQueue>,
    bridge: Arc<Bridge>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Frames taken from the queue for waiters, not handed out yet: always first in line.
    held: VecDeque<FrameBody>,
    waiters: VecDeque<Waiter>,
    /// The queue is closed and drained into `held`.
    ended: bool,
    /// A drain task is running on the bridge.
    draining: bool,
}

#[derive(Debug)]
struct Waiter {
    event_loop: Py<PyAny>,
    future: Py<PyAny>,
}

enum Pulled {
    Moved,
    Idle,
}

impl Inbox {
    /// The inbox of `queue`, whose asyncio waits run on `bridge`.
    pub fn new(queue: Arc<ResponseQueue>, bridge: Arc<Bridge>) -> Arc<Self> {
        Arc::new(Inbox {
            queue,
            bridge,
            state: Mutex::default(),
        })
    }

    /// Take the next frame without waiting.
    pub fn take(&self) -> Taken {
        let mut state = self.lock();
        self.take_locked(&mut state)
    }

    /// Take up to `limit` frames' bodies without waiting, handing each to `frame`.
    pub fn take_into(&self, limit: usize, mut frame: impl FnMut(FrameBody)) {
        let mut state = self.lock();
        for _ in 0..limit {
            match self.take_locked(&mut state) {
                Taken::Frame(body) => frame(body),
                Taken::Empty | Taken::Ended => return,
            }
        }
    }

    /// The frame of `body`: this subscription's prefix, then `body`, written once, straight
    /// into a new `bytes` object.
    pub fn bytes<'py>(&self, py: Python<'py>, body: &FrameBody) -> PyResult<Bound<'py, PyBytes>> {
        let (prefix, body) = (self.queue.prefix().as_bytes(), body.as_bytes());
        // `PyBytes::new_with` zeroes its buffer first: a second pass over a 64 KB frame.
        let len = prefix.len() + body.len();
        let size = pyo3::ffi::Py_ssize_t::try_from(len)
            .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("frame too large"))?;
        // SAFETY: with a null pointer, `PyBytes_FromStringAndSize` returns a new `bytes` of
        // `size` uninitialised bytes (plus its terminating NUL), or null with an exception
        // set. Its buffer is `len` writable bytes, and both copies stay within it
        // (`prefix.len() + body.len() == len`), from slices that cannot overlap a new
        // object. No Python code runs before every byte is written.
        unsafe {
            let object = pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), size);
            if object.is_null() {
                return Err(PyErr::fetch(py));
            }
            let buffer = pyo3::ffi::PyBytes_AsString(object).cast::<u8>();
            std::ptr::copy_nonoverlapping(prefix.as_ptr(), buffer, prefix.len());
            std::ptr::copy_nonoverlapping(body.as_ptr(), buffer.add(prefix.len()), body.len());
            Ok(Bound::from_owned_ptr(py, object).cast_into_unchecked())
        }
    }

    fn take_locked(&self, state: &mut State) -> Taken {
        if let Some(frame) = state.held.pop_front() {
            return Taken::Frame(frame);
        }
        if state.ended {
            return Taken::Ended;
        }
        // Closed is read before the pop: closed-then-empty means no frame can follow.
        let closed = self.queue.is_closed();
        match self.queue.try_next_body() {
            Some(frame) => Taken::Frame(frame),
            None if closed => Taken::Ended,
            None => Taken::Empty,
        }
    }

    /// Wait up to `timeout` (forever if `None`) for a frame; `None` once the subscription
    /// ended. Waits in slices so that `interrupted` (signal checks) runs now and then.
    pub fn recv_blocking(
        &self,
        timeout: Option<Duration>,
        mut interrupted: impl FnMut() -> bool,
    ) -> Result<Option<FrameBody>, Wait> {
        const SLICE: Duration = Duration::from_millis(100);
        // A deadline past what the clock can count is no deadline.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            match self.take() {
                Taken::Frame(frame) => return Ok(Some(frame)),
                Taken::Ended => return Ok(None),
                Taken::Empty => {}
            }
            let slice = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Wait::TimedOut);
                    }
                    left.min(SLICE)
                }
                None => SLICE,
            };
            match self.queue.recv_timeout_body(slice) {
                Ok(frame) => return Ok(Some(frame)),
                Err(RecvTimeoutError::Closed) => {
                    // Frames a cancelled `recv` left in `held` come before the end.
                    return Ok(match self.take() {
                        Taken::Frame(frame) => Some(frame),
                        _ => None,
                    });
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if interrupted() {
                return Err(Wait::Interrupted);
            }
        }
    }

    /// A future of the running event loop, resolved with the next frame (`bytes`) or
    /// `None` once the subscription ended.
    pub fn recv_future<'py>(self: &Arc<Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let event_loop = asyncio(py)?.call_method0("get_running_loop")?;
        let future = event_loop.call_method0("create_future")?;
        let mut state = self.lock();
        match self.take_locked(&mut state) {
            Taken::Frame(body) => {
                future.call_method1("set_result", (self.bytes(py, &body)?,))?;
            }
            Taken::Ended => {
                future.call_method1("set_result", (py.None(),))?;
            }
            Taken::Empty => {
                // Forget waiters whose coroutine was cancelled.
                state.waiters.retain(|w| !is_done(py, &w.future));
                state.waiters.push_back(Waiter {
                    event_loop: event_loop.unbind(),
                    future: future.clone().unbind(),
                });
                self.start_draining(&mut state);
            }
        }
        Ok(future)
    }

    /// End the inbox now (the executor is closing): waiters get their held frames, then `None`.
    pub fn end(self: &Arc<Self>, py: Python<'_>) {
        self.lock().ended = true;
        self.schedule_delivery(py);
    }

    fn start_draining(self: &Arc<Self>, state: &mut State) {
        if state.draining || state.ended {
            return;
        }
        state.draining = true;
        let inbox = self.clone();
        self.bridge.spawn(async move { inbox.drain().await });
    }

    async fn drain(self: Arc<Self>) {
        let mut listener = None;
        loop {
            match std::future::poll_fn(|cx| self.poll_pull(cx, &mut listener)).await {
                Pulled::Idle => return,
                Pulled::Moved => Python::attach(|py| self.schedule_delivery(py)),
            }
        }
    }

    /// Move frames from the queue into `held` while waiters outnumber held frames.
    fn poll_pull(&self, cx: &mut Context<'_>, listener: &mut Option<EventListener>) -> Poll<Pulled> {
        let mut state = self.lock();
        let mut moved = false;
        while !state.ended && state.held.len() < state.waiters.len() {
            match self.queue.poll_recv_body(cx, listener) {
                Poll::Ready(Some(frame)) => {
                    state.held.push_back(frame);
                    moved = true;
                }
                Poll::Ready(None) => {
                    state.ended = true;
                    moved = true;
                }
                Poll::Pending if moved => return Poll::Ready(Pulled::Moved),
                Poll::Pending => return Poll::Pending,
            }
        }
        if moved {
            return Poll::Ready(Pulled::Moved);
        }
        state.draining = false;
        Poll::Ready(Pulled::Idle)
    }

    /// Ask the first waiter's event loop to run [`Delivery`].
    fn schedule_delivery(self: &Arc<Self>, py: Python<'_>) {
        loop {
            let event_loop = match self.lock().waiters.front() {
                Some(waiter) => waiter.event_loop.clone_ref(py),
                None => return,
            };
            let delivery = Delivery { inbox: self.clone() };
            let scheduled = Bound::new(py, delivery).and_then(|d| {
                event_loop
                    .bind(py)
                    .call_method1("call_soon_threadsafe", (d, &event_loop))
            });
            if scheduled.is_ok() {
                return;
            }
            // That loop is closed: its waiters can never be resumed.
            let mut state = self.lock();
            state.waiters.retain(|w| !w.event_loop.is(&event_loop));
        }
    }

    /// On `event_loop`'s thread: resolve its waiters in order with held frames.
    fn deliver(self: &Arc<Self>, py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut state = self.lock();
        let mut other_loop = false;
        while let Some(waiter) = state.waiters.front() {
            if is_done(py, &waiter.future) {
                state.waiters.pop_front();
                continue;
            }
            if !waiter.event_loop.bind(py).is(event_loop) {
                other_loop = true;
                break;
            }
            let result = match state.held.pop_front() {
                Some(body) => self.bytes(py, &body)?.into_any(),
                None if state.ended => py.None().into_bound(py),
                None => break,
            };
            if let Some(waiter) = state.waiters.pop_front() {
                waiter.future.bind(py).call_method1("set_result", (result,))?;
            }
        }
        self.start_draining(&mut state);
        drop(state);
        if other_loop {
            self.schedule_delivery(py);
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why a blocking wait returned without a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The timeout passed.
    TimedOut,
    /// A signal handler raised (e.g. `KeyboardInterrupt`).
    Interrupted,
}

/// The callback an event loop runs to resolve an inbox's waiters.
#[pyclass(frozen, module = "subcast._native")]
struct Delivery {
    inbox: Arc<Inbox>,
}

#[pymethods]
impl Delivery {
    fn __call__(&self, py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inbox.deliver(py, event_loop)
    }
}

fn is_done(py: Python<'_>, future: &Py<PyAny>) -> bool {
    future
        .bind(py)
        .call_method0("done")
        .and_then(|d| d.is_truthy())
        .unwrap_or(true)
}

fn asyncio(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static ASYNCIO: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    Ok(ASYNCIO
        .get_or_try_init(py, || py.import("asyncio").map(Bound::unbind))?
        .bind(py))
}
