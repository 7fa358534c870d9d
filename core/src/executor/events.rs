//! How events reach the executor's subscriptions: dispatch (whole, prepared once and split,
//! or to one subscription), publish-then-dispatch and its loop-back window, bus messages,
//! and the notices of gaps, losses and failures on a channel.

use std::sync::Arc;

use super::registry::{Cohort, Member};
use super::*;

impl SubscriptionExecutor {
    /// Dispatch `event` to every subscription on its channel.
    ///
    /// Fails only when the event itself is invalid ([`Event::validate`] with
    /// [`ExecutorConfig::max_event_bytes`]: channel, ids, data depth and size, measured now);
    /// a failing resolver becomes `error` frames for its cohort and is counted in the report.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// let tick = std::sync::Arc::new(subcast_core::Event::new("tick", "ticks", serde_json::json!(1)));
    /// let report = executor.dispatch_event_to_subscriptions(&tick)?;
    /// assert_eq!((report.matched, report.delivered), (1, 1));
    /// assert!(executor.next_response(key)?.is_some());
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn dispatch_event_to_subscriptions(&self, event: &Arc<Event>) -> Result<DispatchReport> {
        Ok(self.prepare_dispatch(event)?.deliver())
    }

    /// Resolve and encode `event` once per cohort on its channel, without queueing frames.
    ///
    /// This is the part of a dispatch that runs resolvers: call it on a thread that may
    /// block. The result queues the frames, in one go or split in chunks for several workers.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// let tick = std::sync::Arc::new(subcast_core::Event::new("tick", "ticks", serde_json::json!(1)));
    /// // Resolvers run here, on a thread that may block; the fan-out runs later, anywhere.
    /// let prepared = executor.prepare_dispatch(&tick)?;
    /// assert_eq!(prepared.subscribers(), 1);
    /// assert_eq!(prepared.deliver().delivered, 1);
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn prepare_dispatch(&self, event: &Arc<Event>) -> Result<PreparedDispatch> {
        event.validate(self.config.max_event_bytes)?;
        Ok(self.prepare_validated(event))
    }

    fn prepare_validated(&self, event: &Arc<Event>) -> PreparedDispatch {
        self.prepare_at(event, event.position)
    }

    /// Prepare with frames carrying the cursor of `position`, if any.
    fn prepare_at(&self, event: &Arc<Event>, position: Option<LogPosition>) -> PreparedDispatch {
        let cohorts = self
            .registry()
            .channels
            .get(event.channel.as_str())
            .cloned()
            .unwrap_or_default();
        prepare(event, position, &cohorts, &self.shared)
    }

    /// Dispatch `event` to one subscription, if it listens on the event's channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// let tick = std::sync::Arc::new(subcast_core::Event::new("tick", "ticks", serde_json::json!(1)));
    /// assert_eq!(executor.dispatch_event_to_single(key, &tick)?.delivered, 1);
    /// let elsewhere = std::sync::Arc::new(subcast_core::Event::new("tock", "tocks", serde_json::json!(1)));
    /// assert_eq!(executor.dispatch_event_to_single(key, &elsewhere)?.matched, 0);
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn dispatch_event_to_single(
        &self,
        key: SubscriptionKey,
        event: &Arc<Event>,
    ) -> Result<DispatchReport> {
        event.validate(self.config.max_event_bytes)?;
        let subscription = self.subscription(key)?;
        if !subscription.cohort.channels.iter().any(|c| **c == *event.channel) {
            return Ok(DispatchReport::default());
        }
        Ok(self.deliver_to_member(event, &Member::new(&subscription)))
    }

    /// Prepare `event` for the cohort of `member`'s subscription alone, and deliver it to
    /// `member` (whose queue may be another than the subscription's: a replay's).
    pub(super) fn deliver_to_member(&self, event: &Arc<Event>, member: &Member) -> DispatchReport {
        let cohort = std::slice::from_ref(&member.subscription.cohort);
        let prepared = prepare(event, event.position, cohort, &self.shared);
        let mut report = prepared.base.clone();
        let now = self.shared.limiter.now();
        for resolved in &prepared.resolved {
            match &resolved.outcome {
                Outcome::Refused(reason) => report.drop_many(*reason, 1),
                Outcome::Frame { body, terminal } => {
                    deliver_event_frame(member, body, *terminal, prepared.owner.as_ref(), now, &mut report)
                }
            }
        }
        self.shared.metrics.record_dispatch(&report, true);
        report
    }

    /// Publish `event` on `bus`, then dispatch it to this executor's subscriptions directly.
    ///
    /// If publishing fails, nothing is dispatched here. If it succeeds, the executor's frames
    /// are queued before this returns, and the copy that comes back through the bus is
    /// recognised by [`SubscriptionExecutor::dispatch_bus_message`] and not dispatched again.
    /// A copy that reached the bus although `publish` failed (a timeout after sending) or
    /// this future was dropped is dispatched when it comes back, once.
    ///
    /// Fails before publishing if the event is invalid ([`Event::validate`] with
    /// [`ExecutorConfig::max_event_bytes`]): an event is refused here or readable everywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use subcast_core::{Event, InMemoryBus, SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let (bus, executor) = (InMemoryBus::new(), SubscriptionExecutor::default());
    /// let key = executor.register_subscription(
    ///     SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///         .security_context(SecurityContext::new("alice")),
    /// )?;
    /// let event = Arc::new(Event::new("tick", "ticks", serde_json::json!(1)));
    /// let report = futures_lite::future::block_on(executor.publish(&bus, event))?;
    /// assert_eq!(report.delivered, 1);
    /// assert!(executor.next_response(key)?.is_some());
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub async fn publish<B: EventBus + ?Sized>(&self, bus: &B, event: Arc<Event>) -> Result<DispatchReport> {
        // The one check every node's decoder applies too (depth, ids, channel), and this
        // executor's size limit.
        event.validate(self.config.max_event_bytes)?;
        let capacity = self.config.loopback_window;
        // Validated above, and immutable since: this `Arc` is held all along.
        // The position is the bus's, not part of the event the caller published: it goes
        // to the frames beside the event, which is not copied.
        let dispatch =
            |position: Option<LogPosition>| self.prepare_at(&event, position.or(event.position)).deliver();
        publish_then_dispatch(bus, &event, &self.loopback, capacity, dispatch).await
    }

