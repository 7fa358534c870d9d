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
//!
//! The files of this module:
//!
//! - `mod.rs`: the API, [`SubscriptionDocument`] and [`DocumentLimits`].
//! - `selection.rs`: the model of a lowered document: [`SelectionSet`], [`FieldSelection`],
//!   [`Conditions`], [`IncludeCondition`], [`ArgumentValue`].
//! - `variables.rs`: [`VariableDefinition`], declared types and the coercion of provided
//!   variables ([`SubscriptionDocument::effective_variables`]).
//! - `error.rs`: [`DocumentError`], [`DocumentErrorKind`], [`Position`].
//! - `lower/`: the syntax tree to selections, at a cost linear in the document:
//!   `mod.rs` the lowering type `Lowering`, its work budget and the root field;
//!   `validate.rs` the rules of the whole document (operations, arguments, directives,
//!   fragments); `variables.rs` variable definitions and uses; `collect.rs` fragment
//!   inlining with `@skip`/`@include` as interned condition chains; `merge.rs` field
//!   merging and output-field counting; `arguments.rs` argument values and their
//!   comparison.

use std::collections::HashSet;

use std::sync::Arc;

use apollo_compiler::validation::Valid;
use apollo_compiler::ExecutableDocument;
use apollo_parser::Parser;
use serde_json::{Map, Value};

mod error;
mod lower;
mod selection;
mod variables;

pub use self::error::{Diagnostic, DocumentError, DocumentErrorKind, Position};
pub use self::selection::{ArgumentValue, Conditions, FieldSelection, IncludeCondition, SelectionSet};
pub use self::variables::VariableDefinition;

use self::lower::Lowering;
use self::variables::TypeRef;
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
///
/// # Examples
///
/// ```
/// use subcast_core::{DocumentErrorKind, DocumentLimits, SubscriptionDocument};
///
/// let limits = DocumentLimits { max_depth: 2, ..DocumentLimits::default() };
/// let shallow = SubscriptionDocument::parse("subscription { users { id } }", None, &limits);
/// assert!(shallow.is_ok());
/// let deep = SubscriptionDocument::parse("subscription { users { friends { id } } }", None, &limits);
/// assert_eq!(deep.unwrap_err().kind(), DocumentErrorKind::TooDeep);
/// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::DocumentLimits;
    ///
    /// let limits = DocumentLimits::default();
    /// assert_eq!((limits.max_bytes, limits.max_depth), (64 * 1024, 32));
    /// assert_eq!((limits.max_tokens, limits.max_output_fields), (15_000, 1_000));
    /// ```
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
    /// The document as validated against the executor's schema, when it has one.
    executable: Option<Arc<Valid<ExecutableDocument>>>,
}

