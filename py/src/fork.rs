//! `fork()`: which objects belong to this process and which were inherited from a parent.
//!
//! - [`install`]: counts forks with a `pthread_atfork` child handler (once per process).
//! - [`Origin`]: the process an executor (or a receiver) was made in; [`Origin::check`]
//!   raises `ForkedProcessError` in a child, [`Origin::is_inherited`] tells `Drop` to leak.
//!
//! A child process has only the thread that called `fork()`: an executor inherited from the
//! parent has lost its runtime, bus connections, pump and asyncio bridge, and any lock one
//! of those threads held stays held forever. Using it would hang, and so would dropping it
//! (joining threads that do not exist), so a child refuses every call on it and leaks it.
//! Executors made in the child start threads of their own and work normally.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use pyo3::prelude::*;

use crate::errors::{raise, PyError};

/// Forks survived by this process's lineage: 0 in the original process, +1 in each child.
static GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn forked_child() {
    // Only an atomic store here: the child runs this before anything else is safe to do.
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Count forks from now on (idempotent).
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: `forked_child` is async-signal-safe (one atomic add) and lives forever.
        // Registration fails only without memory; fork detection is then lost, never safety
        // of the call itself.
        unsafe {
            libc::pthread_atfork(None, None, Some(forked_child));
        }
    });
}

/// The fork generation of the calling process.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// The process an object was made in.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    generation: u64,
    pid: u32,
}

impl Origin {
    /// The calling process.
    pub fn here() -> Self {
        Origin {
            generation: generation(),
            pid: std::process::id(),
        }
    }

    /// Whether the object came from a parent process through `fork()`.
    pub fn is_inherited(&self) -> bool {
        self.generation != generation()
    }

    /// Refuse to use `what` (e.g. "executor") in a child process it was inherited by.
    pub fn check(&self, py: Python<'_>, what: &str) -> PyResult<()> {
        if !self.is_inherited() {
            return Ok(());
        }
        let message = format!(
            "this {what} was created in process {} before fork(); this is process {}: \
             create a new one in the child",
            self.pid,
            std::process::id()
        );
        Err(raise(py, PyError::ForkedProcess, message, "INTERNAL_ERROR"))
    }
}
