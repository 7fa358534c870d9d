//! Resolution: turning an event into the `data` of a subscription's `next` frame.
//!
//! - [`Resolver`]: the trait custom resolvers implement; one call resolves a batch.
//! - [`ResolveRequest`]: what one subscription cohort asks of a resolver.
//! - [`ResolveError`]: a failure that becomes an `error` frame for the cohort.
//! - [`ProjectionResolver`]: the built-in resolver projecting event data to the selection set,
//!   with bounded output: it counts the encoded size of what it builds and stops with a
//!   [`FRAME_TOO_LARGE`] error once [`ResolveRequest::max_output_bytes`] is passed, so a
//!   document that multiplies its data (a thousand aliases over a list) never allocates the
//!   whole result.

use std::fmt::Debug;

use serde_json::{Map, Value};

use crate::codes::{FRAME_TOO_LARGE, NON_OBJECT_DATA, OBJECT_NEEDS_SELECTION};
use crate::document::{SelectionSet, SubscriptionDocument};
use crate::event::{json_str_len, measure_json, Event};
use crate::frame::GraphQLError;
use crate::security::SecurityContext;

/// The result of resolving one request: the `data` object of the `next` frame.
pub type ResolveResult = Result<Value, ResolveError>;

/// What one cohort of subscriptions asks of a resolver for one event.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ResolveRequest<'a> {
    /// The parsed subscription document.
    pub document: &'a SubscriptionDocument,
    /// The subscription's variables, defaults applied.
    pub variables: &'a Map<String, Value>,
    /// The subscriber's security context, given only to resolvers that
    /// [depend on it](Resolver::depends_on_context): their cohorts hold one context each.
    pub context: Option<&'a SecurityContext>,
    /// The largest `data` worth building, as encoded JSON: the executor refuses a frame
    /// over its [`max_frame_bytes`](crate::ExecutorConfig::max_frame_bytes) anyway, so a
    /// resolver may stop early (the projection does). Unlimited unless set.
    pub max_output_bytes: usize,
}

impl<'a> ResolveRequest<'a> {
    /// A request for `document` with `variables`.
    pub fn new(document: &'a SubscriptionDocument, variables: &'a Map<String, Value>) -> Self {
        ResolveRequest {
            document,
            variables,
            context: None,
            max_output_bytes: usize::MAX,
        }
    }

    /// The same request, with results over `max_bytes` (encoded) not worth building.
    pub fn with_output_limit(mut self, max_bytes: usize) -> Self {
        self.max_output_bytes = max_bytes;
        self
    }

    /// The same request, made on behalf of `context`.
    pub fn with_context(mut self, context: Option<&'a SecurityContext>) -> Self {
        self.context = context;
        self
    }
}

/// A resolver failure, sent to the cohort as an `error` frame; never the raw event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ResolveError {
    /// Machine-readable code, e.g. `RESOLVER_ERROR`.
    pub code: String,
    /// Human-readable description.
    pub message: String,
}

impl ResolveError {
    /// An error with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ResolveError {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl From<&ResolveError> for GraphQLError {
    fn from(error: &ResolveError) -> Self {
        GraphQLError::new(&error.code, error.message.clone())
    }
}

