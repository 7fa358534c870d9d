//! Evaluating a filter against event data: fail-closed, a doubt is a non-match.

use std::cmp::Ordering;

use serde_json::Value;

use super::{Condition, EventFilter, FilterOp};

impl Condition {
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
}

impl EventFilter {
    /// Whether `data` satisfies every condition.
    pub fn matches(&self, data: &Value) -> bool {
        self.conditions.iter().all(|c| c.matches(data))
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JsonKind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl JsonKind {
    pub(super) fn of(value: &Value) -> JsonKind {
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

/// Equality of two JSON values of the same type (numbers by value); `None` across types.
pub(super) fn json_eq(a: &Value, b: &Value) -> Option<bool> {
    if JsonKind::of(a) != JsonKind::of(b) {
        return None;
    }
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => Some(json_cmp(a, b) == Some(Ordering::Equal)),
        _ => Some(a == b),
    }
}

/// Order of two numbers or two strings; `None` for anything else.
pub(super) fn json_cmp(a: &Value, b: &Value) -> Option<Ordering> {
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
