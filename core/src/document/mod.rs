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

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use apollo_parser::cst::{self, CstNode};
use apollo_parser::{Parser, SyntaxNode};
use serde_json::{Map, Number, Value};

use self::DocumentErrorKind as Kind;

/// Extra parser recursion allowed beyond `max_depth`: apollo-parser also counts
/// nested list/object values and list types, which are not selection depth, and
/// leaving room lets our own check report selection depth with a precise position.
const PARSER_DEPTH_SLACK: usize = 16;

/// The largest `max_depth` honoured; a larger limit acts as this one. Parsing,
/// lowering, projecting and dropping a selection recurse once per level, and this
/// keeps them far inside the 2 MiB stack of a spawned thread.
const MAX_SUPPORTED_DEPTH: usize = 64;

/// Work units lowering may spend per token of the document.
const WORK_UNITS_PER_TOKEN: usize = 4;

/// Work units lowering may spend per output field the limits allow (what a small
/// fragment spread in many places legitimately costs).
const WORK_UNITS_PER_OUTPUT_FIELD: usize = 8;

/// Bytes of a name copied into the lowered document that cost one work unit.
const BYTES_PER_WORK_UNIT: usize = 8;

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

/// A location in the document: 1-based line and column, columns counted in chars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column number in characters, starting at 1.
    pub column: usize,
}

impl Position {
    /// GraphQL line terminators are `\n`, `\r\n` and a lone `\r`.
    fn at(source: &str, offset: usize) -> Self {
        let mut end = offset.min(source.len());
        while !source.is_char_boundary(end) {
            end -= 1;
        }
        let (mut line, mut line_start, mut prev_cr) = (1, 0, false);
        for (i, c) in source[..end].char_indices() {
            if c == '\r' || (c == '\n' && !prev_cr) {
                line += 1;
            }
            if c == '\r' || c == '\n' {
                line_start = i + 1;
            }
            prev_cr = c == '\r';
        }
        let column = source[line_start..end].chars().count() + 1;
        Self { line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// The category of a [`DocumentError`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentErrorKind {
    /// The document exceeds `max_bytes` or `max_tokens`.
    TooLarge,
    /// Lowering the document (inlining fragments, applying conditions, merging fields)
    /// needs more work than `max_tokens` allows; see [`DocumentLimits::max_tokens`].
    TooComplex,
    /// The document selects more output fields than `max_output_fields`.
    TooManyOutputFields,
    /// Selection sets (or parsed values) nest deeper than `max_depth`.
    TooDeep,
    /// The document is not syntactically valid executable GraphQL.
    Syntax,
    /// The selected operation is a query or a mutation.
    NotSubscription,
    /// No operation has the requested operation name.
    UnknownOperation,
    /// The operation to run cannot be told apart: several operations without an
    /// operation name, duplicate operation names, or an anonymous operation among others.
    AmbiguousOperation,
    /// The document has no operation at all.
    NoOperation,
    /// The subscription does not select exactly one root field, selects an
    /// introspection field at the root, or uses `@skip`/`@include` at the root.
    MultipleRootFields,
    /// A fragment spread names a fragment the document does not define.
    UnknownFragment,
    /// A fragment is not spread by any operation (GraphQL "Fragments Must Be Used").
    UnusedFragment,
    /// Fragments spread each other in a cycle.
    FragmentCycle,
    /// Variables are undefined, duplicated, or do not match their declared types.
    InvalidVariables,
    /// Fields with the same response key cannot be merged (different field
    /// names, arguments, or leaf versus object).
    FieldConflict,
}

/// Why a document or its variables were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", position_prefix(.position))]
pub struct DocumentError {
    kind: DocumentErrorKind,
    message: String,
    position: Option<Position>,
}

fn position_prefix(position: &Option<Position>) -> String {
    position.map(|p| format!("at {p}: ")).unwrap_or_default()
}

impl DocumentError {
    fn new(kind: DocumentErrorKind, message: impl Into<String>, position: Option<Position>) -> Self {
        Self {
            kind,
            message: message.into(),
            position,
        }
    }

    /// The category of the error.
    pub fn kind(&self) -> DocumentErrorKind {
        self.kind
    }

    /// A human-readable description, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where in the document the problem is, when it has a location.
    pub fn position(&self) -> Option<Position> {
        self.position
    }
}

/// The value of an argument of the root field.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgumentValue {
    /// A value that contains no variable.
    Literal(Value),
    /// A bare `$name` reference.
    Variable(String),
    /// A list literal with at least one variable inside.
    List(Vec<ArgumentValue>),
    /// An object literal with at least one variable inside, fields in document order.
    Object(Vec<(String, ArgumentValue)>),
}

impl ArgumentValue {
    /// The value with variables substituted from `variables` (normally the result of
    /// [`SubscriptionDocument::effective_variables`]). A missing variable becomes
    /// `null`, except as an object field, which is then omitted as input coercion does.
    pub fn resolve(&self, variables: &Map<String, Value>) -> Value {
        match self {
            Self::Literal(value) => value.clone(),
            Self::Variable(name) => variables.get(name).cloned().unwrap_or(Value::Null),
            Self::List(items) => Value::Array(items.iter().map(|i| i.resolve(variables)).collect()),
            Self::Object(fields) => Value::Object(
                fields
                    .iter()
                    .filter(|(_, v)| !matches!(v, Self::Variable(n) if !variables.contains_key(n)))
                    .map(|(k, v)| (k.clone(), v.resolve(variables)))
                    .collect(),
            ),
        }
    }
}

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

/// A condition from `@skip`/`@include` under which a field is selected.
///
/// Parsed documents carry neither `Always` nor `Never`: literal conditions are
/// applied at parse time (a field under `Never` is dropped, `Always` is omitted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncludeCondition {
    /// Always holds (a literal `@include(if: true)` or `@skip(if: false)`).
    Always,
    /// Never holds (a literal `@include(if: false)` or `@skip(if: true)`).
    Never,
    /// Holds when "the variable is `true`" equals `include_when`: `@include(if: $v)`
    /// is `include_when: true`, `@skip(if: $v)` is `include_when: false`, so a
    /// missing or non-boolean variable excludes for `@include` and keeps for `@skip`.
    IfVariable {
        /// Variable name without the `$`.
        name: String,
        /// See the variant documentation.
        include_when: bool,
    },
    /// Holds when every condition of at least one alternative holds. Produced when
    /// fields with one response key are merged from occurrences under different conditions.
    AnyOf(Vec<Conditions>),
}

impl IncludeCondition {
    /// Whether the condition holds for these variable values.
    pub fn holds(&self, variables: &Map<String, Value>) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::IfVariable { name, include_when } => {
                (variables.get(name) == Some(&Value::Bool(true))) == *include_when
            }
            Self::AnyOf(alternatives) => alternatives.iter().any(|all| all.holds(variables)),
        }
    }
}

/// Conditions that must all hold, as an immutable list shared between fields.
///
/// The fields a fragment brings share the conditions they inherit from it instead of
/// each holding a copy, so a lowered document stays linear in the size of its text.
/// Cloning is O(1).
///
/// # Examples
///
/// ```
/// use subcast_core::{Conditions, IncludeCondition};
///
/// let v = IncludeCondition::IfVariable { name: "v".into(), include_when: true };
/// let conditions: Conditions = vec![v.clone()].into();
/// assert_eq!(conditions.iter().collect::<Vec<_>>(), [&v]);
/// assert!(!conditions.holds(&serde_json::Map::new()));
/// ```
#[derive(Clone, Default)]
pub struct Conditions(Option<Arc<ConditionsNode>>);

struct ConditionsNode {
    last: IncludeCondition,
    rest: Conditions,
    len: usize,
}

impl Conditions {
    /// These conditions and then `condition`, sharing these.
    pub fn and(&self, condition: IncludeCondition) -> Self {
        Self(Some(Arc::new(ConditionsNode {
            last: condition,
            rest: self.clone(),
            len: self.len() + 1,
        })))
    }

    /// The number of conditions.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |n| n.len)
    }

    /// Whether there is no condition, so that the conditions always hold.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Whether every condition holds for these variable values.
    pub fn holds(&self, variables: &Map<String, Value>) -> bool {
        self.nodes().all(|n| n.last.holds(variables))
    }

    /// The conditions, outermost (the first added) first.
    pub fn iter(&self) -> impl Iterator<Item = &IncludeCondition> {
        let mut conditions: Vec<&IncludeCondition> = self.nodes().map(|n| &n.last).collect();
        conditions.reverse();
        conditions.into_iter()
    }

    /// The nodes, last added first.
    fn nodes(&self) -> impl Iterator<Item = &ConditionsNode> {
        std::iter::successors(self.0.as_deref(), |n| n.rest.0.as_deref())
    }
}

impl From<Vec<IncludeCondition>> for Conditions {
    fn from(conditions: Vec<IncludeCondition>) -> Self {
        conditions.into_iter().collect()
    }
}

impl FromIterator<IncludeCondition> for Conditions {
    fn from_iter<I: IntoIterator<Item = IncludeCondition>>(conditions: I) -> Self {
        conditions.into_iter().fold(Self::default(), |all, c| all.and(c))
    }
}

impl PartialEq for Conditions {
    fn eq(&self, other: &Self) -> bool {
        let same = |(a, b): (&ConditionsNode, &ConditionsNode)| std::ptr::eq(a, b) || a.last == b.last;
        self.len() == other.len() && self.nodes().zip(other.nodes()).all(same)
    }
}

impl Eq for Conditions {}

impl fmt::Debug for Conditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Drop for Conditions {
    /// Unlinks the list node by node: a long list dropped recursively could
    /// exhaust the thread's stack.
    fn drop(&mut self) {
        let mut next = self.0.take();
        while let Some(node) = next {
            next = match Arc::try_unwrap(node) {
                Ok(mut node) => node.rest.0.take(),
                Err(_) => None,
            };
        }
    }
}