/// Resolves events into GraphQL `data` for batches of subscription cohorts.
///
/// The engine calls [`Resolver::resolve_batch`] once per event with every cohort that uses
/// this resolver, on a thread that may block: a slow resolver never runs on an async worker.
///
/// # Examples
///
/// ```
/// use serde_json::{json, Value};
/// use subcast_core::{Event, ResolveRequest, ResolveResult, Resolver};
///
/// /// Answers every subscription with the event's type.
/// #[derive(Debug)]
/// struct EventTypeResolver;
///
/// impl Resolver for EventTypeResolver {
///     fn resolve_batch(&self, event: &Event, requests: &[ResolveRequest<'_>]) -> Vec<ResolveResult> {
///         requests
///             .iter()
///             .map(|request| Ok(json!({ request.document.response_key(): event.event_type })))
///             .collect()
///     }
/// }
/// ```
pub trait Resolver: Send + Sync + Debug + 'static {
    /// Resolve `event` for each request; return exactly one result per request, in order.
    fn resolve_batch(&self, event: &Event, requests: &[ResolveRequest<'_>]) -> Vec<ResolveResult>;

    /// Whether results depend on who subscribed. If so, subscribers with different security
    /// contexts never share a cohort, and each request carries its context; otherwise
    /// requests carry none, and one result serves every subscriber of a cohort.
    fn depends_on_context(&self) -> bool {
        false
    }
}

/// The built-in resolver: `{<alias or field>: <event.data projected to the selection set>}`.
///
/// Objects keep only selected fields, in selection order; lists are projected per element;
/// absent fields are `null`; a field selected without sub-fields must hold a scalar or a
/// list of scalars (an object there is an `OBJECT_NEEDS_SELECTION` error, never sent
/// whole); `__typename` is the event type at the root and the object's own `__typename`
/// (or `null`) below it.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use subcast_core::{DocumentLimits, Event, ProjectionResolver, SubscriptionDocument};
///
/// let doc = SubscriptionDocument::parse("subscription { u: users { id __typename } }", None, &DocumentLimits::default()).unwrap();
/// let event = Event::new("userCreated", "users", json!({"id": "1", "secret": "x"}));
/// let data = ProjectionResolver::project(&event, &doc, &Default::default()).unwrap();
/// assert_eq!(data, json!({"u": {"id": "1", "__typename": "userCreated"}}));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ProjectionResolver;

impl ProjectionResolver {
    /// Project `event` for one subscription.
    pub fn project(
        event: &Event,
        document: &SubscriptionDocument,
        variables: &Map<String, Value>,
    ) -> ResolveResult {
        Self::project_within(event, document, variables, usize::MAX)
    }

    /// Project `event` for one subscription, giving up with a [`FRAME_TOO_LARGE`] error as
    /// soon as the result, encoded as JSON, would pass `max_bytes`.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// use subcast_core::{DocumentLimits, Event, ProjectionResolver, SubscriptionDocument};
    ///
    /// let doc = SubscriptionDocument::parse("subscription { users { a: name b: name } }", None, &DocumentLimits::default()).unwrap();
    /// let event = Event::new("userCreated", "users", json!({"name": "x".repeat(100)}));
    /// assert!(ProjectionResolver::project_within(&event, &doc, &Default::default(), 1000).is_ok());
    /// let err = ProjectionResolver::project_within(&event, &doc, &Default::default(), 150).unwrap_err();
    /// assert_eq!(err.code, "FRAME_TOO_LARGE");
    /// ```
    pub fn project_within(
        event: &Event,
        document: &SubscriptionDocument,
        variables: &Map<String, Value>,
        max_bytes: usize,
    ) -> ResolveResult {
        let mut budget = Budget {
            left: max_bytes,
            limit: max_bytes,
        };
        let key = document.response_key();
        // `{"<key>":` and `}` around the value.
        budget.spend(json_str_len(key) + 3)?;
        let value = match document.selection() {
            None => leaf(&event.data, key, &mut budget)?,
            Some(selection) => project_value(
                &event.data,
                selection,
                variables,
                Some(&event.event_type),
                key,
                &mut budget,
            )?,
        };
        let mut data = Map::with_capacity(1);
        data.insert(document.response_key().to_owned(), value);
        Ok(Value::Object(data))
    }
}

impl Resolver for ProjectionResolver {
    fn resolve_batch(&self, event: &Event, requests: &[ResolveRequest<'_>]) -> Vec<ResolveResult> {
        requests
            .iter()
            .map(|request| {
                Self::project_within(
                    event,
                    request.document,
                    request.variables,
                    request.max_output_bytes,
                )
            })
            .collect()
    }
}

/// What is left of a result's size limit while it is being built.
struct Budget {
    left: usize,
    limit: usize,
}

impl Budget {
    /// Account for `bytes` more of encoded output; fail once the limit is passed.
    fn spend(&mut self, bytes: usize) -> Result<(), ResolveError> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(ResolveError::new(
                FRAME_TOO_LARGE,
                format!(
                    "the result is larger than the frame size limit of {} bytes",
                    self.limit
                ),
            )),
        }
    }
}

