//! Losses told in-band: [`Notice`], and how a queue merges, holds and renders notices so
//! that none is lost while it is open.

use super::ledger::{Entry, Ledger};
use super::{OverflowPolicy, ResponseQueue};
use crate::codes::{EVENTS_GAP, EVENTS_LAGGED, RATE_LIMITED};
use crate::frame::FrameBody;
use crate::sync::MailboxEdit;

/// A loss a subscriber is told about in-band: a `next` frame whose one error carries the
/// code and a `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Notice {
    /// `EVENTS_LAGGED`: frames lost to the queue's overflow policy; the count is frames.
    Lagged,
    /// `EVENTS_GAP`: the bus may have lost events; the count is interruptions, not events.
    Gap,
    /// `EVENTS_GAP`: the bus lost a known number of events (a bounded buffer without
    /// replay overflowed); the count is events.
    Lost,
    /// `RATE_LIMITED`: frames held back by the user's delivery bucket; the count is frames.
    RateLimited,
}

impl Notice {
    /// Every notice, in the order pending ones are read.
    pub const ALL: [Notice; 4] = [Notice::Gap, Notice::Lost, Notice::Lagged, Notice::RateLimited];

    /// The wire code, as sent in `extensions.code`.
    pub fn code(self) -> &'static str {
        match self {
            Notice::Lagged => EVENTS_LAGGED,
            Notice::Gap | Notice::Lost => EVENTS_GAP,
            Notice::RateLimited => RATE_LIMITED,
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }

    fn message(self, count: u64) -> String {
        match self {
            Notice::Lagged => format!("{count} events were dropped because the subscriber fell behind"),
            Notice::Gap => format!("events may have been lost: the bus was interrupted {count} times"),
            Notice::Lost => format!("{count} events were lost: the bus fell behind"),
            Notice::RateLimited => {
                format!("{count} events were not delivered: the delivery rate limit was exceeded")
            }
        }
    }
}

impl ResponseQueue {
    /// Queue the pending notices as entries, past the bounds if need be.
    pub(super) fn queue_pending(&self, edit: &mut MailboxEdit<'_, Entry, Ledger>) {
        while let Some((notice, count)) = edit.slots().ledger.take_pending() {
            Self::append_notice(edit, notice, count);
        }
    }

    /// Append a notice entry, or merge it with the last entry if that is a notice of its kind.
    fn append_notice(edit: &mut MailboxEdit<'_, Entry, Ledger>, notice: Notice, count: u64) {
        if let Some(Entry::Notice(last, held)) = edit.slots().items.back_mut() {
            if *last == notice {
                *held = held.saturating_add(count);
                return;
            }
        }
        edit.push(Entry::Notice(notice, count));
    }

    /// Tell the subscriber it missed `count` of something, at this point of its stream.
    ///
    /// Never lost while the queue is open: the notice is queued, merged with a neighbour of
    /// its kind, or held (merged per kind) until it can be read. Returns `false` only if the
    /// queue is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{FrameBody, FramePrefix, OverflowPolicy, ResponseQueue};
    ///
    /// let queue = ResponseQueue::new(FramePrefix::new("1"), 2, OverflowPolicy::DropNewest);
    /// let frame = |n: u32| FrameBody::next_data(&serde_json::json!(n));
    /// use subcast_core::Notice;
    ///
    /// assert!(queue.push_notice(Notice::Gap, 1));
    /// assert!(queue.push_notice(Notice::Gap, 1));
    /// // Two gaps not yet read are one notice counting both.
    /// let notice = queue.try_next().unwrap();
    /// assert!(std::str::from_utf8(&notice).unwrap().contains(r#""count":2"#));
    /// assert!(queue.try_next().is_none());
    /// ```
    pub fn push_notice(&self, notice: Notice, count: u64) -> bool {
        let queued = self.push_notice_locked(notice, count);
        if queued {
            self.wake_inbox();
        }
        queued
    }

    fn push_notice_locked(&self, notice: Notice, count: u64) -> bool {
        let Some(mut edit) = self.frames.edit() else {
            return false;
        };
        if count == 0 {
            return true;
        }
        let merges = matches!(edit.slots().items.back(), Some(Entry::Notice(last, _)) if *last == notice);
        // A notice merging with the last entry needs no room: counts add up where they meet.
        if !merges {
            if self.fits(edit.slots(), 0) {
                if self.overflow != OverflowPolicy::DropOldest {
                    self.queue_pending(&mut edit);
                }
            } else if self.overflow == OverflowPolicy::DropOldest {
                self.evict_until_fits(edit.slots(), 0);
            } else {
                edit.slots().ledger.add_pending(notice, count);
                return true;
            }
        }
        Self::append_notice(&mut edit, notice, count);
        true
    }

    pub(super) fn render(&self, notice: Notice, count: u64) -> FrameBody {
        FrameBody::notice(notice.code(), &notice.message(count), Some(count))
    }
}
