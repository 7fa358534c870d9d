//! Argument values: converted from the syntax tree, and compared as sets when fields merge.

use apollo_parser::cst::{self, CstNode};
use serde_json::{Number, Value};

use super::{name_text, offset, Kind, Lowering};
use crate::document::{ArgumentValue, DocumentError};

impl Lowering<'_> {
    /// An id equal for two fields exactly when their arguments are the same set of
    /// names with the same values (input object fields compared as sets too), computed
    /// once per field node.
    pub(super) fn argument_set(&mut self, field: &cst::Field) -> Result<usize, DocumentError> {
        let key = offset(field.syntax());
        if let Some(&id) = self.argument_memo.get(&key) {
            return Ok(id);
        }
        let mut arguments = self.arguments(field)?;
        arguments.sort_by(|a, b| a.0.cmp(&b.0));
        let mut canonical = String::new();
        for (name, value) in &arguments {
            canonical.push_str(name);
            canonical.push(':');
            canonical_argument(value, &mut canonical);
            canonical.push(',');
        }
        let next = self.argument_sets.len();
        let id = *self.argument_sets.entry(canonical).or_insert(next);
        self.argument_memo.insert(key, id);
        Ok(id)
    }

    pub(super) fn arguments(
        &self,
        field: &cst::Field,
    ) -> Result<Vec<(String, ArgumentValue)>, DocumentError> {
        let mut arguments: Vec<(String, ArgumentValue)> = Vec::new();
        for argument in field.arguments().iter().flat_map(|a| a.arguments()) {
            let name = name_text(argument.name());
            let value = match argument.value() {
                Some(value) => self.value(&value)?,
                None => ArgumentValue::Literal(Value::Null),
            };
            arguments.push((name, value));
        }
        Ok(arguments)
    }

    /// Converts a GraphQL value; enum values become strings.
    pub(super) fn value(&self, value: &cst::Value) -> Result<ArgumentValue, DocumentError> {
        let out_of_range = || self.err(Kind::Syntax, "number out of range", value.syntax());
        let literal = match value {
            cst::Value::Variable(v) => return Ok(ArgumentValue::Variable(name_text(v.name()))),
            cst::Value::StringValue(s) => Value::String(String::from(s)),
            cst::Value::IntValue(_) | cst::Value::FloatValue(_) => {
                let token = match value {
                    cst::Value::IntValue(i) => i.int_token(),
                    cst::Value::FloatValue(f) => f.float_token(),
                    _ => None,
                };
                let text = token.map(|t| t.text().to_owned()).unwrap_or_default();
                match text.parse::<i64>() {
                    Ok(n) => Value::Number(n.into()),
                    Err(_) => text
                        .parse::<f64>()
                        .ok()
                        .and_then(Number::from_f64)
                        .map(Value::Number)
                        .ok_or_else(out_of_range)?,
                }
            }
            cst::Value::BooleanValue(b) => Value::Bool(b.true_token().is_some()),
            cst::Value::NullValue(_) => Value::Null,
            cst::Value::EnumValue(e) => Value::String(name_text(e.name())),
            cst::Value::ListValue(list) => {
                let items = list
                    .values()
                    .map(|v| self.value(&v))
                    .collect::<Result<Vec<_>, _>>()?;
                if !items.iter().all(|i| matches!(i, ArgumentValue::Literal(_))) {
                    return Ok(ArgumentValue::List(items));
                }
                let literals = items.into_iter().filter_map(|i| match i {
                    ArgumentValue::Literal(v) => Some(v),
                    _ => None,
                });
                Value::Array(literals.collect())
            }
            cst::Value::ObjectValue(object) => {
                let mut fields = Vec::new();
                for field in object.object_fields() {
                    let value = match field.value() {
                        Some(v) => self.value(&v)?,
                        None => ArgumentValue::Literal(Value::Null),
                    };
                    fields.push((name_text(field.name()), value));
                }
                if !fields.iter().all(|(_, v)| matches!(v, ArgumentValue::Literal(_))) {
                    return Ok(ArgumentValue::Object(fields));
                }
                let literals = fields.into_iter().filter_map(|(k, v)| match v {
                    ArgumentValue::Literal(v) => Some((k, v)),
                    _ => None,
                });
                Value::Object(literals.collect())
            }
        };
        Ok(ArgumentValue::Literal(literal))
    }
}

/// Writes `value` so that equal values write the same text, input object fields in any order.
fn canonical_argument(value: &ArgumentValue, out: &mut String) {
    match value {
        ArgumentValue::Literal(value) => canonical_json(value, out),
        ArgumentValue::Variable(name) => {
            out.push('$');
            out.push_str(name);
        }
        ArgumentValue::List(items) => {
            out.push('[');
            for item in items {
                canonical_argument(item, out);
                out.push(',');
            }
            out.push(']');
        }
        ArgumentValue::Object(fields) => {
            let mut fields: Vec<_> = fields.iter().collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (name, value) in fields {
                out.push_str(&Value::from(name.as_str()).to_string());
                out.push(':');
                canonical_argument(value, out);
                out.push(',');
            }
            out.push('}');
        }
    }
}

fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for item in items {
                canonical_json(item, out);
                out.push(',');
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut fields: Vec<_> = map.iter().collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (name, value) in fields {
                out.push_str(&Value::from(name.as_str()).to_string());
                out.push(':');
                canonical_json(value, out);
                out.push(',');
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}
