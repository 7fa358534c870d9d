//! The application's GraphQL schema: subscription documents validated against it.
//!
//! - [`Schema`]: SDL text parsed and validated once with apollo-compiler, shared by every
//!   subscription of an executor ([`ExecutorConfig::schema`](crate::ExecutorConfig::schema)).
//! - [`SchemaLimits`]: the bounds on the SDL (size, nesting, tokens).
//! - [`SchemaError`]: why an SDL was refused, with every problem and its line and column.
//!
//! With a schema, a document that passed the structural checks of
//! [`SubscriptionDocument::parse`] is validated by every rule of the GraphQL
//! specification for executable documents, and its variables are coerced by their declared
//! types (CoerceVariableValues): defaults, `Int` versus `Float`, enums, input objects,
//! non-null. The schema also says where each subscription listens: a root field of the
//! subscription type marked `@channel(name: "…")` listens on that channel, others on the
//! channel named like the field.
//!
//! Files: `mod.rs` the types and SDL parsing; `check.rs` the validation of a document and
//! its variables, and the schema coordinates it reads.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use apollo_compiler::ast::{Definition, Value as AstValue};
use apollo_compiler::parser::Parser;
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::{DiagnosticList, Valid};

use crate::document::{Diagnostic, Position};
use crate::event::validate_channel;

mod check;
mod project;

pub(crate) use self::project::SchemaProjection;

/// The name of the directive mapping a subscription root field to a channel.
const CHANNEL_DIRECTIVE: &str = "channel";

/// Defined for the application when its SDL does not define `@channel` itself.
const CHANNEL_DIRECTIVE_SDL: &str = "directive @channel(name: String!) on FIELD_DEFINITION\n";

/// Bounds applied to SDL text before and while it is parsed.
///
/// The SDL comes from the application, not from clients, but a schema printed by a
/// framework can be large, and one read from a file or a registry is outside input all
/// the same: it is bounded like documents are.
///
/// # Examples
///
/// ```
/// use subcast_core::{Schema, SchemaLimits};
///
/// let limits = SchemaLimits { max_bytes: 64, ..SchemaLimits::default() };
/// let sdl = "type Query { a: Int } type Subscription { ticks: Int }";
/// assert!(Schema::parse_with_limits(sdl, &limits).is_ok());
/// let refused = Schema::parse_with_limits(&sdl.repeat(2), &limits).unwrap_err();
/// assert!(refused.to_string().contains("more than the limit of 64"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaLimits {
    /// Maximum length of the SDL in bytes, checked before parsing.
    pub max_bytes: usize,
    /// Maximum nesting the parser follows (list types, values of default arguments and
    /// directives); at most 256.
    pub max_depth: usize,
    /// Maximum number of lexer tokens (whitespace and comments included).
    pub max_tokens: usize,
}

/// The largest `max_depth` honoured: parsing recurses once per level.
const MAX_SUPPORTED_DEPTH: usize = 256;

impl Default for SchemaLimits {
    /// 8 MiB, depth 64, 2,000,000 tokens: an order of magnitude above large production
    /// schemas (tens of thousands of lines).
    fn default() -> Self {
        Self {
            max_bytes: 8 * 1024 * 1024,
            max_depth: 64,
            max_tokens: 2_000_000,
        }
    }
}

/// Why an SDL was refused: every problem found, each with its line and column.
///
/// # Examples
///
/// ```
/// use subcast_core::Schema;
///
/// let error = Schema::parse("type Subscription { a: Missing b: Gone } type Query { a: Int }").unwrap_err();
/// let lines: Vec<String> = error.diagnostics().iter().map(ToString::to_string).collect();
/// assert_eq!(lines.len(), 2);
/// assert!(lines[0].starts_with("at line 1, column 24"), "{lines:?}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SchemaError {
    diagnostics: Vec<Diagnostic>,
}

impl SchemaError {
    fn one(message: impl Into<String>) -> Self {
        Self {
            diagnostics: vec![Diagnostic {
                message: message.into(),
                position: None,
            }],
        }
    }

