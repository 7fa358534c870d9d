//! The per-subscription event filter: conditions on dot-paths of the event data.
//!
//! - [`EventFilter`]: the conditions a subscriber asks for, all of which must hold; built
//!   with a Rust builder or read from JSON (for bindings), validated at registration.
//! - [`Condition`] / [`FilterOp`]: one `path op value` test.
//! - [`FilterError`] / [`FilterErrorKind`]: why a filter was refused at registration.
//!
//! Evaluation is fail-closed: a missing path, a comparison between different JSON types
//! (a string against a number) or a malformed condition is a non-match, never a delivery.
//!
//! Paths are dot-separated keys (`order.customer.id`); a segment made of digits also
//! indexes an array (`items.0.sku`).
//!
//! Files: `mod.rs` the model and its builder; `eval.rs` evaluation; `validate.rs` the
//! checks made at registration and [`FilterError`]; `json.rs` the JSON form.

mod eval;
mod json;
#[cfg(test)]
mod tests;
mod validate;

use std::fmt;

use serde_json::Value;

pub(crate) use validate::validate_path;
pub use validate::{FilterError, FilterErrorKind};

/// Most conditions one filter may hold.
pub const MAX_CONDITIONS: usize = 64;
/// Longest path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 256;
/// Most segments one path may have.
pub const MAX_PATH_DEPTH: usize = 32;
/// Most values an `in` / `not_in` list may hold.
pub const MAX_LIST_LEN: usize = 1024;
/// Largest filter accepted, encoded as JSON, in bytes.
pub const MAX_FILTER_BYTES: usize = 64 * 1024;

/// A comparison operator of a [`Condition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterOp {
    /// The value at the path equals the operand (same JSON type).
    Eq,
    /// The value at the path exists, has the operand's type and differs from it.
    Ne,
    /// Greater than: numbers by value, strings by bytes.
    Gt,
    /// Less than: numbers by value, strings by bytes.
    Lt,
    /// Greater than or equal.
    Gte,
    /// Less than or equal.
    Lte,
    /// The path holds a value other than `null`.
    Exists,
    /// The path is missing or `null`.
    NotExists,
    /// A string holding the operand as a substring, or an array holding it as an element.
    Contains,
    /// The value equals one element of the operand list.
    In,
    /// The value has the list's type and equals none of its elements.
    NotIn,
}

impl FilterOp {
    /// Every operator, in a fixed order.
    pub const ALL: [FilterOp; 11] = [
        FilterOp::Eq,
        FilterOp::Ne,
        FilterOp::Gt,
        FilterOp::Lt,
        FilterOp::Gte,
        FilterOp::Lte,
        FilterOp::Exists,
        FilterOp::NotExists,
        FilterOp::Contains,
        FilterOp::In,
        FilterOp::NotIn,
    ];

    /// The operator's name in the JSON form: `eq`, `not_in`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            FilterOp::Eq => "eq",
            FilterOp::Ne => "ne",
            FilterOp::Gt => "gt",
            FilterOp::Lt => "lt",
            FilterOp::Gte => "gte",
            FilterOp::Lte => "lte",
            FilterOp::Exists => "exists",
            FilterOp::NotExists => "not_exists",
            FilterOp::Contains => "contains",
            FilterOp::In => "in",
            FilterOp::NotIn => "not_in",
        }
    }

    /// The operator named `name` in the JSON form.
    pub fn from_name(name: &str) -> Option<FilterOp> {
        FilterOp::ALL.into_iter().find(|op| op.as_str() == name)
    }

    fn takes_operand(self) -> bool {
        !matches!(self, FilterOp::Exists | FilterOp::NotExists)
    }
}

