//! The rules a whole document obeys, checked before lowering: one operation to run,
//! unique arguments, `@skip`/`@include` where they belong, fragments defined, used and
//! acyclic.

use std::collections::{HashMap, HashSet};

use apollo_parser::cst::{self, CstNode};
use apollo_parser::SyntaxNode;

use super::{fragment_name, name_text, offset, Kind, Lowering};
use crate::document::{DocumentError, Position};

impl Lowering<'_> {
    pub(super) fn select_operation(
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
    pub(super) fn check_arguments_and_directives(&self, document: &SyntaxNode) -> Result<(), DocumentError> {
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
    pub(super) fn check_fragments(
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
}
