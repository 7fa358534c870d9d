//! [`FrameReceiver`]: one subscription's frames, held past its completion.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::fork::Origin;
use crate::inbox::{Inbox, Taken};

/// One subscription's frames, held past its completion (what `frames()` iterates).
#[pyclass(frozen, module = "subcast._native")]
#[derive(Debug)]
pub struct FrameReceiver {
    pub(super) inbox: Arc<Inbox>,
    pub(super) origin: Origin,
}

#[pymethods]
impl FrameReceiver {
    /// An awaitable of the next frame, or `None` once the subscription ended.
    fn recv<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.origin.check(py, "receiver")?;
        self.inbox.recv_future(py)
    }

    /// The next frame without waiting, or `None`.
    fn next_event<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.origin.check(py, "receiver")?;
        Ok(match self.inbox.take() {
            Taken::Frame(body) => Some(self.inbox.bytes(py, &body)?),
            Taken::Empty | Taken::Ended => None,
        })
    }
}

impl Drop for FrameReceiver {
    fn drop(&mut self) {
        if self.origin.is_inherited() {
            // See `SubscriptionExecutor`'s drop: nothing of the parent's may be torn down here.
            std::mem::forget(self.inbox.clone());
        }
    }
}
