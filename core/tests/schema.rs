//! Subscriptions validated against the application's schema, one behaviour per test.

use std::sync::Arc;

use serde_json::{json, Value};
use subcast_core::{
    DocumentErrorKind, Error, Event, ExecutorConfig, Schema, SchemaLimits, SubscriptionExecutor,
    SubscriptionKey, SubscriptionRequest, INVALID_DOCUMENT,
};

const SDL: &str = r#"
type Query { ok: Boolean }

enum Size { S M L }

input Range { min: Float! max: Float }

interface Node { id: ID! }

type Customer implements Node { id: ID! name: String }

type Order implements Node {
  id: ID!
  total: Float
  quantity: Int
  size: Size
  customer: Customer
  tags: [String!]
}

union Thing = Order | Customer

type Subscription {
  orders(min: Int, size: Size, range: Range, ids: [ID!]): Order!
  bigOrders: Order! @channel(name: "orders")
  things: Thing
  count: Int
}
"#;

fn schema() -> Schema {
    Schema::parse(SDL).unwrap()
}

fn executor() -> SubscriptionExecutor {
    SubscriptionExecutor::new(ExecutorConfig::default().allow_anonymous(true).schema(schema()))
}

fn subscribe(
    executor: &SubscriptionExecutor,
    query: &str,
    variables: Value,
) -> Result<SubscriptionKey, Error> {
    executor.register_subscription(SubscriptionRequest::new("c", "1", query).variables(variables))
}

fn refused(query: &str) -> Error {
    subscribe(&executor(), query, Value::Null).expect_err("the document is refused")
}

fn error_frame(error: &Error) -> Value {
    serde_json::from_slice(&error.to_error_frame("1")).unwrap()
}

fn variables_refused(query: &str, variables: Value) -> Error {
    let error = subscribe(&executor(), query, variables).expect_err("the variables are refused");
    match &error {
        Error::Document(document) => {
            assert_eq!(document.kind(), DocumentErrorKind::InvalidVariables, "{error}")
        }
        other => panic!("not a document error: {other}"),
    }
    error
}

#[test]
fn an_sdl_that_does_not_parse_is_refused_with_every_syntax_error() {
    let error = Schema::parse("type Query { a: Int\ntype Subscription { b: }").unwrap_err();
    assert!(error.diagnostics().len() >= 2, "{error}");
    assert!(
        error.diagnostics().iter().all(|d| d.position.is_some()),
        "{error}"
    );
}

#[test]
fn an_sdl_that_does_not_validate_is_refused_with_every_error_and_its_line() {
    let sdl = "type Query { a: Int }\ntype Subscription {\n  a: Missing\n  b: Gone\n}";
    let error = Schema::parse(sdl).unwrap_err();
    let lines: Vec<usize> = error
        .diagnostics()
        .iter()
        .filter_map(|d| d.position)
        .map(|p| p.line)
        .collect();
    assert_eq!(lines, [3, 4], "{error}");
    assert!(error.to_string().contains("Missing"), "{error}");
}

#[test]
fn an_sdl_without_a_subscription_type_is_refused() {
    let error = Schema::parse("type Query { a: Int }").unwrap_err();
    assert!(error.to_string().contains("no subscription root type"), "{error}");
}

#[test]
fn an_sdl_over_the_byte_limit_is_refused_before_parsing() {
    let limits = SchemaLimits {
        max_bytes: 100,
        ..SchemaLimits::default()
    };
    let sdl = format!("type Subscription {{ a: Int }} {}", "# padding\n".repeat(20));
    let error = Schema::parse_with_limits(&sdl, &limits).unwrap_err();
    assert!(
        error.to_string().contains("more than the limit of 100"),
        "{error}"
    );
}

