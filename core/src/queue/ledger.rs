//! What a queue holds and counts under its lock: entries (a shared frame body or a merged
//! notice), the bytes of its frames, and the notices waiting for room.

use super::Notice;
use crate::frame::FrameBody;
use crate::sync::Slots;

/// One slot of a response queue: a frame, or a notice whose count grows as it merges.
///
/// A frame is held as its body only, shared with every queue of the cohort (a reference
/// count, not a copy): the queue's own prefix completes it when it is read.
#[derive(Debug)]
pub(super) enum Entry {
    Frame(FrameBody),
    Notice(Notice, u64),
}

/// What a response queue accounts for under its lock, beside the entries.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    /// Bytes of the `Frame` entries queued, counted as the frames will be written (prefix +
    /// body), not as the memory they pin: see
    /// [`ResponseQueue::queued_bytes`](super::ResponseQueue::queued_bytes).
    pub(super) bytes: usize,
    /// Notices that are not entries (they found the queue full, or their entry was
    /// evicted), counted per [`Notice::index`]. They are read at the head under
    /// drop-oldest (whatever was evicted came before every entry left) and at the tail
    /// under the other policies (before the next entry queued, or once the entries are
    /// read). Boxed: most queues never need it.
    pub(super) pending: Option<Box<[u64; Notice::ALL.len()]>>,
}

impl Ledger {
    pub(super) fn add_pending(&mut self, notice: Notice, count: u64) {
        let pending = self.pending.get_or_insert_with(Default::default);
        pending[notice.index()] = pending[notice.index()].saturating_add(count);
    }

    /// Remove and return the first pending notice, if any.
    pub(super) fn take_pending(&mut self) -> Option<(Notice, u64)> {
        let pending = self.pending.as_mut()?;
        let taken = Notice::ALL.into_iter().find_map(|notice| {
            let count = std::mem::take(&mut pending[notice.index()]);
            (count > 0).then_some((notice, count))
        });
        if pending.iter().all(|count| *count == 0) {
            self.pending = None;
        }
        taken
    }
}

pub(super) type EntrySlots = Slots<Entry, Ledger>;
