//! The in-memory bus: events reach every handle on the same hub, with no runtime.
//!
//! - [`InMemoryBus`]: the embedded default; each stream holds at most
//!   [`DEFAULT_STREAM_CAPACITY`] messages, and what a full stream refuses is announced with
//!   its count.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use async_trait::async_trait;
use event_listener::EventListener;
use futures_core::Stream;

use super::{
    BoundedMailbox, BusMessage, BusStats, EventBus, EventStream, Pushed, StreamLosses,
    DEFAULT_STREAM_CAPACITY,
};
use crate::error::Result;
use crate::event::{validate_channel, Event};

/// The in-memory bus: events reach the streams of every handle on the same hub.
///
/// `InMemoryBus::new()` makes a hub; [`InMemoryBus::connect`] makes another handle on it,
/// standing for another node. Streams are [`BoundedMailbox`]es, so no runtime is needed.
///
/// The bus keeps no history to replay: a stream that is full (its consumer is slow) loses
/// the events published meanwhile, and its consumer then receives one [`BusMessage::Gap`]
/// with their exact number, where the loss happened. Each stream holds at most
/// [`DEFAULT_STREAM_CAPACITY`] messages, or what [`InMemoryBus::with_stream_capacity`] says.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use futures_lite::StreamExt;
/// use subcast_core::{BusMessage, Event, EventBus, InMemoryBus};
///
/// futures_lite::future::block_on(async {
///     let bus = InMemoryBus::new();
///     let mut stream = bus.subscribe("users").await.unwrap();
///     bus.publish(Arc::new(Event::new("userCreated", "users", serde_json::json!({})))).await.unwrap();
///     assert!(matches!(stream.next().await, Some(BusMessage::Event(e)) if e.channel == "users"));
/// });
/// ```
#[derive(Debug, Clone)]
pub struct InMemoryBus {
    hub: Arc<Hub>,
    handle: u64,
}

#[derive(Debug)]
struct Hub {
    channels: RwLock<HashMap<String, Vec<Subscriber>>>,
    stream_capacity: usize,
    next_id: AtomicU64,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    /// The peak of streams that have ended.
    stream_peak: AtomicUsize,
}

type StreamMailbox = BoundedMailbox<BusMessage, StreamLosses>;

#[derive(Debug)]
struct Subscriber {
    id: u64,
    handle: u64,
    mailbox: Arc<StreamMailbox>,
}

impl Default for InMemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryBus {
    /// Create a hub and a first handle on it.
    pub fn new() -> Self {
        Self::with_stream_capacity(DEFAULT_STREAM_CAPACITY)
    }

    /// Create a hub whose streams hold at most `messages` each (at least 1), and a first
    /// handle on it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use futures_lite::StreamExt;
    /// use subcast_core::{BusMessage, Event, EventBus, InMemoryBus};
    ///
    /// futures_lite::future::block_on(async {
    ///     let bus = InMemoryBus::with_stream_capacity(2);
    ///     let mut stream = bus.subscribe("users").await.unwrap();
    ///     for n in 0..5 {
    ///         bus.publish(Arc::new(Event::new("t", "users", serde_json::json!(n)))).await.unwrap();
    ///     }
    ///     assert!(matches!(stream.next().await, Some(BusMessage::Event(e)) if e.data == 0));
    ///     assert!(matches!(stream.next().await, Some(BusMessage::Event(e)) if e.data == 1));
    ///     assert!(matches!(stream.next().await, Some(BusMessage::Gap { missed: Some(3), .. })));
    ///     assert_eq!(bus.stats().events_dropped, 3);
    /// });
    /// ```
    pub fn with_stream_capacity(messages: usize) -> Self {
        let hub = Arc::new(Hub {
            channels: RwLock::default(),
            stream_capacity: messages.max(1),
            next_id: AtomicU64::new(0),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            stream_peak: AtomicUsize::new(0),
        });
        let handle = hub.next_id.fetch_add(1, Ordering::Relaxed);
        InMemoryBus { hub, handle }
    }

    /// Create another handle on the same hub, as a second node would have.
    pub fn connect(&self) -> Self {
        let handle = self.hub.next_id.fetch_add(1, Ordering::Relaxed);
        InMemoryBus {
            hub: self.hub.clone(),
            handle,
        }
    }

