//! Prepare: check each cohort's security class, resolve admitted cohorts once per
//! resolver batch, encode each result once.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::deliver::{deliver_event_frames, RowOwner};
use super::report::{DispatchReport, DropReason};
use super::DispatchShared;
use crate::bus::{cursor, LogPosition};
use crate::codes::{FRAME_TOO_LARGE, RESOLVER_ERROR, RESOLVER_PANIC};
use crate::event::Event;
use crate::executor::registry::{read, Cohort};
use crate::frame::{FrameBody, GraphQLError};
use crate::resolve::{ResolveError, ResolveRequest, ResolveResult, Resolver};
use crate::security::{EventOwner, Policy};

/// Check every cohort's security class against the event, then resolve each admitted
/// cohort once, grouping cohorts that share a resolver into one batch call.
///
/// `position` is where the bus's history holds the event: every `next` frame carries its
/// cursor, encoded here once per event.
pub(crate) fn prepare(
    event: &Event,
    position: Option<LogPosition>,
    cohorts: &[Arc<Cohort>],
    shared: &Arc<DispatchShared>,
) -> PreparedDispatch {
    shared.metrics.record_event();
    let cursor = position.map(|position| cursor::encode(&event.channel, position));
    let security = shared.filter.inspect(event);
    let mut resolved = Vec::with_capacity(cohorts.len());
    let mut pending: Vec<&Arc<Cohort>> = Vec::with_capacity(cohorts.len());
    for cohort in cohorts {
        let admitted = shared
            .filter
            .admits_class(
                event,
                &security,
                cohort.tenant.as_deref(),
                cohort.federation.as_deref(),
                cohort.filter.as_ref(),
            )
            .and_then(|()| admits_some_member(cohort, &security.owner));
        match admitted {
            Ok(()) => pending.push(cohort),
            Err(policy) => resolved.push(ResolvedCohort {
                cohort: cohort.clone(),
                outcome: Outcome::Refused(DropReason::refused_by(policy, &security)),
            }),
        }
    }
    let mut frames = 0;
    while let Some(first) = pending.first() {
        let resolver = first.resolver.clone();
        let (batch, rest): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|c| Arc::ptr_eq(&c.resolver, &resolver));
        pending = rest;
        let results = resolve(&*resolver, event, &batch, shared.max_frame_bytes);
        for (cohort, result) in batch.into_iter().zip(results) {
            let (body, terminal) = encode(&result, cursor.as_deref(), shared.max_frame_bytes);
            frames += 1;
            resolved.push(ResolvedCohort {
                cohort: cohort.clone(),
                outcome: Outcome::Frame { body, terminal },
            });
        }
    }
    let base = DispatchReport {
        cohorts: frames,
        ..DispatchReport::default()
    };
    let owner = match security.owner {
        EventOwner::User(owner) => Some(RowOwner::new(owner)),
        EventOwner::Unowned | EventOwner::Unreadable => None,
    };
    PreparedDispatch {
        resolved,
        base,
        owner,
        shared: shared.clone(),
    }
}

/// The row filter at cohort level: an owned event is resolved only if a member owns it.
pub(crate) fn admits_some_member(cohort: &Cohort, owner: &EventOwner) -> Result<(), Policy> {
    let admitted = match owner {
        EventOwner::Unowned => true,
        EventOwner::User(owner) => {
            let owner = RowOwner::new(owner.clone());
            read(&cohort.members).iter().any(|m| owner.owns(m))
        }
        EventOwner::Unreadable => false,
    };
    if admitted {
        Ok(())
    } else {
        Err(Policy::Row)
    }
}

/// An event checked, resolved and encoded for every cohort on its channel, ready to be queued.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use subcast_core::{Event, SecurityContext, SubscriptionExecutor, SubscriptionRequest};
///
/// let executor = SubscriptionExecutor::default();
/// for n in 0..10 {
///     let request = SubscriptionRequest::new(format!("c{n}"), "1", "subscription { ticks }")
///         .security_context(SecurityContext::new(format!("user-{n}")));
///     executor.register_subscription(request).unwrap();
/// }
/// let event = Arc::new(Event::new("tick", "ticks", serde_json::json!(1)));
/// let prepared = executor.prepare_dispatch(&event).unwrap();
/// assert_eq!(prepared.subscribers(), 10);
/// // Each chunk may run on another worker thread.
/// let delivered: usize = prepared.into_chunks(4).iter().map(|chunk| chunk.deliver().delivered).sum();
/// assert_eq!(delivered, 10);
/// ```
#[derive(Debug)]
pub struct PreparedDispatch {
    pub(crate) resolved: Vec<ResolvedCohort>,
    pub(crate) base: DispatchReport,
    /// The event's owner, when the row filter restricts it to one user.
    pub(crate) owner: Option<RowOwner>,
    pub(crate) shared: Arc<DispatchShared>,
}

