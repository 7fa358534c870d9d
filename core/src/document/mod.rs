//! Parsing and validation of GraphQL subscription documents.
//!
//! A client sends a GraphQL document, an optional operation name and variables.
//! This module turns the document into a [`SubscriptionDocument`]: the selected
//! subscription operation reduced to its single root field, with fragments
//! inlined and fields merged, so the engine can project event payloads without
//! touching the GraphQL syntax tree again. There is no schema here, so only
//! rules that can be checked without one are enforced: operation and fragment
//! names, fragment spreads (defined, used, acyclic), argument and input field
//! uniqueness, `@skip`/`@include` (locations, uniqueness, `if: Boolean!`), variables
//! (unique, defined, `Boolean!` where a condition needs it) and field merging. Unused
//! variables are allowed: a resolver may read them.
//!
//! - [`DocumentLimits`]: the bounds on a document: size (64 KiB), depth (32, at most 64)
//!   and tokens (15,000) while parsing; a work budget for lowering (4 units per token of
//!   the document plus 8 per allowed output field), so that fragments, conditions and
//!   merging cost time and memory linear in the document; and the number of output
//!   fields after inlining and merging (1,000), which bounds what one event expands to.
//! - [`SubscriptionDocument`]: the validated operation, its root field, arguments,
//!   selection and variable definitions.
//! - [`SelectionSet`], [`FieldSelection`], [`IncludeCondition`], [`Conditions`]: the selection tree
//!   with `@skip`/`@include` kept as conditions evaluated against variables.
//! - [`ArgumentValue`], [`VariableDefinition`]: root-field arguments and declared variables.
//! - [`DocumentError`], [`DocumentErrorKind`], [`Position`]: why a document was refused, and where.

use std::collections::HashSet;

use apollo_parser::cst::{self, CstNode};
use apollo_parser::Parser;
use serde_json::{Map, Value};

mod error;
mod lower;
mod selection;
mod variables;

pub use self::error::{DocumentError, DocumentErrorKind, Position};
pub use self::selection::{ArgumentValue, Conditions, FieldSelection, IncludeCondition, SelectionSet};
pub use self::variables::VariableDefinition;

use self::lower::{fragment_name, Lowering};
use self::variables::{check_value, invalid_variables, TypeRef};
use self::DocumentErrorKind as Kind;

/// Extra parser recursion allowed beyond `max_depth`: apollo-parser also counts
/// nested list/object values and list types, which are not selection depth, and
/// leaving room lets our own check report selection depth with a precise position.
const PARSER_DEPTH_SLACK: usize = 16;

/// The largest `max_depth` honoured; a larger limit acts as this one. Parsing,
/// lowering, projecting and dropping a selection recurse once per level, and this
/// keeps them far inside the 2 MiB stack of a spawned thread.
const MAX_SUPPORTED_DEPTH: usize = 64;

/// Bounds applied to a document before, while and after it is parsed.
///
/// Every field accepts any value without panicking: `0` refuses every document, and a
/// `max_depth` above 64 acts as 64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentLimits {
    /// Maximum length of the document in bytes, checked before parsing.
    pub max_bytes: usize,
    /// Maximum nesting of selection sets, the root selection set being depth 1;
    /// fragments count at the depth where they are inlined. At most 64: the
    /// parser and the passes over selections recurse once per level, and 64 keeps
    /// them far inside the 2 MiB stack of a spawned thread.
    pub max_depth: usize,
    /// Maximum number of lexer tokens (whitespace and comments included).
    ///
    /// Lowering the document (inlining fragments, applying `@skip`/`@include`,
    /// merging fields) then has a budget of 4 work units per token of the document
    /// plus 8 per allowed output field (`max_output_fields`, counted up to
    /// `max_tokens`): a unit is one selection visited, one condition a field is
    /// selected under, or 8 bytes of a name copied into the result. What fragments
    /// multiply therefore stays linear in the document and its limits
    /// ([`DocumentErrorKind::TooComplex`]).
    pub max_tokens: usize,
    /// Maximum number of fields of the result, counted after fragments are inlined and
    /// fields merged: each alias and each copy a fragment brings counts separately,
    /// the root field included. It bounds what one event can expand to for each
    /// subscriber ([`DocumentErrorKind::TooManyOutputFields`]).
    pub max_output_fields: usize,
}

impl Default for DocumentLimits {
    /// 64 KiB, depth 32, 15,000 tokens and 1,000 output fields. Real subscriptions
    /// select tens of fields; 1,000 leaves an order of magnitude of room while keeping
    /// the projection of one event to at most 1,000 fields per list item.
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            max_depth: 32,
            max_tokens: 15_000,
            max_output_fields: 1_000,
        }
    }
}

/// A validated subscription operation reduced to its single root field.
///
/// An anonymous operation must be the only operation in its document (GraphQL
/// "lone anonymous operation"); otherwise parsing fails with
/// [`DocumentErrorKind::AmbiguousOperation`], even when an operation name is given.
#[derive(Debug, Clone)]
pub struct SubscriptionDocument {
    source: String,
    operation_name: Option<String>,
    root: FieldSelection,
    root_arguments: Vec<(String, ArgumentValue)>,
    variables: Vec<VariableDefinition>,
    variable_types: Vec<TypeRef>,
    max_depth: usize,
}

