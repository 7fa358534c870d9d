//! [`SubscriptionRequest`]: what a client's `subscribe` message carries, and
//! [`SubscriptionKey`], the executor's handle of the subscription it becomes.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::resolve::Resolver;
use crate::security::{EventFilter, SecurityContext};

/// The executor's handle of one subscription; cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionKey(pub(crate) u64);

impl fmt::Display for SubscriptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A client's request to subscribe: the `subscribe` message of graphql-transport-ws.
///
/// # Examples
///
/// ```
/// use subcast_core::{EventFilter, SecurityContext, SubscriptionRequest};
///
/// let request = SubscriptionRequest::new("conn-1", "1", "subscription OnUser($id: ID!) { user(id: $id) { name } }")
///     .operation_name("OnUser")
///     .variables(serde_json::json!({"id": "42"}))
///     .channels(["user:42"])
///     .security_context(SecurityContext::new("alice").with_tenant("acme"))
///     .filter(EventFilter::new().ne("status", "draft"));
/// ```
#[derive(Debug, Clone)]
pub struct SubscriptionRequest {
    pub(crate) connection_id: String,
    pub(crate) subscription_id: String,
    pub(crate) query: String,
    pub(crate) operation_name: Option<String>,
    pub(crate) variables: Value,
    pub(crate) channels: Option<Vec<String>>,
    pub(crate) resolver: Option<Arc<dyn Resolver>>,
    pub(crate) context: Option<SecurityContext>,
    pub(crate) filter: Option<EventFilter>,
    pub(crate) cursor: Option<String>,
}

impl SubscriptionRequest {
    /// Subscribe with `query` as `subscription_id` of `connection_id`.
    pub fn new(
        connection_id: impl Into<String>,
        subscription_id: impl Into<String>,
        query: impl Into<String>,
    ) -> Self {
        SubscriptionRequest {
            connection_id: connection_id.into(),
            subscription_id: subscription_id.into(),
            query: query.into(),
            operation_name: None,
            variables: Value::Null,
            channels: None,
            resolver: None,
            context: None,
            filter: None,
            cursor: None,
        }
    }

    /// Select the operation to run among the document's operations.
    pub fn operation_name(mut self, name: impl Into<String>) -> Self {
        self.operation_name = Some(name.into());
        self
    }

    /// Set the variables: a JSON object, or null for none.
    pub fn variables(mut self, variables: Value) -> Self {
        self.variables = variables;
        self
    }

    /// Listen on these channels instead of the one named after the root field.
    pub fn channels<I, S>(mut self, channels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.channels = Some(channels.into_iter().map(Into::into).collect());
        self
    }

    /// Resolve events with `resolver` instead of the built-in projection.
    pub fn resolver(mut self, resolver: Arc<dyn Resolver>) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// Subscribe as the authenticated subscriber `context`.
    pub fn security_context(mut self, context: SecurityContext) -> Self {
        self.context = Some(context);
        self
    }

    /// Deliver only events whose data satisfies `filter` (validated at registration).
    pub fn filter(mut self, filter: EventFilter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Resume from `cursor`, the `payload.extensions.cursor` of the last `next` frame the
    /// client read: [`SubscriptionExecutor::register_resumable`](crate::SubscriptionExecutor::register_resumable)
    /// validates it and returns the [`Resume`](crate::Resume) that replays what was missed.
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}
