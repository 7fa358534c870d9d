//! The typed projection: event data shaped by a document the schema validated.
//!
//! [`SchemaProjection`] replaces [`ProjectionResolver`] for the subscriptions of an executor
//! with a schema. It runs GraphQL execution (apollo-compiler's `resolvers`) over the event
//! data, so that fragments apply by type condition, `__typename` is the schema's type name
//! (for an interface or a union, the object type named by the data's
//! [`Schema::type_field`]), enums and built-in scalars are checked, custom scalars pass
//! through, and data whose shape contradicts the schema (an object where a scalar is
//! declared, a list where a single value is, a null for a non-null field) is a
//! [`SCHEMA_MISMATCH`] error for the subscription rather than a wrong frame.
//!
//! The output is bounded like the projection's: every value is measured before it is
//! copied, and execution gives up once [`ResolveRequest::max_output_bytes`] is passed.

use std::cell::Cell;

use apollo_compiler::ast::Type;
use apollo_compiler::resolvers::{Execution, FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::{serde_json_bytes, JsonMap};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::Valid;
use serde_json::{Map, Value};

use super::Schema;
use crate::codes::{FRAME_TOO_LARGE, SCHEMA_MISMATCH};
use crate::event::{json_str_len, measure_json, Event};
use crate::resolve::{ProjectionResolver, ResolveError, ResolveRequest, ResolveResult, Resolver};

/// The built-in resolver of an executor with a schema.
#[derive(Debug, Clone)]
pub(crate) struct SchemaProjection {
    schema: Schema,
}

impl SchemaProjection {
    pub(crate) fn new(schema: Schema) -> Self {
        Self { schema }
    }

    fn project(&self, event: &Event, request: &ResolveRequest<'_>) -> ResolveResult {
        let Some(executable) = request.document.executable() else {
            // Only documents checked against this schema reach here; any other is projected
            // as without a schema rather than refused.
            return ProjectionResolver::project_within(
                event,
                request.document,
                request.variables,
                request.max_output_bytes,
            );
        };
        let compiled = self.schema.compiled();
        let variables = match serde_json_bytes::Value::from(Value::Object(request.variables.clone())) {
            serde_json_bytes::Value::Object(map) => map,
            _ => JsonMap::new(),
        };
        // The variables were coerced against this schema and document at subscribe.
        let variables = Valid::assume_valid(variables);
        let budget = Budget {
            left: Cell::new(request.max_output_bytes),
            exceeded: Cell::new(false),
        };
        let root = Root {
            data: &event.data,
            type_name: self.schema.subscription_type().unwrap_or("Subscription"),
            context: Context {
                schema: &self.schema,
                budget: &budget,
            },
        };
        let operation = executable
            .operations
            .get(request.document.operation_name())
            .map_err(|e| ResolveError::new(SCHEMA_MISMATCH, e.message().to_string()))?;
        let response = Execution::new(compiled, executable)
            .operation(operation)
            .coerced_variable_values(&variables)
            .execute_sync(&root)
            .map_err(|e| ResolveError::new(SCHEMA_MISMATCH, e.message().to_string()))?;
        if budget.exceeded.get() {
            return Err(ResolveError::new(
                FRAME_TOO_LARGE,
                format!(
                    "the result is larger than the frame size limit of {} bytes",
                    request.max_output_bytes
                ),
            ));
        }
        if let Some(error) = response.errors.first() {
            let path: Vec<String> = error
                .path
                .iter()
                .map(|segment| match segment {
                    apollo_compiler::response::ResponseDataPathSegment::Field(name) => name.to_string(),
                    apollo_compiler::response::ResponseDataPathSegment::ListIndex(i) => i.to_string(),
                })
                .collect();
            return Err(ResolveError::new(
                SCHEMA_MISMATCH,
                format!(
                    "`{}`: {} (the event data does not match the schema)",
                    path.join("."),
                    error.message
                ),
            ));
        }
        match response.data.map(|data| serde_json::to_value(&data)) {
            Some(Ok(Value::Object(map))) => Ok(Value::Object(map)),
            _ => Ok(Value::Object(Map::new())),
        }
    }
}

impl Resolver for SchemaProjection {
    fn resolve_batch(&self, event: &Event, requests: &[ResolveRequest<'_>]) -> Vec<ResolveResult> {
        requests
            .iter()
            .map(|request| self.project(event, request))
            .collect()
    }
}

/// What is left of the output size limit; execution goes on after a field error, so once
/// the limit is passed every further field fails at once.
struct Budget {
    left: Cell<usize>,
    exceeded: Cell<bool>,
}

impl Budget {
    fn spend(&self, bytes: usize) -> Result<(), FieldError> {
        match self.left.get().checked_sub(bytes) {
            Some(left) if !self.exceeded.get() => {
                self.left.set(left);
                Ok(())
            }
            _ => {
                self.exceeded.set(true);
                Err(FieldError {
                    message: "the result is larger than the frame size limit".to_owned(),
                })
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Context<'a> {
    schema: &'a Schema,
    budget: &'a Budget,
}

/// The subscription root: its one selected field resolves to the event data.
struct Root<'a> {
    data: &'a Value,
    type_name: &'a str,
    context: Context<'a>,
}

impl ObjectValue for Root<'_> {
    fn type_name(&self) -> &str {
        self.type_name
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Result<ResolvedValue<'a>, FieldError> {
        self.context.budget.spend(json_str_len(info.field_name()) + 3)?;
        resolve(self.context, self.data, &info.field_definition().ty)
    }
}

/// An object of the event data, of the object type `type_name`.
struct Object<'a> {
    fields: &'a Map<String, Value>,
    type_name: &'a str,
    context: Context<'a>,
}

impl ObjectValue for Object<'_> {
    fn type_name(&self) -> &str {
        self.type_name
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Result<ResolvedValue<'a>, FieldError> {
        // The key, its colon and a comma.
        self.context.budget.spend(json_str_len(info.field_name()) + 2)?;
        let value = self.fields.get(info.field_name()).unwrap_or(&Value::Null);
        resolve(self.context, value, &info.field_definition().ty)
    }
}

/// `value` as a value of the GraphQL type `ty`, or a field error naming the mismatch.
fn resolve<'a>(
    context: Context<'a>,
    value: &'a Value,
    ty: &'a Type,
) -> Result<ResolvedValue<'a>, FieldError> {
    if value.is_null() {
        context.budget.spend(4)?;
        return Ok(ResolvedValue::null());
    }
    if let Type::List(item) | Type::NonNullList(item) = ty {
        let Value::Array(items) = value else {
            return Err(mismatch(format!("a list ({ty})"), value));
        };
        context.budget.spend(items.len().max(1) + 1)?;
        let items = items
            .iter()
            .map(move |item_value| resolve(context, item_value, item));
        return Ok(ResolvedValue::List(Box::new(items)));
    }
    let name = ty.inner_named_type();
    let compiled = context.schema.compiled();
    let abstract_type = match compiled.types.get(name.as_str()) {
        Some(ExtendedType::Object(_)) => false,
        Some(ExtendedType::Interface(_) | ExtendedType::Union(_)) => true,
        // Scalars and enums: apollo-compiler checks built-in scalars and enum values, and
        // passes custom scalars through whatever their JSON.
        _ => {
            if let Value::Array(_) = value {
                if is_builtin_or_enum(context.schema, name.as_str()) {
                    return Err(mismatch(format!("a single {name}"), value));
                }
            }
            if let Value::Object(_) = value {
                if is_builtin_or_enum(context.schema, name.as_str()) {
                    return Err(mismatch(format!("a {name}"), value));
                }
            }
            context
                .budget
                .spend(measure_json(value, usize::MAX).unwrap_or(usize::MAX))?;
            // JSON does not tell 3 from 3.0: an integer for a Float is converted, as the
            // spec's result coercion allows (apollo-compiler wants a float).
            if let (Value::Number(number), "Float") = (value, name.as_str()) {
                if let Some(float) = number.as_f64().filter(|_| !number.is_f64()) {
                    return Ok(ResolvedValue::leaf(float));
                }
            }
            return Ok(ResolvedValue::leaf(serde_json_bytes::Value::from(value.clone())));
        }
    };
    let Value::Object(fields) = value else {
        return Err(mismatch(format!("an object of type {name}"), value));
    };
    context.budget.spend(2)?;
    let type_name = match abstract_type {
        false => name.as_str(),
        true => match fields.get(context.schema.type_field()) {
            Some(Value::String(concrete)) => concrete.as_str(),
            _ => {
                return Err(FieldError {
                    message: format!(
                        "{name} is abstract: the event data must name its object type in `{}`",
                        context.schema.type_field()
                    ),
                })
            }
        },
    };
    Ok(ResolvedValue::object(Object {
        fields,
        type_name,
        context,
    }))
}

fn is_builtin_or_enum(schema: &Schema, name: &str) -> bool {
    match schema.compiled().types.get(name) {
        Some(ExtendedType::Enum(_)) => true,
        Some(scalar @ ExtendedType::Scalar(_)) => scalar.is_built_in(),
        _ => false,
    }
}

fn mismatch(expected: String, found: &Value) -> FieldError {
    let found = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    FieldError {
        message: format!("expected {expected}, found {found}"),
    }
}
