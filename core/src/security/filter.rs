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

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Map, Value};

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

    /// Whether `data` satisfies this condition; every doubt is a non-match.
    pub fn matches(&self, data: &Value) -> bool {
        let actual = lookup(data, &self.path);
        match self.op {
            FilterOp::Exists => actual.is_some_and(|v| !v.is_null()),
            FilterOp::NotExists => actual.is_none_or(Value::is_null),
            _ => actual.is_some_and(|actual| self.compare(actual)),
        }
    }

    fn compare(&self, actual: &Value) -> bool {
        let operand = &self.value;
        match self.op {
            FilterOp::Eq => json_eq(actual, operand) == Some(true),
            FilterOp::Ne => json_eq(actual, operand) == Some(false),
            FilterOp::Gt => json_cmp(actual, operand) == Some(Ordering::Greater),
            FilterOp::Lt => json_cmp(actual, operand) == Some(Ordering::Less),
            FilterOp::Gte => matches!(
                json_cmp(actual, operand),
                Some(Ordering::Greater | Ordering::Equal)
            ),
            FilterOp::Lte => matches!(json_cmp(actual, operand), Some(Ordering::Less | Ordering::Equal)),
            FilterOp::Contains => match (actual, operand) {
                (Value::String(haystack), Value::String(needle)) => haystack.contains(needle.as_str()),
                (Value::Array(items), _) => items.iter().any(|item| json_eq(item, operand) == Some(true)),
                _ => false,
            },
            FilterOp::In => match operand {
                Value::Array(list) => list.iter().any(|item| json_eq(actual, item) == Some(true)),
                _ => false,
            },
            FilterOp::NotIn => match operand {
                Value::Array(list) if !list.is_empty() => {
                    list.iter().all(|item| json_eq(actual, item) == Some(false))
                }
                _ => false,
            },
            FilterOp::Exists | FilterOp::NotExists => false,
        }
    }

    fn validate(&self, index: usize) -> Result<(), FilterError> {
        validate_path(&self.path).map_err(|reason| {
            FilterError::new(
                FilterErrorKind::InvalidPath,
                Some(index),
                format!("path {:?}: {reason}", truncate(&self.path)),
            )
        })?;
        let invalid = |message: String| {
            Err(FilterError::new(
                FilterErrorKind::InvalidValue,
                Some(index),
                message,
            ))
        };
        let op = self.op;
        match (op, &self.value) {
            (FilterOp::Exists | FilterOp::NotExists, Value::Null) => Ok(()),
            (FilterOp::Exists | FilterOp::NotExists, _) => invalid(format!("`{op}` takes no value")),
            (
                FilterOp::Gt | FilterOp::Lt | FilterOp::Gte | FilterOp::Lte,
                Value::Number(_) | Value::String(_),
            ) => Ok(()),
            (FilterOp::Gt | FilterOp::Lt | FilterOp::Gte | FilterOp::Lte, other) => invalid(format!(
                "`{op}` compares numbers or strings, not {}",
                kind_name(other)
            )),
            (FilterOp::In | FilterOp::NotIn, Value::Array(list)) => {
                if list.is_empty() {
                    return invalid(format!("`{op}` needs at least one value"));
                }
                if list.len() > MAX_LIST_LEN {
                    return invalid(format!(
                        "`{op}` holds {} values, over the limit of {MAX_LIST_LEN}",
                        list.len()
                    ));
                }
                let first = JsonKind::of(&list[0]);
                if !matches!(first, JsonKind::Bool | JsonKind::Number | JsonKind::String) {
                    return invalid(format!("`{op}` lists strings, numbers or booleans"));
                }
                if list.iter().any(|v| JsonKind::of(v) != first) {
                    return invalid(format!("`{op}` values must all have the same type"));
                }
                Ok(())
            }
            (FilterOp::In | FilterOp::NotIn, other) => {
                invalid(format!("`{op}` takes a list, not {}", kind_name(other)))
            }
            (FilterOp::Contains, Value::Null) => invalid("`contains` needs a value".to_owned()),
            (FilterOp::Eq | FilterOp::Ne | FilterOp::Contains, _) => Ok(()),
        }
    }

    fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("path".into(), self.path.clone().into());
        object.insert("op".into(), self.op.as_str().into());
        if self.op.takes_operand() {
            object.insert("value".into(), self.value.clone());
        }
        Value::Object(object)
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

    /// Check every condition: path syntax and length, operand types, list sizes.
    pub fn validate(&self) -> Result<(), FilterError> {
        if self.conditions.len() > MAX_CONDITIONS {
            return Err(FilterError::new(
                FilterErrorKind::TooLarge,
                None,
                format!(
                    "{} conditions, over the limit of {MAX_CONDITIONS}",
                    self.conditions.len()
                ),
            ));
        }
        for (index, condition) in self.conditions.iter().enumerate() {
            condition.validate(index)?;
        }
        let size = self.canonical_json().len();
        if size > MAX_FILTER_BYTES {
            return Err(FilterError::new(
                FilterErrorKind::TooLarge,
                None,
                format!("the filter is {size} bytes, over the limit of {MAX_FILTER_BYTES}"),
            ));
        }
        Ok(())
    }

    /// Whether `data` satisfies every condition.
    pub fn matches(&self, data: &Value) -> bool {
        self.conditions.iter().all(|c| c.matches(data))
    }

    /// Read and validate the JSON form: a list of `{"path", "op", "value"}` objects.
    pub fn from_json(json: &Value) -> Result<Self, FilterError> {
        let malformed = |index: Option<usize>, message: &str| {
            FilterError::new(FilterErrorKind::Malformed, index, message.to_owned())
        };
        let Value::Array(items) = json else {
            return Err(malformed(None, "a filter is a list of conditions"));
        };
        if items.len() > MAX_CONDITIONS {
            return Err(FilterError::new(
                FilterErrorKind::TooLarge,
                None,
                format!("{} conditions, over the limit of {MAX_CONDITIONS}", items.len()),
            ));
        }
        let mut conditions = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let Value::Object(object) = item else {
                return Err(malformed(
                    Some(index),
                    "a condition is an object with `path` and `op`",
                ));
            };
            if let Some(key) = object
                .keys()
                .find(|k| !matches!(k.as_str(), "path" | "op" | "value"))
            {
                return Err(malformed(
                    Some(index),
                    &format!("unknown key {:?}", truncate(key)),
                ));
            }
            let Some(Value::String(path)) = object.get("path") else {
                return Err(malformed(Some(index), "`path` must be a string"));
            };
            let Some(Value::String(name)) = object.get("op") else {
                return Err(malformed(Some(index), "`op` must be a string"));
            };
            let op = FilterOp::from_name(name).ok_or_else(|| {
                FilterError::new(
                    FilterErrorKind::UnknownOperator,
                    Some(index),
                    format!("unknown operator {:?}", truncate(name)),
                )
            })?;
            let value = match object.get("value") {
                Some(value) => value.clone(),
                None if op.takes_operand() => {
                    return Err(FilterError::new(
                        FilterErrorKind::InvalidValue,
                        Some(index),
                        format!("`{op}` needs a `value`"),
                    ))
                }
                None => Value::Null,
            };
            conditions.push(Condition::new(path.clone(), op, value));
        }
        let filter = EventFilter { conditions };
        filter.validate()?;
        Ok(filter)
    }

    /// Read and validate the JSON form from text.
    pub fn from_json_str(text: &str) -> Result<Self, FilterError> {
        let json: Value = serde_json::from_str(text)
            .map_err(|e| FilterError::new(FilterErrorKind::Malformed, None, format!("not JSON: {e}")))?;
        Self::from_json(&json)
    }

    /// The JSON form, as read by [`EventFilter::from_json`].
    pub fn to_json(&self) -> Value {
        Value::Array(self.conditions.iter().map(Condition::to_json).collect())
    }

    /// The JSON form encoded as text: equal filters give equal strings.
    pub fn canonical_json(&self) -> String {
        self.to_json().to_string()
    }
}

