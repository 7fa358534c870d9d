//! Declared variables: their definitions and types, and the coercion of the values a
//! client provides (defaults applied, built-in scalars checked).

use std::fmt;

use serde_json::{Map, Value};

use super::DocumentError;
use super::DocumentErrorKind as Kind;

/// A variable declared by the operation, e.g. `$ids: [ID!]! = []`.
#[derive(Debug, Clone, PartialEq)]
pub struct VariableDefinition {
    /// Name without the `$`.
    pub name: String,
    /// The innermost named type, e.g. `ID` for `[ID!]!`.
    pub type_name: String,
    /// Whether the outer type is non-null (`!`).
    pub non_null: bool,
    /// Whether the outer type (under a `!`) is a list.
    pub list: bool,
    /// The default value, converted to JSON.
    pub default: Option<Value>,
}

/// A declared variable type, kept whole for value checks.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl fmt::Display for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Named(name) => f.write_str(name),
            Self::List(inner) => write!(f, "[{inner}]"),
            Self::NonNull(inner) => write!(f, "{inner}!"),
        }
    }
}

fn invalid_variables(message: String) -> DocumentError {
    DocumentError::new(Kind::InvalidVariables, message, None)
}

/// Checks a JSON value against a declared type; `path` names it in the message.
pub(super) fn check_value(value: &Value, ty: &TypeRef, path: &str) -> Result<(), String> {
    let ok = match (ty, value) {
        (TypeRef::NonNull(_), Value::Null) => {
            return Err(format!("variable `{path}` of non-null type `{ty}` is null"))
        }
        (TypeRef::NonNull(inner), _) => return check_value(value, inner, path),
        (_, Value::Null) => true,
        (TypeRef::List(inner), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_value(item, inner, &format!("{path}[{i}]"))?;
            }
            true
        }
        (TypeRef::List(inner), _) => return check_value(value, inner, path),
        (TypeRef::Named(name), _) => match name.as_str() {
            "Int" => value.as_f64().is_some_and(|n| {
                n.fract() == 0.0 && (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&n)
            }),
            "Float" => value.is_number(),
            "String" => value.is_string(),
            "Boolean" => value.is_boolean(),
            "ID" => value.is_string() || value.as_f64().is_some_and(|n| n.fract() == 0.0),
            _ => true,
        },
    };
    match ok {
        true => Ok(()),
        false => Err(format!("variable `{path}` is not a valid `{ty}`: {value}")),
    }
}

/// Checks `provided` (a JSON object, or `null` for none) against the declared variables
/// (`types` in the order of `definitions`) and returns their values with defaults applied;
/// see [`SubscriptionDocument::effective_variables`](super::SubscriptionDocument::effective_variables).
pub(super) fn coerce(
    definitions: &[VariableDefinition],
    types: &[TypeRef],
    provided: &Value,
) -> Result<Map<String, Value>, DocumentError> {
    let empty = Map::new();
    let provided = match provided {
        Value::Null => &empty,
        Value::Object(map) => map,
        _ => return Err(invalid_variables("variables must be a JSON object".into())),
    };
    let mut effective = Map::new();
    for (definition, ty) in definitions.iter().zip(types) {
        let name = &definition.name;
        match (provided.get(name), &definition.default) {
            (Some(value), _) => {
                check_value(value, ty, &format!("${name}")).map_err(invalid_variables)?;
                effective.insert(name.clone(), value.clone());
            }
            (None, Some(default)) => {
                effective.insert(name.clone(), default.clone());
            }
            (None, None) if definition.non_null => {
                let message = format!("variable `${name}` of required type `{ty}` was not provided");
                return Err(invalid_variables(message));
            }
            (None, None) => {}
        }
    }
    Ok(effective)
}