/// One field of a selection set, after fragment inlining and field merging.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSelection {
    /// The key in the response: the alias if any, else the field name.
    pub response_key: String,
    /// The field name.
    pub name: String,
    /// Conditions that must all hold for the field to be selected.
    pub conditions: Conditions,
    /// The sub-selection, `None` for a leaf field.
    pub selection: Option<SelectionSet>,
}

impl FieldSelection {
    /// Whether the field is selected for these variables, which should already have
    /// defaults applied (see [`SubscriptionDocument::effective_variables`]).
    pub fn is_included(&self, variables: &Map<String, Value>) -> bool {
        self.conditions.holds(variables)
    }
}

/// The fields selected on one object, in document order.
///
/// Named fragment spreads and inline fragments are inlined where they appear and
/// their type conditions are ignored, since there is no schema to check them
/// against. Fields sharing a response key are merged into one entry whose
/// sub-selection is the union of theirs, as GraphQL field collection does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SelectionSet {
    /// The selected fields.
    pub fields: Vec<FieldSelection>,
}

impl SelectionSet {
    fn depth(&self) -> usize {
        let below = self.fields.iter().filter_map(|f| f.selection.as_ref());
        1 + below.map(SelectionSet::depth).max().unwrap_or(0)
    }
}

/// A declared variable type, kept whole for value checks.
#[derive(Debug, Clone, PartialEq)]
enum TypeRef {
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

fn invalid_variables(message: String) -> DocumentError {
    DocumentError::new(Kind::InvalidVariables, message, None)
}

/// Checks a JSON value against a declared type; `path` names it in the message.
fn check_value(value: &Value, ty: &TypeRef, path: &str) -> Result<(), String> {
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

fn fragment_name(name: Option<cst::FragmentName>) -> String {
    name_text(name.and_then(|n| n.name()))
}

fn name_text(name: Option<cst::Name>) -> String {
    name.map(|n| n.text().to_string()).unwrap_or_default()
}

/// Where a node starts; the key of the per-node memos, unique among nodes of one kind.
fn offset(node: &SyntaxNode) -> usize {
    usize::from(node.text_range().start())
}

/// Work units a copied name of `len` bytes costs (see [`BYTES_PER_WORK_UNIT`]).
fn name_units(len: usize) -> usize {
    1 + len / BYTES_PER_WORK_UNIT
}

/// An interned string (field name, alias, variable or fragment name).
type NameId = usize;

/// An interned conjunction of `@skip`/`@include` literals, see [`ConditionChains`].
type ChainId = usize;

/// The chain with no condition.
const UNCONDITIONAL: ChainId = 0;

/// One `@skip`/`@include` on a variable: the variable and the value of `include_when`.
type Literal = (NameId, bool);

/// Interned conjunctions of literals, each stored as its parent chain plus one literal.
///
/// A field inherits the conditions of the fragments it sits in by referring to their
/// chain, never by copying it, and two chains are equal exactly when their ids are,
/// so comparing conditions while merging costs nothing whatever their length.
struct ConditionChains {
    nodes: Vec<ChainNode>,
    index: HashMap<(ChainId, Literal), ChainId>,
}

struct ChainNode {
    parent: ChainId,
    literal: Literal,
    len: usize,
}

impl ConditionChains {
    fn new() -> Self {
        let empty = ChainNode {
            parent: UNCONDITIONAL,
            literal: (0, true),
            len: 0,
        };
        Self {
            nodes: vec![empty],
            index: HashMap::new(),
        }
    }

    fn push(&mut self, chain: ChainId, literal: Literal) -> ChainId {
        if chain != UNCONDITIONAL && self.nodes[chain].literal == literal {
            return chain;
        }
        let next = self.nodes.len();
        match self.index.entry((chain, literal)) {
            Entry::Occupied(existing) => *existing.get(),
            Entry::Vacant(slot) => {
                slot.insert(next);
                let len = self.nodes[chain].len + 1;
                self.nodes.push(ChainNode {
                    parent: chain,
                    literal,
                    len,
                });
                next
            }
        }
    }
}

/// What the `@skip`/`@include` directives of one selection say.
#[derive(Clone)]
enum DirectiveConditions {
    /// A literal `@include(if: false)` or `@skip(if: true)`: the selection is never made.
    Never,
    /// Literals on variables (at most two: one `@skip`, one `@include`); `conditioned`
    /// tells whether the selection carries `@skip`/`@include` at all.
    Literals {
        literals: Vec<Literal>,
        conditioned: bool,
    },
}

/// A field as collected, computed once per field node however often fragments bring it.
#[derive(Clone, Copy)]
struct FieldNames {
    key: NameId,
    name: NameId,
}

/// One occurrence of a field while collecting a selection set, under the
/// conditions of the fragments and directives it sits in.
struct Occurrence {
    field: cst::Field,
    names: FieldNames,
    chain: ChainId,
    /// Whether a `@skip`/`@include` (even a literal one) applies; only the root cares.
    conditioned: bool,
}

/// A merged field but its sub-selection, see [`Lowering::merge_head`].
struct MergedHead {
    key: String,
    name: String,
    conditions: Conditions,
    merged: Merged,
    /// The length of the field's dot path from the root.
    path_len: usize,
}

/// Merged conditions of one output field.
#[derive(PartialEq)]
enum Merged {
    Chain(ChainId),
    AnyOf(Vec<ChainId>),
}

/// The conversion of one document's syntax tree into a [`SubscriptionDocument`].
///
/// Its cost is linear in the document: every per-node computation (names, directive
/// conditions, argument values) is memoised by node; inherited conditions are interned
/// chains; a fragment is walked once per selection set and condition chain; and the
/// remaining work, which fragments may multiply, is charged to `budget`.
struct Lowering<'a> {
    source: &'a str,
    fragments: HashMap<String, cst::FragmentDefinition>,
    max_depth: usize,
    /// Work units left; see [`DocumentLimits`] for what costs a unit.
    budget: usize,
    max_output_fields: usize,
    output_fields: usize,
    names: Vec<Rc<str>>,
    name_ids: HashMap<Rc<str>, NameId>,
    chains: ConditionChains,
    /// The public form of each chain, built once and shared by every field under it.
    materialized: HashMap<ChainId, Conditions>,
    directive_memo: HashMap<usize, DirectiveConditions>,
    field_memo: HashMap<usize, FieldNames>,
    spread_memo: HashMap<usize, NameId>,
    argument_memo: HashMap<usize, usize>,
    argument_sets: HashMap<String, usize>,
}

impl<'a> Lowering<'a> {
    /// `tokens` is the number of tokens of `source`.
    fn new(source: &'a str, limits: &DocumentLimits, tokens: usize) -> Self {
        let fields = limits.max_output_fields.min(limits.max_tokens);
        let budget = tokens
            .saturating_mul(WORK_UNITS_PER_TOKEN)
            .saturating_add(fields.saturating_mul(WORK_UNITS_PER_OUTPUT_FIELD));
        Self {
            source,
            fragments: HashMap::new(),
            max_depth: limits.max_depth.min(MAX_SUPPORTED_DEPTH),
            budget,
            max_output_fields: limits.max_output_fields,
            output_fields: 0,
            names: Vec::new(),
            name_ids: HashMap::new(),
            chains: ConditionChains::new(),
            materialized: HashMap::new(),
            directive_memo: HashMap::new(),
            field_memo: HashMap::new(),
            spread_memo: HashMap::new(),
            argument_memo: HashMap::new(),
            argument_sets: HashMap::new(),
        }
    }

    fn err(&self, kind: DocumentErrorKind, message: impl Into<String>, node: &SyntaxNode) -> DocumentError {
        let offset = usize::from(node.text_range().start());
        DocumentError::new(kind, message, Some(Position::at(self.source, offset)))
    }

    fn spend(&mut self, units: usize, node: &SyntaxNode) -> Result<(), DocumentError> {
        match self.budget.checked_sub(units) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => {
                self.budget = 0;
                let message = "the document expands (through fragments, conditions and merged \
                               fields) to more work than its budget: 4 units per token of the \
                               document and 8 per allowed output field (see `max_tokens`)";
                Err(self.err(Kind::TooComplex, message, node))
            }
        }
    }

    fn intern(&mut self, text: &str) -> NameId {
        if let Some(&id) = self.name_ids.get(text) {
            return id;
        }
        let name: Rc<str> = Rc::from(text);
        let id = self.names.len();
        self.names.push(name.clone());
        self.name_ids.insert(name, id);
        id
    }

    fn select_operation(
        &self,
        operations: &[cst::OperationDefinition],
        wanted: Option<&str>,
    ) -> Result<cst::OperationDefinition, DocumentError> {
        use Kind::{AmbiguousOperation, NoOperation, UnknownOperation};
        let mut names = HashSet::new();
        for op in operations {
            match op.name() {
                None if operations.len() > 1 => {
                    let message = "an anonymous operation must be the only operation in the document";
                    return Err(self.err(AmbiguousOperation, message, op.syntax()));
                }
                Some(name) if !names.insert(name.text().to_string()) => {
                    let message = format!("operation `{}` is defined more than once", name.text());
                    return Err(self.err(AmbiguousOperation, message, op.syntax()));
                }
                _ => {}
            }
        }
        match (wanted, operations) {
            (_, []) => Err(DocumentError::new(
                NoOperation,
                "document contains no operation",
                None,
            )),
            (Some(wanted), _) => operations
                .iter()
                .find(|op| op.name().is_some_and(|n| n.text() == wanted))
                .cloned()
                .ok_or_else(|| {
                    let message = format!("no operation named `{wanted}` in the document");
                    DocumentError::new(UnknownOperation, message, None)
                }),
            (None, [op]) => Ok(op.clone()),
            (None, _) => {
                let message = format!(
                    "document has {} operations; an operation name is required",
                    operations.len()
                );
                Err(DocumentError::new(AmbiguousOperation, message, None))
            }
        }
    }