#[test]
fn a_deeply_nested_sdl_is_refused_by_the_depth_limit() {
    let depth = 100_000;
    let sdl = format!(
        "type Subscription {{ a(x: {}Int{}): Int }}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let error = Schema::parse(&sdl).unwrap_err();
    assert!(error.to_string().contains("recursion"), "{error}");
}

#[test]
fn an_sdl_with_too_many_tokens_is_refused() {
    let limits = SchemaLimits {
        max_tokens: 1_000,
        ..SchemaLimits::default()
    };
    let fields: String = (0..1_000).map(|i| format!("f{i}: Int ")).collect();
    let sdl = format!("type Query {{ a: Int }} type Subscription {{ {fields} }}");
    assert!(Schema::parse_with_limits(&sdl, &limits).is_err());
    assert!(Schema::parse(&sdl).is_ok());
}

#[test]
fn a_channel_directive_naming_an_invalid_channel_is_refused() {
    let error =
        Schema::parse("type Query { a: Int } type Subscription { a: Int @channel(name: \"\") }").unwrap_err();
    assert!(error.to_string().contains("Subscription.a"), "{error}");
}

#[test]
fn an_sdl_defining_the_channel_directive_itself_is_accepted() {
    let sdl = "directive @channel(name: String!) on FIELD_DEFINITION\n\
               type Query { a: Int } type Subscription { a: Int @channel(name: \"x\") }";
    assert_eq!(Schema::parse(sdl).unwrap().channel("a"), Some("x"));
}

#[test]
fn a_field_missing_from_its_type_is_refused_with_its_line_and_column() {
    let error = refused("subscription {\n  orders {\n    id totl\n  }\n}");
    let frame = error_frame(&error);
    assert_eq!(frame["type"], "error");
    assert_eq!(frame["payload"][0]["extensions"]["code"], INVALID_DOCUMENT);
    assert_eq!(
        frame["payload"][0]["extensions"]["locations"],
        json!([{"line": 3, "column": 8}]),
        "{frame}"
    );
    let message = frame["payload"][0]["message"].as_str().unwrap();
    assert!(message.contains("`totl`"), "{message}");
}

#[test]
fn every_error_of_a_document_is_in_the_error_frame() {
    let error = refused("subscription { orders { totl id { x } customer } }");
    let frame = error_frame(&error);
    let errors = frame["payload"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "{frame}");
    assert!(
        errors
            .iter()
            .all(|e| e["extensions"]["locations"][0]["line"] == 1),
        "{frame}"
    );
}

#[test]
fn an_unknown_argument_is_refused() {
    let error = refused("subscription { orders(max: 1) { id } }");
    assert!(error.to_string().contains("max"), "{error}");
}

#[test]
fn an_argument_of_the_wrong_type_is_refused() {
    let error = refused("subscription { orders(min: \"ten\") { id } }");
    assert!(
        error.to_string().contains("expected value of type Int"),
        "{error}"
    );
}

#[test]
fn a_leaf_field_with_a_selection_is_refused() {
    refused("subscription { count { id } }");
}

#[test]
fn an_object_field_without_a_selection_is_refused() {
    refused("subscription { orders }");
}

#[test]
fn a_fragment_on_a_type_that_cannot_apply_is_refused() {
    refused("subscription { orders { ... on Customer { name } } }");
    refused("subscription { orders { ...C } } fragment C on Customer { name }");
}

#[test]
fn fragments_on_union_members_are_accepted() {
    let executor = executor();
    let query = "subscription { things { __typename ... on Order { total } ... on Customer { name } } }";
    assert!(subscribe(&executor, query, Value::Null).is_ok());
}

#[test]
fn an_unknown_directive_is_refused() {
    let error = refused("subscription { orders { id @secret } }");
    assert!(error.to_string().contains("secret"), "{error}");
}

#[test]
fn a_variable_of_an_incompatible_type_is_refused() {
    let error = refused("subscription ($min: String) { orders(min: $min) { id } }");
    assert!(error.to_string().contains("min"), "{error}");
}

#[test]
fn an_unused_variable_is_refused() {
    refused("subscription ($min: Int) { orders { id } }");
}

#[test]
fn without_a_schema_the_same_typo_is_accepted() {
    let executor = SubscriptionExecutor::new(ExecutorConfig::default().allow_anonymous(true));
    assert!(subscribe(&executor, "subscription { orders { totl } }", Value::Null).is_ok());
}

#[test]
fn a_string_for_an_int_variable_is_refused_at_subscribe() {
    let query = "subscription ($min: Int) { orders(min: $min) { id } }";
    variables_refused(query, json!({"min": "10"}));
    variables_refused(query, json!({"min": 1.5}));
}

#[test]
fn an_unknown_enum_value_is_refused_at_subscribe() {
    let query = "subscription ($size: Size) { orders(size: $size) { id } }";
    variables_refused(query, json!({"size": "XL"}));
    assert!(subscribe(&executor(), query, json!({"size": "M"})).is_ok());
}

#[test]
fn an_input_object_missing_a_required_field_is_refused_at_subscribe() {
    let query = "subscription ($range: Range) { orders(range: $range) { id } }";
    variables_refused(query, json!({"range": {"max": 3}}));
    variables_refused(query, json!({"range": {"min": 1, "unknown": 3}}));
    assert!(subscribe(&executor(), query, json!({"range": {"min": 1}})).is_ok());
}

#[test]
fn a_null_item_in_a_non_null_list_is_refused_at_subscribe() {
    let query = "subscription ($ids: [ID!]) { orders(ids: $ids) { id } }";
    variables_refused(query, json!({"ids": ["1", null]}));
    assert!(subscribe(&executor(), query, json!({"ids": ["1", 2]})).is_ok());
}

#[test]
fn a_missing_non_null_variable_is_refused_at_subscribe() {
    let query = "subscription ($size: Size!) { orders(size: $size) { id } }";
    variables_refused(query, json!({}));
}

#[test]
fn declared_defaults_are_applied_and_int_is_accepted_for_float() {
    let schema = schema();
    let limits = subcast_core::DocumentLimits::default();
    let query = "subscription ($size: Size = L, $range: Range) { orders(size: $size, range: $range) { id } }";
    let document = subcast_core::SubscriptionDocument::parse(query, None, &limits).unwrap();
    let variables = schema.validate(&document, &json!({"range": {"min": 1}})).unwrap();
    assert_eq!(variables["size"], json!("L"));
    assert_eq!(variables["range"]["min"], json!(1));
}

#[test]
fn a_root_field_with_a_channel_directive_listens_on_that_channel() {
    let executor = executor();
    let key = subscribe(&executor, "subscription { bigOrders { id } }", Value::Null).unwrap();
    let event = Arc::new(Event::new("orderCreated", "orders", json!({"id": "o1"})));
    let report = executor.dispatch_event_to_subscriptions(&event).unwrap();
    assert_eq!(report.delivered, 1);
    let frame: Value = serde_json::from_slice(&executor.next_response(key).unwrap().unwrap()).unwrap();
    assert_eq!(frame["payload"]["data"]["bigOrders"]["id"], "o1");
}

#[test]
fn explicit_channels_still_override_the_schema() {
    let executor = executor();
    let request =
        SubscriptionRequest::new("c", "1", "subscription { bigOrders { id } }").channels(["archive"]);
    let key = executor.register_subscription(request).unwrap();
    let event = Arc::new(Event::new("orderCreated", "archive", json!({"id": "o1"})));
    assert_eq!(
        executor
            .dispatch_event_to_subscriptions(&event)
            .unwrap()
            .delivered,
        1
    );
    assert!(executor.next_response(key).unwrap().is_some());
}

fn rbac_executor(policy: subcast_core::RbacPolicy) -> Result<SubscriptionExecutor, Error> {
    let security = subcast_core::SecurityPolicies::default().rbac(policy);
    SubscriptionExecutor::try_new(ExecutorConfig::default().schema(schema()).security(security))
}

fn subscribe_as(executor: &SubscriptionExecutor, role: &str, query: &str) -> Result<SubscriptionKey, Error> {
    let context = subcast_core::SecurityContext::new("u").with_roles([role]);
    executor.register_subscription(SubscriptionRequest::new("c", role, query).security_context(context))
}

#[test]
fn an_rbac_coordinate_protects_the_field_under_every_root_field_and_fragment() {
    let executor =
        rbac_executor(subcast_core::RbacPolicy::default().allow("Order.total", ["finance"])).unwrap();
    for query in [
        "subscription { orders { total } }",
        "subscription { bigOrders { amount: total } }",
        "subscription { things { ... on Order { total } } }",
        "subscription { things { ...T } } fragment T on Order { total }",
    ] {
        let error = subscribe_as(&executor, "viewer", query).expect_err(query);
        assert!(
            matches!(&error, Error::FieldForbidden { field } if field == "Order.total"),
            "{error}"
        );
    }
    assert!(subscribe_as(&executor, "finance", "subscription { orders { total } }").is_ok());
    assert!(subscribe_as(&executor, "viewer", "subscription { orders { id } }").is_ok());
}

#[test]
fn an_rbac_coordinate_missing_from_the_schema_is_refused_when_the_policy_is_set() {
    let error =
        rbac_executor(subcast_core::RbacPolicy::default().allow("Order.totl", ["finance"])).unwrap_err();
    assert!(error.to_string().contains("Order.totl"), "{error}");
}

#[test]
fn rbac_paths_still_work_with_a_schema() {
    let executor =
        rbac_executor(subcast_core::RbacPolicy::default().allow("orders.total", ["finance"])).unwrap();
    assert!(subscribe_as(&executor, "viewer", "subscription { orders { total } }").is_err());
    assert!(subscribe_as(&executor, "finance", "subscription { orders { total } }").is_ok());
}

fn dispatch(executor: &SubscriptionExecutor, key: SubscriptionKey, channel: &str, data: Value) -> Value {
    let event = Arc::new(Event::new("changed", channel, data));
    executor.dispatch_event_to_subscriptions(&event).unwrap();
    serde_json::from_slice(&executor.next_response(key).unwrap().expect("a frame")).unwrap()
}

#[test]
fn typename_of_nested_objects_comes_from_the_schema() {
    let executor = executor();
    let query = "subscription { orders { __typename id customer { __typename name } } }";
    let key = subscribe(&executor, query, Value::Null).unwrap();
    let frame = dispatch(
        &executor,
        key,
        "orders",
        json!({"id": "o", "customer": {"name": "Ada"}}),
    );
    assert_eq!(
        frame["payload"]["data"],
        json!({"orders": {"__typename": "Order", "id": "o", "customer": {"__typename": "Customer", "name": "Ada"}}})
    );
}

#[test]
fn an_abstract_type_is_resolved_from_the_type_field_of_the_data() {
    let executor = executor();
    let query = "subscription { things { __typename ... on Order { total } ... on Customer { name } } }";
    let key = subscribe(&executor, query, Value::Null).unwrap();
    let frame = dispatch(
        &executor,
        key,
        "things",
        json!({"__typename": "Customer", "name": "Ada", "total": 3}),
    );
    assert_eq!(
        frame["payload"]["data"],
        json!({"things": {"__typename": "Customer", "name": "Ada"}})
    );
}

#[test]
fn the_type_field_is_configurable() {
    let schema = schema().with_type_field("kind");
    let executor = SubscriptionExecutor::new(ExecutorConfig::default().allow_anonymous(true).schema(schema));
    let key = subscribe(
        &executor,
        "subscription { things { ... on Order { total } } }",
        Value::Null,
    )
    .unwrap();
    let frame = dispatch(&executor, key, "things", json!({"kind": "Order", "total": 3}));
    assert_eq!(
        frame["payload"]["data"],
        json!({"things": {"total": 3.0}}),
        "{frame}"
    );
}

#[test]
fn enum_values_pass_through_and_an_unknown_one_is_a_schema_mismatch() {
    let executor = executor();
    let key = subscribe(&executor, "subscription { orders { id size } }", Value::Null).unwrap();
    let frame = dispatch(&executor, key, "orders", json!({"id": "o", "size": "M"}));
    assert_eq!(frame["payload"]["data"]["orders"]["size"], "M");
    let frame = dispatch(&executor, key, "orders", json!({"id": "o", "size": "XL"}));
    assert_eq!(frame["type"], "error");
    assert_eq!(
        frame["payload"][0]["extensions"]["code"],
        subcast_core::SCHEMA_MISMATCH
    );
}

#[test]
fn an_object_where_a_scalar_is_declared_is_a_schema_mismatch() {
    let executor = executor();
    let key = subscribe(&executor, "subscription { orders { id total } }", Value::Null).unwrap();
    let frame = dispatch(
        &executor,
        key,
        "orders",
        json!({"id": "o", "total": {"amount": 3}}),
    );
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(
        frame["payload"][0]["extensions"]["code"],
        subcast_core::SCHEMA_MISMATCH
    );
    assert!(
        frame["payload"][0]["message"]
            .as_str()
            .unwrap()
            .contains("orders.total"),
        "{frame}"
    );
}

#[test]
fn a_list_where_a_single_value_is_declared_is_a_schema_mismatch() {
    let executor = executor();
    let key = subscribe(
        &executor,
        "subscription { orders { id customer { name } } }",
        Value::Null,
    )
    .unwrap();
    let frame = dispatch(
        &executor,
        key,
        "orders",
        json!({"id": "o", "customer": [{"name": "a"}]}),
    );
    assert_eq!(
        frame["payload"][0]["extensions"]["code"],
        subcast_core::SCHEMA_MISMATCH,
        "{frame}"
    );
}

#[test]
fn a_single_value_where_a_list_is_declared_is_a_schema_mismatch() {
    let executor = executor();
    let key = subscribe(&executor, "subscription { orders { id tags } }", Value::Null).unwrap();
    let frame = dispatch(&executor, key, "orders", json!({"id": "o", "tags": "a"}));
    assert_eq!(
        frame["payload"][0]["extensions"]["code"],
        subcast_core::SCHEMA_MISMATCH,
        "{frame}"
    );
}

#[test]
fn a_missing_non_null_field_is_a_schema_mismatch() {
    let executor = executor();
    let key = subscribe(&executor, "subscription { orders { id total } }", Value::Null).unwrap();
    let frame = dispatch(&executor, key, "orders", json!({"total": 3}));
    assert_eq!(
        frame["payload"][0]["extensions"]["code"],
        subcast_core::SCHEMA_MISMATCH,
        "{frame}"
    );
}

#[test]
fn a_typed_result_over_the_frame_limit_is_refused_without_being_built() {
    let config = ExecutorConfig::default()
        .allow_anonymous(true)
        .schema(schema())
        .max_frame_bytes(1_000);
    let executor = SubscriptionExecutor::new(config);
    let key = subscribe(&executor, "subscription { orders { id tags } }", Value::Null).unwrap();
    let tags: Vec<String> = (0..1_000).map(|i| format!("tag{i}")).collect();
    let frame = dispatch(&executor, key, "orders", json!({"id": "o", "tags": tags}));
    assert_eq!(
        frame["payload"][0]["extensions"]["code"],
        subcast_core::FRAME_TOO_LARGE,
        "{frame}"
    );
}