impl SubscriptionDocument {
    /// Parses `query`, selects the operation (by `operation_name` when given) and
    /// validates it as a subscription.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{DocumentErrorKind, DocumentLimits, SubscriptionDocument};
    ///
    /// let limits = DocumentLimits::default();
    /// let query = "query Q { me { id } } subscription S { users { id } }";
    /// let document = SubscriptionDocument::parse(query, Some("S"), &limits)?;
    /// assert_eq!(document.root_field(), "users");
    ///
    /// let refused = SubscriptionDocument::parse(query, Some("Q"), &limits).unwrap_err();
    /// assert_eq!(refused.kind(), DocumentErrorKind::NotSubscription);
    /// assert_eq!(refused.position().map(|p| (p.line, p.column)), Some((1, 1)));
    /// # Ok::<(), subcast_core::DocumentError>(())
    /// ```
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
        let lowering = Lowering::new(query, limits, tree.token_limit().high);
        lowering.lower(&tree.document(), operation_name)
    }

    /// The document text as given to [`parse`](Self::parse).
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{DocumentLimits, SubscriptionDocument};
    ///
    /// let query = "subscription { users { id } }";
    /// let document = SubscriptionDocument::parse(query, None, &DocumentLimits::default())?;
    /// assert_eq!(document.source(), query);
    /// # Ok::<(), subcast_core::DocumentError>(())
    /// ```
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The name of the selected operation, if it has one.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{DocumentLimits, SubscriptionDocument};
    ///
    /// let limits = DocumentLimits::default();
    /// let named = SubscriptionDocument::parse("subscription OnUser { users { id } }", None, &limits)?;
    /// assert_eq!(named.operation_name(), Some("OnUser"));
    /// let anonymous = SubscriptionDocument::parse("subscription { users { id } }", None, &limits)?;
    /// assert_eq!(anonymous.operation_name(), None);
    /// # Ok::<(), subcast_core::DocumentError>(())
    /// ```
    pub fn operation_name(&self) -> Option<&str> {
        self.operation_name.as_deref()
    }

    /// The name of the root field, e.g. `users`.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{DocumentLimits, SubscriptionDocument};
    ///
    /// let query = "subscription { feed: users { id } }";
    /// let document = SubscriptionDocument::parse(query, None, &DocumentLimits::default())?;
    /// assert_eq!(document.root_field(), "users");
    /// # Ok::<(), subcast_core::DocumentError>(())
    /// ```
    pub fn root_field(&self) -> &str {
        &self.root.name
    }

    /// The response key of the root field: its alias if any, else its name.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{DocumentLimits, SubscriptionDocument};
    ///
    /// let query = "subscription { feed: users { id } }";
    /// let document = SubscriptionDocument::parse(query, None, &DocumentLimits::default())?;
    /// assert_eq!(document.response_key(), "feed");
    /// # Ok::<(), subcast_core::DocumentError>(())
    /// ```
    pub fn response_key(&self) -> &str {
        &self.root.response_key
    }

    /// The arguments of the root field, in document order.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// use subcast_core::{ArgumentValue, DocumentLimits, SubscriptionDocument};
    ///
    /// let query = "subscription ($id: ID) { users(id: $id, kind: ADMIN) { id } }";
    /// let document = SubscriptionDocument::parse(query, None, &DocumentLimits::default())?;
    /// let arguments = document.root_arguments();
    /// assert_eq!(arguments[0], ("id".to_owned(), ArgumentValue::Variable("id".into())));
    /// assert_eq!(arguments[1], ("kind".to_owned(), ArgumentValue::Literal(json!("ADMIN"))));
    /// # Ok::<(), subcast_core::DocumentError>(())
    /// ```
    pub fn root_arguments(&self) -> &[(String, ArgumentValue)] {
        &self.root_arguments
    }

    /// The selection under the root field; `None` when the root field is a leaf.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{DocumentLimits, SubscriptionDocument};
    ///
    /// let limits = DocumentLimits::default();
    /// let query = "subscription { users { id ...F } } fragment F on User { name }";
    /// let users = SubscriptionDocument::parse(query, None, &limits)?;
    /// let fields = users.selection().map_or(&[][..], |s| &s.fields[..]);
    /// let keys: Vec<&str> = fields.iter().map(|f| f.response_key.as_str()).collect();
    /// assert_eq!(keys, ["id", "name"]);
    /// let count = SubscriptionDocument::parse("subscription { count }", None, &limits)?;
    /// assert!(count.selection().is_none());
    /// # Ok::<(), subcast_core::DocumentError>(())
    /// ```
    pub fn selection(&self) -> Option<&SelectionSet> {
        self.root.selection.as_ref()
    }

    /// The variables the operation declares, in document order.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// use subcast_core::{DocumentLimits, SubscriptionDocument};
    ///
    /// let query = "subscription ($ids: [ID!]! = [\"1\"]) { users(ids: $ids) { id } }";
    /// let document = SubscriptionDocument::parse(query, None, &DocumentLimits::default())?;
    /// let ids = &document.variable_definitions()[0];
    /// assert_eq!((ids.name.as_str(), ids.type_name.as_str()), ("ids", "ID"));
    /// assert!(ids.non_null && ids.list);
    /// assert_eq!(ids.default, Some(json!(["1"])));
    /// # Ok::<(), subcast_core::DocumentError>(())
    /// ```
    pub fn variable_definitions(&self) -> &[VariableDefinition] {
        &self.variables
    }

    /// Checks `provided` (a JSON object, or `null` for none) against the declared
    /// variables and returns their values with defaults applied. Undeclared
    /// variables are dropped. An explicit `null` stays `null` (no default) and is
    /// refused for a non-null type. Built-in scalars are type-checked; other types
    /// accept any JSON; a list type also accepts a single item.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// use subcast_core::{DocumentErrorKind, DocumentLimits, SubscriptionDocument};
    ///
    /// let query = "subscription ($limit: Int = 10, $tenant: String!) { users { id } }";
    /// let document = SubscriptionDocument::parse(query, None, &DocumentLimits::default())?;
    /// let variables = document.effective_variables(&json!({"tenant": "acme", "other": 1}))?;
    /// assert_eq!(serde_json::Value::Object(variables), json!({"limit": 10, "tenant": "acme"}));
    ///
    /// let refused = document.effective_variables(&json!({"tenant": "acme", "limit": "ten"}));
    /// assert_eq!(refused.unwrap_err().kind(), DocumentErrorKind::InvalidVariables);
    /// # Ok::<(), subcast_core::DocumentError>(())
    /// ```
    pub fn effective_variables(&self, provided: &Value) -> Result<Map<String, Value>, DocumentError> {
        variables::coerce(&self.variables, &self.variable_types, provided)
    }

    /// The document as validated against the executor's schema, when it has one.
    pub(crate) fn executable(&self) -> Option<&Valid<ExecutableDocument>> {
        self.executable.as_deref()
    }

    pub(crate) fn set_executable(&mut self, executable: Arc<Valid<ExecutableDocument>>) {
        self.executable = Some(executable);
    }

    /// The depth of the deepest selection set, the root selection set being 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{DocumentLimits, SubscriptionDocument};
    ///
    /// let query = "subscription { users { id friends { id } } }";
    /// let document = SubscriptionDocument::parse(query, None, &DocumentLimits::default())?;
    /// assert_eq!(document.max_depth(), 3);
    /// # Ok::<(), subcast_core::DocumentError>(())
    /// ```
    pub fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// Every selected field as a dot path of field names from the root, in document
    /// order without duplicates, regardless of `@skip`/`@include`; `__typename` is left out.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{DocumentLimits, SubscriptionDocument};
    ///
    /// let query = "subscription ($v: Boolean!) { users { __typename id friends @include(if: $v) { id } } }";
    /// let document = SubscriptionDocument::parse(query, None, &DocumentLimits::default())?;
    /// assert_eq!(document.field_paths(), ["users", "users.id", "users.friends", "users.friends.id"]);
    /// # Ok::<(), subcast_core::DocumentError>(())
    /// ```
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
