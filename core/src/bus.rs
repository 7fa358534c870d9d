//! Event buses: how events travel from publishers to every node's executor.
//!
//! - [`EventBus`]: the object-safe trait every bus implements, with the provided
//!   [`EventBus::publish_with_executor`].
//! - [`EventStream`] / [`BusMessage`]: what a subscription to a bus channel yields.
//! - [`BusStats`]: counters every bus keeps.
//! - [`InMemoryBus`]: the embedded default, needing no runtime.

use std::collections::HashMap;
use std::fmt::Debug;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use async_trait::async_trait;
use event_listener::EventListener;
use futures_core::Stream;

use crate::error::Result;
use crate::event::{validate_channel, Event};
use crate::executor::{DispatchReport, SubscriptionExecutor};
use crate::queue::Mailbox;

/// What a bus subscription yields.
#[derive(Debug, Clone)]
pub enum BusMessage {
    /// An event published on the channel.
    Event(Arc<Event>),
    /// Events on `channel` may have been lost (e.g. during a reconnection without replay).
    Gap {
        /// The channel whose events may be missing.
        channel: String,
    },
}

/// The stream of messages of one bus channel; it ends when the channel is unsubscribed.
pub type EventStream = Pin<Box<dyn Stream<Item = BusMessage> + Send>>;

/// Counters a bus keeps about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusStats {
    /// Events accepted by `publish`.
    pub published: u64,
    /// Messages handed to local bus subscriptions.
    pub received: u64,
    /// Publishes that failed.
    pub publish_errors: u64,
    /// Bus messages skipped because they were not valid events.
    pub invalid_messages: u64,
    /// Channels this bus handle is subscribed to.
    pub subscribed_channels: usize,
    /// Reconnections to the server.
    pub reconnects: u64,
}

/// A transport carrying events between publishers and executors, on one node or many.
///
/// # Examples
///
/// A bus that accepts and forgets everything:
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use subcast_core::{BusStats, Event, EventBus, EventStream, Result};
///
/// #[derive(Debug)]
/// struct NullBus;
///
/// #[async_trait]
/// impl EventBus for NullBus {
///     async fn publish(&self, _event: Arc<Event>) -> Result<()> { Ok(()) }
///     async fn subscribe(&self, _channel: &str) -> Result<EventStream> {
///         Ok(Box::pin(futures_lite::stream::empty()))
///     }
///     async fn unsubscribe(&self, _channel: &str) -> Result<()> { Ok(()) }
///     async fn health_check(&self) -> Result<()> { Ok(()) }
///     fn stats(&self) -> BusStats { BusStats::default() }
/// }
/// ```
#[async_trait]
pub trait EventBus: Send + Sync + Debug + 'static {
    /// Send `event` to every subscriber of its channel, on every node.
    async fn publish(&self, event: Arc<Event>) -> Result<()>;

    /// Receive the messages of `channel` until it is unsubscribed.
    async fn subscribe(&self, channel: &str) -> Result<EventStream>;

    /// End this handle's streams of `channel`.
    async fn unsubscribe(&self, channel: &str) -> Result<()>;

    /// Check that the bus can publish and receive now.
    async fn health_check(&self) -> Result<()>;

    /// Read the bus's counters.
    fn stats(&self) -> BusStats;

    /// Publish `event`, then dispatch it to `executor`'s subscriptions directly.
    ///
    /// If publishing fails, nothing is dispatched here. If it succeeds, the executor's frames
    /// are queued before this returns, and the copy that comes back through the bus is
    /// recognised by [`SubscriptionExecutor::dispatch_bus_message`] and not dispatched again.
    /// A copy that reached the bus although `publish` failed (a timeout after sending) or
    /// this future was dropped is dispatched when it comes back, once.
    async fn publish_with_executor(
        &self,
        event: Arc<Event>,
        executor: &SubscriptionExecutor,
    ) -> Result<DispatchReport> {
        // The one check every node's decoder applies too (depth, ids, channel), and this
        // executor's size limit: an event is refused here or readable everywhere.
        event.validate(executor.config().max_event_bytes)?;
        // Announce before publishing: the loop-back copy may arrive before `publish` returns.
        // Until the local dispatch below runs — if the publish fails, or this future is
        // dropped mid-publish — the announcement is withdrawn, so a copy that reached the
        // bus anyway is dispatched when it comes back: once, never lost.
        let announced = LoopbackAnnouncement::new(executor, &event);
        self.publish(event.clone()).await?;
        announced.keep();
        // Validated above, and immutable since: this `Arc` was held all along.
        Ok(executor.dispatch_validated(&event))
    }
}

/// An event announced to an executor as dispatched locally; withdrawn on drop unless kept.
struct LoopbackAnnouncement<'a> {
    executor: &'a SubscriptionExecutor,
    event: &'a Event,
    kept: bool,
}

impl<'a> LoopbackAnnouncement<'a> {
    fn new(executor: &'a SubscriptionExecutor, event: &'a Event) -> Self {
        executor.expect_loopback(event);
        LoopbackAnnouncement {
            executor,
            event,
            kept: false,
        }
    }

    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for LoopbackAnnouncement<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.executor.forget_loopback(self.event);
        }
    }
}

/// The in-memory bus: events reach the streams of every handle on the same hub.
///
/// `InMemoryBus::new()` makes a hub; [`InMemoryBus::connect`] makes another handle on it,
/// standing for another node. Streams are [`Mailbox`]es, so no runtime is needed.
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

#[derive(Debug, Default)]
struct Hub {
    channels: RwLock<HashMap<String, Vec<Subscriber>>>,
    next_id: AtomicU64,
    published: AtomicU64,
    received: AtomicU64,
}

#[derive(Debug)]
struct Subscriber {
    id: u64,
    handle: u64,
    mailbox: Arc<Mailbox<Arc<Event>>>,
}

impl Default for InMemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryBus {
    /// Create a hub and a first handle on it.
    pub fn new() -> Self {
        let hub = Arc::new(Hub::default());
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
                if subscriber.mailbox.push(event.clone()).is_ok() {
                    self.hub.received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> Result<EventStream> {
        validate_channel(channel)?;
        let mailbox = Arc::new(Mailbox::new());
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
        let subscribed_channels = self
            .channels()
            .values()
            .filter(|subs| subs.iter().any(|s| s.handle == self.handle))
            .count();
        BusStats {
            published: self.hub.published.load(Ordering::Relaxed),
            received: self.hub.received.load(Ordering::Relaxed),
            subscribed_channels,
            ..BusStats::default()
        }
    }
}

/// A bus subscription's stream; dropping it removes the subscription from the hub.
struct MailboxStream {
    hub: Arc<Hub>,
    channel: String,
    id: u64,
    mailbox: Arc<Mailbox<Arc<Event>>>,
    listener: Option<EventListener>,
}

impl Stream for MailboxStream {
    type Item = BusMessage;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BusMessage>> {
        let this = self.get_mut();
        this.mailbox
            .poll_recv(cx, &mut this.listener)
            .map(|event| event.map(BusMessage::Event))
    }
}

impl Drop for MailboxStream {
    fn drop(&mut self) {
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
