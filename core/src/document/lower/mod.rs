//! Lowering: the conversion of a document's syntax tree into a [`SubscriptionDocument`].
//!
//! The type [`Lowering`] holds what one conversion needs: the fragments, interned names,
//! per-node memos and the work budget that keeps its cost linear in the document (see
//! [`DocumentLimits::max_tokens`]).
//!
//! - `mod.rs`: [`Lowering`], its budget, and the single-root-field rule.
//! - `validate.rs`: the rules of the whole document: one operation to run, unique
//!   arguments, `@skip`/`@include` where they belong, fragments defined, used and acyclic.
//! - `variables.rs`: variable definitions, and where variables may be used.
//! - `collect.rs`: a selection set with its fragments inlined, `@skip`/`@include` kept
//!   as interned condition chains.
//! - `merge.rs`: fields with one response key merged into one output field, counted
//!   against `max_output_fields`.
//! - `arguments.rs`: argument values, and their comparison when fields merge.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use apollo_parser::cst::{self, CstNode};
use apollo_parser::SyntaxNode;

use self::collect::{ChainId, ConditionChains, DirectiveConditions, FieldNames, UNCONDITIONAL};
use super::DocumentErrorKind as Kind;
use super::{
    Conditions, DocumentError, DocumentErrorKind, DocumentLimits, FieldSelection, Position, SelectionSet,
    SubscriptionDocument, MAX_SUPPORTED_DEPTH,
};

mod arguments;
mod collect;
mod merge;
mod validate;
mod variables;

/// Work units lowering may spend per token of the document.
const WORK_UNITS_PER_TOKEN: usize = 4;

/// Work units lowering may spend per output field the limits allow (what a small
/// fragment spread in many places legitimately costs).
const WORK_UNITS_PER_OUTPUT_FIELD: usize = 8;

/// Bytes of a name copied into the lowered document that cost one work unit.
const BYTES_PER_WORK_UNIT: usize = 8;

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

/// The conversion of one document's syntax tree into a [`SubscriptionDocument`].
///
/// Its cost is linear in the document: every per-node computation (names, directive
/// conditions, argument values) is memoised by node; inherited conditions are interned
/// chains; a fragment is walked once per selection set and condition chain; and the
/// remaining work, which fragments may multiply, is charged to `budget`.
pub(super) struct Lowering<'a> {
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
    pub(super) fn new(source: &'a str, limits: &DocumentLimits, tokens: usize) -> Self {
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

    /// Lowers `document`, parsed from the source: selects the operation (by
    /// `operation_name` when given), checks the rules that hold for the whole document
    /// and builds the root field.
    pub(super) fn lower(
        mut self,
        document: &cst::Document,
        operation_name: Option<&str>,
    ) -> Result<SubscriptionDocument, DocumentError> {
        let mut operations = Vec::new();
        for definition in document.definitions() {
            match definition {
                cst::Definition::OperationDefinition(op) => operations.push(op),
                cst::Definition::FragmentDefinition(fragment) => {
                    let name = fragment_name(fragment.fragment_name());
                    if self.fragments.insert(name.clone(), fragment.clone()).is_some() {
                        let message = format!("fragment `{name}` is defined more than once");
                        return Err(self.err(Kind::Syntax, message, fragment.syntax()));
                    }
                }
                other => {
                    let message = format!(
                        "only executable definitions (operations and fragments) are allowed, found {}",
                        other.kind()
                    );
                    return Err(self.err(Kind::Syntax, message, other.syntax()));
                }
            }
        }
        let op = self.select_operation(&operations, operation_name)?;
        let op_name = op.name().map(|n| n.text().to_string());
        match op.operation_type() {
            Some(ty) if ty.subscription_token().is_some() => {}
            ty => {
                let what = match ty {
                    Some(ty) if ty.mutation_token().is_some() => "a mutation",
                    _ => "a query",
                };
                let message = format!("the selected operation is {what}, not a subscription");
                return Err(self.err(Kind::NotSubscription, message, op.syntax()));
            }
        }
        self.check_arguments_and_directives(document.syntax())?;
        let reachable = self.check_fragments(document.syntax(), &operations, &op)?;
        let (variables, variable_types) = self.variable_definitions(&op)?;
        self.check_variable_uses(&op, &reachable, &variables, &variable_types, op_name.as_deref())?;

        let selection_set = op
            .selection_set()
            .ok_or_else(|| self.err(Kind::Syntax, "operation has no selection set", op.syntax()))?;
        let (root, root_node) = self.root_field(&selection_set)?;
        let root_arguments = root_node.map(|f| self.arguments(&f)).transpose()?;
        let max_depth = 1 + root.selection.as_ref().map_or(0, SelectionSet::depth);
        Ok(SubscriptionDocument {
            source: self.source.to_owned(),
            operation_name: op_name,
            root,
            root_arguments: root_arguments.unwrap_or_default(),
            variables,
            variable_types,
            max_depth,
            executable: None,
        })
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
}