/// Why a filter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FilterErrorKind {
    /// The JSON form is not a list of condition objects, or a key is missing or unknown.
    Malformed,
    /// `op` names no known operator.
    UnknownOperator,
    /// A path is empty, too long, too deep or has an empty segment.
    InvalidPath,
    /// An operand has the wrong type for its operator.
    InvalidValue,
    /// Too many conditions, values or bytes.
    TooLarge,
}

/// A filter refused at registration, with the index of the faulty condition when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", .index.map(|i| format!("condition {i}: ")).unwrap_or_default())]
pub struct FilterError {
    kind: FilterErrorKind,
    index: Option<usize>,
    message: String,
}

impl FilterError {
    pub(crate) fn new(kind: FilterErrorKind, index: Option<usize>, message: String) -> Self {
        FilterError { kind, index, message }
    }

    /// What kind of mistake it is.
    pub fn kind(&self) -> FilterErrorKind {
        self.kind
    }

    /// The index of the faulty condition, if one is at fault.
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// The description, without the condition index.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The value at dot-`path` in `data`: object keys, or array indices for digit segments.
pub(crate) fn lookup<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = data;
    for segment in path.split('.') {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Check a dot-path: 1 to [`MAX_PATH_LEN`] bytes, at most [`MAX_PATH_DEPTH`] non-empty segments.
pub(crate) fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty".to_owned());
    }
    if path.len() > MAX_PATH_LEN {
        return Err(format!("{} bytes, over the limit of {MAX_PATH_LEN}", path.len()));
    }
    let mut depth = 0;
    for segment in path.split('.') {
        if segment.is_empty() {
            return Err("has an empty segment".to_owned());
        }
        depth += 1;
    }
    if depth > MAX_PATH_DEPTH {
        return Err(format!("{depth} segments, over the limit of {MAX_PATH_DEPTH}"));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonKind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl JsonKind {
    fn of(value: &Value) -> JsonKind {
        match value {
            Value::Null => JsonKind::Null,
            Value::Bool(_) => JsonKind::Bool,
            Value::Number(_) => JsonKind::Number,
            Value::String(_) => JsonKind::String,
            Value::Array(_) => JsonKind::Array,
            Value::Object(_) => JsonKind::Object,
        }
    }
}

fn kind_name(value: &Value) -> &'static str {
    match JsonKind::of(value) {
        JsonKind::Null => "null",
        JsonKind::Bool => "a boolean",
        JsonKind::Number => "a number",
        JsonKind::String => "a string",
        JsonKind::Array => "a list",
        JsonKind::Object => "an object",
    }
}

/// Equality of two JSON values of the same type (numbers by value); `None` across types.
fn json_eq(a: &Value, b: &Value) -> Option<bool> {
    if JsonKind::of(a) != JsonKind::of(b) {
        return None;
    }
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => Some(json_cmp(a, b) == Some(Ordering::Equal)),
        _ => Some(a == b),
    }
}

/// Order of two numbers or two strings; `None` for anything else.
fn json_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                return Some(x.cmp(&y));
            }
            if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                return Some(x.cmp(&y));
            }
            x.as_f64()?.partial_cmp(&y.as_f64()?)
        }
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        _ => None,
    }
}

fn truncate(text: &str) -> &str {
    let mut end = text.len().min(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_walks_objects_and_array_indices() {
        let data = json!({"a": {"b": [{"c": 1}, {"c": 2}]}});
        assert_eq!(lookup(&data, "a.b.1.c"), Some(&json!(2)));
        assert_eq!(lookup(&data, "a.b.x"), None);
        assert_eq!(lookup(&data, "a.b.9.c"), None);
        assert_eq!(lookup(&json!(3), "a"), None);
    }

    #[test]
    fn integers_and_floats_compare_by_value() {
        assert_eq!(json_eq(&json!(1), &json!(1.0)), Some(true));
        assert_eq!(json_cmp(&json!(u64::MAX), &json!(-1)), Some(Ordering::Greater));
        assert_eq!(json_eq(&json!("1"), &json!(1)), None);
    }
}
