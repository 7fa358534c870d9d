//! [`PumpStats`]: what the pump did, and the counters behind it.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::executor::DispatchReport;
use crate::metrics::PrometheusText;

/// What an [`EventPump`](super::EventPump) did; every counter but the gauges only grows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PumpStats {
    /// Bus events dispatched.
    pub events_dispatched: u64,
    /// Bus copies of events this node already dispatched, skipped.
    pub duplicates_skipped: u64,
    /// Bus events refused by the executor (invalid channel, data too large).
    pub invalid_events: u64,
    /// Dispatches split across the runtime's workers.
    pub parallel_dispatches: u64,
    /// Chunks of split dispatches delivered by runtime tasks (the rest by the dispatcher).
    pub chunks_on_runtime: u64,
    /// `next` frames and notices queued.
    pub frames_delivered: u64,
    /// `error` frames queued (resolver errors and panics, failed channels).
    pub error_frames: u64,
    /// Frames lost to full or closed queues.
    pub frames_dropped: u64,
    /// Bus streams that ended while their channel was in use.
    pub streams_lost: u64,
    /// Failed attempts to subscribe a channel.
    pub subscribe_errors: u64,
    /// Channels subscribed again after a loss or failure.
    pub resubscribes: u64,
    /// Gap notices signalled to a channel's subscribers after a resubscription.
    pub gaps_signalled: u64,
    /// Times a channel's subscriptions were ended because its stream could not be restored.
    pub channels_failed: u64,
    /// Failed unsubscriptions.
    pub unsubscribe_errors: u64,
    /// Panics caught on the dispatcher outside resolvers (resolver panics are error frames).
    pub dispatcher_panics: u64,
    /// Gauge: channels whose bus stream is live.
    pub subscribed_channels: usize,
    /// Gauge: bus messages waiting for the dispatcher.
    pub pending_messages: usize,
    /// Gauge: the most bus messages that have waited for the dispatcher at once (at most
    /// [`PumpConfig::inbox_capacity`](super::PumpConfig::inbox_capacity)).
    pub peak_pending_messages: usize,
    /// Events the bus reported lost, with their count, and announced to subscribers as
    /// `EVENTS_GAP` notices carrying it.
    pub events_lost: u64,
}

impl PumpStats {
    /// The Prometheus text exposition (format 0.0.4) of these counters, as `subcast_pump_*`.
    ///
    /// # Examples
    ///
    /// ```
    /// let text = subcast_core::PumpStats::default().to_prometheus();
    /// assert!(text.contains("# TYPE subcast_pump_streams_lost_total counter"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut text = PrometheusText::default();
        let counters = [
            (
                "events_dispatched",
                "Bus events dispatched.",
                self.events_dispatched,
            ),
            (
                "duplicates_skipped",
                "Bus copies of events this node already dispatched.",
                self.duplicates_skipped,
            ),
            (
                "invalid_events",
                "Bus events refused by the executor.",
                self.invalid_events,
            ),
            (
                "parallel_dispatches",
                "Dispatches split across the runtime's workers.",
                self.parallel_dispatches,
            ),
            (
                "chunks_on_runtime",
                "Chunks of split dispatches delivered by runtime tasks.",
                self.chunks_on_runtime,
            ),
            (
                "frames_delivered",
                "next frames and notices queued by the pump.",
                self.frames_delivered,
            ),
            (
                "error_frames",
                "error frames queued by the pump.",
                self.error_frames,
            ),
            (
                "frames_dropped",
                "Frames lost to full or closed queues.",
                self.frames_dropped,
            ),
            (
                "streams_lost",
                "Bus streams that ended while their channel was in use.",
                self.streams_lost,
            ),
            (
                "subscribe_errors",
                "Failed attempts to subscribe a bus channel.",
                self.subscribe_errors,
            ),
            (
                "resubscribes",
                "Bus channels subscribed again after a loss.",
                self.resubscribes,
            ),
            (
                "gaps_signalled",
                "Gap notices sent after a resubscription.",
                self.gaps_signalled,
            ),
            (
                "channels_failed",
                "Channels whose subscriptions were ended for a lost stream.",
                self.channels_failed,
            ),
            (
                "unsubscribe_errors",
                "Failed bus unsubscriptions.",
                self.unsubscribe_errors,
            ),
            (
                "dispatcher_panics",
                "Panics caught on the dispatcher thread.",
                self.dispatcher_panics,
            ),
            (
                "events_lost",
                "Events the bus reported lost, announced to subscribers with their count.",
                self.events_lost,
            ),
        ];
        for (name, help, value) in counters {
            text.family(
                &format!("subcast_pump_{name}_total"),
                "counter",
                help,
                &[(None, value)],
            );
        }
        let gauges = [
            (
                "subscribed_channels",
                "Channels whose bus stream is live.",
                self.subscribed_channels,
            ),
            (
                "pending_messages",
                "Bus messages waiting for the dispatcher.",
                self.pending_messages,
            ),
            (
                "peak_pending_messages",
                "Most bus messages that have waited for the dispatcher at once.",
                self.peak_pending_messages,
            ),
        ];
        for (name, help, value) in gauges {
            text.family(
                &format!("subcast_pump_{name}"),
                "gauge",
                help,
                &[(None, value as u64)],
            );
        }
        text.finish()
    }
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) events_dispatched: AtomicU64,
    pub(super) duplicates_skipped: AtomicU64,
    pub(super) invalid_events: AtomicU64,
    pub(super) parallel_dispatches: AtomicU64,
    pub(super) chunks_on_runtime: AtomicU64,
    pub(super) frames_delivered: AtomicU64,
    pub(super) error_frames: AtomicU64,
    pub(super) frames_dropped: AtomicU64,
    pub(super) streams_lost: AtomicU64,
    pub(super) subscribe_errors: AtomicU64,
    pub(super) resubscribes: AtomicU64,
    pub(super) gaps_signalled: AtomicU64,
    pub(super) channels_failed: AtomicU64,
    pub(super) unsubscribe_errors: AtomicU64,
    pub(super) dispatcher_panics: AtomicU64,
    pub(super) events_lost: AtomicU64,
}

pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(super) fn record(&self, report: &DispatchReport) {
        self.frames_delivered
            .fetch_add(report.delivered as u64, Ordering::Relaxed);
        self.error_frames
            .fetch_add(report.errors as u64, Ordering::Relaxed);
        self.frames_dropped
            .fetch_add(report.dropped_total() as u64, Ordering::Relaxed);
    }
}