    /// The validation rules about arguments and directives that hold for the whole
    /// document: argument names unique per field or directive (GraphQL spec §5.4.2
    /// "Argument Uniqueness"), input object fields unique (§5.6.3 "Input Object Field
    /// Uniqueness"), `@skip`/`@include` at most once per location (§5.7.3 "Directives Are
    /// Unique Per Location"), only on fields and fragments (§5.7.2 "Directives Are in
    /// Valid Locations"), with exactly the argument `if` (§5.4.1 "Argument Names",
    /// §5.4.2.1 "Required Arguments") holding a Boolean or a variable (§5.6.1 "Values
    /// of Correct Type").
    fn check_arguments_and_directives(&self, document: &SyntaxNode) -> Result<(), DocumentError> {
        for node in document.descendants() {
            if let Some(arguments) = cst::Arguments::cast(node.clone()) {
                let mut names = HashSet::new();
                for argument in arguments.arguments() {
                    let name = name_text(argument.name());
                    if !names.insert(name.clone()) {
                        let message = format!("argument `{name}` is given more than once");
                        return Err(self.err(Kind::Syntax, message, argument.syntax()));
                    }
                }
            } else if let Some(object) = cst::ObjectValue::cast(node.clone()) {
                let mut names = HashSet::new();
                for field in object.object_fields() {
                    let name = name_text(field.name());
                    if !names.insert(name.clone()) {
                        let message = format!("input object field `{name}` is given more than once");
                        return Err(self.err(Kind::Syntax, message, field.syntax()));
                    }
                }
            } else if let Some(directives) = cst::Directives::cast(node) {
                self.check_conditional_directives(&directives)?;
            }
        }
        Ok(())
    }

    fn check_conditional_directives(&self, directives: &cst::Directives) -> Result<(), DocumentError> {
        let (mut skip, mut include) = (false, false);
        for directive in directives.directives() {
            let name = name_text(directive.name());
            let seen = match name.as_str() {
                "skip" => &mut skip,
                "include" => &mut include,
                _ => continue,
            };
            let node = directive.syntax();
            if std::mem::replace(seen, true) {
                let message = format!("@{name} is used more than once at one location");
                return Err(self.err(Kind::Syntax, message, node));
            }
            let location = directives.syntax().parent().map(|p| p.kind());
            let allowed = location.is_some_and(|kind| {
                cst::Field::can_cast(kind)
                    || cst::FragmentSpread::can_cast(kind)
                    || cst::InlineFragment::can_cast(kind)
            });
            if !allowed {
                let message =
                    format!("@{name} is only allowed on fields and fragment spreads or inline fragments");
                return Err(self.err(Kind::Syntax, message, node));
            }
            let mut condition = None;
            for argument in directive.arguments().iter().flat_map(|a| a.arguments()) {
                if argument.name().is_none_or(|n| n.text() != "if") {
                    let message = format!("@{name} takes only the argument `if`");
                    return Err(self.err(Kind::Syntax, message, argument.syntax()));
                }
                condition = argument.value();
            }
            if !matches!(
                condition,
                Some(cst::Value::BooleanValue(_) | cst::Value::Variable(_))
            ) {
                let message = format!("@{name} needs an `if` argument that is a Boolean or a variable");
                return Err(self.err(Kind::Syntax, message, node));
            }
        }
        Ok(())
    }

    /// Checks every spread names a known fragment (§5.5.2.1 "Fragment Spread Target
    /// Defined"), fragments form no cycle (§5.5.2.2 "Fragment Spreads Must Not Form
    /// Cycles") and every fragment is used by some operation (§5.5.1.4 "Fragments Must
    /// Be Used"); returns the fragments reachable from `selected`.
    fn check_fragments(
        &self,
        document: &SyntaxNode,
        operations: &[cst::OperationDefinition],
        selected: &cst::OperationDefinition,
    ) -> Result<HashSet<String>, DocumentError> {
        let spreads = |node: &SyntaxNode| -> Vec<(String, SyntaxNode)> {
            let spreads = node.descendants().filter_map(cst::FragmentSpread::cast);
            spreads
                .map(|s| (fragment_name(s.fragment_name()), s.syntax().clone()))
                .collect()
        };
        for (name, node) in spreads(document) {
            if !self.fragments.contains_key(&name) {
                let message = format!("unknown fragment `{name}`");
                return Err(self.err(Kind::UnknownFragment, message, &node));
            }
        }
        let graph: HashMap<&str, Vec<(String, SyntaxNode)>> = self
            .fragments
            .iter()
            .map(|(name, f)| (name.as_str(), spreads(f.syntax())))
            .collect();
        // Document order makes the reported cycle deterministic.
        let mut names: Vec<&str> = graph.keys().copied().collect();
        names.sort_by_key(|n| self.fragments.get(*n).map(|f| f.syntax().text_range().start()));
        self.find_cycle(&names, &graph)?;
        let reachable_from = |roots: Vec<String>| {
            let mut reachable = HashSet::new();
            let mut stack = roots;
            while let Some(name) = stack.pop() {
                if let Some(next) = graph.get(name.as_str()).filter(|_| !reachable.contains(&name)) {
                    stack.extend(next.iter().map(|(n, _)| n.clone()));
                    reachable.insert(name);
                }
            }
            reachable
        };
        let all_roots = operations.iter().flat_map(|op| spreads(op.syntax()));
        let used = reachable_from(all_roots.map(|(n, _)| n).collect());
        if let Some(unused) = names.iter().find(|n| !used.contains(**n)) {
            let message = format!("fragment `{unused}` is not used by any operation");
            let node = self.fragments.get(*unused).map(|f| f.syntax().clone());
            let position = node.map(|n| Position::at(self.source, offset(&n)));
            return Err(DocumentError::new(Kind::UnusedFragment, message, position));
        }
        Ok(reachable_from(
            spreads(selected.syntax()).into_iter().map(|(n, _)| n).collect(),
        ))
    }

    /// Depth-first search for a cycle, with an explicit stack so that a long chain of
    /// fragments cannot exhaust the thread's stack.
    fn find_cycle(
        &self,
        roots: &[&str],
        graph: &HashMap<&str, Vec<(String, SyntaxNode)>>,
    ) -> Result<(), DocumentError> {
        let mut done: HashSet<&str> = HashSet::new();
        for &root in roots {
            if done.contains(root) {
                continue;
            }
            // The path from `root`, each fragment with the index of its next spread.
            let mut path: Vec<(&str, usize)> = vec![(root, 0)];
            let mut on_path: HashMap<&str, usize> = HashMap::from([(root, 0)]);
            while let Some((name, next)) = path.last_mut() {
                let edges = graph.get(*name).map_or(&[][..], Vec::as_slice);
                let Some((target, node)) = edges.get(*next) else {
                    on_path.remove(*name);
                    done.insert(*name);
                    path.pop();
                    continue;
                };
                *next += 1;
                if let Some(&start) = on_path.get(target.as_str()) {
                    let mut cycle: Vec<&str> = path[start..].iter().map(|(n, _)| *n).collect();
                    cycle.push(target);
                    let message = format!("fragment cycle: {}", cycle.join(" -> "));
                    return Err(self.err(Kind::FragmentCycle, message, node));
                }
                if let Some((&target, _)) = graph.get_key_value(target.as_str()) {
                    if !done.contains(target) {
                        on_path.insert(target, path.len());
                        path.push((target, 0));
                    }
                }
            }
        }
        Ok(())
    }

    fn variable_definitions(
        &self,
        op: &cst::OperationDefinition,
    ) -> Result<(Vec<VariableDefinition>, Vec<TypeRef>), DocumentError> {
        let (mut definitions, mut types) = (Vec::new(), Vec::new());
        let mut names = HashSet::new();
        let cst_definitions = op
            .variable_definitions()
            .into_iter()
            .flat_map(|v| v.variable_definitions());
        for definition in cst_definitions {
            let name = name_text(definition.variable().and_then(|v| v.name()));
            let node = definition.syntax();
            if !names.insert(name.clone()) {
                let message = format!("variable `${name}` is defined more than once");
                return Err(self.err(Kind::InvalidVariables, message, node));
            }
            let ty = definition
                .ty()
                .and_then(type_ref)
                .ok_or_else(|| self.err(Kind::Syntax, "variable has no valid type", node))?;
            let default = match definition.default_value().and_then(|d| d.value()) {
                Some(value) => match self.value(&value)? {
                    ArgumentValue::Literal(value) => {
                        let checked = check_value(&value, &ty, &format!("${name}"));
                        checked.map_err(|m| self.err(Kind::InvalidVariables, m, node))?;
                        Some(value)
                    }
                    _ => {
                        let message = format!("default value of `${name}` must not use variables");
                        return Err(self.err(Kind::InvalidVariables, message, node));
                    }
                },
                None => None,
            };
            let non_null = matches!(ty, TypeRef::NonNull(_));
            let nullable = match &ty {
                TypeRef::NonNull(inner) => inner.as_ref(),
                other => other,
            };
            let mut innermost = &ty;
            while let TypeRef::List(inner) | TypeRef::NonNull(inner) = innermost {
                innermost = inner;
            }
            definitions.push(VariableDefinition {
                name,
                type_name: innermost.to_string(),
                non_null,
                list: matches!(nullable, TypeRef::List(_)),
                default,
            });
            types.push(ty);
        }
        Ok((definitions, types))
    }

