//! The executor's metrics as a dict and as Prometheus text.
//!
//! - [`snapshot`]: every metric by name: the engine's (security decisions, frames, rate
//!   limits), the registry's sizes, the bus's and the event pump's counters, and the
//!   calls into Python resolvers.
//! - [`prometheus`]: the engine's exposition followed by the bus, pump and resolver families.

use crate::resolver::ResolverStats;
use subcast_core::{BusStats, ExecutorStats, MetricsSnapshot, Policy, PumpStats, RateLimitKind};

/// One metric's value.
#[derive(Debug, Clone, Copy)]
pub enum Sample {
    /// A count or a gauge.
    Int(u64),
    /// A ratio.
    Float(f64),
}

/// Every metric by name.
pub fn snapshot(
    engine: &MetricsSnapshot,
    registry: &ExecutorStats,
    bus: &BusStats,
    pump: Option<&PumpStats>,
    resolvers: &ResolverStats,
) -> Vec<(String, Sample)> {
    let mut metrics: Vec<(String, Sample)> = Vec::new();
    let mut int = |name: &str, value: u64| metrics.push((name.to_owned(), Sample::Int(value)));
    int("validations_passed", engine.validations_passed);
    int("validations_rejected", engine.validations_rejected);
    for policy in Policy::ALL {
        int(
            &format!("violations_{}", policy.as_str()),
            engine.violations(policy),
        );
    }
    for kind in RateLimitKind::ALL {
        int(
            &format!("rate_limited_{}", kind.as_str()),
            engine.rate_limited(kind),
        );
    }
    int("events_dispatched", engine.events_dispatched);
    int("frames_delivered", engine.frames_delivered);
    int("error_frames", engine.error_frames);
    for reason in subcast_core::DropReason::ALL {
        int(
            &format!("frames_dropped_{}", reason.as_str()),
            engine.dropped(reason),
        );
    }
    int("frames_evicted", engine.frames_evicted);
    int("active_subscriptions", engine.active_subscriptions);
    int("queue_depth", engine.queue_depth);
    int("connections", registry.connections as u64);
    int("channels", registry.channels as u64);
    int("cohorts", registry.cohorts as u64);
    for (name, _, value) in bus_samples(bus)
        .into_iter()
        .chain(pump.map(pump_samples).unwrap_or_default())
        .chain(resolver_samples(resolvers))
    {
        int(name, value);
    }
    metrics.push((
        "rejection_rate".to_owned(),
        Sample::Float(engine.rejection_rate()),
    ));
    metrics
}

/// The engine's Prometheus exposition, then `subcast_bus_*`, `subcast_pump_*` and
/// `subcast_python_resolver_*`.
pub fn prometheus(
    engine: &MetricsSnapshot,
    bus: &BusStats,
    pump: Option<&PumpStats>,
    resolvers: &ResolverStats,
) -> String {
    let mut text = engine.to_prometheus();
    for (name, kind, value) in bus_samples(bus)
        .into_iter()
        .chain(pump.map(pump_samples).unwrap_or_default())
        .chain(resolver_samples(resolvers))
    {
        let name = match kind {
            "counter" => format!("subcast_{name}_total"),
            _ => format!("subcast_{name}"),
        };
        text.push_str(&format!("# TYPE {name} {kind}\n{name} {value}\n"));
    }
    text
}

fn bus_samples(bus: &BusStats) -> Vec<(&'static str, &'static str, u64)> {
    vec![
        ("bus_published", "counter", bus.published),
        ("bus_received", "counter", bus.received),
        ("bus_publish_errors", "counter", bus.publish_errors),
        ("bus_invalid_messages", "counter", bus.invalid_messages),
        ("bus_reconnects", "counter", bus.reconnects),
        ("bus_subscribed_channels", "gauge", bus.subscribed_channels as u64),
        ("bus_events_dropped", "counter", bus.events_dropped),
        ("bus_stream_peak", "gauge", bus.stream_peak as u64),
        ("bus_received_peak", "gauge", bus.received_peak as u64),
    ]
}

fn pump_samples(pump: &PumpStats) -> Vec<(&'static str, &'static str, u64)> {
    vec![
        ("pump_events_dispatched", "counter", pump.events_dispatched),
        ("pump_duplicates_skipped", "counter", pump.duplicates_skipped),
        ("pump_invalid_events", "counter", pump.invalid_events),
        ("pump_parallel_dispatches", "counter", pump.parallel_dispatches),
        ("pump_chunks_on_runtime", "counter", pump.chunks_on_runtime),
        ("pump_streams_lost", "counter", pump.streams_lost),
        ("pump_subscribe_errors", "counter", pump.subscribe_errors),
        ("pump_resubscribes", "counter", pump.resubscribes),
        ("pump_gaps_signalled", "counter", pump.gaps_signalled),
        ("pump_dispatcher_panics", "counter", pump.dispatcher_panics),
        ("pump_pending_messages", "gauge", pump.pending_messages as u64),
        (
            "pump_peak_pending_messages",
            "gauge",
            pump.peak_pending_messages as u64,
        ),
        ("pump_events_lost", "counter", pump.events_lost),
    ]
}

fn resolver_samples(resolvers: &ResolverStats) -> Vec<(&'static str, &'static str, u64)> {
    vec![
        ("python_resolver_batches", "counter", resolvers.batches()),
        ("python_resolver_calls", "counter", resolvers.calls()),
    ]
}
