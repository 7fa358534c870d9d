//! The rules a subscription document obeys, through the public API: what parses, what is
//! refused with which [`DocumentErrorKind`] and where, what the lowered selection holds,
//! how variables are checked, and that any limit is honoured without a panic.
//!
//! The GraphQL spec rules cite the October 2021 edition.

use serde_json::{json, Map, Value};
use subcast_core::DocumentErrorKind as Kind;
use subcast_core::{
    ArgumentValue, Conditions, DocumentError, DocumentLimits, FieldSelection, IncludeCondition, Position,
    SelectionSet, SubscriptionDocument, VariableDefinition,
};

/// The largest `max_depth` honoured, as [`DocumentLimits::max_depth`] documents.
const MAX_SUPPORTED_DEPTH: usize = 64;

type Outcome = (Kind, Option<Position>);

fn parse_with(q: &str, name: Option<&str>, limits: DocumentLimits) -> Result<SubscriptionDocument, Outcome> {
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
    let err = SubscriptionDocument::parse("subscription A { a }", Some("Nope"), &DocumentLimits::default());
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
    let unlocated = error("fragment F on User { id }");
    assert_eq!(
        (unlocated.position(), unlocated.to_string()),
        (None, unlocated.message().to_owned())
    );
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
