//! subcast-core: the engine that turns published events into graphql-transport-ws frames.
//!
//! - [`Event`]: what mutations publish, shared as `Arc<Event>`; its limits
//!   ([`MAX_EVENT_DEPTH`], [`MAX_EVENT_ID_LEN`], [`validate_event_data`]) are the same when
//!   publishing and when decoding.
//! - [`EventBus`] and [`InMemoryBus`]: how events travel; the in-memory bus needs no runtime.
//! - [`backend`]: what only a bus implementer needs: the skeleton every bus over a server
//!   shares (`ServerBus` and the `BusSession` a backend supplies: channels, local streams,
//!   reconnection with [`Backoff`], replay or gap), bounded mailboxes, a prepared dispatch
//!   split in chunks.
//! - [`SubscriptionDocument`]: a subscription's GraphQL document, parsed and checked once.
//! - [`SubscriptionExecutor`]: the registry and dispatcher; one event becomes one frame per
//!   matching subscription, resolved and encoded once per cohort;
//!   [`SubscriptionExecutor::publish`] publishes on a bus and dispatches locally, once.
//! - [`Resolver`] and [`ProjectionResolver`]: how an event becomes a subscription's `data`.
//! - [`ResponseQueue`]: the frame queue each subscriber drains, bounded in frames and bytes,
//!   with wake-ups and [`Notice`]s of every loss that are merged, never lost.
//! - [`ConnectionInbox`]: one wake-up per connection; its writer drains the frames of every
//!   subscription in one call.
//! - [`Runtime`]: the async runtime an application lends to subcast (adapters live elsewhere).
//! - [`SecurityContext`] and [`SecurityPolicies`]: who subscribes, and the fail-closed
//!   policies (tenant, row, scope, RBAC, federation, event filter) every frame passes.
//! - [`RateLimiter`]: token buckets per user on an injected [`Clock`]; `FakeClock`, a clock
//!   tests move by hand, is behind the `testing` feature.
//! - [`Metrics`]: lock-free counters, a snapshot and the Prometheus exposition.
//! - [`EventPump`]: drives an executor from a bus on a runtime.
//! - [`Connection`]: graphql-transport-ws as a state machine with no I/O: messages and time
//!   in, [`Action`]s out.
//!
//! - Every wire code (`EVENTS_GAP`, `RATE_LIMITED`, …) at the root, from `codes.rs`.
//!
//! Modules are private: every name is re-exported here, once; bus implementers find the
//! rest in [`backend`].
//!
//! Where each concept lives: `executor/` (public methods, config, request, admission,
//! registry, watch), `dispatch/` (prepare: cohort checks, batch resolve, encode once;
//! deliver: the per-member hot path; parallel: a fan-out split in chunks; report),
//! `publish.rs` (publish-then-dispatch and the loop-back window: [`EventBus`] is pure
//! transport), `metrics/` (counters, and the one Prometheus writer for executor, pump and
//! bus), `codes.rs`, `error.rs` (backend errors keep their source), `testing.rs` (feature
//! `testing`). Lower files never import higher ones.
//!
//! The core has no async runtime, no sockets and no Python: adapters bring those.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod backend;
mod bus;
mod codes;
mod dispatch;
mod document;
mod error;
mod event;
mod executor;
mod frame;
mod inbox;
mod metrics;
mod protocol;
mod publish;
mod pump;
mod queue;
mod rate_limit;
mod resolve;
mod runtime;
mod schema;
mod security;
mod sync;
#[cfg(any(test, feature = "testing"))]
mod testing;

pub use bus::{
    frame_cursor, Backoff, BusMessage, BusStats, Cursor, CursorError, EventBus, EventStream, History,
    HistoryPage, InMemoryBus, LogPosition, DEFAULT_STREAM_CAPACITY, MAX_CURSOR_LEN,
};
pub use codes::*;
pub use document::{
    ArgumentValue, Conditions, Diagnostic, DocumentError, DocumentErrorKind, DocumentLimits, FieldSelection,
    IncludeCondition, Position, SelectionSet, SubscriptionDocument, VariableDefinition,
};
pub use error::{BoxError, Error, Result};
pub use event::{
    node_id, validate_channel, validate_event_data, Event, MAX_CHANNEL_LEN, MAX_EVENT_DEPTH,
    MAX_EVENT_ID_LEN, WIRE_VERSION,
};
pub use executor::{
    ChannelChange, ChannelWatch, DispatchReport, DropReason, ExecutorConfig, ExecutorStats, Resume,
    SubscriptionExecutor, SubscriptionKey, SubscriptionRequest, DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_FRAME_BYTES, MAX_ID_LEN, MAX_RESUME_PAGE,
};
pub use frame::{FrameBody, FramePrefix, GraphQLError};
pub use inbox::{AttachError, ConnectionInbox, InboxItem};
pub use metrics::{Metrics, MetricsSnapshot, PrometheusText};
pub use protocol::{
    Action, CloseCode, Connection, ProtocolConfig, SubscribePayload, MAX_CLOSE_REASON_BYTES, SUBPROTOCOL,
};
pub use pump::{
    ChannelStatus, EventPump, PumpConfig, PumpStats, DEFAULT_INBOX_CAPACITY, DEFAULT_PARALLEL_THRESHOLD,
    MIN_BACKOFF,
};
pub use queue::{
    Notice, OverflowPolicy, PushOutcome, RecvTimeoutError, ResponseQueue, DEFAULT_QUEUE_CAPACITY,
    DEFAULT_QUEUE_MAX_BYTES,
};
pub use rate_limit::{
    BucketConfig, Clock, Principal, PrincipalBuckets, RateLimitKind, RateLimiter, RateLimits, SystemClock,
    TokenBucket,
};
pub use resolve::{ProjectionResolver, ResolveError, ResolveRequest, ResolveResult, Resolver};
pub use runtime::{BoxFuture, Runtime};
pub use schema::{Schema, SchemaError, SchemaLimits};
pub use security::federation::DEFAULT_FEDERATION_PATH;
pub use security::filter::{MAX_CONDITIONS, MAX_FILTER_BYTES, MAX_LIST_LEN, MAX_PATH_DEPTH, MAX_PATH_LEN};
pub use security::row::DEFAULT_OWNER_PATH;
pub use security::scope::{DEFAULT_TENANT_VARIABLES, DEFAULT_USER_VARIABLES};
pub use security::{
    Condition, EventFederation, EventFilter, EventOwner, EventSecurity, FederationPolicy, FilterError,
    FilterErrorKind, FilterOp, Policy, RbacPolicy, RowPolicy, ScopePolicy, SecurityAwareEventFilter,
    SecurityContext, SecurityPolicies, SubscriptionAccess, TenantPolicy, MAX_GRANTS, MAX_IDENTITY_LEN,
};
pub use sync::Signal;
#[cfg(any(test, feature = "testing"))]
pub use testing::FakeClock;