    fn channels(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Vec<Subscriber>>> {
        self.hub.channels.read().unwrap_or_else(|e| e.into_inner())
    }

    fn channels_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Vec<Subscriber>>> {
        self.hub.channels.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl EventBus for InMemoryBus {
    async fn publish(&self, event: Arc<Event>) -> Result<()> {
        // What a networked bus would refuse, this one refuses too.
        event.validate_wire()?;
        self.hub.published.fetch_add(1, Ordering::Relaxed);
        let channels = self.channels();
        if let Some(subscribers) = channels.get(&event.channel) {
            for subscriber in subscribers {
                let counter = match subscriber.mailbox.push_or_lose(BusMessage::Event(event.clone())) {
                    Pushed::Queued => &self.hub.received,
                    Pushed::Lost => &self.hub.dropped,
                    Pushed::Closed => continue,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> Result<EventStream> {
        validate_channel(channel)?;
        let mailbox = Arc::new(StreamMailbox::new(self.hub.stream_capacity));
        let id = self.hub.next_id.fetch_add(1, Ordering::Relaxed);
        self.channels_mut()
            .entry(channel.to_owned())
            .or_default()
            .push(Subscriber {
                id,
                handle: self.handle,
                mailbox: mailbox.clone(),
            });
        Ok(Box::pin(MailboxStream {
            hub: self.hub.clone(),
            channel: channel.to_owned(),
            id,
            mailbox,
            listener: None,
        }))
    }

    async fn unsubscribe(&self, channel: &str) -> Result<()> {
        validate_channel(channel)?;
        let mut channels = self.channels_mut();
        if let Some(subscribers) = channels.get_mut(channel) {
            subscribers.retain(|s| {
                let mine = s.handle == self.handle;
                if mine {
                    s.mailbox.close();
                }
                !mine
            });
            if subscribers.is_empty() {
                channels.remove(channel);
            }
        }
        Ok(())
    }

    async fn health_check(&self) -> Result<()> {
        Ok(())
    }

    fn stats(&self) -> BusStats {
        let channels = self.channels();
        let subscribed_channels = channels
            .values()
            .filter(|subs| subs.iter().any(|s| s.handle == self.handle))
            .count();
        let live_peak = channels
            .values()
            .flatten()
            .map(|s| s.mailbox.peak())
            .max()
            .unwrap_or(0);
        BusStats {
            published: self.hub.published.load(Ordering::Relaxed),
            received: self.hub.received.load(Ordering::Relaxed),
            subscribed_channels,
            events_dropped: self.hub.dropped.load(Ordering::Relaxed),
            stream_peak: live_peak.max(self.hub.stream_peak.load(Ordering::Relaxed)),
            ..BusStats::default()
        }
    }
}

/// A bus subscription's stream; dropping it removes the subscription from the hub.
struct MailboxStream {
    hub: Arc<Hub>,
    channel: String,
    id: u64,
    mailbox: Arc<StreamMailbox>,
    listener: Option<EventListener>,
}

impl Stream for MailboxStream {
    type Item = BusMessage;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BusMessage>> {
        let this = self.get_mut();
        this.mailbox.poll_recv(cx, &mut this.listener)
    }
}

impl Drop for MailboxStream {
    fn drop(&mut self) {
        self.hub
            .stream_peak
            .fetch_max(self.mailbox.peak(), Ordering::Relaxed);
        let mut channels = self.hub.channels.write().unwrap_or_else(|e| e.into_inner());
        if let Some(subscribers) = channels.get_mut(&self.channel) {
            subscribers.retain(|s| s.id != self.id);
            if subscribers.is_empty() {
                channels.remove(&self.channel);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use futures_lite::future::block_on;
    use futures_lite::StreamExt;
    use serde_json::json;

    fn event(channel: &str) -> Arc<Event> {
        Arc::new(Event::new("t", channel, json!({})))
    }

    #[test]
    fn published_events_reach_every_handle_subscribed_to_the_channel() {
        block_on(async {
            let node_a = InMemoryBus::new();
            let node_b = node_a.connect();
            let mut on_a = node_a.subscribe("users").await.unwrap();
            let mut on_b = node_b.subscribe("users").await.unwrap();
            let mut other = node_b.subscribe("posts").await.unwrap();
            let sent = event("users");
            node_a.publish(sent.clone()).await.unwrap();
            node_a.publish(event("posts")).await.unwrap();
            for stream in [&mut on_a, &mut on_b] {
                match stream.next().await {
                    Some(BusMessage::Event(got)) => assert_eq!(got.id, sent.id),
                    other => panic!("expected the event, got {other:?}"),
                }
            }
            assert!(matches!(other.next().await, Some(BusMessage::Event(e)) if e.channel == "posts"));
            assert_eq!(node_a.stats().published, 2);
            assert_eq!(node_a.stats().received, 3);
        });
    }

    #[test]
    fn unsubscribe_ends_only_this_handles_streams() {
        block_on(async {
            let node_a = InMemoryBus::new();
            let node_b = node_a.connect();
            let mut on_a = node_a.subscribe("users").await.unwrap();
            let mut on_b = node_b.subscribe("users").await.unwrap();
            node_a.unsubscribe("users").await.unwrap();
            assert!(on_a.next().await.is_none());
            assert_eq!(node_a.stats().subscribed_channels, 0);
            node_b.publish(event("users")).await.unwrap();
            assert!(on_b.next().await.is_some());
        });
    }

    #[test]
    fn dropping_a_stream_removes_its_subscription() {
        block_on(async {
            let bus = InMemoryBus::new();
            drop(bus.subscribe("users").await.unwrap());
            assert_eq!(bus.stats().subscribed_channels, 0);
            bus.publish(event("users")).await.unwrap();
            assert_eq!(bus.stats().received, 0);
        });
    }

    #[test]
    fn a_slow_in_memory_subscriber_holds_at_most_its_capacity_and_learns_how_many_it_missed() {
        block_on(async {
            let bus = InMemoryBus::with_stream_capacity(4);
            let mut stream = bus.subscribe("users").await.unwrap();
            for _ in 0..1000 {
                bus.publish(event("users")).await.unwrap();
            }
            assert_eq!(bus.stats().stream_peak, 4);
            assert_eq!(bus.stats().events_dropped, 996);
            for _ in 0..4 {
                assert!(matches!(stream.next().await, Some(BusMessage::Event(_))));
            }
            assert!(matches!(
                stream.next().await,
                Some(BusMessage::Gap {
                    missed: Some(996),
                    ..
                })
            ));
            bus.publish(event("users")).await.unwrap();
            assert!(matches!(stream.next().await, Some(BusMessage::Event(_))));
        });
    }

    #[test]
    fn invalid_channel_names_are_refused() {
        block_on(async {
            let bus = InMemoryBus::new();
            assert!(matches!(
                bus.subscribe("").await,
                Err(Error::InvalidChannel { .. })
            ));
            assert!(bus.publish(event(&"x".repeat(300))).await.is_err());
        });
    }
}