impl fmt::Display for FilterOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One test of an [`EventFilter`]: `path op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    path: String,
    op: FilterOp,
    value: Value,
}

impl Condition {
    /// A condition; it is checked by [`EventFilter::validate`].
    pub fn new(path: impl Into<String>, op: FilterOp, value: Value) -> Self {
        Condition {
            path: path.into(),
            op,
            value,
        }
    }

    /// The dot-path into the event data.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The operator.
    pub fn op(&self) -> FilterOp {
        self.op
    }

    /// The operand (`null` for `exists` / `not_exists`).
    pub fn value(&self) -> &Value {
        &self.value
    }
}

/// Conditions on the event data that must all hold for a subscriber to get the event.
///
/// Given at registration ([`SubscriptionRequest::filter`](crate::SubscriptionRequest::filter)),
/// validated there, and evaluated once per event for every cohort that shares it.
///
/// The JSON form is a list of `{"path", "op", "value"}` objects (`value` is left out for
/// `exists` and `not_exists`).
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use subcast_core::EventFilter;
///
/// let filter = EventFilter::new().eq("status", "paid").gte("total", 100).exists("customer.id");
/// assert!(filter.validate().is_ok());
/// assert!(filter.matches(&json!({"status": "paid", "total": 120, "customer": {"id": "c1"}})));
/// assert!(!filter.matches(&json!({"status": "paid", "total": "120", "customer": {"id": "c1"}})));
///
/// let same = EventFilter::from_json(&json!([
///     {"path": "status", "op": "eq", "value": "paid"},
///     {"path": "total", "op": "gte", "value": 100},
///     {"path": "customer.id", "op": "exists"},
/// ]))
/// .unwrap();
/// assert_eq!(same, filter);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    conditions: Vec<Condition>,
}

impl EventFilter {
    /// A filter without conditions: every event matches.
    pub fn new() -> Self {
        EventFilter::default()
    }

    /// Add a condition.
    pub fn condition(mut self, path: impl Into<String>, op: FilterOp, value: impl Into<Value>) -> Self {
        self.conditions.push(Condition::new(path, op, value.into()));
        self
    }

    /// The value at `path` equals `value`.
    pub fn eq(self, path: impl Into<String>, value: impl Into<Value>) -> Self {
        self.condition(path, FilterOp::Eq, value)
    }

    /// The value at `path` exists, has `value`'s type and differs from it.
    pub fn ne(self, path: impl Into<String>, value: impl Into<Value>) -> Self {
        self.condition(path, FilterOp::Ne, value)
    }

    /// The value at `path` is greater than `value`.
    pub fn gt(self, path: impl Into<String>, value: impl Into<Value>) -> Self {
        self.condition(path, FilterOp::Gt, value)
    }

    /// The value at `path` is less than `value`.
    pub fn lt(self, path: impl Into<String>, value: impl Into<Value>) -> Self {
        self.condition(path, FilterOp::Lt, value)
    }

    /// The value at `path` is greater than or equal to `value`.
    pub fn gte(self, path: impl Into<String>, value: impl Into<Value>) -> Self {
        self.condition(path, FilterOp::Gte, value)
    }

    /// The value at `path` is less than or equal to `value`.
    pub fn lte(self, path: impl Into<String>, value: impl Into<Value>) -> Self {
        self.condition(path, FilterOp::Lte, value)
    }

    /// `path` holds a value other than `null`.
    pub fn exists(self, path: impl Into<String>) -> Self {
        self.condition(path, FilterOp::Exists, Value::Null)
    }

    /// `path` is missing or `null`.
    pub fn not_exists(self, path: impl Into<String>) -> Self {
        self.condition(path, FilterOp::NotExists, Value::Null)
    }

    /// The string at `path` contains `value`, or the array at `path` holds it.
    pub fn contains(self, path: impl Into<String>, value: impl Into<Value>) -> Self {
        self.condition(path, FilterOp::Contains, value)
    }

    /// The value at `path` is one of `values`.
    pub fn is_in<I, V>(self, path: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Value>,
    {
        let list: Vec<Value> = values.into_iter().map(Into::into).collect();
        self.condition(path, FilterOp::In, list)
    }

    /// The value at `path` has the type of `values` and is none of them.
    pub fn not_in<I, V>(self, path: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Value>,
    {
        let list: Vec<Value> = values.into_iter().map(Into::into).collect();
        self.condition(path, FilterOp::NotIn, list)
    }

    /// The conditions, in evaluation order.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Whether the filter has no condition.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }
}