    /// GraphQL §5.8.3 "All Variable Uses Defined", through every fragment the operation
    /// reaches, and §5.8.5 "All Variable Usages Are Allowed" for the `if` of
    /// `@skip`/`@include`, which expects `Boolean!`: a `Boolean!` variable, or a
    /// `Boolean` one with a non-null default.
    fn check_variable_uses(
        &self,
        op: &cst::OperationDefinition,
        reachable: &HashSet<String>,
        definitions: &[VariableDefinition],
        types: &[TypeRef],
        op_name: Option<&str>,
    ) -> Result<(), DocumentError> {
        let defined: HashMap<&str, (&VariableDefinition, &TypeRef)> = definitions
            .iter()
            .zip(types)
            .map(|(d, t)| (d.name.as_str(), (d, t)))
            .collect();
        let op_parts = [
            op.directives().map(|d| d.syntax().clone()),
            op.selection_set().map(|s| s.syntax().clone()),
        ];
        let fragments = reachable
            .iter()
            .filter_map(|n| self.fragments.get(n))
            .map(|f| f.syntax().clone());
        for node in op_parts.into_iter().flatten().chain(fragments) {
            for variable in node.descendants().filter_map(cst::Variable::cast) {
                let name = name_text(variable.name());
                let Some((definition, ty)) = defined.get(name.as_str()) else {
                    let op = op_name.map_or("the anonymous operation".to_owned(), |n| {
                        format!("operation `{n}`")
                    });
                    let message = format!("variable `${name}` is not defined by {op}");
                    return Err(self.err(Kind::InvalidVariables, message, variable.syntax()));
                };
                let Some(directive) = condition_directive_of(&variable) else {
                    continue;
                };
                let boolean = |t: &TypeRef| matches!(t, TypeRef::Named(n) if n == "Boolean");
                let allowed = match ty {
                    TypeRef::NonNull(inner) => boolean(inner),
                    nullable => {
                        boolean(nullable) && definition.default.as_ref().is_some_and(|d| !d.is_null())
                    }
                };
                if !allowed {
                    let message = format!(
                        "variable `${name}` of type `{ty}` cannot be the `if` of @{directive}, \
                         which expects `Boolean!` (a `Boolean` variable needs a non-null default)"
                    );
                    return Err(self.err(Kind::InvalidVariables, message, variable.syntax()));
                }
            }
        }
        Ok(())
    }

    /// Applies the single-root-field rule and builds the root field; also returns
    /// one CST occurrence of it to read the arguments from.
    fn root_field(
        &mut self,
        set: &cst::SelectionSet,
    ) -> Result<(FieldSelection, Option<cst::Field>), DocumentError> {
        use Kind::{MultipleRootFields, TooDeep};
        if self.max_depth < 1 {
            return Err(self.err(TooDeep, "selection depth 1 exceeds the limit of 0", set.syntax()));
        }
        let mut occurrences = Vec::new();
        self.collect(set, UNCONDITIONAL, true, &mut occurrences, &mut HashSet::new())?;
        let first_key = occurrences.first().map(|o| o.names.key);
        for occurrence in &occurrences {
            let node = occurrence.field.syntax();
            if occurrence.conditioned {
                let message = "@skip and @include are not allowed at the root of a subscription";
                return Err(self.err(MultipleRootFields, message, node));
            }
            let name = &self.names[occurrence.names.name];
            if name.starts_with("__") {
                let message = format!("introspection field `{name}` cannot be a subscription root");
                return Err(self.err(MultipleRootFields, message, node));
            }
            if Some(occurrence.names.key) != first_key {
                let message = "a subscription must select exactly one root field";
                return Err(self.err(MultipleRootFields, message, node));
            }
        }
        let field = occurrences.first().map(|o| o.field.clone());
        let mut fields = self.build_fields(occurrences, 1, 0)?;
        match fields.pop() {
            Some(root) => Ok((root, field)),
            None => Err(self.err(
                MultipleRootFields,
                "a subscription must select a root field",
                set.syntax(),
            )),
        }
    }

    /// Inlines the fragments of `set` into `out`, each field under `chain` plus the
    /// conditions of the fragments it sits in. A fragment already spread under the
    /// same conditions while collecting this selection set is skipped, as GraphQL's
    /// CollectFields does (`visited`); the walk uses an explicit stack, so chains of
    /// fragments cannot exhaust the thread's stack. At the root, literal conditions
    /// are kept visible (`conditioned`) rather than applied, since any is refused there.
    fn collect(
        &mut self,
        set: &cst::SelectionSet,
        chain: ChainId,
        root: bool,
        out: &mut Vec<Occurrence>,
        visited: &mut HashSet<(NameId, ChainId)>,
    ) -> Result<(), DocumentError> {
        let mut stack = vec![(set.selections(), chain, false)];
        loop {
            let Some((selections, chain, conditioned)) = stack.last_mut() else {
                return Ok(());
            };
            let (chain, conditioned) = (*chain, *conditioned);
            let Some(selection) = selections.next() else {
                stack.pop();
                continue;
            };
            self.spend(1, selection.syntax())?;
            let (chain, conditioned) = match self.directive_conditions(&selection) {
                DirectiveConditions::Never if root => (chain, true),
                DirectiveConditions::Never => continue,
                DirectiveConditions::Literals {
                    literals,
                    conditioned: own,
                } => {
                    let chain = literals.into_iter().fold(chain, |c, l| self.chains.push(c, l));
                    (chain, conditioned || own)
                }
            };
            match selection {
                cst::Selection::Field(field) => {
                    let names = self.field_names(&field);
                    out.push(Occurrence {
                        field,
                        names,
                        chain,
                        conditioned,
                    });
                }
                cst::Selection::InlineFragment(fragment) => {
                    if let Some(inner) = fragment.selection_set() {
                        stack.push((inner.selections(), chain, conditioned));
                    }
                }
                cst::Selection::FragmentSpread(spread) => {
                    let name = self.spread_name(&spread);
                    let inner = self.fragments.get(&*self.names[name]);
                    // Known-fragment and cycle checks ran before, so this terminates.
                    if let Some(inner) = inner.and_then(|f| f.selection_set()) {
                        if visited.insert((name, chain)) {
                            stack.push((inner.selections(), chain, conditioned));
                        }
                    }
                }
            }
        }
    }

    fn directive_conditions(&mut self, selection: &cst::Selection) -> DirectiveConditions {
        let key = offset(selection.syntax());
        if let Some(memo) = self.directive_memo.get(&key) {
            return memo.clone();
        }
        let directives = match selection {
            cst::Selection::Field(f) => f.directives(),
            cst::Selection::InlineFragment(f) => f.directives(),
            cst::Selection::FragmentSpread(s) => s.directives(),
        };
        let (mut literals, mut conditioned, mut never) = (Vec::new(), false, false);
        for directive in directives.iter().flat_map(|d| d.directives()) {
            let include = match name_text(directive.name()).as_str() {
                "include" => true,
                "skip" => false,
                _ => continue,
            };
            conditioned = true;
            let argument = directive
                .arguments()
                .into_iter()
                .flat_map(|a| a.arguments())
                .next();
            // check_arguments_and_directives ran before: `if` is a Boolean or a variable.
            match argument.and_then(|a| a.value()) {
                Some(cst::Value::BooleanValue(b)) => never |= b.true_token().is_some() != include,
                Some(cst::Value::Variable(v)) => {
                    let name = self.intern(&name_text(v.name()));
                    literals.push((name, include));
                }
                _ => {}
            }
        }
        let conditions = match never {
            true => DirectiveConditions::Never,
            false => DirectiveConditions::Literals {
                literals,
                conditioned,
            },
        };
        self.directive_memo.insert(key, conditions.clone());
        conditions
    }

    fn field_names(&mut self, field: &cst::Field) -> FieldNames {
        let key = offset(field.syntax());
        if let Some(&names) = self.field_memo.get(&key) {
            return names;
        }
        let name = self.intern(&name_text(field.name()));
        let alias = field.alias().and_then(|a| a.name());
        let response_key = alias.map_or(name, |a| self.intern(a.text().as_ref()));
        let names = FieldNames {
            key: response_key,
            name,
        };
        self.field_memo.insert(key, names);
        names
    }

    fn spread_name(&mut self, spread: &cst::FragmentSpread) -> NameId {
        let key = offset(spread.syntax());
        if let Some(&name) = self.spread_memo.get(&key) {
            return name;
        }
        let name = self.intern(&fragment_name(spread.fragment_name()));
        self.spread_memo.insert(key, name);
        name
    }

    /// Groups collected occurrences by response key and merges each group;
    /// `depth` is the depth of the selection set being built and `path_len` the
    /// length of its dot path from the root.
    fn build_fields(
        &mut self,
        occurrences: Vec<Occurrence>,
        depth: usize,
        path_len: usize,
    ) -> Result<Vec<FieldSelection>, DocumentError> {
        let mut groups: Vec<Vec<Occurrence>> = Vec::new();
        let mut index: HashMap<NameId, usize> = HashMap::new();
        for occurrence in occurrences {
            match index.entry(occurrence.names.key) {
                Entry::Occupied(i) => groups[*i.get()].push(occurrence),
                Entry::Vacant(slot) => {
                    slot.insert(groups.len());
                    groups.push(vec![occurrence]);
                }
            }
        }
        let mut fields = Vec::with_capacity(groups.len());
        for group in groups {
            fields.push(self.merge(group, depth, path_len)?);
        }
        Ok(fields)
    }

    /// Merges the occurrences of one response key (GraphQL §5.3.2 "Field Selection
    /// Merging": same field name, same arguments as a set, same shape) into one field.
    ///
    /// This recurses once per selection depth, so it keeps its own frame small: the
    /// checks and copies live in [`Self::merge_head`].
    fn merge(
        &mut self,
        mut group: Vec<Occurrence>,
        depth: usize,
        path_len: usize,
    ) -> Result<FieldSelection, DocumentError> {
        let head = self.merge_head(&mut group, path_len)?;
        let selection = match group[0].field.selection_set() {
            Some(first_set) => Some(self.merge_children(&group, &head, &first_set, depth)?),
            None => None,
        };
        Ok(FieldSelection {
            response_key: head.key,
            name: head.name,
            conditions: head.conditions,
            selection,
        })
    }

