//! The JSON form of a filter: a list of `{"path", "op", "value"}` objects, read (bounded)
//! for bindings and written canonically.

use serde_json::{Map, Value};

use super::validate::truncate;
use super::*;

impl Condition {
    pub(super) fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("path".into(), self.path.clone().into());
        object.insert("op".into(), self.op.as_str().into());
        if self.op.takes_operand() {
            object.insert("value".into(), self.value.clone());
        }
        Value::Object(object)
    }
}

impl EventFilter {
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
