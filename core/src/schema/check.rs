//! A subscription document validated against the schema, its variables coerced, and the
//! schema coordinates it reads.

use std::collections::HashSet;
use std::sync::Arc;

use apollo_compiler::executable::{Selection, SelectionSet};
use apollo_compiler::response::{serde_json_bytes, JsonMap};
use apollo_compiler::validation::Valid;
use apollo_compiler::ExecutableDocument;
use serde_json::{Map, Value};

use super::{diagnostics, Schema};
use crate::document::{DocumentError, DocumentErrorKind, Position, SubscriptionDocument};

/// What the schema says about one subscription document.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    /// The provided variables coerced by their declared types, defaults applied.
    pub(crate) variables: Map<String, Value>,
    /// The channel the root field listens on.
    pub(crate) channel: Arc<str>,
    /// Every `Type.field` the document selects, fragments included, without duplicates.
    pub(crate) coordinates: Vec<String>,
    /// The document as apollo-compiler validated it, for the typed projection.
    pub(crate) executable: Arc<Valid<ExecutableDocument>>,
}

impl Schema {
    /// Validate `document` (already through [`SubscriptionDocument::parse`]) against this
    /// schema by every rule for executable documents, and coerce `provided` (a JSON object,
    /// or `null` for none) by the declared variable types.
    ///
    /// Fails with [`DocumentErrorKind::SchemaValidation`] listing every rule broken
    /// ([`DocumentError::diagnostics`]), or [`DocumentErrorKind::InvalidVariables`] for the
    /// first value that does not coerce.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// use subcast_core::{DocumentErrorKind, DocumentLimits, Schema, SubscriptionDocument};
    ///
    /// let schema = Schema::parse(
    ///     "type Query { ok: Int } enum Size { S M L }
    ///      type Order { id: ID! total: Float }
    ///      type Subscription { orders(min: Float = 0, size: Size): Order! }",
    /// )?;
    /// let limits = DocumentLimits::default();
    /// let typo = SubscriptionDocument::parse("subscription { orders { totl id { x } } }", None, &limits)?;
    /// let error = schema.validate(&typo, &json!(null)).unwrap_err();
    /// assert_eq!(error.kind(), DocumentErrorKind::SchemaValidation);
    /// // `totl` is unknown, `id` is a leaf given a selection, and `x` is not a field of `ID`.
    /// assert_eq!(error.diagnostics().len(), 3);
    ///
    /// let query = "subscription ($min: Float, $size: Size) { orders(min: $min, size: $size) { id } }";
    /// let document = SubscriptionDocument::parse(query, None, &limits)?;
    /// let variables = schema.validate(&document, &json!({"min": 10, "size": "M"}))?;
    /// assert_eq!(variables["size"], json!("M"));
    /// let bad = schema.validate(&document, &json!({"size": "XL"})).unwrap_err();
    /// assert_eq!(bad.kind(), DocumentErrorKind::InvalidVariables);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn validate(
        &self,
        document: &SubscriptionDocument,
        provided: &Value,
    ) -> Result<Map<String, Value>, DocumentError> {
        self.check(document, provided).map(|checked| checked.variables)
    }

    pub(crate) fn check(
        &self,
        document: &SubscriptionDocument,
        provided: &Value,
    ) -> Result<Checked, DocumentError> {
        let schema = self.compiled();
        let executable =
            ExecutableDocument::parse_and_validate(schema, document.source(), "document.graphql").map_err(
                |e| {
                    let found = diagnostics(&e.errors);
                    DocumentError::from_diagnostics(DocumentErrorKind::SchemaValidation, found)
                        .unwrap_or_else(|| invalid("the document does not validate against the schema", None))
                },
            )?;
        let operation = executable
            .operations
            .get(document.operation_name())
            .map_err(|e| invalid(e.message().to_string(), None))?;
        let provided = match provided {
            Value::Null => JsonMap::new(),
            Value::Object(map) => match serde_json_bytes::Value::from(Value::Object(map.clone())) {
                serde_json_bytes::Value::Object(map) => map,
                _ => JsonMap::new(),
            },
            _ => return Err(invalid_variables("variables must be a JSON object", None)),
        };
        let coerced = apollo_compiler::request::coerce_variable_values(schema, operation, &provided)
            .map_err(|e| {
                let position = e
                    .location()
                    .and_then(|l| l.line_column(&executable.sources))
                    .map(|lc| Position {
                        line: lc.line,
                        column: lc.column,
                    });
                invalid_variables(e.message().to_string(), position)
            })?;
        let variables = match serde_json::to_value(&*coerced) {
            Ok(Value::Object(map)) => map,
            _ => return Err(invalid_variables("coerced variables are not a JSON object", None)),
        };
        let channel = self
            .channel(document.root_field())
            .map(Arc::from)
            .ok_or_else(|| invalid(format!("no subscription field {}", document.root_field()), None))?;
        let mut coordinates = Coordinates::default();
        coordinates.walk(&executable, &operation.selection_set);
        let coordinates = coordinates.found;
        Ok(Checked {
            variables,
            channel,
            coordinates,
            executable: Arc::new(executable),
        })
    }
}

/// The coordinates a selection reads, each fragment walked once so the walk stays linear
/// in the document.
#[derive(Default)]
struct Coordinates<'a> {
    seen: HashSet<String>,
    found: Vec<String>,
    fragments: HashSet<&'a str>,
}

impl<'a> Coordinates<'a> {
    fn walk(&mut self, document: &'a ExecutableDocument, set: &'a SelectionSet) {
        for selection in &set.selections {
            match selection {
                Selection::Field(field) => {
                    if !field.name.starts_with("__") {
                        let coordinate = format!("{}.{}", set.ty, field.name);
                        if self.seen.insert(coordinate.clone()) {
                            self.found.push(coordinate);
                        }
                    }
                    self.walk(document, &field.selection_set);
                }
                Selection::InlineFragment(inline) => self.walk(document, &inline.selection_set),
                Selection::FragmentSpread(spread) => {
                    if self.fragments.insert(spread.fragment_name.as_str()) {
                        if let Some(fragment) = document.fragments.get(&spread.fragment_name) {
                            self.walk(document, &fragment.selection_set);
                        }
                    }
                }
            }
        }
    }
}

fn invalid(message: impl Into<String>, position: Option<Position>) -> DocumentError {
    DocumentError::new(DocumentErrorKind::SchemaValidation, message, position)
}

fn invalid_variables(message: impl Into<String>, position: Option<Position>) -> DocumentError {
    DocumentError::new(DocumentErrorKind::InvalidVariables, message, position)
}
