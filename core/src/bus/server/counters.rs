//! What a networked bus counts, and the check that a message names its own channel.

use std::sync::atomic::{AtomicU64, Ordering};

use super::channels::ChannelStreams;
use crate::bus::BusStats;
use crate::event::Event;

/// The counters a networked bus keeps, read as [`BusStats`].
///
/// # Examples
///
/// ```
/// use subcast_core::backend::{BusCounters, ChannelStreams};
///
/// let counters = BusCounters::default();
/// counters.count_publish(&Ok::<(), ()>(()));
/// counters.count_publish(&Err::<(), ()>(()));
/// counters.add_received(3);
/// let mut channels = ChannelStreams::<u64>::default();
/// channels.insert("users");
/// let stats = counters.stats(&channels);
/// assert_eq!((stats.published, stats.publish_errors, stats.received), (1, 1, 3));
/// assert_eq!(stats.subscribed_channels, 1);
/// ```
#[derive(Debug, Default)]
pub struct BusCounters {
    published: AtomicU64,
    received: AtomicU64,
    publish_errors: AtomicU64,
    invalid_messages: AtomicU64,
    reconnects: AtomicU64,
    dropped: AtomicU64,
}

impl BusCounters {
    /// Count a publish as done or failed, by its result.
    pub fn count_publish<T, E>(&self, result: &Result<T, E>) {
        let counter = match result {
            Ok(_) => &self.published,
            Err(_) => &self.publish_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Count `messages` handed to local streams.
    pub fn add_received(&self, messages: u64) {
        self.received.fetch_add(messages, Ordering::Relaxed);
    }

    /// Count one message skipped because it was not a valid event.
    pub fn add_invalid(&self) {
        self.invalid_messages.fetch_add(1, Ordering::Relaxed);
    }

    /// Count one reconnection to the server.
    pub fn add_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// Count `messages` a full buffer of the bus (not a stream's) could not take.
    pub fn add_dropped(&self, messages: u64) {
        self.dropped.fetch_add(messages, Ordering::Relaxed);
    }

    /// The counters now, with what `channels` knows: subscribed channels, messages full
    /// streams dropped, the streams' peak.
    pub fn stats<P: Ord + Clone>(&self, channels: &ChannelStreams<P>) -> BusStats {
        BusStats {
            published: self.published.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            publish_errors: self.publish_errors.load(Ordering::Relaxed),
            invalid_messages: self.invalid_messages.load(Ordering::Relaxed),
            subscribed_channels: channels.len(),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            events_dropped: self.dropped.load(Ordering::Relaxed) + channels.dropped(),
            stream_peak: channels.peak(),
            received_peak: 0,
        }
    }
}

/// `event`, if it names the `channel` it arrived on; else why it is refused.
///
/// A message carries its channel twice (in the server's channel and in the event); a bus
/// delivers it only when they agree.
///
/// # Examples
///
/// ```
/// use subcast_core::backend::ensure_channel;
/// use subcast_core::Event;
///
/// let event = Event::new("t", "users", serde_json::json!({}));
/// assert!(ensure_channel("users", event.clone()).is_ok());
/// assert!(ensure_channel("posts", event).is_err());
/// ```
pub fn ensure_channel(channel: &str, event: Event) -> Result<Event, String> {
    if event.channel == channel {
        Ok(event)
    } else {
        Err(format!(
            "the event names channel {:?} but arrived on {channel:?}",
            event.channel
        ))
    }
}