impl SubscriptionDocument {
    /// Parses `query`, selects the operation (by `operation_name` when given) and
    /// validates it as a subscription.
    pub fn parse(
        query: &str,
        operation_name: Option<&str>,
        limits: &DocumentLimits,
    ) -> Result<Self, DocumentError> {
        if query.len() > limits.max_bytes {
            let message = format!(
                "document is {} bytes, more than the limit of {}",
                query.len(),
                limits.max_bytes
            );
            return Err(DocumentError::new(Kind::TooLarge, message, None));
        }
        let tree = Parser::new(query)
            .recursion_limit(limits.max_depth.min(MAX_SUPPORTED_DEPTH) + PARSER_DEPTH_SLACK)
            .token_limit(limits.max_tokens)
            .parse();
        let limit_error = tree.errors().find(|e| e.is_limit());
        let first_error = limit_error.or_else(|| tree.errors().min_by_key(|e| e.index()));
        if let Some(error) = first_error {
            let tokens = tree.token_limit();
            let kind = match error.is_limit() {
                true if tokens.high > tokens.limit => Kind::TooLarge,
                true => Kind::TooDeep,
                false => Kind::Syntax,
            };
            let position = Some(Position::at(query, error.index()));
            return Err(DocumentError::new(kind, error.message(), position));
        }
        let mut lowering = Lowering::new(query, limits, tree.token_limit().high);
        let mut operations = Vec::new();
        for definition in tree.document().definitions() {
            match definition {
                cst::Definition::OperationDefinition(op) => operations.push(op),
                cst::Definition::FragmentDefinition(fragment) => {
                    let name = fragment_name(fragment.fragment_name());
                    if lowering
                        .fragments
                        .insert(name.clone(), fragment.clone())
                        .is_some()
                    {
                        let message = format!("fragment `{name}` is defined more than once");
                        return Err(lowering.err(Kind::Syntax, message, fragment.syntax()));
                    }
                }
                other => {
                    let message = format!(
                        "only executable definitions (operations and fragments) are allowed, found {}",
                        other.kind()
                    );
                    return Err(lowering.err(Kind::Syntax, message, other.syntax()));
                }
            }
        }
        let op = lowering.select_operation(&operations, operation_name)?;
        let op_name = op.name().map(|n| n.text().to_string());
        match op.operation_type() {
            Some(ty) if ty.subscription_token().is_some() => {}
            ty => {
                let what = match ty {
                    Some(ty) if ty.mutation_token().is_some() => "a mutation",
                    _ => "a query",
                };
                let message = format!("the selected operation is {what}, not a subscription");
                return Err(lowering.err(Kind::NotSubscription, message, op.syntax()));
            }
        }
        let document = tree.document();
        lowering.check_arguments_and_directives(document.syntax())?;
        let reachable = lowering.check_fragments(document.syntax(), &operations, &op)?;
        let (variables, variable_types) = lowering.variable_definitions(&op)?;
        lowering.check_variable_uses(&op, &reachable, &variables, &variable_types, op_name.as_deref())?;

        let selection_set = op
            .selection_set()
            .ok_or_else(|| lowering.err(Kind::Syntax, "operation has no selection set", op.syntax()))?;
        let (root, root_node) = lowering.root_field(&selection_set)?;
        let root_arguments = root_node.map(|f| lowering.arguments(&f)).transpose()?;
        let max_depth = 1 + root.selection.as_ref().map_or(0, SelectionSet::depth);
        Ok(Self {
            source: query.to_owned(),
            operation_name: op_name,
            root,
            root_arguments: root_arguments.unwrap_or_default(),
            variables,
            variable_types,
            max_depth,
        })
    }

    /// The document text as given to [`parse`](Self::parse).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The name of the selected operation, if it has one.
    pub fn operation_name(&self) -> Option<&str> {
        self.operation_name.as_deref()
    }

    /// The name of the root field, e.g. `users`.
    pub fn root_field(&self) -> &str {
        &self.root.name
    }

    /// The response key of the root field: its alias if any, else its name.
    pub fn response_key(&self) -> &str {
        &self.root.response_key
    }

    /// The arguments of the root field, in document order.
    pub fn root_arguments(&self) -> &[(String, ArgumentValue)] {
        &self.root_arguments
    }

    /// The selection under the root field; `None` when the root field is a leaf.
    pub fn selection(&self) -> Option<&SelectionSet> {
        self.root.selection.as_ref()
    }

    /// The variables the operation declares, in document order.
    pub fn variable_definitions(&self) -> &[VariableDefinition] {
        &self.variables
    }

    /// Checks `provided` (a JSON object, or `null` for none) against the declared
    /// variables and returns their values with defaults applied. Undeclared
    /// variables are dropped. An explicit `null` stays `null` (no default) and is
    /// refused for a non-null type. Built-in scalars are type-checked; other types
    /// accept any JSON; a list type also accepts a single item.
    pub fn effective_variables(&self, provided: &Value) -> Result<Map<String, Value>, DocumentError> {
        let empty = Map::new();
        let provided = match provided {
            Value::Null => &empty,
            Value::Object(map) => map,
            _ => return Err(invalid_variables("variables must be a JSON object".into())),
        };
        let mut effective = Map::new();
        for (definition, ty) in self.variables.iter().zip(&self.variable_types) {
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

    /// The depth of the deepest selection set, the root selection set being 1.
    pub fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// Every selected field as a dot path of field names from the root, in document
    /// order without duplicates, regardless of `@skip`/`@include`; `__typename` is left out.
    pub fn field_paths(&self) -> Vec<String> {
        fn walk(set: &SelectionSet, prefix: &str, seen: &mut HashSet<String>, out: &mut Vec<String>) {
            for field in set.fields.iter().filter(|f| f.name != "__typename") {
                let path = format!("{prefix}.{}", field.name);
                if seen.insert(path.clone()) {
                    out.push(path.clone());
                }
                if let Some(sub) = &field.selection {
                    walk(sub, &path, seen, out);
                }
            }
        }
        let mut out = vec![self.root.name.clone()];
        if let Some(set) = &self.root.selection {
            walk(set, &self.root.name, &mut HashSet::new(), &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests;