    /// Every problem found, in source order.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid schema")?;
        for (i, diagnostic) in self.diagnostics.iter().enumerate() {
            let separator = if i == 0 { ": " } else { "; " };
            write!(f, "{separator}{diagnostic}")?;
        }
        Ok(())
    }
}

/// The application's schema, parsed and validated once; cheap to clone.
///
/// # Examples
///
/// ```
/// use subcast_core::Schema;
///
/// let schema = Schema::parse(
///     r#"
///     type Query { ok: Boolean }
///     type Order { id: ID! total: Float }
///     type Subscription {
///       orders: Order!
///       bigOrders: Order! @channel(name: "orders")
///     }
///     "#,
/// )?;
/// assert_eq!(schema.channel("orders"), Some("orders"));
/// assert_eq!(schema.channel("bigOrders"), Some("orders"));
/// assert!(schema.has_coordinate("Order.total"));
/// assert!(!schema.has_coordinate("Order.totl"));
/// # Ok::<(), subcast_core::SchemaError>(())
/// ```
#[derive(Clone)]
pub struct Schema {
    inner: Arc<Inner>,
    type_field: Arc<str>,
}

struct Inner {
    compiled: Valid<apollo_compiler::Schema>,
    /// Root subscription field → the channel its `@channel` directive names.
    channels: HashMap<String, Arc<str>>,
    sdl_bytes: usize,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("types", &self.inner.compiled.types.len())
            .field("sdl_bytes", &self.inner.sdl_bytes)
            .field("channels", &self.inner.channels)
            .field("type_field", &self.type_field)
            .finish()
    }
}

impl Schema {
    /// Parse and validate `sdl` with the default [`SchemaLimits`].
    pub fn parse(sdl: &str) -> Result<Self, SchemaError> {
        Self::parse_with_limits(sdl, &SchemaLimits::default())
    }