    /// Everything about a merged field but its sub-selection.
    #[inline(never)]
    fn merge_head(
        &mut self,
        group: &mut Vec<Occurrence>,
        path_len: usize,
    ) -> Result<MergedHead, DocumentError> {
        // The same field node under the same conditions, brought twice, adds nothing.
        let mut distinct = HashSet::new();
        group.retain(|o| distinct.insert((offset(o.field.syntax()), o.chain)));
        let first = &group[0];
        let first_node = first.field.syntax().clone();
        let first_arguments = self.argument_set(&first.field)?;
        let first_has_selection = first.field.selection_set().is_some();
        for other in &group[1..] {
            let other_name = self.names[other.names.name].clone();
            let conflict = if other.names.name != first.names.name {
                let first_name = &self.names[first.names.name];
                Some(format!("selects both `{first_name}` and `{other_name}`"))
            } else if self.argument_set(&other.field)? != first_arguments {
                Some(format!("selects `{other_name}` with different arguments"))
            } else if other.field.selection_set().is_some() != first_has_selection {
                Some(format!(
                    "selects `{other_name}` both with and without a sub-selection"
                ))
            } else {
                None
            };
            if let Some(conflict) = conflict {
                let key = &self.names[other.names.key];
                let message = format!("response key `{key}` {conflict}");
                return Err(self.err(Kind::FieldConflict, message, other.field.syntax()));
            }
        }
        self.output_fields += 1;
        if self.output_fields > self.max_output_fields {
            let message = format!(
                "the document selects more than {} output fields (`max_output_fields`), \
                 counting every alias and every copy a fragment brings",
                self.max_output_fields
            );
            return Err(self.err(Kind::TooManyOutputFields, message, &first_node));
        }
        let first_chain = first.chain;
        let merged = if group.iter().all(|o| o.chain == first_chain) {
            Merged::Chain(first_chain)
        } else if group.iter().any(|o| o.chain == UNCONDITIONAL) {
            Merged::Chain(UNCONDITIONAL)
        } else {
            let mut seen = HashSet::new();
            let chains = group.iter().map(|o| o.chain).filter(|c| seen.insert(*c));
            Merged::AnyOf(chains.collect())
        };
        let (key, name) = (
            self.names[first.names.key].clone(),
            self.names[first.names.name].clone(),
        );
        let path_len = path_len + 1 + name.len();
        self.spend(name_units(key.len() + path_len), &first_node)?;
        // Projecting an event checks each condition of each field: that work is paid here.
        let conditions = match &merged {
            Merged::Chain(chain) => {
                self.spend(self.chains.nodes[*chain].len, &first_node)?;
                self.materialize(*chain, &first_node)?
            }
            Merged::AnyOf(chains) => {
                let mut alternatives = Vec::with_capacity(chains.len());
                for &chain in chains {
                    self.spend(1 + self.chains.nodes[chain].len, &first_node)?;
                    alternatives.push(self.materialize(chain, &first_node)?);
                }
                Conditions::default().and(IncludeCondition::AnyOf(alternatives))
            }
        };
        Ok(MergedHead {
            key: key.to_string(),
            name: name.to_string(),
            conditions,
            merged,
            path_len,
        })
    }

    /// The sub-selection of a merged field: the union of its occurrences' selections.
    fn merge_children(
        &mut self,
        group: &[Occurrence],
        head: &MergedHead,
        first_set: &cst::SelectionSet,
        depth: usize,
    ) -> Result<SelectionSet, DocumentError> {
        if depth + 1 > self.max_depth {
            return Err(self.too_deep(depth + 1, first_set));
        }
        let mut children = Vec::new();
        let mut visited = HashSet::new();
        for o in group {
            // Children of an occurrence only apply under that occurrence's
            // conditions, which the merged field may no longer imply.
            let pushed = match head.merged == Merged::Chain(o.chain) {
                true => UNCONDITIONAL,
                false => o.chain,
            };
            if let Some(set) = o.field.selection_set() {
                self.collect(&set, pushed, false, &mut children, &mut visited)?;
            }
        }
        let fields = self.build_fields(children, depth + 1, head.path_len)?;
        Ok(SelectionSet { fields })
    }

    #[inline(never)]
    fn too_deep(&self, depth: usize, set: &cst::SelectionSet) -> DocumentError {
        let message = format!("selection depth {depth} exceeds the limit of {}", self.max_depth);
        self.err(Kind::TooDeep, message, set.syntax())
    }

    /// The public form of `chain`, built once per chain node and then shared: only
    /// the nodes never built before are allocated (and charged for their names).
    fn materialize(&mut self, chain: ChainId, node: &SyntaxNode) -> Result<Conditions, DocumentError> {
        let mut pending = Vec::new();
        let mut at = chain;
        while at != UNCONDITIONAL && !self.materialized.contains_key(&at) {
            pending.push(at);
            at = self.chains.nodes[at].parent;
        }
        let mut conditions = self.materialized.get(&at).cloned().unwrap_or_default();
        for id in pending.into_iter().rev() {
            let (name, include_when) = self.chains.nodes[id].literal;
            let name = self.names[name].clone();
            self.spend(name_units(name.len()), node)?;
            conditions = conditions.and(IncludeCondition::IfVariable {
                name: name.to_string(),
                include_when,
            });
            self.materialized.insert(id, conditions.clone());
        }
        Ok(conditions)
    }

