//! Collecting a selection set: fragments inlined, `@skip`/`@include` as interned chains.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use apollo_parser::cst::{self, CstNode};

use super::{fragment_name, name_text, offset, Lowering, NameId};
use crate::document::DocumentError;

/// An interned conjunction of `@skip`/`@include` literals, see [`ConditionChains`].
pub(super) type ChainId = usize;

/// The chain with no condition.
pub(super) const UNCONDITIONAL: ChainId = 0;

/// One `@skip`/`@include` on a variable: the variable and the value of `include_when`.
pub(super) type Literal = (NameId, bool);

/// Interned conjunctions of literals, each stored as its parent chain plus one literal.
///
/// A field inherits the conditions of the fragments it sits in by referring to their
/// chain, never by copying it, and two chains are equal exactly when their ids are,
/// so comparing conditions while merging costs nothing whatever their length.
pub(super) struct ConditionChains {
    pub(super) nodes: Vec<ChainNode>,
    pub(super) index: HashMap<(ChainId, Literal), ChainId>,
}

pub(super) struct ChainNode {
    pub(super) parent: ChainId,
    pub(super) literal: Literal,
    pub(super) len: usize,
}

impl ConditionChains {
    pub(super) fn new() -> Self {
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

    pub(super) fn push(&mut self, chain: ChainId, literal: Literal) -> ChainId {
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
pub(super) enum DirectiveConditions {
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
pub(super) struct FieldNames {
    pub(super) key: NameId,
    pub(super) name: NameId,
}

/// One occurrence of a field while collecting a selection set, under the
/// conditions of the fragments and directives it sits in.
pub(super) struct Occurrence {
    pub(super) field: cst::Field,
    pub(super) names: FieldNames,
    pub(super) chain: ChainId,
    /// Whether a `@skip`/`@include` (even a literal one) applies; only the root cares.
    pub(super) conditioned: bool,
}

impl Lowering<'_> {
    /// Inlines the fragments of `set` into `out`, each field under `chain` plus the
    /// conditions of the fragments it sits in. A fragment already spread under the
    /// same conditions while collecting this selection set is skipped, as GraphQL's
    /// CollectFields does (`visited`); the walk uses an explicit stack, so chains of
    /// fragments cannot exhaust the thread's stack. At the root, literal conditions
    /// are kept visible (`conditioned`) rather than applied, since any is refused there.
    pub(super) fn collect(
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
}
