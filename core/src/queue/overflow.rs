//! A full queue: the bounds, and what each [`OverflowPolicy`] does with one more frame.

use std::sync::atomic::Ordering;

use super::ledger::{Entry, EntrySlots, Ledger};
use super::{Notice, OverflowPolicy, PushOutcome, ResponseQueue};
use crate::codes::QUEUE_OVERFLOW;
use crate::frame::{FrameBody, GraphQLError};
use crate::sync::MailboxEdit;

impl ResponseQueue {
    /// Whether an entry of `bytes` frame bytes fits now (a notice has none: it needs only a
    /// slot, even beside a lone frame larger than the byte bound).
    #[inline]
    pub(super) fn fits(&self, slots: &EntrySlots, bytes: usize) -> bool {
        slots.items.len() < self.capacity
            && (bytes == 0
                || slots.ledger.bytes == 0
                || slots.ledger.bytes.saturating_add(bytes) <= self.max_bytes)
    }

    #[cold]
    pub(super) fn overflow_with(
        &self,
        mut edit: MailboxEdit<'_, Entry, Ledger>,
        body: FrameBody,
        frame_len: usize,
    ) -> PushOutcome {
        match self.overflow {
            OverflowPolicy::DropOldest => {
                let evicted = self.evict_until_fits(edit.slots(), frame_len);
                edit.slots().ledger.bytes += frame_len;
                edit.push(Entry::Frame(body));
                PushOutcome::QueuedEvictedOldest { evicted }
            }
            OverflowPolicy::DropNewest => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                edit.slots().ledger.add_pending(Notice::Lagged, 1);
                PushOutcome::DroppedNewest
            }
            OverflowPolicy::Close => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.queue_pending(&mut edit);
                let error = GraphQLError::new(
                    QUEUE_OVERFLOW,
                    format!(
                        "the subscriber fell {} frames or {} bytes behind; subscription closed",
                        self.capacity, self.max_bytes
                    ),
                );
                let body = FrameBody::error(&[error]);
                edit.slots().ledger.bytes += self.frame_len(&body);
                edit.push(Entry::Frame(body));
                edit.close();
                PushOutcome::ClosedOnOverflow
            }
        }
    }

    /// Evict the oldest entries until `bytes` more fit; returns the frames evicted. Evicted
    /// notices, and a lag notice for the evicted frames, wait to be read first.
    pub(super) fn evict_until_fits(&self, slots: &mut EntrySlots, bytes: usize) -> usize {
        let mut evicted = 0;
        while !self.fits(slots, bytes) {
            match slots.items.pop_front() {
                Some(Entry::Frame(body)) => {
                    slots.ledger.bytes -= self.frame_len(&body);
                    slots.ledger.add_pending(Notice::Lagged, 1);
                    evicted += 1;
                }
                Some(Entry::Notice(notice, count)) => slots.ledger.add_pending(notice, count),
                None => break,
            }
        }
        self.dropped.fetch_add(evicted as u64, Ordering::Relaxed);
        evicted
    }
}