    /// Parse and validate `sdl` within `limits`.
    ///
    /// The SDL must define a subscription root type. `@channel(name: String!)` is defined
    /// for it unless it defines the directive itself; every channel it names must be a valid
    /// channel name. Fails with every problem found.
    pub fn parse_with_limits(sdl: &str, limits: &SchemaLimits) -> Result<Self, SchemaError> {
        if sdl.len() > limits.max_bytes {
            return Err(SchemaError::one(format!(
                "schema is {} bytes, more than the limit of {}",
                sdl.len(),
                limits.max_bytes
            )));
        }
        let mut parser = Parser::new()
            .recursion_limit(limits.max_depth.min(MAX_SUPPORTED_DEPTH))
            .token_limit(limits.max_tokens);
        let ast = parser
            .parse_ast(sdl, "schema.graphql")
            .map_err(|e| SchemaError::from_list(&e.errors))?;
        let defines_channel = ast
            .definitions
            .iter()
            .any(|d| matches!(d, Definition::DirectiveDefinition(def) if def.name == CHANNEL_DIRECTIVE));
        let mut builder = apollo_compiler::Schema::builder().add_ast(&ast);
        if !defines_channel {
            builder = builder.parse(CHANNEL_DIRECTIVE_SDL, "subcast-directives.graphql");
        }
        let compiled = builder
            .build()
            .and_then(apollo_compiler::Schema::validate)
            .map_err(|e| SchemaError::from_list(&e.errors))?;
        let Some(subscription) = compiled.schema_definition.subscription.as_ref() else {
            return Err(SchemaError::one("the schema has no subscription root type"));
        };
        let mut channels = HashMap::new();
        let mut problems = Vec::new();
        if let Some(ExtendedType::Object(root)) = compiled.types.get(subscription.as_str()) {
            for field in root.fields.values() {
                let Some(directive) = field.directives.get(CHANNEL_DIRECTIVE) else {
                    continue;
                };
                let position = field
                    .location()
                    .and_then(|l| l.line_column(&compiled.sources))
                    .map(|lc| Position {
                        line: lc.line,
                        column: lc.column,
                    });
                let name = directive.specified_argument_by_name("name").map(|v| &**v);
                let checked = match name {
                    Some(AstValue::String(name)) => validate_channel(name)
                        .map(|()| name.clone())
                        .map_err(|e| e.to_string()),
                    _ => Err("@channel needs a string `name`".to_owned()),
                };
                match checked {
                    Ok(name) => {
                        channels.insert(field.name.to_string(), Arc::from(name));
                    }
                    Err(message) => problems.push(Diagnostic {
                        message: format!("field {}.{}: {message}", root.name, field.name),
                        position,
                    }),
                }
            }
        }
        if !problems.is_empty() {
            return Err(SchemaError {
                diagnostics: problems,
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                compiled,
                channels,
                sdl_bytes: sdl.len(),
            }),
            type_field: Arc::from("__typename"),
        })
    }

    /// The channel a subscription on the root field `field` listens on: the name of its
    /// `@channel` directive, else the field's own name; `None` when the subscription type
    /// has no such field.
    pub fn channel(&self, field: &str) -> Option<&str> {
        if let Some(channel) = self.inner.channels.get(field) {
            return Some(channel);
        }
        let root = self.subscription_type()?;
        match self.inner.compiled.types.get(root)? {
            ExtendedType::Object(object) => object.fields.get_key_value(field).map(|(k, _)| k.as_str()),
            _ => None,
        }
    }

    /// The name of the subscription root type (`Subscription` unless the SDL's `schema`
    /// definition says otherwise).
    pub fn subscription_type(&self) -> Option<&str> {
        self.inner
            .compiled
            .schema_definition
            .subscription
            .as_ref()
            .map(|name| name.as_str())
    }

    /// Whether `coordinate` (`Type.field`) names a field of an object or interface type,
    /// or a field of an input object type.
    pub fn has_coordinate(&self, coordinate: &str) -> bool {
        let Some((type_name, field)) = coordinate.split_once('.') else {
            return false;
        };
        match self.inner.compiled.types.get(type_name) {
            Some(ExtendedType::Object(t)) => t.fields.contains_key(field),
            Some(ExtendedType::Interface(t)) => t.fields.contains_key(field),
            Some(ExtendedType::InputObject(t)) => t.fields.contains_key(field),
            _ => false,
        }
    }

    /// Whether `name` is a type of the schema (built-in scalars included).
    pub fn has_type(&self, name: &str) -> bool {
        self.inner.compiled.types.contains_key(name)
    }

    /// The field of the event data naming the object type of a value whose declared type
    /// is an interface or a union (default `__typename`): the typed projection needs it to
    /// apply fragments and answer `__typename`.
    pub fn type_field(&self) -> &str {
        &self.type_field
    }

    /// This schema, reading the object type of abstract values from `field` of the data.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::Schema;
    ///
    /// let schema = Schema::parse("type Query { a: Int } type Subscription { a: Int }")?;
    /// assert_eq!(schema.type_field(), "__typename");
    /// assert_eq!(schema.with_type_field("kind").type_field(), "kind");
    /// # Ok::<(), subcast_core::SchemaError>(())
    /// ```
    pub fn with_type_field(mut self, field: &str) -> Self {
        self.type_field = Arc::from(field);
        self
    }

    fn compiled(&self) -> &Valid<apollo_compiler::Schema> {
        &self.inner.compiled
    }
}

impl SchemaError {
    fn from_list(list: &DiagnosticList) -> Self {
        Self {
            diagnostics: diagnostics(list),
        }
    }
}

/// Every diagnostic of `list`, with its line and column.
fn diagnostics(list: &DiagnosticList) -> Vec<Diagnostic> {
    list.iter()
        .map(|diagnostic| {
            let json = diagnostic.to_json();
            let position = json.locations.first().map(|lc| Position {
                line: lc.line,
                column: lc.column,
            });
            Diagnostic {
                message: json.message,
                position,
            }
        })
        .collect()
}
