//! `subcast._native.Resume`: replaying what one subscription missed since a client's cursor.
//!
//! `register_subscription(..., cursor=)` returns one. `next_page()` (blocking, GIL
//! released: run it off the event loop, e.g. `asyncio.to_thread`) returns the next page of
//! frames to write, then `None`. A subscription registered with `inbox=` is attached to it
//! only once the replay is done, with the seam: the live frames the replay already wrote
//! are dropped there. Without an inbox, `is_replayed(frame)` tells which to skip.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use subcast_core::{ResponseQueue, Resume as CoreResume};

use crate::bus::Transport;
use crate::connection::{ConnectionInbox, Seam};
use crate::errors::conversion_error;
use crate::fork::Origin;

/// How long the replay waits for the bus to deliver the channel before reading history.
const CHANNEL_READY_TIMEOUT: Duration = Duration::from_secs(5);

/// The replay of one subscription's missed events, page by page.
#[pyclass(frozen, module = "subcast._native")]
#[derive(Debug)]
pub struct Resume {
    transport: Arc<Transport>,
    /// The process that made it: a `fork()`ed child cannot use the parent's runtime.
    origin: Origin,
    channel: String,
    state: Mutex<State>,
    /// Where the replay is: read by `is_replayed` without waiting for a page.
    seam: Mutex<Seam>,
    // Read without `state`, which a page being read (maybe by a Python resolver) holds.
    finished: AtomicBool,
    ended: AtomicBool,
}

#[derive(Debug)]
struct State {
    resume: CoreResume,
    /// Whether the bus was waited for (before the first page).
    started: bool,
    finished: bool,
    /// The connection inbox to attach the subscription to once replayed.
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    inbox: Py<ConnectionInbox>,
    id: String,
    queue: Arc<ResponseQueue>,
}

impl Resume {
    pub(super) fn new(
        transport: Arc<Transport>,
        origin: Origin,
        resume: CoreResume,
        inbox: Option<(Py<ConnectionInbox>, String, Arc<ResponseQueue>)>,
    ) -> Self {
        let seam = Seam {
            channel: resume.channel().to_owned(),
            floor: resume.floor(),
        };
        Resume {
            transport,
            origin,
            channel: resume.channel().to_owned(),
            state: Mutex::new(State {
                resume,
                started: false,
                finished: false,
                pending: inbox.map(|(inbox, id, queue)| Pending { inbox, id, queue }),
            }),
            seam: Mutex::new(seam),
            finished: AtomicBool::new(false),
            ended: AtomicBool::new(false),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn seam(&self) -> Seam {
        self.seam.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[pymethods]
impl Resume {
    /// The next page of frames (`list[str]`) to write before any live frame: an
    /// `EVENTS_GAP` notice first if events after the cursor are gone or the bus keeps no
    /// history, then the missed events this subscription may see, in order. `None` once
    /// caught up; the subscription is then attached to its connection inbox, if it has one.
    /// Blocks with the GIL released: call it off the event loop.
    fn next_page<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        self.origin.check(py, "resume")?;
        let (page, pending, floor) = py.detach(|| {
            let mut state = self.state();
            if state.finished {
                return (Ok(None), None, None);
            }
            if !state.started {
                state.started = true;
                // Nothing published after the history's last read may pass unseen.
                self.transport.channel_ready(&self.channel, CHANNEL_READY_TIMEOUT);
            }
            let page = self.transport.replay_page(&mut state.resume);
            let floor = state.resume.floor();
            // Attached only after a full replay: not after an `error` frame ended the
            // subscription, nor once it ended meanwhile (`Err`).
            let attach = match &page {
                Ok(Some(_)) if state.resume.ended() => {
                    self.ended.store(true, Ordering::Release);
                    state.finished = true;
                    false
                }
                Ok(Some(_)) => false,
                Ok(None) => {
                    state.finished = true;
                    true
                }
                Err(_) => {
                    state.finished = true;
                    false
                }
            };
            self.finished.store(state.finished, Ordering::Release);
            // Handed out (and dropped, if not attached) with the GIL held.
            let finished = state.finished;
            let pending = state.pending.take_if(|_| finished).map(|p| (p, attach));
            (page, pending, Some(floor))
        });
        if let Some(floor) = floor {
            self.seam.lock().unwrap_or_else(|e| e.into_inner()).floor = floor;
        }
        if let Some((pending, true)) = pending {
            let seam = self.seam();
            pending
                .inbox
                .get()
                .attach_resumed(py, &pending.id, pending.queue, seam)?;
        }
        match page {
            Ok(Some(frames)) => {
                let frames = frames
                    .iter()
                    .map(|frame| PyString::new(py, &String::from_utf8_lossy(frame)));
                Ok(Some(PyList::new(py, frames)?))
            }
            Ok(None) | Err(_) => Ok(None),
        }
    }

    /// Whether `frame` (`bytes` or `str`, from the subscription's queue) is an event the
    /// replay wrote, or the client read before it reconnected: skip it.
    fn is_replayed(&self, frame: &Bound<'_, PyAny>) -> PyResult<bool> {
        let seam = self.seam();
        if let Ok(bytes) = frame.cast::<PyBytes>() {
            return Ok(seam.is_replayed(bytes.as_bytes()));
        }
        if let Ok(text) = frame.cast::<PyString>() {
            return Ok(seam.is_replayed(text.to_str()?.as_bytes()));
        }
        let message = format!(
            "frame must be bytes or str, not {}",
            crate::convert::type_name(frame)
        );
        Err(conversion_error(frame.py(), message))
    }

    /// Whether the replay ended the subscription with an `error` frame (its last frame):
    /// complete the subscription instead of reading its queue.
    #[getter]
    fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Whether every page was read.
    #[getter]
    fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// The channel being replayed.
    #[getter]
    fn channel(&self) -> &str {
        &self.channel
    }

    fn __repr__(&self) -> String {
        format!(
            "Resume(channel={:?}, position={})",
            self.channel,
            self.seam().floor
        )
    }
}
