//! The security policies, one behaviour per test: who may subscribe, which events reach whom.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use subcast_core::{
    DropReason, Error, Event, EventFilter, ExecutorConfig, FederationPolicy, FilterErrorKind, RbacPolicy,
    ResolveRequest, ResolveResult, Resolver, RowPolicy, ScopePolicy, SecurityContext, SecurityPolicies,
    SubscriptionExecutor, SubscriptionKey, SubscriptionRequest,
};

const ORDERS: &str = "subscription { orders { id total } }";

fn executor() -> SubscriptionExecutor {
    SubscriptionExecutor::default()
}

fn executor_with(policies: SecurityPolicies) -> SubscriptionExecutor {
    SubscriptionExecutor::new(ExecutorConfig::default().security(policies))
}

fn user(id: &str) -> SecurityContext {
    SecurityContext::new(id)
}

fn subscribe(executor: &SubscriptionExecutor, conn: &str, context: SecurityContext) -> SubscriptionKey {
    executor
        .register_subscription(SubscriptionRequest::new(conn, "1", ORDERS).security_context(context))
        .unwrap()
}

fn subscribe_filtered(
    executor: &SubscriptionExecutor,
    conn: &str,
    context: SecurityContext,
    filter: EventFilter,
) -> SubscriptionKey {
    let request = SubscriptionRequest::new(conn, "1", ORDERS)
        .security_context(context)
        .filter(filter);
    executor.register_subscription(request).unwrap()
}

fn order(data: Value) -> Event {
    Event::new("orderPaid", "orders", data)
}

fn dispatch(executor: &SubscriptionExecutor, event: Event) -> subcast_core::DispatchReport {
    let report = executor
        .dispatch_event_to_subscriptions(&Arc::new(event))
        .unwrap();
    assert_eq!(
        report.matched,
        report.delivered + report.errors + report.dropped_total(),
        "{report:?}"
    );
    report
}

fn received(executor: &SubscriptionExecutor, key: SubscriptionKey) -> bool {
    executor.next_response(key).unwrap().is_some()
}

fn error_frame(error: &Error) -> Value {
    serde_json::from_slice(&error.to_error_frame("1")).unwrap()
}

// Authentication