#[derive(Debug)]
pub(crate) struct ResolvedCohort {
    pub(crate) cohort: Arc<Cohort>,
    pub(crate) outcome: Outcome,
}

/// What a cohort gets from one event.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// A frame, for each member the row filter and the rate limit admit.
    Frame { body: FrameBody, terminal: bool },
    /// Nothing: a policy refused the event for the whole cohort.
    Refused(DropReason),
}

impl PreparedDispatch {
    /// Subscriptions the event is addressed to, as of now.
    pub fn subscribers(&self) -> usize {
        self.resolved.iter().map(|r| read(&r.cohort.members).len()).sum()
    }

    /// Queue every frame on this thread.
    pub fn deliver(&self) -> DispatchReport {
        let mut report = self.base.clone();
        let now = self.shared.limiter.now();
        let owner = self.owner.as_ref();
        for resolved in &self.resolved {
            let members = read(&resolved.cohort.members);
            match &resolved.outcome {
                Outcome::Refused(reason) => report.drop_many(*reason, members.len()),
                Outcome::Frame { body, terminal } => {
                    deliver_event_frames(&members, body, *terminal, owner, now, &mut report);
                }
            }
        }
        self.shared.metrics.record_dispatch(&report, true);
        report
    }
}

/// Encode a cohort's result once: a `next` body (with `cursor` as its
/// `payload.extensions.cursor`, first), or a terminal `error` body for a resolver
/// error or a result over `max_frame_bytes` (whose encoding stops at the limit).
///
/// An oversized result ends the subscription rather than being skipped with a notice: the
/// size comes from the document as much as from the event (a thousand aliases over a
/// list), so the next event would most likely be refused again, and graphql-transport-ws
/// has one way to say an operation failed — the `error` frame, as for every other
/// resolution failure. The client may subscribe again with a narrower selection.
pub(crate) fn encode(
    result: &ResolveResult,
    cursor: Option<&str>,
    max_frame_bytes: usize,
) -> (FrameBody, bool) {
    let error = match result {
        Ok(data) => match FrameBody::next_data_at_within(data, cursor, max_frame_bytes) {
            Some(body) => return (body, false),
            None => too_large(max_frame_bytes),
        },
        Err(error) => GraphQLError::from(error),
    };
    let body = FrameBody::error(&[error]);
    if body.as_bytes().len() <= max_frame_bytes {
        return (body, true);
    }
    // A resolver's error message too long to send is replaced as well.
    (FrameBody::error(&[too_large(max_frame_bytes)]), true)
}

pub(crate) fn too_large(max_frame_bytes: usize) -> GraphQLError {
    GraphQLError::new(
        FRAME_TOO_LARGE,
        format!("the result is larger than the frame size limit of {max_frame_bytes} bytes"),
    )
}

/// Call `resolver` once for the whole batch; a panic or a short answer becomes an error
/// for every cohort left without a result.
pub(crate) fn resolve(
    resolver: &dyn Resolver,
    event: &Event,
    batch: &[&Arc<Cohort>],
    max_output_bytes: usize,
) -> Vec<ResolveResult> {
    let requests: Vec<ResolveRequest<'_>> = batch
        .iter()
        .map(|c| {
            ResolveRequest::new(&c.document, &c.variables)
                .with_context(c.context.as_ref())
                .with_output_limit(max_output_bytes)
        })
        .collect();
    let (mut results, failure) =
        match catch_unwind(AssertUnwindSafe(|| resolver.resolve_batch(event, &requests))) {
            Ok(results) if results.len() == batch.len() => return results,
            Ok(results) => {
                let message = format!(
                    "the resolver returned {} results for {} subscriptions",
                    results.len(),
                    batch.len()
                );
                (results, ResolveError::new(RESOLVER_ERROR, message))
            }
            Err(_) => (
                Vec::new(),
                ResolveError::new(RESOLVER_PANIC, "the resolver panicked"),
            ),
        };
    results.truncate(batch.len());
    results.resize_with(batch.len(), || Err(failure.clone()));
    results
}
