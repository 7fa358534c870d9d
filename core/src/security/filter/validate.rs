//! Validating a filter at registration, and why one is refused.

use serde_json::Value;

use super::eval::JsonKind;
use super::*;

impl Condition {
    pub(super) fn validate(&self, index: usize) -> Result<(), FilterError> {
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
}

impl EventFilter {
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

pub(super) fn kind_name(value: &Value) -> &'static str {
    match JsonKind::of(value) {
        JsonKind::Null => "null",
        JsonKind::Bool => "a boolean",
        JsonKind::Number => "a number",
        JsonKind::String => "a string",
        JsonKind::Array => "a list",
        JsonKind::Object => "an object",
    }
}

pub(super) fn truncate(text: &str) -> &str {
    let mut end = text.len().min(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
