//! [`Resume`]: replaying what one subscription missed since a client's cursor.
//!
//! A client that kept the `payload.extensions.cursor` of the last `next` frame it read
//! sends it back in its `subscribe`'s `extensions`. The I/O loop then:
//!
//! 1. registers the subscription as usual, so live events are queued from now on, and
//!    does not read its queue yet (the queue's bounds apply meanwhile);
//! 2. waits until the bus delivers the channel to this node, so nothing published after
//!    the replay's last read can pass unseen;
//! 3. writes the pages of [`Resume::next_page`] (the channel's history after the cursor,
//!    each event checked and resolved for this one subscription exactly as a live one:
//!    tenant, row, federation, filter, rate limit);
//! 4. reads the queue, skipping the frames [`Resume::is_replayed`] says were replayed (the
//!    seam: an event may be both in the history read and queued live).
//!
//! A bus without history answers a cursor with one `EVENTS_GAP` notice (unknown count),
//! then live events; so does a cursor older than the history the bus retains, before
//! what it still has.

use std::sync::Arc;

use bytes::Bytes;

use super::registry::Member;
use super::{SubscriptionExecutor, SubscriptionKey, SubscriptionRequest};
use crate::bus::{Cursor, EventBus, History, LogPosition};
use crate::codes::EVENTS_GAP;
use crate::error::{Error, Result};
use crate::frame::FrameBody;
use crate::queue::{OverflowPolicy, ResponseQueue};

/// Most events one [`Resume::next_page`] reads (fewer with a smaller `queue_capacity`):
/// a page's frames are held in memory until written.
pub const MAX_RESUME_PAGE: usize = 256;

/// The notice of a cursor nothing can be replayed for.
const NO_HISTORY: &str = "events may have been missed: the bus keeps no history to resume from";

/// Replaying one subscription's missed events, page by page; made by
/// [`SubscriptionExecutor::resume`].
///
/// # Examples
///
/// On a bus without history, a cursor gets one `EVENTS_GAP` notice, then live events:
///
/// ```
/// use subcast_core::{Cursor, InMemoryBus, LogPosition, SecurityContext, SubscriptionExecutor, SubscriptionRequest};
///
/// # futures_lite::future::block_on(async {
/// let (bus, executor) = (InMemoryBus::new(), SubscriptionExecutor::default());
/// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
///     .security_context(SecurityContext::new("alice"));
/// let key = executor.register_subscription(request)?;
/// let cursor = Cursor::new("ticks", LogPosition::new(41, 0)).encode();
/// let mut resume = executor.resume(key, &cursor)?;
/// let page = resume.next_page(&executor, &bus).await?.unwrap();
/// assert!(std::str::from_utf8(&page[0]).unwrap().contains("EVENTS_GAP"));
/// assert!(resume.next_page(&executor, &bus).await?.is_none());
/// # Ok::<(), subcast_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Resume {
    key: SubscriptionKey,
    channel: String,
    /// The last position replayed (at first the client's): live frames at or before it
    /// were replayed, or read by the client before it reconnected.
    floor: LogPosition,
    page: usize,
    finished: bool,
    /// The page ended the subscription (a resolver error, a frame over the limit).
    ended: bool,
}

impl SubscriptionExecutor {
    /// Register `request` and, if it carries a [`cursor`](SubscriptionRequest::cursor),
    /// start resuming it from there ([`resume`](Self::resume)).
    ///
    /// A refused cursor refuses the request ([`Error::InvalidCursor`]): nothing stays
    /// registered. Live events are queued from the registration on; the caller writes the
    /// [`Resume`]'s pages before reading the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest, INVALID_CURSOR};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"))
    ///     .cursor("not a cursor");
    /// let refused = executor.register_resumable(request).unwrap_err();
    /// assert_eq!(refused.code(), INVALID_CURSOR);
    /// assert_eq!(executor.stats().subscriptions, 0);
    /// ```
    pub fn register_resumable(
        &self,
        mut request: SubscriptionRequest,
    ) -> Result<(SubscriptionKey, Option<Resume>)> {
        let cursor = request.cursor.take();
        if let Some(cursor) = &cursor {
            // Refused before anything is registered when it cannot be a cursor at all.
            Cursor::parse(cursor)?;
        }
        let key = self.register_subscription(request)?;
        let Some(cursor) = cursor else {
            return Ok((key, None));
        };
        match self.resume(key, &cursor) {
            Ok(resume) => Ok((key, Some(resume))),
            Err(error) => {
                let _ = self.complete_subscription(key);
                Err(error)
            }
        }
    }