fn project_value(
    value: &Value,
    selection: &SelectionSet,
    variables: &Map<String, Value>,
    typename: Option<&str>,
    path: &str,
    budget: &mut Budget,
) -> ResolveResult {
    match value {
        Value::Null => {
            budget.spend(4)?;
            Ok(Value::Null)
        }
        Value::Array(items) => {
            // Brackets and the commas between elements.
            budget.spend(items.len().max(1) + 1)?;
            items
                .iter()
                .map(|item| project_value(item, selection, variables, typename, path, budget))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        Value::Object(object) => {
            budget.spend(2)?;
            let mut projected = Map::with_capacity(selection.fields.len());
            for field in &selection.fields {
                if !field.is_included(variables) {
                    continue;
                }
                // The key, its colon and, past the first entry, a comma.
                let comma = usize::from(!projected.is_empty());
                budget.spend(json_str_len(&field.response_key) + 1 + comma)?;
                let own = object.get(&field.name);
                let value = match (field.name.as_str(), own, &field.selection) {
                    ("__typename", None, _) => {
                        let value = typename.map_or(Value::Null, Value::from);
                        budget.spend(encoded_len(&value))?;
                        value
                    }
                    (_, None, _) => {
                        budget.spend(4)?;
                        Value::Null
                    }
                    (_, Some(own), None) => leaf(own, &format!("{path}.{}", field.response_key), budget)?,
                    (_, Some(own), Some(sub)) => {
                        let sub_path = format!("{path}.{}", field.response_key);
                        project_value(own, sub, variables, None, &sub_path, budget)?
                    }
                };
                projected.insert(field.response_key.clone(), value);
            }
            Ok(Value::Object(projected))
        }
        scalar => Err(ResolveError::new(
            NON_OBJECT_DATA,
            format!(
                "`{path}` selects fields, but the event data there is {}",
                describe(scalar)
            ),
        )),
    }
}

/// The value of a field selected without sub-fields: a scalar or a list of scalars.
///
/// An object there would reach the subscriber whole, fields the selection never named
/// included — and field-level RBAC only ever sees the named ones — so it is refused.
fn leaf(value: &Value, path: &str, budget: &mut Budget) -> ResolveResult {
    fn holds_object(value: &Value) -> bool {
        match value {
            Value::Object(_) => true,
            Value::Array(items) => items.iter().any(holds_object),
            _ => false,
        }
    }
    if holds_object(value) {
        return Err(ResolveError::new(
            OBJECT_NEEDS_SELECTION,
            format!("`{path}` holds an object: select the fields you need"),
        ));
    }
    // Measured before it is cloned: an oversized leaf is never copied.
    budget.spend(encoded_len(value))?;
    Ok(value.clone())
}

/// The encoded size of a value from event data (whose depth publishing bounded).
fn encoded_len(value: &Value) -> usize {
    measure_json(value, usize::MAX).unwrap_or(usize::MAX)
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::DocumentLimits;
    use serde_json::json;

    fn project(query: &str, data: Value) -> ResolveResult {
        let doc = SubscriptionDocument::parse(query, None, &DocumentLimits::default()).unwrap();
        let vars = doc.effective_variables(&Value::Null).unwrap();
        ProjectionResolver::project(&Event::new("userCreated", "users", data), &doc, &vars)
    }

    #[test]
    fn projection_keeps_only_selected_fields_in_selection_order() {
        let data = json!({"name": "Alice", "id": "1", "password": "hunter2"});
        assert_eq!(
            project("subscription { users { id name } }", data).unwrap(),
            json!({"users": {"id": "1", "name": "Alice"}})
        );
    }

    #[test]
    fn projection_uses_the_alias_as_the_response_key() {
        let data = json!({"id": "1"});
        assert_eq!(
            project("subscription { people: users { ident: id } }", data).unwrap(),
            json!({"people": {"ident": "1"}})
        );
    }

    #[test]
    fn absent_fields_are_null() {
        assert_eq!(
            project("subscription { users { id email } }", json!({"id": "1"})).unwrap(),
            json!({"users": {"id": "1", "email": null}})
        );
    }

    #[test]
    fn lists_are_projected_per_element() {
        let data = json!({"posts": [{"title": "a", "body": "x"}, {"title": "b"}, null]});
        assert_eq!(
            project("subscription { users { posts { title } } }", data).unwrap(),
            json!({"users": {"posts": [{"title": "a"}, {"title": "b"}, null]}})
        );
    }

    #[test]
    fn typename_at_the_root_is_the_event_type() {
        assert_eq!(
            project("subscription { users { __typename } }", json!({})).unwrap(),
            json!({"users": {"__typename": "userCreated"}})
        );
    }

    #[test]
    fn scalar_root_field_returns_the_data_as_is() {
        assert_eq!(
            project("subscription { counter }", json!(41)).unwrap(),
            json!({"counter": 41})
        );
    }

    #[test]
    fn an_object_under_a_field_without_sub_fields_is_refused_not_sent_whole() {
        let data = json!({"customer": {"name": "Ann", "ssn": "123-45-6789"}, "tags": [{"k": 1}]});
        let err = project("subscription { orders { customer } }", data.clone()).unwrap_err();
        assert_eq!(err.code, OBJECT_NEEDS_SELECTION);
        assert!(err.message.contains("orders.customer"), "{}", err.message);
        assert!(!err.message.contains("123-45"), "{}", err.message);
        let in_list = project("subscription { orders { tags } }", data.clone()).unwrap_err();
        assert_eq!(in_list.code, OBJECT_NEEDS_SELECTION);
        let at_root = project("subscription { orders }", data).unwrap_err();
        assert_eq!(at_root.code, OBJECT_NEEDS_SELECTION);
        assert_eq!(
            project("subscription { orders { ids } }", json!({"ids": [1, 2]})).unwrap(),
            json!({"orders": {"ids": [1, 2]}})
        );
    }

    /// Many aliases of one list: each alias copies the list again.
    fn amplifying_query(aliases: usize) -> String {
        let fields: String = (0..aliases).map(|n| format!("a{n}: items {{ v }} ")).collect();
        format!("subscription {{ feed {{ {fields} }} }}")
    }

    fn amplifying_data() -> Value {
        json!({"items": (0..100).map(|n| json!({"v": format!("value-{n:04}")})).collect::<Vec<_>>()})
    }

    #[test]
    fn projection_over_the_output_limit_stops_with_frame_too_large() {
        let doc =
            SubscriptionDocument::parse(&amplifying_query(400), None, &DocumentLimits::default()).unwrap();
        let event = Event::new("t", "feed", amplifying_data());
        let err = ProjectionResolver::project_within(&event, &doc, &Map::new(), 64 * 1024).unwrap_err();
        assert_eq!(err.code, FRAME_TOO_LARGE);
    }

    #[test]
    fn projection_within_the_limit_equals_the_unbounded_projection_and_counts_exactly() {
        let doc =
            SubscriptionDocument::parse(&amplifying_query(3), None, &DocumentLimits::default()).unwrap();
        let event = Event::new("t", "feed", amplifying_data());
        let whole = ProjectionResolver::project(&event, &doc, &Map::new()).unwrap();
        let size = serde_json::to_vec(&whole).unwrap().len();
        assert_eq!(
            ProjectionResolver::project_within(&event, &doc, &Map::new(), size).unwrap(),
            whole
        );
        let over = ProjectionResolver::project_within(&event, &doc, &Map::new(), size - 1);
        assert_eq!(over.unwrap_err().code, FRAME_TOO_LARGE);
    }

    #[test]
    fn scalar_data_under_a_selection_is_a_non_object_error() {
        let err = project("subscription { users { id } }", json!("Alice")).unwrap_err();
        assert_eq!(err.code, NON_OBJECT_DATA);
        assert!(err.message.contains("a string"), "{}", err.message);
        let nested = project(
            "subscription { users { profile { bio } } }",
            json!({"profile": 3}),
        )
        .unwrap_err();
        assert!(nested.message.contains("users.profile"), "{}", nested.message);
    }
}
