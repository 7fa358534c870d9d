//! Why a document was refused, and where.

use std::fmt;

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
    pub(super) fn at(source: &str, offset: usize) -> Self {
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
    ///
    /// [`DocumentLimits::max_tokens`]: super::DocumentLimits::max_tokens
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
    /// The document breaks a validation rule of the executor's
    /// [`Schema`](crate::Schema): an unknown field, argument, type or directive, a
    /// fragment on the wrong type, a leaf with a selection, an object without one, a
    /// variable of an incompatible type. [`DocumentError::diagnostics`] lists every one.
    SchemaValidation,
}

/// One problem found in a document or a schema: its message and, when known, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// A human-readable description, without the position.
    pub message: String,
    /// Where the problem is, when it has a location.
    pub position: Option<Position>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", position_prefix(&self.position), self.message)
    }
}

/// Why a document or its variables were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}{}", position_prefix(.position), more_suffix(.more))]
pub struct DocumentError {
    kind: DocumentErrorKind,
    message: String,
    position: Option<Position>,
    /// The problems after the first, when validation reports several.
    more: Vec<Diagnostic>,
}

/// The problems after the first, each with its position, so that a log line or an
/// exception message holds all of them.
fn more_suffix(more: &[Diagnostic]) -> String {
    more.iter().map(|d| format!("; {d}")).collect()
}

fn position_prefix(position: &Option<Position>) -> String {
    position.map(|p| format!("at {p}: ")).unwrap_or_default()
}

impl DocumentError {
    pub(crate) fn new(
        kind: DocumentErrorKind,
        message: impl Into<String>,
        position: Option<Position>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            position,
            more: Vec::new(),
        }
    }

    /// An error reporting every problem of `diagnostics`, the first one as its message and
    /// position; `None` when there is none.
    pub(crate) fn from_diagnostics(kind: DocumentErrorKind, diagnostics: Vec<Diagnostic>) -> Option<Self> {
        let mut diagnostics = diagnostics.into_iter();
        let first = diagnostics.next()?;
        Some(Self {
            kind,
            message: first.message,
            position: first.position,
            more: diagnostics.collect(),
        })
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

    /// Every problem found, in document order: the one [`message`](Self::message) and
    /// [`position`](Self::position) describe, then the others. Validation against a
    /// [`Schema`](crate::Schema) reports them all; the structural checks stop at the first.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let first = Diagnostic {
            message: self.message.clone(),
            position: self.position,
        };
        std::iter::once(first).chain(self.more.iter().cloned()).collect()
    }
}
