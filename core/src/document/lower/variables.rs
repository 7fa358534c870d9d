//! The variables an operation declares, and the rules about where they are used.

use std::collections::{HashMap, HashSet};

use apollo_parser::cst::{self, CstNode};

use super::{name_text, Kind, Lowering};
use crate::document::variables::{check_value, TypeRef};
use crate::document::{ArgumentValue, DocumentError, VariableDefinition};

impl Lowering<'_> {
    pub(super) fn variable_definitions(
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
    pub(super) fn check_variable_uses(
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
