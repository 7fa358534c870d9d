//! Links: one task per channel in use, keeping its bus subscription and forwarding its
//! messages to the dispatcher, with backoff and a gap notice after a loss.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use crate::bus::{BusMessage, EventStream};
use crate::executor::ChannelChange;
use crate::sync::Signal;

use super::dispatcher::Work;
use super::stats::bump;
use super::{ChannelStatus, Shared};

/// Follow the executor's channels: one link per channel in use.
pub(super) async fn watch_channels(shared: Arc<Shared>) {
    let watch = shared.executor.watch_channels();
    let mut links: HashMap<String, Arc<Link>> = HashMap::new();
    while let Some(Some(change)) = shared.stop.or(watch.next()).await {
        match change {
            ChannelChange::Added(channel) => {
                if let Entry::Vacant(slot) = links.entry(channel) {
                    let link = Arc::new(Link::default());
                    shared.set_status(slot.key(), Some(ChannelStatus::Subscribing));
                    let (task_link, task_channel) = (link.clone(), slot.key().clone());
                    shared.spawn(move |shared| Box::pin(run_link(shared, task_channel, task_link)));
                    slot.insert(link);
                }
            }
            ChannelChange::Removed(channel) => {
                if let Some(link) = links.remove(&channel) {
                    release(&shared, &channel, &link).await;
                }
            }
        }
    }
    for (channel, link) in links {
        release(&shared, &channel, &link).await;
    }
}

/// Stop a channel's link, wait for its task to drop the stream, then unsubscribe.
async fn release(shared: &Shared, channel: &str, link: &Link) {
    link.stop.raise();
    link.finished.raised().await;
    if shared.bus.unsubscribe(channel).await.is_err() {
        bump(&shared.counters.unsubscribe_errors);
    }
    shared.set_status(channel, None);
}

/// One channel's bus subscription, as the watcher sees it.
#[derive(Debug, Default)]
pub(super) struct Link {
    pub(super) stop: Signal,
    finished: Signal,
}

/// Raises `finished` when the link's task ends, however it ends.
struct Finished(Arc<Link>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.finished.raise();
    }
}

/// Keep `channel` subscribed and forward its messages to the dispatcher until stopped.
async fn run_link(shared: Arc<Shared>, channel: String, link: Arc<Link>) {
    let _finished = Finished(link.clone());
    let mut failures: u32 = 0;
    // Events may have been missed: signal a gap once the stream is back.
    let mut gap = false;
    loop {
        match link.stop.or(shared.bus.subscribe(&channel)).await {
            None => return,
            Some(Ok(mut stream)) => {
                failures = 0;
                if gap {
                    bump(&shared.counters.resubscribes);
                    let gap_notice = Work::Bus(BusMessage::Gap {
                        channel: channel.clone(),
                        missed: None,
                    });
                    if !shared.push(&link, gap_notice).await {
                        return;
                    }
                }
                shared.set_status(&channel, Some(ChannelStatus::Subscribed));
                if forward(&shared, &link, &mut stream).await.is_none() {
                    return;
                }
                bump(&shared.counters.streams_lost);
            }
            Some(Err(_)) => {
                bump(&shared.counters.subscribe_errors);
                failures = failures.saturating_add(1);
                if failures % shared.config.max_attempts == 0 {
                    bump(&shared.counters.channels_failed);
                    if !shared.push(&link, Work::Fail(channel.clone())).await {
                        return;
                    }
                }
            }
        }
        gap = true;
        shared.set_status(&channel, Some(ChannelStatus::Resubscribing));
        let delay = shared.config.retry_delay(failures);
        if link.stop.or(shared.runtime.sleep(delay)).await.is_none() {
            return;
        }
    }
}

/// Forward `stream`'s messages to the dispatcher; `Some` when the stream ended by itself.
async fn forward(shared: &Shared, link: &Link, stream: &mut EventStream) -> Option<()> {
    loop {
        let next = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx));
        match link.stop.or(next).await? {
            // The copy of an event this node dispatched as it published it: skipped here,
            // so that the dispatcher thread is not woken for it.
            Some(BusMessage::Event(event)) if shared.executor.take_local_echo(&event) => {
                bump(&shared.counters.duplicates_skipped);
            }
            // Not reading the stream while the inbox is full is the back-pressure.
            Some(message) => shared.push(link, Work::Bus(message)).await.then_some(())?,
            None => return Some(()),
        }
    }
}
