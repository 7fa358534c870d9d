//! The one Prometheus text exposition (format 0.0.4) of subcast's counters.
//!
//! - [`PrometheusText`]: the writer every exposition uses (HELP, TYPE, samples).
//! - [`MetricsSnapshot::to_prometheus`]: the executor's `subcast_*` families.
//! - [`BusStats::to_prometheus`]: the bus's `subcast_bus_*` families.
//!
//! The pump's `subcast_pump_*` families ([`PumpStats::to_prometheus`](crate::PumpStats::to_prometheus))
//! are written with the same [`PrometheusText`].

use std::fmt::Write as _;

use super::MetricsSnapshot;
use crate::bus::BusStats;
use crate::dispatch::DropReason;
use crate::rate_limit::RateLimitKind;
use crate::security::Policy;

impl MetricsSnapshot {
    /// The Prometheus text exposition format (version 0.0.4), `subcast_*` metrics.
    pub fn to_prometheus(&self) -> String {
        let mut text = PrometheusText::default();
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(Option<(&str, &str)>, u64)]| {
            text.family(name, kind, help, samples)
        };
        family(
            "subcast_security_validations_total",
            "counter",
            "Security decisions on subscriptions and frames, by result.",
            &[
                (Some(("result", "passed")), self.validations_passed),
                (Some(("result", "rejected")), self.validations_rejected),
            ],
        );
        let violations: Vec<_> = Policy::ALL
            .iter()
            .map(|p| (Some(("policy", p.as_str())), self.violations(*p)))
            .collect();
        family(
            "subcast_security_violations_total",
            "counter",
            "Subscriptions and frames refused, by policy.",
            &violations,
        );
        let limited: Vec<_> = RateLimitKind::ALL
            .iter()
            .map(|k| (Some(("kind", k.as_str())), self.rate_limited(*k)))
            .collect();
        family(
            "subcast_rate_limit_rejections_total",
            "counter",
            "Subscriptions and frames refused by a rate limit, by kind.",
            &limited,
        );
        family(
            "subcast_events_dispatched_total",
            "counter",
            "Events dispatched to subscriptions.",
            &[(None, self.events_dispatched)],
        );
        family(
            "subcast_frames_delivered_total",
            "counter",
            "next frames queued for subscribers.",
            &[(None, self.frames_delivered)],
        );
        family(
            "subcast_error_frames_total",
            "counter",
            "error frames queued for subscribers.",
            &[(None, self.error_frames)],
        );
        let dropped: Vec<_> = DropReason::ALL
            .iter()
            .map(|r| (Some(("reason", r.as_str())), self.dropped(*r)))
            .collect();
        family(
            "subcast_frames_dropped_total",
            "counter",
            "Frames a matched subscriber did not get, by reason.",
            &dropped,
        );
        family(
            "subcast_frames_evicted_total",
            "counter",
            "Older frames evicted from full response queues.",
            &[(None, self.frames_evicted)],
        );
        family(
            "subcast_active_subscriptions",
            "gauge",
            "Subscriptions registered.",
            &[(None, self.active_subscriptions)],
        );
        family(
            "subcast_queue_depth",
            "gauge",
            "Frames waiting in response queues.",
            &[(None, self.queue_depth)],
        );
        text.finish()
    }
}

impl BusStats {
    /// The bus's counters in the Prometheus text exposition format, `subcast_bus_*` metrics.
    ///
    /// # Examples
    ///
    /// ```
    /// let text = subcast_core::BusStats::default().to_prometheus();
    /// assert!(text.contains("# TYPE subcast_bus_published_total counter"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut text = PrometheusText::default();
        let counters = [
            ("published", "Events accepted by publish.", self.published),
            (
                "received",
                "Messages handed to local bus subscriptions.",
                self.received,
            ),
            ("publish_errors", "Publishes that failed.", self.publish_errors),
            (
                "invalid_messages",
                "Bus messages skipped because they were not valid events.",
                self.invalid_messages,
            ),
            ("reconnects", "Reconnections to the server.", self.reconnects),
            (
                "events_dropped",
                "Messages a full buffer could not take, announced with their count or replayed.",
                self.events_dropped,
            ),
        ];
        for (name, help, value) in counters {
            text.counter(&format!("subcast_bus_{name}_total"), help, value);
        }
        let gauges = [
            (
                "subscribed_channels",
                "Channels this bus handle is subscribed to.",
                self.subscribed_channels,
            ),
            (
                "stream_peak",
                "Most messages one local stream has held at once.",
                self.stream_peak,
            ),
            (
                "received_peak",
                "Most server messages that have waited at once for the bus's processing task.",
                self.received_peak,
            ),
        ];
        for (name, help, value) in gauges {
            text.gauge(&format!("subcast_bus_{name}"), help, value as u64);
        }
        text.finish()
    }
}

/// A Prometheus text exposition (format 0.0.4) under construction: the one writer of
/// every `subcast_*` family, so an application appends its own families the same way.
///
/// # Examples
///
/// ```
/// use subcast_core::metrics::PrometheusText;
///
/// let mut text = PrometheusText::default();
/// text.counter("app_requests_total", "Requests served.", 3);
/// text.family("app_errors_total", "counter", "Errors, by kind.", &[(Some(("kind", "io")), 1)]);
/// let text = text.finish();
/// assert!(text.contains("# TYPE app_requests_total counter\napp_requests_total 3\n"));
/// assert!(text.contains("app_errors_total{kind=\"io\"} 1\n"));
/// ```
#[derive(Debug, Default)]
pub struct PrometheusText {
    out: String,
}

impl PrometheusText {
    /// Append one metric family: its HELP and TYPE lines, then one sample per label
    /// (`None` for a sample without labels).
    pub fn family(&mut self, name: &str, kind: &str, help: &str, samples: &[(Option<(&str, &str)>, u64)]) {
        let out = &mut self.out;
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (label, value) in samples {
            let _ = match label {
                Some((key, label)) => writeln!(out, "{name}{{{key}=\"{label}\"}} {value}"),
                None => writeln!(out, "{name} {value}"),
            };
        }
    }

    /// Append a counter without labels.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "counter", help, &[(None, value)]);
    }

    /// Append a gauge without labels.
    pub fn gauge(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "gauge", help, &[(None, value)]);
    }

    /// The exposition text.
    pub fn finish(self) -> String {
        self.out
    }
}