    /// Whether `event`, received from a bus, is the copy of an event this executor already
    /// dispatched through [`SubscriptionExecutor::publish`]; a copy is recognised once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use subcast_core::{Event, InMemoryBus, SubscriptionExecutor};
    ///
    /// let (bus, executor) = (InMemoryBus::new(), SubscriptionExecutor::default());
    /// let event = Arc::new(Event::new("tick", "ticks", serde_json::json!(1)));
    /// futures_lite::future::block_on(executor.publish(&bus, event.clone()))?;
    /// // The bus copy of that event is recognised, once.
    /// assert!(executor.take_local_echo(&event));
    /// assert!(!executor.take_local_echo(&event));
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn take_local_echo(&self, event: &Event) -> bool {
        self.loopback.take_echo(event)
    }

    /// Handle one message from a bus stream: dispatch events, except the bus copies of
    /// events this executor already dispatched; signal gaps to the channel's subscribers.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// use subcast_core::BusMessage;
    ///
    /// let gap = BusMessage::Gap { channel: "ticks".into(), missed: Some(3) };
    /// assert_eq!(executor.dispatch_bus_message(&gap)?.delivered, 1);
    /// let notice = executor.next_response(key)?.unwrap();
    /// assert!(std::str::from_utf8(&notice).unwrap().contains("EVENTS_GAP"));
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn dispatch_bus_message(&self, message: &BusMessage) -> Result<DispatchReport> {
        match message {
            BusMessage::Event(event) => {
                if self.take_local_echo(event) {
                    return Ok(DispatchReport {
                        duplicate: true,
                        ..DispatchReport::default()
                    });
                }
                self.dispatch_event_to_subscriptions(event)
            }
            BusMessage::Gap { channel, missed } => Ok(self.signal_lost_events(channel, *missed)),
        }
    }

    /// Tell every subscriber of `channel` that events may have been lost (`EVENTS_GAP`).
    ///
    /// The notice is never lost to a full queue: gaps not yet read merge into one notice
    /// whose `count` is the number of interruptions.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// assert_eq!(executor.signal_gap("ticks").delivered, 1);
    /// let notice = executor.next_response(key)?.unwrap();
    /// assert!(std::str::from_utf8(&notice).unwrap().contains("EVENTS_GAP"));
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn signal_gap(&self, channel: &str) -> DispatchReport {
        self.signal_lost_events(channel, None)
    }

    /// Tell every subscriber of `channel` that `count` events were lost (`EVENTS_GAP`
    /// whose `count` is events), or an unknown number with `None` (`EVENTS_GAP` whose
    /// `count` is interruptions). Neither notice is lost to a full queue: notices not yet
    /// read merge per kind.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// assert_eq!(executor.signal_lost_events("ticks", Some(5)).delivered, 1);
    /// let notice = executor.next_response(key)?.unwrap();
    /// assert!(std::str::from_utf8(&notice).unwrap().contains("EVENTS_GAP"));
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn signal_lost_events(&self, channel: &str, count: Option<u64>) -> DispatchReport {
        let (notice, count) = match count {
            Some(count) => (Notice::Lost, count),
            None => (Notice::Gap, 1),
        };
        let mut report = DispatchReport::default();
        for cohort in &self.cohorts_of(channel) {
            for member in read(&cohort.members).iter() {
                report.matched += 1;
                if member.queue.push_notice(notice, count) {
                    report.delivered += 1;
                } else {
                    report.drop_for(DropReason::QueueClosed);
                }
            }
        }
        self.shared.metrics.record_dispatch(&report, false);
        report
    }

    /// End every subscription of `channel` with an `error` frame carrying `error`
    /// (for instance when the channel's bus stream is lost for good).
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{SecurityContext, SubscriptionExecutor, SubscriptionRequest};
    ///
    /// let executor = SubscriptionExecutor::default();
    /// let request = SubscriptionRequest::new("conn-1", "1", "subscription { ticks }")
    ///     .security_context(SecurityContext::new("alice"));
    /// let key = executor.register_subscription(request)?;
    /// use subcast_core::GraphQLError;
    ///
    /// let report = executor.fail_channel("ticks", GraphQLError::new("BUS_CHANNEL_LOST", "the channel is gone"));
    /// assert_eq!(report.errors, 1);
    /// let frame: serde_json::Value = serde_json::from_slice(&executor.next_response(key)?.unwrap()).unwrap();
    /// assert_eq!(frame["type"], "error");
    /// # Ok::<(), subcast_core::Error>(())
    /// ```
    pub fn fail_channel(&self, channel: &str, error: GraphQLError) -> DispatchReport {
        let body = FrameBody::error(&[error]);
        let mut report = DispatchReport::default();
        for cohort in &self.cohorts_of(channel) {
            for member in read(&cohort.members).iter() {
                deliver_frame(member, &body, true, &mut report);
            }
        }
        self.shared.metrics.record_dispatch(&report, false);
        report
    }

    fn cohorts_of(&self, channel: &str) -> Vec<Arc<Cohort>> {
        self.registry().channels.get(channel).cloned().unwrap_or_default()
    }
}