#[test]
fn subscription_without_context_is_rejected_by_default() {
    let err = executor()
        .register_subscription(SubscriptionRequest::new("c", "1", ORDERS))
        .unwrap_err();
    assert!(matches!(err, Error::Unauthenticated), "{err}");
    let frame = error_frame(&err);
    assert_eq!(frame["type"], "error");
    assert_eq!(frame["payload"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

#[test]
fn subscription_without_context_is_accepted_when_anonymous_subscribers_are_allowed() {
    let executor = SubscriptionExecutor::new(ExecutorConfig::default().allow_anonymous(true));
    let key = executor
        .register_subscription(SubscriptionRequest::new("c", "1", ORDERS))
        .unwrap();
    dispatch(&executor, order(json!({"id": "o1"})));
    assert!(received(&executor, key));
}

#[test]
fn empty_or_over_long_context_ids_are_rejected() {
    let executor = executor();
    let long = "x".repeat(257);
    for context in [
        user(""),
        user(&long),
        user("u").with_tenant(""),
        user("u").with_tenant(&long),
        user("u").with_federation(&long),
        user("u").with_roles([""]),
    ] {
        let request = SubscriptionRequest::new("c", "1", ORDERS).security_context(context);
        let err = executor.register_subscription(request).unwrap_err();
        assert!(matches!(err, Error::InvalidId { .. }), "{err}");
    }
}

#[test]
fn an_id_of_exactly_256_bytes_is_accepted() {
    let id = "é".repeat(128);
    subscribe(&executor(), "c", user(&id).with_tenant(&id));
}

// Tenant isolation

#[test]
fn event_of_the_subscribers_tenant_is_delivered() {
    let executor = executor();
    let key = subscribe(&executor, "c", user("alice").with_tenant("acme"));
    let report = dispatch(&executor, order(json!({"id": "o1"})).with_tenant("acme"));
    assert_eq!(report.delivered, 1);
    assert!(received(&executor, key));
}

#[test]
fn event_of_another_tenant_is_not_delivered() {
    let executor = executor();
    let key = subscribe(&executor, "c", user("alice").with_tenant("acme"));
    let report = dispatch(&executor, order(json!({"id": "o1"})).with_tenant("globex"));
    assert_eq!((report.delivered, report.dropped(DropReason::Tenant)), (0, 1));
    assert!(!received(&executor, key));
}

#[test]
fn event_without_tenant_is_not_delivered_to_tenant_scoped_subscriber() {
    let executor = executor();
    let key = subscribe(&executor, "c", user("alice").with_tenant("acme"));
    let report = dispatch(&executor, order(json!({"id": "o1"})));
    assert_eq!(report.dropped(DropReason::Tenant), 1);
    assert!(!received(&executor, key));
}

#[test]
fn event_of_a_tenant_is_not_delivered_to_subscriber_without_tenant() {
    let executor = executor();
    let key = subscribe(&executor, "c", user("alice"));
    let report = dispatch(&executor, order(json!({"id": "o1"})).with_tenant("acme"));
    assert_eq!(report.dropped(DropReason::Tenant), 1);
    assert!(!received(&executor, key));
}

#[test]
fn subscribers_of_different_tenants_never_share_a_cohort() {
    let executor = executor();
    subscribe(&executor, "a", user("alice").with_tenant("acme"));
    subscribe(&executor, "b", user("bob").with_tenant("globex"));
    assert_eq!(executor.stats().cohorts, 2);
}

#[test]
fn users_of_one_tenant_share_a_cohort_and_one_resolution() {
    let executor = executor();
    let keys: Vec<_> = (0..50)
        .map(|n| {
            subscribe(
                &executor,
                &format!("c{n}"),
                user(&format!("user-{n}")).with_tenant("acme"),
            )
        })
        .collect();
    assert_eq!(executor.stats().cohorts, 1);
    let report = dispatch(&executor, order(json!({"id": "o1"})).with_tenant("acme"));
    assert_eq!((report.delivered, report.cohorts), (50, 1));
    assert!(keys.iter().all(|k| received(&executor, *k)));
}

// Row filter

#[test]
fn owned_event_reaches_its_owner() {
    let executor = executor();
    let alice = subscribe(&executor, "a", user("alice"));
    dispatch(&executor, order(json!({"id": "o1", "user_id": "alice"})));
    assert!(received(&executor, alice));
}

#[test]
fn owned_event_does_not_reach_other_users_of_the_same_cohort() {
    let executor = executor();
    let alice = subscribe(&executor, "a", user("alice"));
    let bob = subscribe(&executor, "b", user("bob"));
    assert_eq!(executor.stats().cohorts, 1);
    let report = dispatch(&executor, order(json!({"id": "o1", "user_id": "alice"})));
    assert_eq!((report.delivered, report.dropped(DropReason::Row)), (1, 1));
    assert!(received(&executor, alice));
    assert!(!received(&executor, bob));
}

#[test]
fn owned_event_does_not_reach_anonymous_subscribers() {
    let executor = SubscriptionExecutor::new(ExecutorConfig::default().allow_anonymous(true));
    let anonymous = executor
        .register_subscription(SubscriptionRequest::new("c", "1", ORDERS))
        .unwrap();
    let report = dispatch(&executor, order(json!({"user_id": "alice"})));
    assert_eq!(report.dropped(DropReason::Row), 1);
    assert!(!received(&executor, anonymous));
}

#[test]
fn integer_owner_matches_the_user_id_in_decimal() {
    let executor = executor();
    let key = subscribe(&executor, "c", user("42"));
    dispatch(&executor, order(json!({"user_id": 42})));
    assert!(received(&executor, key));
}

#[test]
fn event_with_an_unreadable_owner_reaches_nobody() {
    let executor = executor();
    let key = subscribe(&executor, "c", user("alice"));
    for owner in [json!({"id": "alice"}), json!(["alice"]), json!(true), json!(1.5)] {
        let report = dispatch(&executor, order(json!({ "user_id": owner })));
        assert_eq!(report.dropped(DropReason::UnreadableOwner), 1, "owner {owner}");
    }
    assert!(!received(&executor, key));
}

#[test]
fn event_without_owner_reaches_every_user() {
    let executor = executor();
    let alice = subscribe(&executor, "a", user("alice"));
    let bob = subscribe(&executor, "b", user("bob"));
    dispatch(&executor, order(json!({"id": "o1", "user_id": null})));
    assert!(received(&executor, alice) && received(&executor, bob));
}

#[test]
fn the_owner_is_read_from_the_configured_path() {
    let policies = SecurityPolicies::default().row(RowPolicy::owner_path("customer.id").unwrap());
    let executor = executor_with(policies);
    let alice = subscribe(&executor, "a", user("alice"));
    let bob = subscribe(&executor, "b", user("bob"));
    dispatch(
        &executor,
        order(json!({"customer": {"id": "bob"}, "user_id": "alice"})),
    );
    assert!(!received(&executor, alice));
    assert!(received(&executor, bob));
}

#[test]
fn an_invalid_owner_path_is_a_typed_error() {
    for path in ["", "a..b", &"x.".repeat(200)] {
        let err = RowPolicy::owner_path(path).unwrap_err();
        assert_eq!(err.kind(), FilterErrorKind::InvalidPath);
    }
}

#[derive(Debug, Default)]
struct CountingResolver(AtomicUsize);

impl Resolver for CountingResolver {
    fn resolve_batch(&self, _event: &Event, requests: &[ResolveRequest<'_>]) -> Vec<ResolveResult> {
        self.0.fetch_add(requests.len(), Ordering::SeqCst);
        requests.iter().map(|_| Ok(json!({"orders": null}))).collect()
    }
}

#[test]
fn an_event_owned_by_nobody_in_a_cohort_is_not_resolved_for_it() {
    let executor = executor();
    let resolver = Arc::new(CountingResolver::default());
    let request = SubscriptionRequest::new("c", "1", ORDERS)
        .security_context(user("bob"))
        .resolver(resolver.clone());
    executor.register_subscription(request).unwrap();
    let report = dispatch(&executor, order(json!({"user_id": "alice"})));
    assert_eq!((report.cohorts, report.dropped(DropReason::Row)), (0, 1));
    assert_eq!(resolver.0.load(Ordering::SeqCst), 0);
}

#[test]
fn an_event_refused_by_tenant_is_not_resolved() {
    let executor = executor();
    let resolver = Arc::new(CountingResolver::default());
    let request = SubscriptionRequest::new("c", "1", ORDERS)
        .security_context(user("bob").with_tenant("acme"))
        .resolver(resolver.clone());
    executor.register_subscription(request).unwrap();
    dispatch(&executor, order(json!({})).with_tenant("globex"));
    assert_eq!(resolver.0.load(Ordering::SeqCst), 0);
}

// Scope validation

const OWN_ORDERS: &str =
    "subscription ($user_id: ID, $tenant_id: ID) { orders(user_id: $user_id, tenant_id: $tenant_id) { id } }";

fn subscribe_with(
    executor: &SubscriptionExecutor,
    query: &str,
    variables: Value,
    context: SecurityContext,
) -> Result<SubscriptionKey, Error> {
    executor.register_subscription(
        SubscriptionRequest::new("c", "1", query)
            .variables(variables)
            .security_context(context),
    )
}

#[test]
fn variables_naming_the_subscribers_own_user_and_tenant_are_accepted() {
    let context = user("alice").with_tenant("acme");
    let variables = json!({"user_id": "alice", "tenant_id": "acme"});
    assert!(subscribe_with(&executor(), OWN_ORDERS, variables, context).is_ok());
}

#[test]
fn a_variable_naming_another_user_is_rejected() {
    let err = subscribe_with(&executor(), OWN_ORDERS, json!({"user_id": "bob"}), user("alice")).unwrap_err();
    assert!(
        matches!(
            err,
            Error::IdentityMismatch {
                identity: "user id",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        error_frame(&err)["payload"][0]["extensions"]["code"],
        "IDENTITY_MISMATCH"
    );
}

#[test]
fn a_variable_naming_another_tenant_is_rejected() {
    let context = user("alice").with_tenant("acme");
    let err = subscribe_with(&executor(), OWN_ORDERS, json!({"tenant_id": "globex"}), context).unwrap_err();
    assert!(
        matches!(
            err,
            Error::IdentityMismatch {
                identity: "tenant id",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_tenant_variable_is_rejected_for_a_subscriber_without_tenant() {
    let err = subscribe_with(
        &executor(),
        OWN_ORDERS,
        json!({"tenant_id": "acme"}),
        user("alice"),
    )
    .unwrap_err();
    assert!(matches!(err, Error::IdentityMismatch { .. }), "{err}");
}

#[test]
fn a_literal_argument_naming_another_user_is_rejected() {
    let query = r#"subscription { orders(userId: "bob") { id } }"#;
    let err = subscribe_with(&executor(), query, Value::Null, user("alice")).unwrap_err();
    assert!(matches!(err, Error::IdentityMismatch { .. }), "{err}");
}

#[test]
fn a_missing_required_scope_is_rejected() {
    let policies =
        SecurityPolicies::default().scope(ScopePolicy::default().require_scopes("orders", ["orders:read"]));
    let err = subscribe_with(&executor_with(policies), ORDERS, Value::Null, user("alice")).unwrap_err();
    assert!(matches!(err, Error::ScopeMissing { .. }), "{err}");
    let frame = error_frame(&err);
    assert_eq!(frame["payload"][0]["extensions"]["code"], "INSUFFICIENT_SCOPE");
    assert_eq!(frame["payload"][0]["extensions"]["scope"], "orders:read");
}

#[test]
fn a_required_scope_held_by_the_subscriber_is_accepted() {
    let policies =
        SecurityPolicies::default().scope(ScopePolicy::default().require_scopes("orders", ["orders:read"]));
    let context = user("alice").with_scopes(["orders:read"]);
    assert!(subscribe_with(&executor_with(policies), ORDERS, Value::Null, context).is_ok());
}

// RBAC field access

fn rbac() -> SecurityPolicies {
    SecurityPolicies::default().rbac(RbacPolicy::default().allow("orders.total", ["finance"]))
}

#[test]
fn a_field_allowed_for_one_of_the_roles_is_accepted() {
    let context = user("alice").with_roles(["viewer", "finance"]);
    assert!(subscribe_with(&executor_with(rbac()), ORDERS, Value::Null, context).is_ok());
}

#[test]
fn a_forbidden_field_rejects_the_subscription_with_an_error_frame_naming_it() {
    let context = user("alice").with_roles(["viewer"]);
    let err = subscribe_with(&executor_with(rbac()), ORDERS, Value::Null, context).unwrap_err();
    assert!(
        matches!(&err, Error::FieldForbidden { field } if field == "orders.total"),
        "{err}"
    );
    let frame = error_frame(&err);
    assert_eq!(frame["type"], "error");
    assert_eq!(frame["payload"][0]["extensions"]["code"], "FIELD_FORBIDDEN");
    assert_eq!(frame["payload"][0]["extensions"]["field"], "orders.total");
}

#[test]
fn a_forbidden_field_behind_an_alias_or_fragment_is_still_refused() {
    let query = "subscription { orders { ...F } } fragment F on Order { amount: total }";
    let context = user("alice").with_roles(["viewer"]);
    let err = subscribe_with(&executor_with(rbac()), query, Value::Null, context).unwrap_err();
    assert!(matches!(err, Error::FieldForbidden { .. }), "{err}");
}

#[test]
fn a_wildcard_key_restricts_the_field_at_any_depth() {
    let policies = SecurityPolicies::default().rbac(RbacPolicy::default().allow("*.ssn", ["admin"]));
    let query = "subscription { orders { customer { ssn } } }";
    let err = subscribe_with(&executor_with(policies), query, Value::Null, user("a")).unwrap_err();
    assert!(
        matches!(&err, Error::FieldForbidden { field } if field == "orders.customer.ssn"),
        "{err}"
    );
}

#[test]
fn unlisted_fields_are_refused_when_the_map_denies_them() {
    let policies = SecurityPolicies::default().rbac(
        RbacPolicy::default()
            .allow("orders", ["viewer"])
            .allow("orders.id", ["viewer"])
            .allow("*.user_id", ["viewer"])
            .allow("*.federation_id", ["viewer"])
            .deny_unlisted(true),
    );
    let executor = executor_with(policies);
    let context = user("a").with_roles(["viewer"]);
    assert!(subscribe_with(
        &executor,
        "subscription { orders { id } }",
        Value::Null,
        context.clone()
    )
    .is_ok());
    let err = executor
        .register_subscription(SubscriptionRequest::new("d", "1", ORDERS).security_context(context))
        .unwrap_err();
    assert!(
        matches!(&err, Error::FieldForbidden { field } if field == "orders.total"),
        "{err}"
    );
}

#[test]
fn subscribers_with_different_roles_are_in_different_cohorts() {
    let executor = executor();
    subscribe(&executor, "a", user("a").with_roles(["viewer"]));
    subscribe(&executor, "b", user("b").with_roles(["finance"]));
    subscribe(&executor, "c", user("c").with_roles(["viewer"]));
    assert_eq!(executor.stats().cohorts, 2);
}

// Federation

#[test]
fn a_federation_event_reaches_contexts_of_that_federation() {
    let executor = executor();
    let key = subscribe(&executor, "c", user("alice").with_federation("eu"));
    dispatch(&executor, order(json!({"federation_id": "eu"})));
    assert!(received(&executor, key));
}

#[test]
fn a_federation_event_does_not_reach_other_federations_or_none() {
    let executor = executor();
    let us = subscribe(&executor, "a", user("alice").with_federation("us"));
    let none = subscribe(&executor, "b", user("bob"));
    let report = dispatch(&executor, order(json!({"federation_id": "eu"})));
    assert_eq!(report.dropped(DropReason::Federation), 2);
    assert!(!received(&executor, us) && !received(&executor, none));
}

#[test]
fn an_event_without_federation_reaches_every_federation() {
    let executor = executor();
    let eu = subscribe(&executor, "a", user("alice").with_federation("eu"));
    let none = subscribe(&executor, "b", user("bob"));
    dispatch(&executor, order(json!({"id": "o1"})));
    assert!(received(&executor, eu) && received(&executor, none));
}

#[test]
fn an_event_with_an_unreadable_federation_reaches_nobody() {
    let executor = executor();
    let eu = subscribe(&executor, "a", user("alice").with_federation("eu"));
    let report = dispatch(&executor, order(json!({"federation_id": ["eu"]})));
    assert_eq!(report.dropped(DropReason::UnreadableFederation), 1);
    assert!(!received(&executor, eu));
}

#[test]
fn the_federation_is_read_from_the_configured_path() {
    let policies =
        SecurityPolicies::default().federation(FederationPolicy::federation_path("meta.fed").unwrap());
    let executor = executor_with(policies);
    let eu = subscribe(&executor, "a", user("alice").with_federation("eu"));
    dispatch(
        &executor,
        order(json!({"meta": {"fed": "us"}, "federation_id": "eu"})),
    );
    assert!(!received(&executor, eu));
}

// Event filter

fn filtered(filter: EventFilter, data: Value) -> bool {
    let executor = executor();
    let key = subscribe_filtered(&executor, "c", user("alice"), filter);
    let report = dispatch(&executor, order(data));
    assert_eq!(
        report.delivered + report.dropped(DropReason::Filter),
        1,
        "{report:?}"
    );
    received(&executor, key)
}

#[test]
fn eq_delivers_equal_values_only() {
    assert!(filtered(
        EventFilter::new().eq("status", "paid"),
        json!({"status": "paid"})
    ));
    assert!(!filtered(
        EventFilter::new().eq("status", "paid"),
        json!({"status": "open"})
    ));
}

#[test]
fn ne_delivers_different_values_of_the_same_type_only() {
    assert!(filtered(
        EventFilter::new().ne("status", "paid"),
        json!({"status": "open"})
    ));
    assert!(!filtered(
        EventFilter::new().ne("status", "paid"),
        json!({"status": "paid"})
    ));
    assert!(!filtered(
        EventFilter::new().ne("status", "paid"),
        json!({"status": 3})
    ));
    assert!(!filtered(EventFilter::new().ne("status", "paid"), json!({})));
}

#[test]
fn gt_lt_gte_lte_compare_numbers_by_value() {
    let data = json!({"total": 100});
    assert!(filtered(EventFilter::new().gt("total", 99.5), data.clone()));
    assert!(!filtered(EventFilter::new().gt("total", 100), data.clone()));
    assert!(filtered(EventFilter::new().gte("total", 100.0), data.clone()));
    assert!(filtered(EventFilter::new().lt("total", 101), data.clone()));
    assert!(!filtered(EventFilter::new().lt("total", 100), data.clone()));
    assert!(filtered(EventFilter::new().lte("total", 100), data));
}

#[test]
fn ordered_comparisons_compare_strings_by_bytes() {
    assert!(filtered(
        EventFilter::new().gt("day", "2024-01-01"),
        json!({"day": "2024-02-01"})
    ));
    assert!(!filtered(
        EventFilter::new().gt("day", "2024-01-01"),
        json!({"day": "2023-12-31"})
    ));
}

#[test]
fn a_string_compared_with_a_number_is_a_non_match() {
    assert!(!filtered(
        EventFilter::new().gt("total", 10),
        json!({"total": "100"})
    ));
    assert!(!filtered(
        EventFilter::new().eq("total", 100),
        json!({"total": "100"})
    ));
    assert!(!filtered(
        EventFilter::new().lte("total", "z"),
        json!({"total": 1})
    ));
}

#[test]
fn a_missing_path_is_a_non_match() {
    assert!(!filtered(
        EventFilter::new().eq("customer.id", "c1"),
        json!({"customer": {}})
    ));
    assert!(!filtered(EventFilter::new().lt("total", 10), json!(null)));
}

#[test]
fn exists_and_not_exists_test_for_a_non_null_value() {
    assert!(filtered(EventFilter::new().exists("note"), json!({"note": ""})));
    assert!(!filtered(
        EventFilter::new().exists("note"),
        json!({"note": null})
    ));
    assert!(filtered(EventFilter::new().not_exists("note"), json!({})));
    assert!(!filtered(
        EventFilter::new().not_exists("note"),
        json!({"note": 0})
    ));
}

#[test]
fn contains_finds_substrings_and_array_elements() {
    assert!(filtered(
        EventFilter::new().contains("title", "urgent"),
        json!({"title": "very urgent"})
    ));
    assert!(filtered(
        EventFilter::new().contains("tags", "vip"),
        json!({"tags": ["new", "vip"]})
    ));
    assert!(!filtered(
        EventFilter::new().contains("tags", "vip"),
        json!({"tags": ["new"]})
    ));
    assert!(!filtered(
        EventFilter::new().contains("total", "1"),
        json!({"total": 1})
    ));
}

#[test]
fn in_and_not_in_test_list_membership() {
    let data = json!({"status": "paid", "items": [{"sku": 7}]});
    assert!(filtered(
        EventFilter::new().is_in("status", ["paid", "open"]),
        data.clone()
    ));
    assert!(!filtered(
        EventFilter::new().is_in("status", ["open"]),
        data.clone()
    ));
    assert!(filtered(
        EventFilter::new().not_in("status", ["open"]),
        data.clone()
    ));
    assert!(!filtered(
        EventFilter::new().not_in("status", ["paid"]),
        data.clone()
    ));
    assert!(!filtered(
        EventFilter::new().not_in("items.0.sku", ["7"]),
        data.clone()
    ));
    assert!(filtered(EventFilter::new().is_in("items.0.sku", [7, 8]), data));
}

#[test]
fn every_condition_of_a_filter_must_hold() {
    let filter = EventFilter::new().eq("status", "paid").gt("total", 10);
    assert!(filtered(filter.clone(), json!({"status": "paid", "total": 11})));
    assert!(!filtered(filter, json!({"status": "paid", "total": 9})));
}

#[test]
fn malformed_filters_are_typed_errors_at_registration() {
    let cases = [
        (EventFilter::new().eq("", 1), FilterErrorKind::InvalidPath),
        (EventFilter::new().eq("a..b", 1), FilterErrorKind::InvalidPath),
        (
            EventFilter::new().gt("total", json!({"n": 1})),
            FilterErrorKind::InvalidValue,
        ),
        (
            EventFilter::new().is_in("status", Vec::<Value>::new()),
            FilterErrorKind::InvalidValue,
        ),
        (
            EventFilter::new().is_in("status", [json!("a"), json!(1)]),
            FilterErrorKind::InvalidValue,
        ),
        (
            EventFilter::new()
                .exists("a")
                .condition("a", subcast_core::FilterOp::Exists, 3),
            FilterErrorKind::InvalidValue,
        ),
    ];
    let executor = executor();
    for (filter, kind) in cases {
        let request = SubscriptionRequest::new("c", "1", ORDERS)
            .security_context(user("alice"))
            .filter(filter.clone());
        match executor.register_subscription(request) {
            Err(Error::InvalidFilter(err)) => assert_eq!(err.kind(), kind, "{filter:?}: {err}"),
            other => panic!("{filter:?} gave {other:?}"),
        }
    }
    assert_eq!(executor.stats().subscriptions, 0);
}

#[test]
fn the_json_form_rejects_unknown_operators_and_malformed_conditions() {
    let cases = [
        (
            json!({"path": "a", "op": "eq", "value": 1}),
            FilterErrorKind::Malformed,
        ),
        (
            json!([{"path": "a", "op": "like", "value": "x"}]),
            FilterErrorKind::UnknownOperator,
        ),
        (json!([{"path": "a", "op": "eq"}]), FilterErrorKind::InvalidValue),
        (
            json!([{"path": 3, "op": "eq", "value": 1}]),
            FilterErrorKind::Malformed,
        ),
        (
            json!([{"path": "a", "op": "eq", "value": 1, "extra": 0}]),
            FilterErrorKind::Malformed,
        ),
        (json!(["a"]), FilterErrorKind::Malformed),
    ];
    for (json, kind) in cases {
        assert_eq!(EventFilter::from_json(&json).unwrap_err().kind(), kind, "{json}");
    }
    assert_eq!(
        EventFilter::from_json_str("[{").unwrap_err().kind(),
        FilterErrorKind::Malformed
    );
}

#[test]
fn the_json_form_round_trips() {
    let filter = EventFilter::new()
        .eq("a", 1)
        .exists("b")
        .not_in("c", ["x", "y"])
        .contains("d.0", "z");
    assert_eq!(EventFilter::from_json(&filter.to_json()).unwrap(), filter);
}

#[test]
fn the_filter_is_evaluated_once_per_cohort() {
    let executor = executor();
    let filter = EventFilter::new().gt("total", 10);
    for n in 0..20 {
        subscribe_filtered(
            &executor,
            &format!("c{n}"),
            user(&format!("u{n}")),
            filter.clone(),
        );
    }
    subscribe(&executor, "unfiltered", user("v"));
    assert_eq!(executor.stats().cohorts, 2);
    let report = dispatch(&executor, order(json!({"total": 5})));
    assert_eq!(
        (
            report.delivered,
            report.dropped(DropReason::Filter),
            report.cohorts
        ),
        (1, 20, 1)
    );
}

// Policies can be switched off for trusted deployments

#[test]
fn disabled_policies_deliver_across_tenants_owners_and_federations() {
    let executor = executor_with(SecurityPolicies::disabled());
    let key = subscribe(&executor, "c", user("alice").with_tenant("acme"));
    dispatch(
        &executor,
        order(json!({"user_id": "bob", "federation_id": "eu"})).with_tenant("globex"),
    );
    assert!(received(&executor, key));
}

// RBAC covers every path a subscription reads: its event filter, the owner and
// federation paths (issue 9, "Fail closed": a filter must not be an oracle on a field the
// subscriber may not select).

const USERS_IDS: &str = "subscription { users { id } }";

fn ssn_admin_only() -> SecurityPolicies {
    SecurityPolicies::default().rbac(RbacPolicy::default().allow("users.ssn", ["admin"]))
}

fn register_filtered(
    executor: &SubscriptionExecutor,
    query: &str,
    context: SecurityContext,
    filter: EventFilter,
) -> Result<SubscriptionKey, Error> {
    executor.register_subscription(
        SubscriptionRequest::new("c", "1", query)
            .security_context(context)
            .filter(filter),
    )
}

fn forbidden_field(result: Result<SubscriptionKey, Error>) -> String {
    match result {
        Err(Error::FieldForbidden { field }) => field,
        other => panic!("expected FieldForbidden, got {other:?}"),
    }
}

#[test]
fn a_filter_on_a_forbidden_field_is_refused_like_selecting_it() {
    let executor = executor_with(ssn_admin_only());
    let viewer = user("eve").with_roles(["viewer"]);
    let selecting = subscribe_with(
        &executor,
        "subscription { users { id ssn } }",
        Value::Null,
        viewer.clone(),
    )
    .unwrap_err();
    let filtering =
        register_filtered(&executor, USERS_IDS, viewer, EventFilter::new().gte("ssn", "1")).unwrap_err();
    assert!(
        matches!(&filtering, Error::FieldForbidden { field } if field == "users.ssn"),
        "{filtering}"
    );
    assert_eq!(error_frame(&filtering), error_frame(&selecting));
}

#[test]
fn no_filter_operator_reads_a_forbidden_field() {
    let executor = executor_with(ssn_admin_only());
    let filters = [
        EventFilter::new().eq("ssn", "1"),
        EventFilter::new().ne("ssn", "1"),
        EventFilter::new().gt("ssn", "1"),
        EventFilter::new().lt("ssn", "1"),
        EventFilter::new().gte("ssn", "1"),
        EventFilter::new().lte("ssn", "1"),
        EventFilter::new().exists("ssn"),
        EventFilter::new().not_exists("ssn"),
        EventFilter::new().contains("ssn", "1"),
        EventFilter::new().is_in("ssn", ["1"]),
        EventFilter::new().not_in("ssn", ["1"]),
    ];
    for filter in filters {
        let viewer = user("eve").with_roles(["viewer"]);
        let field = forbidden_field(register_filtered(&executor, USERS_IDS, viewer, filter.clone()));
        assert_eq!(field, "users.ssn", "{filter:?}");
    }
    assert_eq!(executor.stats().subscriptions, 0);
}

#[test]
fn ten_probing_filters_on_a_forbidden_field_are_all_refused() {
    let executor = executor_with(ssn_admin_only());
    for digit in 0..10 {
        let request = SubscriptionRequest::new(format!("probe-{digit}"), "1", USERS_IDS)
            .security_context(user("eve").with_roles(["viewer"]))
            .filter(EventFilter::new().gte("ssn", digit.to_string()));
        assert!(executor.register_subscription(request).is_err(), "probe {digit}");
    }
    let report = dispatch(
        &executor,
        Event::new("userUpdated", "users", json!({"id": "u1", "ssn": "5"})),
    );
    assert_eq!(report.matched, 0);
}

#[test]
fn a_filter_on_a_field_allowed_for_the_subscribers_roles_is_accepted() {
    let executor = executor_with(ssn_admin_only());
    let admin = user("ada").with_roles(["admin"]);
    let key = register_filtered(&executor, USERS_IDS, admin, EventFilter::new().gte("ssn", "5")).unwrap();
    dispatch(
        &executor,
        Event::new("userUpdated", "users", json!({"id": "u1", "ssn": "7"})),
    );
    assert!(received(&executor, key));
}

#[test]
fn a_wildcard_key_covers_a_filter_path_at_any_depth() {
    let policies = SecurityPolicies::default().rbac(RbacPolicy::default().allow("*.ssn", ["admin"]));
    let viewer = user("eve").with_roles(["viewer"]);
    let result = register_filtered(
        &executor_with(policies),
        USERS_IDS,
        viewer,
        EventFilter::new().eq("profile.ssn", "1"),
    );
    assert_eq!(forbidden_field(result), "users.profile.ssn");
}

#[test]
fn a_filter_reads_every_prefix_of_its_path() {
    let policies = SecurityPolicies::default().rbac(RbacPolicy::default().allow("users.profile", ["admin"]));
    let viewer = user("eve").with_roles(["viewer"]);
    let result = register_filtered(
        &executor_with(policies),
        USERS_IDS,
        viewer,
        EventFilter::new().eq("profile.ssn", "1"),
    );
    assert_eq!(forbidden_field(result), "users.profile");
}

#[test]
fn a_list_index_in_a_filter_path_reads_the_field_holding_the_list() {
    let policies =
        SecurityPolicies::default().rbac(RbacPolicy::default().allow("orders.items.sku", ["admin"]));
    let viewer = user("eve").with_roles(["viewer"]);
    let result = register_filtered(
        &executor_with(policies),
        ORDERS,
        viewer,
        EventFilter::new().eq("items.0.sku", 7),
    );
    assert_eq!(forbidden_field(result), "orders.items.sku");
}

#[test]
fn a_filter_on_an_unlisted_field_is_refused_when_the_map_denies_unlisted_fields() {
    let policies = SecurityPolicies::default().rbac(
        RbacPolicy::default()
            .allow("orders", ["viewer"])
            .allow("orders.id", ["viewer"])
            .allow("orders.total", ["viewer"])
            .allow("*.user_id", ["viewer"])
            .allow("*.federation_id", ["viewer"])
            .deny_unlisted(true),
    );
    let executor = executor_with(policies);
    let viewer = user("eve").with_roles(["viewer"]);
    let listed = EventFilter::new().gt("total", 1);
    assert!(register_filtered(&executor, ORDERS, viewer.clone(), listed).is_ok());
    let unlisted = SubscriptionRequest::new("d", "1", ORDERS)
        .security_context(viewer)
        .filter(EventFilter::new().eq("status", "paid"));
    assert_eq!(
        forbidden_field(executor.register_subscription(unlisted)),
        "orders.status"
    );
}

#[test]
fn a_forbidden_filter_is_refused_even_where_the_same_document_already_has_a_cohort() {
    let executor = executor_with(ssn_admin_only());
    let viewer = || user("eve").with_roles(["viewer"]);
    // Same document and roles, an allowed filter: a cohort exists.
    executor
        .register_subscription(
            SubscriptionRequest::new("a", "1", USERS_IDS)
                .security_context(viewer())
                .filter(EventFilter::new().eq("id", "u1")),
        )
        .unwrap();
    // An admin built a cohort with the forbidden filter.
    executor
        .register_subscription(
            SubscriptionRequest::new("b", "1", USERS_IDS)
                .security_context(user("ada").with_roles(["admin"]))
                .filter(EventFilter::new().gte("ssn", "5")),
        )
        .unwrap();
    let result = register_filtered(&executor, USERS_IDS, viewer(), EventFilter::new().gte("ssn", "5"));
    assert_eq!(forbidden_field(result), "users.ssn");
    assert_eq!(executor.stats().subscriptions, 2);
}

#[test]
fn the_owner_path_must_be_readable_by_the_subscribers_roles() {
    let rbac = RbacPolicy::default().allow("*.user_id", ["admin"]);
    let viewer = user("eve").with_roles(["viewer"]);
    let executor = executor_with(SecurityPolicies::default().rbac(rbac.clone()));
    let err = subscribe_with(&executor, ORDERS, Value::Null, viewer.clone()).unwrap_err();
    assert!(
        matches!(&err, Error::FieldForbidden { field } if field == "orders.user_id"),
        "{err}"
    );
    let without_row_policy = SecurityPolicies::default().rbac(rbac).row(RowPolicy::disabled());
    assert!(subscribe_with(&executor_with(without_row_policy), ORDERS, Value::Null, viewer).is_ok());
}

#[test]
fn every_prefix_of_a_configured_owner_path_must_be_readable() {
    let policies = SecurityPolicies::default()
        .row(RowPolicy::owner_path("customer.id").unwrap())
        .rbac(RbacPolicy::default().allow("orders.customer", ["admin"]));
    let err = subscribe_with(
        &executor_with(policies),
        ORDERS,
        Value::Null,
        user("eve").with_roles(["viewer"]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::FieldForbidden { field } if field == "orders.customer"),
        "{err}"
    );
}

#[test]
fn the_federation_path_must_be_readable_by_the_subscribers_roles() {
    let rbac = RbacPolicy::default().allow("orders.federation_id", ["admin"]);
    let viewer = user("eve").with_roles(["viewer"]);
    let err = subscribe_with(
        &executor_with(SecurityPolicies::default().rbac(rbac.clone())),
        ORDERS,
        Value::Null,
        viewer.clone(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::FieldForbidden { field } if field == "orders.federation_id"),
        "{err}"
    );
    let without_federation = SecurityPolicies::default()
        .rbac(rbac)
        .federation(FederationPolicy::disabled());
    assert!(subscribe_with(&executor_with(without_federation), ORDERS, Value::Null, viewer).is_ok());
}

#[test]
fn a_refused_read_path_is_counted_as_an_rbac_violation() {
    let executor = executor_with(ssn_admin_only());
    let viewer = user("eve").with_roles(["viewer"]);
    register_filtered(&executor, USERS_IDS, viewer, EventFilter::new().exists("ssn")).unwrap_err();
    assert_eq!(
        executor.metrics_snapshot().violations(subcast_core::Policy::Rbac),
        1
    );
}

// Row and federation policies fail closed on lists and wrong types

fn alice_and_bob(executor: &SubscriptionExecutor) -> (SubscriptionKey, SubscriptionKey) {
    (
        subscribe(executor, "a", user("alice")),
        subscribe(executor, "b", user("bob")),
    )
}

#[test]
fn a_list_of_one_users_rows_reaches_only_that_user() {
    let executor = executor();
    let (alice, bob) = alice_and_bob(&executor);
    let report = dispatch(
        &executor,
        order(json!([{"id": "o1", "user_id": "alice"}, {"id": "o2", "user_id": "alice"}])),
    );
    assert_eq!((report.delivered, report.dropped(DropReason::Row)), (1, 1));
    assert!(received(&executor, alice));
    assert!(!received(&executor, bob));
}

#[test]
fn a_list_of_rows_naming_one_user_as_string_and_integer_belongs_to_that_user() {
    let executor = executor();
    let key = subscribe(&executor, "c", user("42"));
    let other = subscribe(&executor, "d", user("7"));
    dispatch(&executor, order(json!([{"user_id": "42"}, {"user_id": 42}])));
    assert!(received(&executor, key));
    assert!(!received(&executor, other));
}

#[test]
fn a_list_of_rows_of_different_owners_reaches_nobody() {
    let executor = executor();
    let (alice, bob) = alice_and_bob(&executor);
    let report = dispatch(
        &executor,
        order(json!([{"user_id": "alice"}, {"user_id": "bob"}])),
    );
    assert_eq!(report.dropped(DropReason::UnreadableOwner), 2);
    assert!(!received(&executor, alice) && !received(&executor, bob));
}

#[test]
fn a_row_without_owner_among_owned_rows_makes_the_owner_unreadable() {
    let executor = executor();
    let (alice, bob) = alice_and_bob(&executor);
    for rows in [
        json!([{"user_id": "alice"}, {"id": "o2"}]),
        json!([{"user_id": "alice"}, {"user_id": null}]),
        json!([{"user_id": "alice"}, 3]),
    ] {
        let report = dispatch(&executor, order(rows.clone()));
        assert_eq!(report.dropped(DropReason::UnreadableOwner), 2, "{rows}");
    }
    assert!(!received(&executor, alice) && !received(&executor, bob));
}

#[test]
fn a_list_with_an_unreadable_row_reaches_nobody() {
    let executor = executor();
    let (alice, bob) = alice_and_bob(&executor);
    let report = dispatch(
        &executor,
        order(json!([{"user_id": "alice"}, {"user_id": ["alice"]}])),
    );
    assert_eq!(report.dropped(DropReason::UnreadableOwner), 2);
    assert!(!received(&executor, alice) && !received(&executor, bob));
}

#[test]
fn nested_lists_of_rows_are_read_to_their_leaves() {
    let executor = executor_with(SecurityPolicies::default().federation(FederationPolicy::disabled()));
    let (alice, bob) = alice_and_bob(&executor);
    let report = dispatch(
        &executor,
        order(json!([[{"user_id": "alice"}], [[{"user_id": "alice"}]]])),
    );
    assert_eq!((report.delivered, report.dropped(DropReason::Row)), (1, 1));
    assert!(received(&executor, alice) && !received(&executor, bob));
    for mixed in [
        json!([[{"user_id": "alice"}], [{"user_id": "bob"}]]),
        json!([[{"id": "o1"}], {"user_id": "alice"}]),
    ] {
        let report = dispatch(&executor, order(mixed));
        assert_eq!(report.dropped(DropReason::UnreadableOwner), 2);
    }
    assert!(!received(&executor, alice) && !received(&executor, bob));
}

#[test]
fn a_list_of_rows_without_owners_reaches_every_user() {
    let executor = executor();
    let (alice, bob) = alice_and_bob(&executor);
    dispatch(
        &executor,
        order(json!([{"id": "o1"}, {"id": "o2", "user_id": null}])),
    );
    assert!(received(&executor, alice) && received(&executor, bob));
}

#[test]
fn an_owner_path_through_a_list_or_a_scalar_reaches_nobody() {
    let policies = SecurityPolicies::default().row(RowPolicy::owner_path("customer.id").unwrap());
    let executor = executor_with(policies);
    let (alice, bob) = alice_and_bob(&executor);
    for data in [
        json!({"customer": [{"id": "alice"}]}),
        json!({"customer": [{"id": "alice"}, {"id": "bob"}]}),
        json!({"customer": "alice"}),
        json!({"customer": 7}),
    ] {
        let report = dispatch(&executor, order(data.clone()));
        assert_eq!(report.dropped(DropReason::UnreadableOwner), 2, "{data}");
    }
    assert!(!received(&executor, alice) && !received(&executor, bob));
}

#[test]
fn an_owner_path_ending_at_a_missing_field_or_null_leaves_the_event_unowned() {
    let policies = SecurityPolicies::default().row(RowPolicy::owner_path("customer.id").unwrap());
    let executor = executor_with(policies);
    let (alice, bob) = alice_and_bob(&executor);
    for data in [
        json!({}),
        json!({"customer": null}),
        json!({"customer": {}}),
        json!({"customer": {"id": null}}),
    ] {
        dispatch(&executor, order(data.clone()));
        assert!(received(&executor, alice) && received(&executor, bob), "{data}");
    }
}

#[test]
fn an_unreadable_owner_is_counted_under_its_own_reason_and_metrics_label() {
    let executor = executor();
    alice_and_bob(&executor);
    dispatch(
        &executor,
        order(json!([{"user_id": "alice"}, {"user_id": "bob"}])),
    );
    let metrics = executor.metrics_snapshot();
    assert_eq!(metrics.dropped(DropReason::UnreadableOwner), 2);
    assert_eq!(metrics.dropped(DropReason::Row), 0);
    assert_eq!(metrics.violations(subcast_core::Policy::Row), 2);
    let text = executor.prometheus_metrics();
    assert!(
        text.contains("subcast_frames_dropped_total{reason=\"unreadable_owner\"} 2\n"),
        "{text}"
    );
}

#[test]
fn a_list_of_rows_of_one_federation_reaches_only_that_federation() {
    let executor = executor();
    let eu = subscribe(&executor, "a", user("alice").with_federation("eu"));
    let us = subscribe(&executor, "b", user("bob").with_federation("us"));
    dispatch(
        &executor,
        order(json!([{"federation_id": "eu"}, {"federation_id": "eu"}])),
    );
    assert!(received(&executor, eu));
    assert!(!received(&executor, us));
}

#[test]
fn a_list_of_rows_of_different_federations_reaches_nobody() {
    let executor = executor();
    let eu = subscribe(&executor, "a", user("alice").with_federation("eu"));
    let us = subscribe(&executor, "b", user("bob").with_federation("us"));
    let report = dispatch(
        &executor,
        order(json!([{"federation_id": "eu"}, {"federation_id": "us"}])),
    );
    assert_eq!(report.dropped(DropReason::UnreadableFederation), 2);
    assert!(!received(&executor, eu) && !received(&executor, us));
}

#[test]
fn a_federation_path_through_a_list_or_a_scalar_reaches_nobody() {
    let policies =
        SecurityPolicies::default().federation(FederationPolicy::federation_path("meta.fed").unwrap());
    let executor = executor_with(policies);
    let eu = subscribe(&executor, "a", user("alice").with_federation("eu"));
    for data in [json!({"meta": [{"fed": "eu"}]}), json!({"meta": "eu"})] {
        let report = dispatch(&executor, order(data.clone()));
        assert_eq!(report.dropped(DropReason::UnreadableFederation), 1, "{data}");
    }
    assert!(!received(&executor, eu));
    let metrics = executor.metrics_snapshot();
    assert_eq!(metrics.dropped(DropReason::UnreadableFederation), 2);
}

// Explicit channels are protected by the rules keyed on the root field of the same name

const ANYTHING_SALARY: &str = "subscription { anything { salary } }";

fn on_channels(query: &str, channels: &[&str], context: SecurityContext) -> SubscriptionRequest {
    SubscriptionRequest::new("c", "1", query)
        .channels(channels.iter().copied())
        .security_context(context)
}

fn payroll_scope() -> SecurityPolicies {
    SecurityPolicies::default().scope(ScopePolicy::default().require_scopes("payroll", ["payroll:read"]))
}

#[test]
fn a_scope_required_for_a_root_field_is_required_to_listen_on_its_channel() {
    let executor = executor_with(payroll_scope());
    let err = executor
        .register_subscription(on_channels(ANYTHING_SALARY, &["payroll"], user("eve")))
        .unwrap_err();
    assert!(
        matches!(&err, Error::ScopeMissing { root_field, scope } if root_field == "payroll" && scope == "payroll:read"),
        "{err}"
    );
    assert_eq!(
        error_frame(&err)["payload"][0]["extensions"]["code"],
        "INSUFFICIENT_SCOPE"
    );
}

#[test]
fn a_scope_required_for_any_channel_listened_on_is_required() {
    let executor = executor_with(payroll_scope());
    let err = executor
        .register_subscription(on_channels(ANYTHING_SALARY, &["news", "payroll"], user("eve")))
        .unwrap_err();
    assert!(matches!(err, Error::ScopeMissing { .. }), "{err}");
}

#[test]
fn a_subscriber_holding_the_channels_scope_listens_on_it() {
    let executor = executor_with(payroll_scope());
    let clerk = user("clerk").with_scopes(["payroll:read"]);
    let key = executor
        .register_subscription(on_channels(ANYTHING_SALARY, &["payroll"], clerk))
        .unwrap();
    dispatch(&executor, Event::new("paid", "payroll", json!({"salary": 10})));
    assert!(received(&executor, key));
}

#[test]
fn a_scope_required_for_the_root_field_still_applies_with_explicit_channels() {
    let policies =
        SecurityPolicies::default().scope(ScopePolicy::default().require_scopes("anything", ["any:read"]));
    let err = executor_with(policies)
        .register_subscription(on_channels(ANYTHING_SALARY, &["news"], user("eve")))
        .unwrap_err();
    assert!(
        matches!(&err, Error::ScopeMissing { root_field, .. } if root_field == "anything"),
        "{err}"
    );
}

#[test]
fn an_rbac_key_on_a_root_field_protects_the_selection_on_its_channel() {
    let policies =
        SecurityPolicies::default().rbac(RbacPolicy::default().allow("payroll.salary", ["finance"]));
    let executor = executor_with(policies);
    let viewer = user("eve").with_roles(["viewer"]);
    let result = executor.register_subscription(on_channels(ANYTHING_SALARY, &["payroll"], viewer));
    assert_eq!(forbidden_field(result), "payroll.salary");
    let finance = user("fin").with_roles(["finance"]);
    assert!(executor
        .register_subscription(on_channels(ANYTHING_SALARY, &["payroll"], finance))
        .is_ok());
}

#[test]
fn an_rbac_key_on_a_root_field_protects_filter_paths_on_its_channel() {
    let policies =
        SecurityPolicies::default().rbac(RbacPolicy::default().allow("payroll.salary", ["finance"]));
    let viewer = user("eve").with_roles(["viewer"]);
    let request = on_channels("subscription { anything { id } }", &["payroll"], viewer)
        .filter(EventFilter::new().gte("salary", 5000));
    let result = executor_with(policies).register_subscription(request);
    assert_eq!(forbidden_field(result), "payroll.salary");
}

#[test]
fn an_rbac_key_on_a_root_field_alone_closes_its_channel() {
    let policies = SecurityPolicies::default().rbac(RbacPolicy::default().allow("payroll", ["finance"]));
    let viewer = user("eve").with_roles(["viewer"]);
    let result = executor_with(policies).register_subscription(on_channels(
        "subscription { anything { id } }",
        &["news", "payroll"],
        viewer,
    ));
    assert_eq!(forbidden_field(result), "payroll");
}

#[test]
fn a_channel_must_be_listed_when_the_map_denies_unlisted_fields() {
    let policies = SecurityPolicies::default().rbac(
        RbacPolicy::default()
            .allow("anything", ["viewer"])
            .allow("anything.id", ["viewer"])
            .allow("*.user_id", ["viewer"])
            .allow("*.federation_id", ["viewer"])
            .deny_unlisted(true),
    );
    let executor = executor_with(policies);
    let viewer = user("eve").with_roles(["viewer"]);
    let query = "subscription { anything { id } }";
    assert!(executor
        .register_subscription(on_channels(query, &["anything"], viewer.clone()))
        .is_ok());
    let unlisted = SubscriptionRequest::new("d", "1", query)
        .channels(["payroll"])
        .security_context(viewer);
    assert_eq!(
        forbidden_field(executor.register_subscription(unlisted)),
        "payroll"
    );
}

#[test]
fn event_data_that_is_not_an_object_names_no_owner() {
    let executor = executor();
    let scalar = |conn: &str, id: &str| {
        let request =
            SubscriptionRequest::new(conn, "1", "subscription { orders }").security_context(user(id));
        executor.register_subscription(request).unwrap()
    };
    let (alice, bob) = (scalar("a", "alice"), scalar("b", "bob"));
    for data in [json!("alice"), json!(7), json!(null), json!(["alice", "bob"])] {
        let report = dispatch(&executor, order(data.clone()));
        assert_eq!(report.delivered, 2, "{data}");
        assert!(received(&executor, alice) && received(&executor, bob), "{data}");
    }
}
