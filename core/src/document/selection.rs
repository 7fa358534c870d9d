//! The selection model: what a lowered document selects, and under which conditions.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

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
    ///
    /// [`SubscriptionDocument::effective_variables`]: super::SubscriptionDocument::effective_variables
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
    ///
    /// [`SubscriptionDocument::effective_variables`]: super::SubscriptionDocument::effective_variables
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
    pub(super) fn depth(&self) -> usize {
        let below = self.fields.iter().filter_map(|f| f.selection.as_ref());
        1 + below.map(SelectionSet::depth).max().unwrap_or(0)
    }
}
