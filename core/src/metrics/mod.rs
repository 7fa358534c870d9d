//! Metrics: lock-free counters of every decision the executor takes.
//!
//! - [`Metrics`]: atomic counters and gauges, shared by an executor and its dispatches.
//! - [`MetricsSnapshot`]: the values at one instant, with [`MetricsSnapshot::rejection_rate`].
//! - [`MetricsSnapshot::to_prometheus`]: the Prometheus text exposition (`subcast_*`);
//!   `prometheus.rs` holds the one writer ([`PrometheusText`]) the executor, pump and bus
//!   expositions share.
//!
//! Dispatch counts into its [`DispatchReport`] and adds the report to the counters once
//! per delivered chunk, so the hot path touches no shared counter per subscriber, and
//! the metrics always agree with the reports.

mod prometheus;

use std::sync::atomic::{AtomicU64, Ordering};

pub use self::prometheus::PrometheusText;

use crate::dispatch::report::{DispatchReport, DropReason};
use crate::rate_limit::RateLimitKind;
use crate::security::Policy;

/// The executor's counters and gauges.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use subcast_core::{Event, ExecutorConfig, SecurityContext, SubscriptionExecutor, SubscriptionRequest};
///
/// let executor = SubscriptionExecutor::new(ExecutorConfig::default());
/// let request = SubscriptionRequest::new("c", "1", "subscription { ticks }")
///     .security_context(SecurityContext::new("alice"));
/// executor.register_subscription(request).unwrap();
/// executor.dispatch_event_to_subscriptions(&Arc::new(Event::new("tick", "ticks", 1.into()))).unwrap();
/// let snapshot = executor.metrics_snapshot();
/// assert_eq!((snapshot.frames_delivered, snapshot.active_subscriptions), (1, 1));
/// assert!(snapshot.to_prometheus().contains("subcast_frames_delivered_total 1"));
/// ```
#[derive(Debug, Default)]
pub struct Metrics {
    validations_passed: AtomicU64,
    validations_rejected: AtomicU64,
    violations: [AtomicU64; Policy::ALL.len()],
    rate_limited: [AtomicU64; RateLimitKind::ALL.len()],
    events_dispatched: AtomicU64,
    frames_delivered: AtomicU64,
    error_frames: AtomicU64,
    frames_dropped: [AtomicU64; DropReason::ALL.len()],
    frames_evicted: AtomicU64,
    active_subscriptions: AtomicU64,
    queue_depth: AtomicU64,
}

impl Metrics {
    /// Counters at zero.
    pub fn new() -> Self {
        Metrics::default()
    }

    /// Count a security decision that let something through.
    pub fn record_passed(&self, count: u64) {
        add(&self.validations_passed, count);
    }

    /// Count `count` refusals by `policy`.
    pub fn record_violation(&self, policy: Policy, count: u64) {
        add(&self.validations_rejected, count);
        add(&self.violations[policy.index()], count);
    }

    /// Count `count` refusals by a rate limit of `kind`.
    pub fn record_rate_limited(&self, kind: RateLimitKind, count: u64) {
        add(&self.rate_limited[kind.index()], count);
    }

    /// Count one event dispatched.
    pub fn record_event(&self) {
        add(&self.events_dispatched, 1);
    }

    /// Add what one dispatch (or chunk of one) did; `checked` if its subscribers went
    /// through the per-event security checks (events do, notices and gaps do not).
    pub fn record_dispatch(&self, report: &DispatchReport, checked: bool) {
        add(&self.frames_delivered, report.delivered as u64);
        add(&self.error_frames, report.errors as u64);
        add(&self.frames_evicted, report.evicted as u64);
        let mut rejected = 0;
        for reason in DropReason::ALL {
            let count = report.dropped(reason) as u64;
            if count == 0 {
                continue;
            }
            add(&self.frames_dropped[reason.index()], count);
            if let Some(policy) = reason.policy() {
                self.record_violation(policy, count);
                rejected += count;
            }
            if reason == DropReason::RateLimited {
                self.record_rate_limited(RateLimitKind::Delivery, count);
            }
        }
        if checked {
            self.record_passed(report.matched as u64 - rejected);
        }
    }

    /// Count a subscription registered.
    pub fn subscription_added(&self) {
        add(&self.active_subscriptions, 1);
    }

    /// Count `count` subscriptions ended.
    pub fn subscriptions_removed(&self, count: u64) {
        // Updated under the registry lock, so the gauge never goes below zero.
        self.active_subscriptions.fetch_sub(count, Ordering::Relaxed);
    }

    /// Set the number of frames waiting in response queues.
    pub fn set_queue_depth(&self, frames: u64) {
        self.queue_depth.store(frames, Ordering::Relaxed);
    }

    /// Read every counter and gauge.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MetricsSnapshot {
            validations_passed: load(&self.validations_passed),
            validations_rejected: load(&self.validations_rejected),
            violations: self.violations.each_ref().map(load),
            rate_limited: self.rate_limited.each_ref().map(load),
            events_dispatched: load(&self.events_dispatched),
            frames_delivered: load(&self.frames_delivered),
            error_frames: load(&self.error_frames),
            frames_dropped: self.frames_dropped.each_ref().map(load),
            frames_evicted: load(&self.frames_evicted),
            active_subscriptions: load(&self.active_subscriptions),
            queue_depth: load(&self.queue_depth),
        }
    }
}

#[inline]
fn add(counter: &AtomicU64, count: u64) {
    if count != 0 {
        counter.fetch_add(count, Ordering::Relaxed);
    }
}

/// The metrics at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Security decisions that let a subscription or a frame through.
    pub validations_passed: u64,
    /// Security decisions that refused a subscription or a frame.
    pub validations_rejected: u64,
    violations: [u64; Policy::ALL.len()],
    rate_limited: [u64; RateLimitKind::ALL.len()],
    /// Events dispatched (loop-back copies skipped are not counted).
    pub events_dispatched: u64,
    /// `next` frames queued.
    pub frames_delivered: u64,
    /// `error` frames queued.
    pub error_frames: u64,
    frames_dropped: [u64; DropReason::ALL.len()],
    /// Older frames evicted from full queues.
    pub frames_evicted: u64,
    /// Subscriptions registered now.
    pub active_subscriptions: u64,
    /// Frames waiting in response queues, as of the last refresh.
    pub queue_depth: u64,
}

impl MetricsSnapshot {
    /// Refusals by `policy`.
    pub fn violations(&self, policy: Policy) -> u64 {
        self.violations[policy.index()]
    }

    /// Refusals by the rate limit of `kind`.
    pub fn rate_limited(&self, kind: RateLimitKind) -> u64 {
        self.rate_limited[kind.index()]
    }

    /// Frames not queued for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.frames_dropped[reason.index()]
    }

    /// Share of security decisions that refused: rejected / (passed + rejected), 0 if none.
    pub fn rejection_rate(&self) -> f64 {
        let total = self.validations_passed + self.validations_rejected;
        if total == 0 {
            0.0
        } else {
            self.validations_rejected as f64 / total as f64
        }
    }
}

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
