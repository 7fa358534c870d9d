//! The local side of bus channels: which streams of this handle listen where.
//!
//! - [`Channels`]: every channel this bus handle is subscribed to, keyed by channel name,
//!   with its subscribers' mailboxes and its replay cursor.
//! - [`ChannelStream`]: the [`EventStream`](subcast_core::EventStream) one `subscribe` returns.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use event_listener::EventListener;
use futures_core::Stream;
use subcast_core::queue::Mailbox;
use subcast_core::{BusMessage, Event};

/// One channel this handle is subscribed to on the server.
#[derive(Debug)]
pub(crate) struct LocalChannel<C> {
    /// The local streams of the channel, by subscriber id.
    pub subscribers: Vec<(u64, Arc<Mailbox<BusMessage>>)>,
    /// Position of the last event delivered (or the position at subscription), for replay.
    pub cursor: Option<C>,
    /// Live messages are dropped until the pending replay, which will include them, runs.
    pub pending_replay: bool,
}

/// What [`Channels::insert`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// The channel was new: the server side must be subscribed.
    First,
    /// Another local stream already listens on the channel.
    Joined,
}

/// Every channel of one bus handle.
#[derive(Debug)]
pub(crate) struct Channels<C> {
    by_name: HashMap<String, LocalChannel<C>>,
    next_id: u64,
}

impl<C> Default for Channels<C> {
    fn default() -> Self {
        Channels {
            by_name: HashMap::new(),
            next_id: 0,
        }
    }
}

impl<C: Clone + Ord + fmt::Debug> Channels<C> {
    /// Add a subscriber to `channel`; returns its id, its mailbox and whether it is the first.
    pub fn insert(&mut self, channel: &str) -> (u64, Arc<Mailbox<BusMessage>>, Inserted) {
        let id = self.next_id;
        self.next_id += 1;
        let mailbox = Arc::new(Mailbox::new());
        let inserted = match self.by_name.get_mut(channel) {
            Some(local) => {
                local.subscribers.push((id, mailbox.clone()));
                Inserted::Joined
            }
            None => {
                self.by_name.insert(
                    channel.to_owned(),
                    LocalChannel {
                        subscribers: vec![(id, mailbox.clone())],
                        cursor: None,
                        pending_replay: false,
                    },
                );
                Inserted::First
            }
        };
        (id, mailbox, inserted)
    }

    /// Remove one subscriber; `true` when the channel has no subscriber left (and is gone).
    pub fn remove_subscriber(&mut self, channel: &str, id: u64) -> bool {
        let Some(local) = self.by_name.get_mut(channel) else {
            return false;
        };
        local.subscribers.retain(|(sid, _)| *sid != id);
        if local.subscribers.is_empty() {
            self.by_name.remove(channel);
            return true;
        }
        false
    }

    /// Remove the channel, closing its streams; `true` if it was subscribed.
    pub fn remove_channel(&mut self, channel: &str) -> bool {
        match self.by_name.remove(channel) {
            Some(local) => {
                for (_, mailbox) in &local.subscribers {
                    mailbox.close();
                }
                true
            }
            None => false,
        }
    }

    /// The channel's state, if subscribed.
    pub fn get_mut(&mut self, channel: &str) -> Option<&mut LocalChannel<C>> {
        self.by_name.get_mut(channel)
    }

    /// Names of every subscribed channel.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// Number of subscribed channels.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Hand `message` to every stream of `channel`; returns how many took it.
    pub fn broadcast(&self, channel: &str, message: &BusMessage) -> u64 {
        let Some(local) = self.by_name.get(channel) else {
            return 0;
        };
        local
            .subscribers
            .iter()
            .filter(|(_, mailbox)| mailbox.push(message.clone()).is_ok())
            .count() as u64
    }

    /// Deliver `event` at position `position` unless it is at or before the cursor.
    ///
    /// Returns how many streams received it; `None` when it was a duplicate.
    pub fn deliver_at(&mut self, channel: &str, position: Option<C>, event: Arc<Event>) -> Option<u64> {
        let local = self.by_name.get_mut(channel)?;
        if let Some(position) = position {
            if local.cursor.as_ref().is_some_and(|cursor| position <= *cursor) {
                return None;
            }
            local.cursor = Some(position);
        }
        let message = BusMessage::Event(event);
        Some(
            local
                .subscribers
                .iter()
                .filter(|(_, mailbox)| mailbox.push(message.clone()).is_ok())
                .count() as u64,
        )
    }

    /// Close every stream (the bus is shutting down).
    pub fn close_all(&mut self) {
        for local in self.by_name.values() {
            for (_, mailbox) in &local.subscribers {
                mailbox.close();
            }
        }
        self.by_name.clear();
    }
}

/// The stream of one `subscribe` call; dropping it removes the subscriber.
pub(crate) struct ChannelStream {
    mailbox: Arc<Mailbox<BusMessage>>,
    listener: Option<EventListener>,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
}

impl ChannelStream {
    /// A stream over `mailbox` that runs `on_drop` when dropped.
    pub fn new(mailbox: Arc<Mailbox<BusMessage>>, on_drop: Box<dyn FnOnce() + Send>) -> Self {
        ChannelStream {
            mailbox,
            listener: None,
            on_drop: Some(on_drop),
        }
    }
}

impl fmt::Debug for ChannelStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelStream")
            .field("queued", &self.mailbox.len())
            .finish()
    }
}

impl Stream for ChannelStream {
    type Item = BusMessage;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BusMessage>> {
        let this = self.get_mut();
        this.mailbox.poll_recv(cx, &mut this.listener)
    }
}

impl Drop for ChannelStream {
    fn drop(&mut self) {
        if let Some(on_drop) = self.on_drop.take() {
            on_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Arc<Event> {
        Arc::new(Event::new("t", "c", json!({})))
    }

    #[test]
    fn events_at_or_before_the_cursor_are_duplicates() {
        let mut channels = Channels::<u64>::default();
        let (_, mailbox, first) = channels.insert("c");
        assert_eq!(first, Inserted::First);
        assert_eq!(channels.deliver_at("c", Some(5), event()), Some(1));
        assert_eq!(channels.deliver_at("c", Some(5), event()), None);
        assert_eq!(channels.deliver_at("c", Some(4), event()), None);
        assert_eq!(channels.deliver_at("c", Some(6), event()), Some(1));
        assert_eq!(channels.deliver_at("c", None, event()), Some(1));
        assert_eq!(mailbox.len(), 3);
    }

    #[test]
    fn the_last_subscriber_leaving_removes_the_channel() {
        let mut channels = Channels::<u64>::default();
        let (a, _, _) = channels.insert("c");
        let (b, _, joined) = channels.insert("c");
        assert_eq!(joined, Inserted::Joined);
        assert!(!channels.remove_subscriber("c", a));
        assert!(channels.remove_subscriber("c", b));
        assert_eq!(channels.len(), 0);
    }
}
