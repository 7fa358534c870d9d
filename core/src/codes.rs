//! Every wire code subcast sends, in one place: the `extensions.code` of `error` frames and
//! notices, and of the errors that refuse a subscription.
//!
//! - Refusals at subscribe ([`Error::code`](crate::Error::code)): [`UNAUTHENTICATED`],
//!   [`FIELD_FORBIDDEN`], [`INSUFFICIENT_SCOPE`], [`IDENTITY_MISMATCH`], [`RATE_LIMITED`],
//!   [`SUBSCRIPTION_LIMIT`], [`INVALID_FILTER`], [`INVALID_DOCUMENT`], [`INVALID_CURSOR`],
//!   [`BAD_REQUEST`], [`INTERNAL_ERROR`].
//! - Notices of losses, with counts ([`Notice`](crate::Notice)): [`EVENTS_LAGGED`],
//!   [`EVENTS_GAP`], [`RATE_LIMITED`].
//! - `error` frames that end a subscription: [`QUEUE_OVERFLOW`], [`RESOLVER_ERROR`],
//!   [`RESOLVER_PANIC`], [`FRAME_TOO_LARGE`], [`BUS_CHANNEL_LOST`].
//! - Resolver errors of the projection: [`NON_OBJECT_DATA`], [`OBJECT_NEEDS_SELECTION`],
//!   and with a schema [`SCHEMA_MISMATCH`].
//!
//! The WebSocket close codes are the protocol's: [`CloseCode`](crate::CloseCode).

/// Code of a subscription refused for want of a security context.
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
/// Code of a subscription whose resume cursor is malformed, foreign, or of another channel.
pub const INVALID_CURSOR: &str = "INVALID_CURSOR";
/// Code of a subscription requesting a field its roles may not read.
pub const FIELD_FORBIDDEN: &str = "FIELD_FORBIDDEN";
/// Code of a subscription lacking a scope its root field requires.
pub const INSUFFICIENT_SCOPE: &str = "INSUFFICIENT_SCOPE";
/// Code of a subscription whose variables name another user or tenant.
pub const IDENTITY_MISMATCH: &str = "IDENTITY_MISMATCH";
/// Code of a subscribe refused by a rate limit, and of the notice sent to a subscriber
/// whose deliveries were rate-limited.
pub const RATE_LIMITED: &str = "RATE_LIMITED";
/// Code of a subscribe over the maximum of subscriptions per connection or per user.
pub const SUBSCRIPTION_LIMIT: &str = "SUBSCRIPTION_LIMIT";
/// Code of an invalid event filter.
pub const INVALID_FILTER: &str = "INVALID_FILTER";
/// Code of an invalid subscription document or variables.
pub const INVALID_DOCUMENT: &str = "GRAPHQL_VALIDATION_FAILED";
/// Code of an invalid request (ids, channels, duplicate subscription ids).
pub const BAD_REQUEST: &str = "BAD_REQUEST";
/// Code of every other failure.
pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";

/// Code of the notice sent after frames were dropped from a full queue.
pub const EVENTS_LAGGED: &str = "EVENTS_LAGGED";
/// Code of the `error` frame of a subscription whose queue overflowed under the close policy.
pub const QUEUE_OVERFLOW: &str = "QUEUE_OVERFLOW";
/// Code of the `error` frame of a resolver failure.
pub const RESOLVER_ERROR: &str = "RESOLVER_ERROR";
/// Code of the `error` frame sent when a resolver panicked.
pub const RESOLVER_PANIC: &str = "RESOLVER_PANIC";
/// Code of the notice sent when a bus may have lost events of the subscription's channel.
pub const EVENTS_GAP: &str = "EVENTS_GAP";
/// Code of the `error` frame that replaces a result over the executor's frame size limit
/// ([`ExecutorConfig::max_frame_bytes`](crate::ExecutorConfig::max_frame_bytes)); it ends
/// the subscription, as every `error` frame does.
pub const FRAME_TOO_LARGE: &str = "FRAME_TOO_LARGE";

/// Code of the `error` frame ending the subscriptions of a channel whose bus subscription
/// could not be restored.
pub const BUS_CHANNEL_LOST: &str = "BUS_CHANNEL_LOST";

/// Code of the error returned when event data cannot be shaped by the selection set.
pub const NON_OBJECT_DATA: &str = "NON_OBJECT_DATA";
/// Code of the error returned when a field selected without sub-fields holds an object.
pub const OBJECT_NEEDS_SELECTION: &str = "OBJECT_NEEDS_SELECTION";
/// Code of the `error` frame ending a subscription whose event data contradicts the
/// executor's [`Schema`](crate::Schema): an object where a scalar is declared, a list where
/// a single value is, a null for a non-null field, an unknown enum value.
pub const SCHEMA_MISMATCH: &str = "SCHEMA_MISMATCH";
