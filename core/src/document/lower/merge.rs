//! Field merging: occurrences of one response key become one output field.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use apollo_parser::cst::{self, CstNode};
use apollo_parser::SyntaxNode;

use super::collect::{ChainId, Occurrence, UNCONDITIONAL};
use super::{name_units, offset, Kind, Lowering, NameId};
use crate::document::{Conditions, DocumentError, FieldSelection, IncludeCondition, SelectionSet};

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

impl Lowering<'_> {
    /// Groups collected occurrences by response key and merges each group;
    /// `depth` is the depth of the selection set being built and `path_len` the
    /// length of its dot path from the root.
    pub(super) fn build_fields(
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
}
