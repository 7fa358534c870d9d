//! subcast-core: the engine that turns published events into graphql-transport-ws frames.
//!
//! - [`Event`]: what mutations publish, shared as `Arc<Event>`; its limits
//!   ([`MAX_EVENT_DEPTH`], [`MAX_EVENT_ID_LEN`], [`validate_event_data`]) are the same when
//!   publishing and when decoding.
//! - [`EventBus`] and [`InMemoryBus`]: how events travel; the in-memory bus needs no runtime.
//! - [`bus_channels`]: what a bus over a server keeps per node: channels, local streams,
//!   replay positions, counters.
//! - [`SubscriptionDocument`]: a subscription's GraphQL document, parsed and checked once.
//! - [`SubscriptionExecutor`]: the registry and dispatcher; one event becomes one frame per
//!   matching subscription, resolved and encoded once per cohort.
//! - [`Resolver`] and [`ProjectionResolver`]: how an event becomes a subscription's `data`.
//! - [`ResponseQueue`]: the frame queue each subscriber drains, bounded in frames and bytes,
//!   with wake-ups and [`Notice`]s of every loss that are merged, never lost.
//! - [`ConnectionInbox`]: one wake-up per connection; its writer drains the frames of every
//!   subscription in one call.
//! - [`Runtime`]: the async runtime an application lends to subcast (adapters live elsewhere).
//! - [`SecurityContext`] and [`SecurityPolicies`]: who subscribes, and the fail-closed
//!   policies (tenant, row, scope, RBAC, federation, event filter) every frame passes.
//! - [`RateLimiter`]: token buckets per user on an injected [`Clock`].
//! - [`Metrics`]: lock-free counters, a snapshot and the Prometheus exposition.
//! - [`EventPump`]: drives an executor from a bus on a runtime.
//! - [`Connection`]: graphql-transport-ws as a state machine with no I/O: messages and time
//!   in, [`Action`]s out.
//!
//! The core has no async runtime, no sockets and no Python: adapters bring those.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod bus;
pub mod bus_channels;
pub mod document;
pub mod error;
pub mod event;
pub mod executor;
pub mod frame;
mod inbox;
pub mod metrics;
mod protocol;
pub mod pump;
pub mod queue;
pub mod rate_limit;
pub mod resolve;
pub mod runtime;
pub mod security;
pub mod sync;

pub use bus::{BusMessage, BusStats, EventBus, EventStream, InMemoryBus};
pub use document::{
    ArgumentValue, Conditions, DocumentError, DocumentErrorKind, DocumentLimits, FieldSelection,
    IncludeCondition, Position, SelectionSet, SubscriptionDocument, VariableDefinition,
};
pub use error::{Error, Result};
pub use event::{
    node_id, validate_channel, validate_event_data, Event, MAX_CHANNEL_LEN, MAX_EVENT_DEPTH, MAX_EVENT_ID_LEN,
};
pub use executor::{
    ChannelChange, ChannelWatch, DispatchChunk, DispatchReport, DropReason, ExecutorConfig, ExecutorStats,
    PreparedDispatch, SubscriptionExecutor, SubscriptionKey, SubscriptionRequest,
};
pub use frame::{FrameBody, FramePrefix, GraphQLError};
pub use inbox::{AttachError, ConnectionInbox, InboxItem};
pub use metrics::{Metrics, MetricsSnapshot};
pub use protocol::{
    Action, CloseCode, Connection, ProtocolConfig, SubscribePayload, MAX_CLOSE_REASON_BYTES, SUBPROTOCOL,
};
pub use pump::{ChannelStatus, EventPump, PumpConfig, PumpStats};
pub use queue::{Notice, OverflowPolicy, ResponseQueue};
pub use rate_limit::{
    BucketConfig, Clock, FakeClock, RateLimitKind, RateLimiter, RateLimits, SystemClock, TokenBucket,
};
pub use resolve::{ProjectionResolver, ResolveError, ResolveRequest, ResolveResult, Resolver};
pub use runtime::Runtime;
pub use security::{
    Condition, EventFederation, EventFilter, EventOwner, FederationPolicy, FilterError, FilterErrorKind,
    FilterOp, Policy, RbacPolicy, RowPolicy, ScopePolicy, SecurityAwareEventFilter, SecurityContext,
    SecurityPolicies, SubscriptionAccess, TenantPolicy,
};