    /// Start replaying what subscription `key` missed since `cursor`, the string a `next`
    /// frame carried as `payload.extensions.cursor`.
    ///
    /// Fails with [`Error::InvalidCursor`] (`INVALID_CURSOR`) if the cursor is malformed,
    /// from another server version, or names a channel the subscription does not listen to.
    pub fn resume(&self, key: SubscriptionKey, cursor: &str) -> Result<Resume> {
        let cursor = Cursor::parse(cursor)?;
        let subscription = self.subscription(key)?;
        if !subscription
            .cohort
            .channels
            .iter()
            .any(|c| **c == *cursor.channel)
        {
            return Err(Error::InvalidCursor(crate::error::CursorError(format!(
                "the subscription does not listen to the cursor's channel {:?}",
                cursor.channel
            ))));
        }
        Ok(Resume {
            key,
            channel: cursor.channel,
            floor: cursor.position,
            page: self.config.queue_capacity.clamp(1, MAX_RESUME_PAGE),
            finished: false,
            ended: false,
        })
    }
}

impl Resume {
    /// The channel being replayed.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Read the next page of the channel's history and turn it into this subscription's
    /// frames, in order: an `EVENTS_GAP` notice first if events after the cursor are gone
    /// (or the bus keeps no history), then one frame per event the subscription may see.
    ///
    /// `None` once the replay has caught up with the history as it was when read (or
    /// ended the subscription: see [`ended`](Self::ended)). A page holds at most
    /// [`MAX_RESUME_PAGE`] events (fewer with a smaller `queue_capacity`) and about
    /// `queue_max_bytes` of frames, whatever the backlog.
    pub async fn next_page(
        &mut self,
        executor: &SubscriptionExecutor,
        bus: &dyn EventBus,
    ) -> Result<Option<Vec<Bytes>>> {
        if self.finished {
            return Ok(None);
        }
        let subscription = executor.subscription(self.key)?;
        let prefix = subscription.queue.prefix().clone();
        let gap = |message: &str| prefix.splice(&FrameBody::notice(EVENTS_GAP, message, None));
        let page = match bus.history(&self.channel, self.floor, self.page).await {
            Ok(History::Page(page)) => page,
            Ok(History::Unavailable) => {
                self.finished = true;
                return Ok(Some(vec![gap(NO_HISTORY)]));
            }
            Err(error) => {
                // The client still resumes live; it is told that what it missed is unknown.
                log::warn!(
                    "subcast: resuming {:?} from its cursor failed: {error}",
                    self.channel
                );
                self.finished = true;
                return Ok(Some(vec![gap(
                    "events may have been missed: the bus's history could not be read",
                )]));
            }
        };
        let mut frames = Vec::with_capacity(page.events.len() + 1);
        let mut bytes = 0;
        if page.lost {
            frames.push(gap(
                "events may have been missed: the bus no longer holds everything after the cursor",
            ));
        }
        // The same prepare and deliver path as a live event, into a queue of its own so the
        // page comes before what is queued live.
        let replayed = Arc::new(ResponseQueue::new(
            prefix.clone(),
            self.page + 2,
            OverflowPolicy::DropNewest,
        ));
        let member = Member {
            queue: replayed.clone(),
            ..Member::new(&subscription)
        };
        for (at, event) in page.events.iter().enumerate() {
            if event.validate(executor.config.max_event_bytes).is_err() {
                log::warn!(
                    "subcast: skipped a replayed event of {:?} over this executor's limits",
                    self.channel
                );
            } else {
                executor.deliver_to_member(event, &member);
            }
            while let Some(frame) = replayed.try_next() {
                bytes += frame.len();
                frames.push(frame);
            }
            if replayed.is_closed() {
                // An `error` frame ended the subscription: nothing may follow it.
                self.ended = true;
                self.finished = true;
                return Ok(Some(frames));
            }
            let more = at + 1 < page.events.len();
            if more && bytes >= executor.config.queue_max_bytes {
                // As much as the subscription's queue may hold: the rest is read again.
                if let Some(position) = event.position.filter(|p| *p > self.floor) {
                    self.floor = position;
                    return Ok(Some(frames));
                }
            }
        }
        if let Some(last) = page.last.filter(|last| *last > self.floor) {
            self.floor = last;
        }
        // A page that moved nothing forward is the end too: no busy loop on a stuck log.
        self.finished = page.complete || page.last.is_none();
        Ok(Some(frames))
    }

    /// Finish without a bus to read history from: one `EVENTS_GAP` notice (unknown
    /// count), after which live events follow.
    pub fn without_history(&mut self, executor: &SubscriptionExecutor) -> Result<Vec<Bytes>> {
        let subscription = executor.subscription(self.key)?;
        self.finished = true;
        let notice = FrameBody::notice(EVENTS_GAP, NO_HISTORY, None);
        Ok(vec![subscription.queue.prefix().splice(&notice)])
    }

    /// Whether the replay ended the subscription with an `error` frame (its last frame):
    /// the I/O loop ends the subscription instead of reading its queue.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Whether `frame`, read from the subscription's queue, is an event the replay wrote
    /// (or the client read before it reconnected): a `next` frame whose cursor is on the
    /// replayed channel at or before the last replayed position.
    pub fn is_replayed(&self, frame: &[u8]) -> bool {
        crate::bus::frame_cursor(frame)
            .is_some_and(|cursor| cursor.channel == self.channel && cursor.position <= self.floor)
    }

    /// The last position replayed (the client's cursor until a page moves it).
    pub fn floor(&self) -> LogPosition {
        self.floor
    }
}