    /// An id equal for two fields exactly when their arguments are the same set of
    /// names with the same values (input object fields compared as sets too), computed
    /// once per field node.
    fn argument_set(&mut self, field: &cst::Field) -> Result<usize, DocumentError> {
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

    fn arguments(&self, field: &cst::Field) -> Result<Vec<(String, ArgumentValue)>, DocumentError> {
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
    fn value(&self, value: &cst::Value) -> Result<ArgumentValue, DocumentError> {
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

/// The directive (`skip` or `include`) whose `if` argument is `variable`, if any.
fn condition_directive_of(variable: &cst::Variable) -> Option<String> {
    let argument = variable.syntax().parent().and_then(cst::Argument::cast)?;
    if argument.name()?.text() != "if" {
        return None;
    }
    let directive = argument
        .syntax()
        .parent()?
        .parent()
        .and_then(cst::Directive::cast)?;
    let name = name_text(directive.name());
    matches!(name.as_str(), "skip" | "include").then_some(name)
}

fn type_ref(ty: cst::Type) -> Option<TypeRef> {
    match ty {
        cst::Type::NamedType(named) => Some(TypeRef::Named(name_text(named.name()))),
        cst::Type::ListType(list) => Some(TypeRef::List(Box::new(type_ref(list.ty()?)?))),
        cst::Type::NonNullType(non_null) => {
            let inner = match (non_null.named_type(), non_null.list_type()) {
                (Some(named), _) => TypeRef::Named(name_text(named.name())),
                (None, Some(list)) => TypeRef::List(Box::new(type_ref(list.ty()?)?)),
                (None, None) => return None,
            };
            Some(TypeRef::NonNull(Box::new(inner)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    type Outcome = (Kind, Option<Position>);

    fn parse_with(
        q: &str,
        name: Option<&str>,
        limits: DocumentLimits,
    ) -> Result<SubscriptionDocument, Outcome> {
        SubscriptionDocument::parse(q, name, &limits).map_err(|e| (e.kind(), e.position()))
    }

    fn doc(q: &str) -> SubscriptionDocument {
        SubscriptionDocument::parse(q, None, &DocumentLimits::default())
            .unwrap_or_else(|e| panic!("expected {q:?} to parse, got {e}"))
    }

    fn error(q: &str) -> DocumentError {
        match SubscriptionDocument::parse(q, None, &DocumentLimits::default()) {
            Ok(_) => panic!("expected {q:?} to be rejected"),
            Err(e) => e,
        }
    }

    fn rejects(q: &str) -> Outcome {
        let e = error(q);
        (e.kind(), e.position())
    }

    fn at(line: usize, column: usize) -> Option<Position> {
        Some(Position { line, column })
    }

    fn limits(max_bytes: usize, max_depth: usize, max_tokens: usize) -> DocumentLimits {
        DocumentLimits {
            max_bytes,
            max_depth,
            max_tokens,
            ..DocumentLimits::default()
        }
    }

    fn vars(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn keys(set: Option<&SelectionSet>) -> Vec<&str> {
        set.map_or(vec![], |s| {
            s.fields.iter().map(|f| f.response_key.as_str()).collect()
        })
    }

    fn first(set: Option<&SelectionSet>) -> FieldSelection {
        set.and_then(|s| s.fields.first().cloned())
            .unwrap_or_else(|| panic!("no field in {set:?}"))
    }

    #[test]
    fn subscription_exposes_operation_root_field_and_selection() {
        let d = doc("subscription OnUser { users { id name } }");
        assert_eq!(d.operation_name(), Some("OnUser"));
        assert_eq!((d.root_field(), d.response_key()), ("users", "users"));
        assert_eq!(keys(d.selection()), ["id", "name"]);
        assert_eq!(d.source(), "subscription OnUser { users { id name } }");
        assert_eq!(d.max_depth(), 2);
    }

    #[test]
    fn alias_is_the_response_key_and_name_stays_the_field() {
        let d = doc("subscription { feed: users { handle: name } }");
        assert_eq!((d.root_field(), d.response_key()), ("users", "feed"));
        let field = first(d.selection());
        assert_eq!(
            (field.response_key.as_str(), field.name.as_str()),
            ("handle", "name")
        );
    }

    #[test]
    fn scalar_root_field_has_no_selection_and_depth_one() {
        let d = doc("subscription { count }");
        assert_eq!(
            (d.selection(), d.max_depth(), d.field_paths()),
            (None, 1, vec!["count".into()])
        );
    }

    #[test]
    fn root_arguments_keep_literals_and_resolve_variables_at_any_nesting() {
        let d = doc(
            r#"subscription ($id: ID, $n: Int) { users(id: $id, kind: ADMIN, s: "x", f: 1.5,
               filter: {ids: [$id, $n, 7], limit: $n}) { id } }"#,
        );
        let args = d.root_arguments();
        assert_eq!(args[0], ("id".to_owned(), ArgumentValue::Variable("id".into())));
        let literals: Vec<_> = args[1..4].iter().map(|(_, v)| v.clone()).collect();
        let expected = [json!("ADMIN"), json!("x"), json!(1.5)].map(ArgumentValue::Literal);
        assert_eq!(literals, expected);
        let given = vars(json!({"id": "u1"}));
        assert_eq!(args[0].1.resolve(&given), json!("u1"));
        // A missing variable is null in a list and omitted as an object field.
        assert_eq!(args[4].1.resolve(&given), json!({"ids": ["u1", null, 7]}));
    }

    #[test]
    fn constant_list_and_object_arguments_are_plain_literals() {
        let d = doc("subscription { users(where: {ids: [1, 2], deep: {on: true, none: null}}) { id } }");
        let expected = json!({"ids": [1, 2], "deep": {"on": true, "none": null}});
        assert_eq!(d.root_arguments()[0].1, ArgumentValue::Literal(expected));
    }

    #[test]
    fn document_longer_than_max_bytes_is_too_large_before_parsing() {
        let err = parse_with("subscription { a }", None, limits(10, 32, 100)).err();
        assert_eq!(err, Some((Kind::TooLarge, None)));
    }

    #[test]
    fn token_limit_is_too_large_at_the_first_token_past_it() {
        // Whitespace counts: the 7th token is `b` at offset 17.
        let err = parse_with("subscription { a b c }", None, limits(100, 32, 6)).err();
        assert_eq!(err, Some((Kind::TooLarge, at(1, 18))));
    }

    #[test]
    fn parser_recursion_limit_is_too_deep() {
        let nested = format!("subscription {{ a(x: {}1{}) }}", "[".repeat(30), "]".repeat(30));
        let err = parse_with(&nested, None, limits(1000, 1, 1000)).err();
        assert_eq!(err.map(|e| e.0), Some(Kind::TooDeep));
    }

    #[test]
    fn selection_deeper_than_max_depth_is_too_deep_at_the_nested_set() {
        let ok = parse_with("subscription { a { b } }", None, limits(100, 2, 100));
        assert_eq!(ok.map(|d| d.max_depth()), Ok(2));
        let err = parse_with("subscription { a { b {\n c } } }", None, limits(100, 2, 100)).err();
        assert_eq!(err, Some((Kind::TooDeep, at(1, 22))));
    }

    #[test]
    fn depth_counts_through_inlined_fragments() {
        let query = "subscription { a { ...F } }\nfragment F on A { b { c } }";
        let err = parse_with(query, None, limits(100, 2, 100)).err();
        assert_eq!(err, Some((Kind::TooDeep, at(2, 21))));
    }

    /// Each fragment spreads the next one under two aliases: 2^24 output fields.
    fn exponential_alias_expansion() -> String {
        let mut query = String::from("subscription { a { ...F0 } }\n");
        for i in 0..24 {
            let next = i + 1;
            query.push_str(&format!(
                "fragment F{i} on A {{ l: x {{ ...F{next} }} r: x {{ ...F{next} }} }}\n"
            ));
        }
        query.push_str("fragment F24 on A { x }");
        query
    }

    #[test]
    fn exponential_alias_expansion_is_refused_by_the_output_field_limit() {
        let err = error(&exponential_alias_expansion());
        assert_eq!(err.kind(), Kind::TooManyOutputFields);
        assert!(err.message().contains("1000 output fields"), "{err}");
    }

    #[test]
    fn exponential_alias_expansion_is_refused_by_the_work_budget_without_a_field_limit() {
        let limits = DocumentLimits {
            max_output_fields: usize::MAX,
            ..DocumentLimits::default()
        };
        let err = parse_with(&exponential_alias_expansion(), None, limits).err();
        assert_eq!(err.map(|e| e.0), Some(Kind::TooComplex));
    }

    #[test]
    fn repeated_spreads_of_one_fragment_are_collected_once() {
        // Spec CollectFields skips a fragment already visited in the same selection set,
        // so doubling spreads at every level is linear, not 2^24 selections.
        let mut query = String::from("subscription { a { ...F0 } }\n");
        for i in 0..24 {
            query.push_str(&format!("fragment F{i} on A {{ ...F{} ...F{} }}\n", i + 1, i + 1));
        }
        query.push_str("fragment F24 on A { x }");
        assert_eq!(keys(doc(&query).selection()), ["x"]);
    }

    #[test]
    fn syntax_error_has_the_parser_position() {
        assert_eq!(rejects("subscription {\n  a(x: ) }"), (Kind::Syntax, at(2, 8)));
    }

    #[test]
    fn type_definitions_are_refused_as_non_executable() {
        let err = error("subscription { a }\ntype Query { a: Int }");
        assert_eq!((err.kind(), err.position()), (Kind::Syntax, at(2, 1)));
        assert!(err.message().contains("only executable definitions"));
    }

    #[test]
    fn document_with_only_fragments_has_no_operation() {
        assert_eq!(rejects("fragment F on S { a }"), (Kind::NoOperation, None));
    }

    #[test]
    fn operation_name_selects_among_several_operations() {
        let query = "query Q { a } subscription A { a } subscription B { b { c } }";
        let d = parse_with(query, Some("B"), DocumentLimits::default());
        let d = d.map(|d| (d.operation_name().map(str::to_owned), d.root_field().to_owned()));
        assert_eq!(d, Ok((Some("B".to_owned()), "b".to_owned())));
    }

    #[test]
    fn unknown_operation_name_is_named_in_the_error() {
        let err =
            SubscriptionDocument::parse("subscription A { a }", Some("Nope"), &DocumentLimits::default());
        let err = err
            .err()
            .map(|e| (e.kind(), e.position(), e.message().contains("`Nope`")));
        assert_eq!(err, Some((Kind::UnknownOperation, None, true)));
    }

    #[test]
    fn several_operations_without_a_name_are_ambiguous() {
        assert_eq!(
            rejects("subscription A { a } subscription B { b }"),
            (Kind::AmbiguousOperation, None)
        );
    }

    #[test]
    fn anonymous_operation_among_others_is_ambiguous_at_the_anonymous_one() {
        let err = parse_with(
            "subscription A { a }\nsubscription { b }",
            Some("A"),
            DocumentLimits::default(),
        );
        assert_eq!(err.err(), Some((Kind::AmbiguousOperation, at(2, 1))));
    }

    #[test]
    fn duplicate_operation_names_are_ambiguous() {
        assert_eq!(
            rejects("subscription A { a }\nsubscription A { b }"),
            (Kind::AmbiguousOperation, at(2, 1))
        );
    }

    #[test]
    fn query_operation_is_rejected_with_its_position() {
        assert_eq!(rejects("\n  query Q { a }"), (Kind::NotSubscription, at(2, 3)));
    }

    #[test]
    fn shorthand_query_and_mutation_are_not_subscriptions() {
        assert_eq!(rejects("{ a }"), (Kind::NotSubscription, at(1, 1)));
        assert!(error("mutation { a }").message().contains("mutation"));
    }

    #[test]
    fn second_root_field_is_rejected_at_its_position() {
        assert_eq!(
            rejects("subscription {\n  a\n  b\n}"),
            (Kind::MultipleRootFields, at(3, 3))
        );
    }

    #[test]
    fn root_fields_brought_by_fragments_count() {
        let named = rejects("subscription { a ...F }\nfragment F on S { b }");
        assert_eq!(named, (Kind::MultipleRootFields, at(2, 19)));
        assert_eq!(
            rejects("subscription { a ... { b } }"),
            (Kind::MultipleRootFields, at(1, 24))
        );
    }

    #[test]
    fn repeated_root_field_with_one_response_key_is_merged() {
        let d = doc("subscription { a { x } ... on S { a { y } } }");
        assert_eq!(keys(d.selection()), ["x", "y"]);
    }

    #[test]
    fn typename_at_the_root_is_refused() {
        assert_eq!(
            rejects("subscription { __typename }"),
            (Kind::MultipleRootFields, at(1, 16))
        );
    }

    #[test]
    fn skip_or_include_at_the_root_is_refused() {
        let on_field = rejects("subscription ($v: Boolean!) { a @include(if: $v) }");
        assert_eq!(on_field, (Kind::MultipleRootFields, at(1, 31)));
        let on_fragment = rejects("subscription { ... @skip(if: false) { a } }");
        assert_eq!(on_fragment, (Kind::MultipleRootFields, at(1, 39)));
    }

    #[test]
    fn unknown_fragment_is_reported_at_the_spread() {
        assert_eq!(
            rejects("subscription {\n  a { ...Missing }\n}"),
            (Kind::UnknownFragment, at(2, 7))
        );
    }

    #[test]
    fn fragment_cycle_is_reported_at_the_closing_spread() {
        let err =
            error("subscription { a { ...A } }\nfragment A on T { x ...B }\nfragment B on T { y { ...A } }");
        assert_eq!((err.kind(), err.position()), (Kind::FragmentCycle, at(3, 23)));
        assert!(err.message().contains("A -> B -> A"));
    }

    #[test]
    fn duplicate_fragment_names_are_a_syntax_error() {
        let query = "subscription { a }\nfragment F on T { x }\nfragment F on T { y }";
        assert_eq!(rejects(query), (Kind::Syntax, at(3, 1)));
    }

    #[test]
    fn named_and_inline_fragments_are_inlined_in_document_order() {
        let d = doc("subscription { a { x ...F ... on T { z } w } }\nfragment F on T { y }");
        assert_eq!(keys(d.selection()), ["x", "y", "z", "w"]);
    }

    #[test]
    fn fields_with_one_response_key_merge_their_sub_selections() {
        let d = doc("subscription { a { p { x } ...F p { y } } }\nfragment F on T { p { x z } }");
        assert_eq!(keys(first(d.selection()).selection.as_ref()), ["x", "z", "y"]);
    }

    #[test]
    fn one_response_key_for_two_field_names_conflicts() {
        assert_eq!(
            rejects("subscription { a { x: b\n x: c } }"),
            (Kind::FieldConflict, at(2, 2))
        );
    }

    #[test]
    fn one_response_key_with_different_arguments_or_shapes_conflicts() {
        assert_eq!(
            rejects("subscription { a { b(n: 1) b(n: 2) } }"),
            (Kind::FieldConflict, at(1, 28))
        );
        assert_eq!(
            rejects("subscription { a { b b { c } } }"),
            (Kind::FieldConflict, at(1, 22))
        );
        assert_eq!(
            rejects("subscription { a(n: 1) a(n: 2) }"),
            (Kind::FieldConflict, at(1, 24))
        );
    }

    #[test]
    fn literal_skip_and_include_are_resolved_at_parse_time() {
        let d = doc("subscription { a { k @include(if: true) s @skip(if: true) i @include(if: false) ... @skip(if: false) { f } } }");
        assert_eq!(keys(d.selection()), ["k", "f"]);
        assert!(d
            .selection()
            .is_some_and(|s| s.fields.iter().all(|f| f.conditions.is_empty())));
    }

    #[test]
    fn variable_skip_and_include_become_conditions() {
        let d = doc("subscription ($v: Boolean!) { a { i @include(if: $v) s @skip(if: $v) } }");
        let fields = d.selection().map(|s| s.fields.clone()).unwrap_or_default();
        let when = |include_when| {
            Conditions::from(vec![IncludeCondition::IfVariable {
                name: "v".into(),
                include_when,
            }])
        };
        assert_eq!(
            (&fields[0].conditions, &fields[1].conditions),
            (&when(true), &when(false))
        );
        let on = vars(json!({"v": true}));
        assert_eq!(
            (fields[0].is_included(&on), fields[1].is_included(&on)),
            (true, false)
        );
    }

    #[test]
    fn missing_condition_variable_excludes_include_and_keeps_skip() {
        let d = doc("subscription ($v: Boolean!) { a { i @include(if: $v) s @skip(if: $v) } }");
        let fields = d.selection().map(|s| s.fields.clone()).unwrap_or_default();
        let none = Map::new();
        assert_eq!(
            (fields[0].is_included(&none), fields[1].is_included(&none)),
            (false, true)
        );
    }

    #[test]
    fn fragment_conditions_apply_to_the_fields_they_bring() {
        let d = doc("subscription ($v: Boolean!) { a { ...F @include(if: $v) } }\nfragment F on T { x }");
        let expected = Conditions::from(vec![IncludeCondition::IfVariable {
            name: "v".into(),
            include_when: true,
        }]);
        assert_eq!(first(d.selection()).conditions, expected);
    }

    #[test]
    fn merging_under_different_conditions_keeps_each_alternative() {
        let d = doc("subscription ($x: Boolean = false, $y: Boolean = false) { a { \
             ... @include(if: $x) { p { id one } } ... @include(if: $y) { p { id two } } } }");
        let p = first(d.selection());
        assert!(!p.is_included(&Map::new()));
        assert!(p.is_included(&vars(json!({"y": true}))));
        let children = p.selection.map(|s| s.fields).unwrap_or_default();
        let selected = |v: Value| -> Vec<String> {
            let v = vars(v);
            children
                .iter()
                .filter(|f| f.is_included(&v))
                .map(|f| f.name.clone())
                .collect()
        };
        assert_eq!(selected(json!({"x": true})), ["id", "one"]);
        assert_eq!(selected(json!({"y": true})), ["id", "two"]);
    }

    #[test]
    fn nested_selections_report_paths_and_depth() {
        let d = doc("subscription { users { id __typename posts { title author: user { name } } again: posts { title } } }");
        let expected = [
            "users",
            "users.id",
            "users.posts",
            "users.posts.title",
            "users.posts.user",
            "users.posts.user.name",
        ];
        assert_eq!(d.field_paths(), expected);
        assert_eq!(d.max_depth(), 4);
    }

    #[test]
    fn undefined_variable_is_refused_at_parse_time_even_inside_fragments() {
        let err = error("subscription ($a: ID) { a(id: $a) { ...F } }\nfragment F on T { b(x: $nope) }");
        assert_eq!((err.kind(), err.position()), (Kind::InvalidVariables, at(2, 24)));
        assert!(err.message().contains("$nope"));
    }

    #[test]
    fn duplicate_variable_and_bad_default_are_invalid_variables() {
        assert_eq!(
            rejects("subscription ($a: ID, $a: ID) { a }"),
            (Kind::InvalidVariables, at(1, 23))
        );
        assert_eq!(
            rejects("subscription ($n: Int = \"x\") { a(n: $n) }"),
            (Kind::InvalidVariables, at(1, 15))
        );
    }

    #[test]
    fn variable_definitions_describe_outer_type_and_default() {
        let d = doc("subscription ($ids: [ID!]! = [\"1\"], $n: Int) { a(ids: $ids, n: $n) }");
        let ids = VariableDefinition {
            name: "ids".into(),
            type_name: "ID".into(),
            non_null: true,
            list: true,
            default: Some(json!(["1"])),
        };
        let n = VariableDefinition {
            name: "n".into(),
            type_name: "Int".into(),
            non_null: false,
            list: false,
            default: None,
        };
        assert_eq!(d.variable_definitions(), [ids, n]);
    }

    #[test]
    fn effective_variables_apply_defaults_and_drop_undeclared() {
        let d = doc("subscription ($n: Int = 5, $s: String) { a(n: $n, s: $s) }");
        assert_eq!(d.effective_variables(&Value::Null), Ok(vars(json!({"n": 5}))));
        let given = d.effective_variables(&json!({"s": "x", "extra": 1}));
        assert_eq!(given, Ok(vars(json!({"n": 5, "s": "x"}))));
    }

    #[test]
    fn effective_variables_require_an_object() {
        let err = doc("subscription { a }").effective_variables(&json!([1])).err();
        assert_eq!(err.map(|e| e.kind()), Some(Kind::InvalidVariables));
    }

    #[test]
    fn missing_or_null_required_variable_is_named() {
        let d = doc("subscription ($id: ID!) { a(id: $id) }");
        for provided in [json!({}), json!({"id": null})] {
            let err = d.effective_variables(&provided).err();
            let err = err.map(|e| (e.kind(), e.message().contains("$id")));
            assert_eq!(err, Some((Kind::InvalidVariables, true)));
        }
    }

    #[test]
    fn built_in_scalars_are_type_checked() {
        let d = doc("subscription ($i: Int, $f: Float, $s: String, $b: Boolean, $id: ID, $c: Custom) { a }");
        let ok = json!({"i": -2147483648_i64, "f": 1, "s": "", "b": false, "id": 7, "c": {"any": []}});
        assert!(d.effective_variables(&ok).is_ok());
        let bad = [
            json!({"i": 2147483648_i64}),
            json!({"i": 1.5}),
            json!({"f": "1"}),
            json!({"s": 1}),
            json!({"b": 0}),
            json!({"id": true}),
        ];
        for bad in bad {
            let kind = d.effective_variables(&bad).err().map(|e| e.kind());
            assert_eq!(kind, Some(Kind::InvalidVariables), "{bad}");
        }
    }

    #[test]
    fn list_variables_accept_a_single_item_and_check_each_item() {
        let d = doc("subscription ($ids: [Int!]) { a(ids: $ids) }");
        assert!(d.effective_variables(&json!({"ids": [1, 2]})).is_ok());
        assert!(d.effective_variables(&json!({"ids": 3})).is_ok());
        let err = d.effective_variables(&json!({"ids": [1, null]})).err();
        assert_eq!(err.map(|e| e.message().contains("$ids[1]")), Some(true));
    }

    #[test]
    fn error_display_prefixes_the_position_when_known() {
        let err = error("query { a }");
        assert_eq!(err.to_string(), format!("at line 1, column 1: {}", err.message()));
        assert_eq!(
            DocumentError::new(Kind::NoOperation, "none", None).to_string(),
            "none"
        );
    }

    #[test]
    fn positions_count_chars_and_all_line_terminators() {
        assert_eq!(Position::at("ab\r\ncd", 5), Position { line: 2, column: 2 });
        assert_eq!(Position::at("a\rb\nc", 4), Position { line: 3, column: 1 });
        assert_eq!(Position::at("éé x", 5), Position { line: 1, column: 4 });
    }

    // GraphQL spec rules (October 2021 edition, section numbers in the names' comments).

    #[test]
    fn arguments_in_another_order_are_the_same_arguments() {
        // §5.3.2 Field Selection Merging: SameArguments compares arguments as sets by name.
        let d = doc("subscription { a { b(x: 1, y: [2]) b(y: [2], x: 1) } }");
        assert_eq!(keys(d.selection()), ["b"]);
    }

    #[test]
    fn input_object_fields_in_another_order_are_the_same_value() {
        // §5.3.2: values are compared as values; input object fields are unordered.
        let d = doc("subscription { a { b(o: {x: 1, y: {p: 2, q: 3}}) b(o: {y: {q: 3, p: 2}, x: 1}) } }");
        assert_eq!(keys(d.selection()), ["b"]);
    }

    #[test]
    fn skip_used_twice_at_one_location_is_refused() {
        // §5.7.3 Directives Are Unique Per Location: @skip and @include are not repeatable.
        let err = error("subscription { a { b @skip(if: true) @skip(if: false) } }");
        assert_eq!((err.kind(), err.position()), (Kind::Syntax, at(1, 38)));
        assert!(err.message().contains("@skip is used more than once"), "{err}");
    }

    #[test]
    fn include_used_twice_on_a_fragment_spread_is_refused() {
        // §5.7.3, at a fragment spread location.
        let query = "subscription ($v: Boolean!) { a { ...F @include(if: $v) @include(if: $v) } }\n\
                     fragment F on T { x }";
        assert_eq!(rejects(query), (Kind::Syntax, at(1, 57)));
    }

    #[test]
    fn skip_and_include_together_at_one_location_are_allowed() {
        let d = doc("subscription ($v: Boolean!) { a { b @skip(if: $v) @include(if: $v) c } }");
        assert_eq!(first(d.selection()).conditions.len(), 2);
    }

    #[test]
    fn unknown_directives_may_repeat_without_a_schema() {
        // Only a schema says whether a custom directive is repeatable.
        assert_eq!(keys(doc("subscription { a { b @tag @tag } }").selection()), ["b"]);
    }

    #[test]
    fn duplicate_argument_names_are_refused_even_under_a_false_include() {
        // §5.4.2 Argument Uniqueness holds for every field of the document.
        let query = "subscription { a { b @include(if: false) { c(x: 1, x: 2) } } }";
        assert_eq!(rejects(query), (Kind::Syntax, at(1, 52)));
    }

    #[test]
    fn duplicate_argument_names_are_refused_in_an_operation_not_selected() {
        // §5.4.2: validation covers the whole document, not only the selected operation.
        let query = "subscription A { a }\nsubscription B { b(x: 1, x: 2) }";
        let err = parse_with(query, Some("A"), DocumentLimits::default()).err();
        assert_eq!(err, Some((Kind::Syntax, at(2, 26))));
    }

    #[test]
    fn duplicate_directive_arguments_are_refused() {
        // §5.4.2 applies to directive arguments too.
        let err = error("subscription { a { b @include(if: true, if: false) } }");
        assert!(
            err.message().contains("argument `if` is given more than once"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_input_object_fields_are_refused() {
        // §5.6.3 Input Object Field Uniqueness.
        assert_eq!(
            rejects("subscription { a(o: {x: 1, x: 2}) }"),
            (Kind::Syntax, at(1, 28))
        );
    }

    #[test]
    fn skip_on_an_operation_is_refused() {
        // §5.7.2 Directives Are In Valid Locations: @skip/@include are for fields and fragments.
        assert_eq!(
            rejects("subscription @skip(if: true) { a }"),
            (Kind::Syntax, at(1, 14))
        );
    }

    #[test]
    fn include_on_a_fragment_definition_is_refused() {
        // §5.7.2.
        let query = "subscription { a { ...F } }\nfragment F on T @include(if: true) { x }";
        assert_eq!(rejects(query), (Kind::Syntax, at(2, 17)));
    }

    #[test]
    fn include_with_an_argument_other_than_if_is_refused() {
        // §5.4.1 Argument Names.
        let err = error("subscription { a { b @include(if: true, unless: false) } }");
        assert!(err.message().contains("only the argument `if`"), "{err}");
    }

    #[test]
    fn include_without_if_is_refused() {
        // §5.4.2.1 Required Arguments.
        assert_eq!(
            rejects("subscription { a { b @include } }"),
            (Kind::Syntax, at(1, 22))
        );
    }

    #[test]
    fn skip_with_a_null_or_non_boolean_literal_is_refused() {
        // §5.6.1 Values of Correct Type: `if` is `Boolean!`.
        for value in ["null", "\"yes\"", "1", "ENABLED"] {
            let query = format!("subscription {{ a {{ b @skip(if: {value}) }} }}");
            assert_eq!(error(&query).kind(), Kind::Syntax, "{value}");
        }
    }

    #[test]
    fn condition_variable_of_another_type_is_refused() {
        // §5.8.5 All Variable Usages Are Allowed: `if` expects `Boolean!`.
        for ty in ["String!", "Int", "[Boolean!]!", "Boolean", "Boolean = null"] {
            let query = format!("subscription ($v: {ty}) {{ a {{ b @include(if: $v) }} }}");
            let err = error(&query);
            assert_eq!(err.kind(), Kind::InvalidVariables, "{ty}");
            assert!(err.message().contains("expects `Boolean!`"), "{err}");
        }
    }

    #[test]
    fn condition_variable_that_is_boolean_with_a_default_is_allowed() {
        // §5.8.5: a nullable variable with a non-null default may fill a non-null position.
        let d = doc("subscription ($v: Boolean = true) { a { b @skip(if: $v) } }");
        assert_eq!(first(d.selection()).conditions.len(), 1);
    }

    #[test]
    fn condition_variable_types_are_checked_inside_fragments() {
        let query = "subscription ($v: ID!) { a { ...F } }\nfragment F on T { b @skip(if: $v) }";
        assert_eq!(rejects(query), (Kind::InvalidVariables, at(2, 31)));
    }

    #[test]
    fn unused_fragment_is_refused_at_its_definition() {
        // §5.5.1.4 Fragments Must Be Used.
        let err = error("subscription { a }\nfragment Unused on T { x }");
        assert_eq!((err.kind(), err.position()), (Kind::UnusedFragment, at(2, 1)));
        assert!(err.message().contains("`Unused`"), "{err}");
    }

    #[test]
    fn fragment_used_only_by_another_operation_is_used() {
        // §5.5.1.4 counts uses by any operation of the document.
        let query = "subscription A { a }\nsubscription B { b { ...F } }\nfragment F on T { x }";
        let d = parse_with(query, Some("A"), DocumentLimits::default());
        assert_eq!(d.map(|d| d.root_field().to_owned()), Ok("a".to_owned()));
    }

    #[test]
    fn fragment_used_only_through_another_fragment_is_used() {
        let query = "subscription { a { ...F } }\nfragment F on T { ...G }\nfragment G on T { x }";
        assert_eq!(keys(doc(query).selection()), ["x"]);
    }

    // Limits: any value of any field is refused or accepted, never a panic.

    fn with(change: impl FnOnce(&mut DocumentLimits)) -> DocumentLimits {
        let mut limits = DocumentLimits::default();
        change(&mut limits);
        limits
    }

    const SMALL: &str = "subscription { a { b } }";

    #[test]
    fn zero_max_bytes_refuses_every_document_as_too_large() {
        let err = parse_with(SMALL, None, with(|l| l.max_bytes = 0)).err();
        assert_eq!(err, Some((Kind::TooLarge, None)));
    }

    #[test]
    fn zero_max_tokens_refuses_every_document_as_too_large() {
        let err = parse_with(SMALL, None, with(|l| l.max_tokens = 0)).err();
        assert_eq!(err.map(|e| e.0), Some(Kind::TooLarge));
    }

    #[test]
    fn zero_max_depth_refuses_every_document_as_too_deep() {
        let err = parse_with("subscription { a }", None, with(|l| l.max_depth = 0)).err();
        assert_eq!(err.map(|e| e.0), Some(Kind::TooDeep));
    }

    #[test]
    fn zero_max_output_fields_refuses_every_document() {
        let err = parse_with(SMALL, None, with(|l| l.max_output_fields = 0)).err();
        assert_eq!(err, Some((Kind::TooManyOutputFields, at(1, 16))));
    }

    #[test]
    fn output_field_limit_counts_every_field_and_alias() {
        let limits = with(|l| l.max_output_fields = 4);
        let four = "subscription { a { x y: x ...F } }\nfragment F on T { z }";
        assert!(parse_with(four, None, limits).is_ok());
        let five = "subscription { a { x y: x ...F w } }\nfragment F on T { z }";
        let err = SubscriptionDocument::parse(five, None, &limits).err();
        let err = err.map(|e| {
            (
                e.kind(),
                e.position(),
                e.message().contains("more than 4 output fields"),
            )
        });
        assert_eq!(err, Some((Kind::TooManyOutputFields, at(1, 32), true)));
    }

    #[test]
    fn max_limits_parse_a_document_without_panicking() {
        let limits = DocumentLimits {
            max_bytes: usize::MAX,
            max_depth: usize::MAX,
            max_tokens: usize::MAX,
            max_output_fields: usize::MAX,
        };
        let d = parse_with(
            "subscription ($v: Boolean!) { a { b @skip(if: $v) } }",
            None,
            limits,
        );
        assert_eq!(d.map(|d| d.max_depth()), Ok(2));
    }

    /// `depth` selection sets nested in each other, the root one included.
    fn nested(depth: usize) -> String {
        format!("subscription {}{}", "{ a ".repeat(depth), "}".repeat(depth))
    }

    #[test]
    fn huge_max_depth_acts_as_the_supported_depth() {
        let limits = with(|l| l.max_depth = usize::MAX);
        let deepest = parse_with(&nested(MAX_SUPPORTED_DEPTH), None, limits);
        assert_eq!(deepest.map(|d| d.max_depth()), Ok(MAX_SUPPORTED_DEPTH));
        let err = parse_with(&nested(MAX_SUPPORTED_DEPTH + 1), None, limits).err();
        assert_eq!(err.map(|e| e.0), Some(Kind::TooDeep));
    }

    #[test]
    fn huge_max_depth_refuses_deeply_nested_values_without_overflowing_the_stack() {
        let limits = DocumentLimits {
            max_bytes: usize::MAX,
            max_depth: usize::MAX,
            max_tokens: usize::MAX,
            max_output_fields: usize::MAX,
        };
        let deep = format!(
            "subscription {{ a(x: {}1{}) }}",
            "[".repeat(20_000),
            "]".repeat(20_000)
        );
        let err = parse_with(&deep, None, limits).err();
        assert_eq!(err.map(|e| e.0), Some(Kind::TooDeep));
    }

    #[test]
    fn long_fragment_chain_with_a_cycle_is_found_without_recursion() {
        let limits = with(|l| (l.max_bytes, l.max_tokens) = (usize::MAX, usize::MAX));
        let mut query = String::from("subscription { a { ...F0 } }\n");
        for i in 0..20_000 {
            query.push_str(&format!("fragment F{i} on T {{ ...F{} }}\n", i + 1));
        }
        query.push_str("fragment F20000 on T { ...F0 }");
        let err = parse_with(&query, None, limits).err();
        assert_eq!(err.map(|e| e.0), Some(Kind::FragmentCycle));
    }

    #[test]
    fn long_fragment_chain_is_inlined_without_recursion() {
        let limits = with(|l| (l.max_bytes, l.max_tokens) = (usize::MAX, usize::MAX));
        let mut query = String::from("subscription ($v: Boolean!) { a { ...F0 } }\n");
        for i in 0..20_000 {
            query.push_str(&format!("fragment F{i} on T {{ ...F{} @skip(if: $v) }}\n", i + 1));
        }
        query.push_str("fragment F20000 on T { x }");
        let d = parse_with(&query, None, limits);
        assert_eq!(d.map(|d| first(d.selection()).conditions.len()), Ok(1));
    }

    #[test]
    fn long_conditions_list_drops_without_recursion() {
        let condition = IncludeCondition::IfVariable {
            name: "v".into(),
            include_when: true,
        };
        let long: Conditions = std::iter::repeat_n(condition, 1_000_000).collect();
        assert_eq!(long.len(), 1_000_000);
        drop(long);
    }
}
