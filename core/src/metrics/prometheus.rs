//! The one Prometheus text exposition (format 0.0.4) of subcast's counters.
//!
//! - [`PrometheusText`]: the writer every exposition uses (HELP, TYPE, samples).
//! - [`BusStats::to_prometheus`]: the bus's `subcast_bus_*` families.
//!
//! The executor's `subcast_*` families
//! ([`MetricsSnapshot::to_prometheus`](crate::MetricsSnapshot::to_prometheus)) and the
//! pump's `subcast_pump_*` ([`PumpStats::to_prometheus`](crate::PumpStats::to_prometheus))
//! are written with the same [`PrometheusText`].

use std::fmt::Write as _;

use crate::bus::BusStats;

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
/// use subcast_core::PrometheusText;
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
