//! Properties over random events, security contexts and filters: no frame ever reaches a
//! subscriber whose tenant, owner, federation or filter excludes it; every allowed frame
//! arrives; the report's sums hold and the metrics agree with the reports.
//!
//! Reading an event's owner or federation follows the documented rules on any data, lists
//! of rows included; admission (scope and RBAC over everything a subscription reads and
//! listens to) matches a model whatever cohorts already exist.
//!
//! The expected outcome is computed by a model written here, independently of the engine.
//!
//! And losses: for any sequence of publishes, reads, gaps, rate-limit refusals and
//! overflows, frames read plus the counts notices announce equal the events that matched.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use subcast_core::{
    BucketConfig, DispatchReport, DropReason, Error, Event, EventFederation, EventFilter, EventOwner,
    ExecutorConfig, FakeClock, FederationPolicy, FilterErrorKind, OverflowPolicy, Policy, RateLimits,
    RbacPolicy, RowPolicy, ScopePolicy, SecurityContext, SecurityPolicies, SubscriptionExecutor,
    SubscriptionKey, SubscriptionRequest,
};

const QUERY: &str = "subscription { orders { seq } }";
const USERS: [&str; 3] = ["u0", "u1", "42"];
const TENANTS: [&str; 2] = ["acme", "globex"];
const FEDERATIONS: [&str; 2] = ["eu", "us"];
const EVENTS_PER_CASE: usize = 64;
const CASES: u32 = 160;

#[derive(Debug, Clone)]
enum FilterSpec {
    AmountGt(i64),
    AmountLte(i64),
    StatusEq(&'static str),
    StatusNe(&'static str),
    StatusIn(Vec<&'static str>),
    StatusNotIn(Vec<&'static str>),
    TagsContain(&'static str),
    NoteExists,
    NoteNotExists,
    Both(Box<FilterSpec>, Box<FilterSpec>),
}

#[derive(Debug, Clone)]
struct SubscriberSpec {
    user: Option<usize>,
    tenant: Option<usize>,
    federation: Option<usize>,
    filter: Option<FilterSpec>,
}

#[derive(Debug, Clone)]
enum OwnerSpec {
    Absent,
    Null,
    User(usize),
    Integer42,
    Unreadable,
}

#[derive(Debug, Clone)]
enum FederationSpec {
    Absent,
    Federation(usize),
    Unreadable,
}

#[derive(Debug, Clone)]
struct EventSpec {
    tenant: Option<usize>,
    owner: OwnerSpec,
    federation: FederationSpec,
    amount: Option<Value>,
    status: Option<Value>,
    tags: Option<Vec<&'static str>>,
    note: Option<Value>,
    chunk_size: Option<usize>,
}

const STATUSES: [&str; 3] = ["paid", "open", "void"];
const TAGS: [&str; 3] = ["vip", "new", "late"];

fn status() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&STATUSES[..])
}

fn filter_leaf() -> impl Strategy<Value = FilterSpec> {
    prop_oneof![
        (-5i64..20).prop_map(FilterSpec::AmountGt),
        (-5i64..20).prop_map(FilterSpec::AmountLte),
        status().prop_map(FilterSpec::StatusEq),
        status().prop_map(FilterSpec::StatusNe),
        prop::collection::vec(status(), 1..3).prop_map(FilterSpec::StatusIn),
        prop::collection::vec(status(), 1..3).prop_map(FilterSpec::StatusNotIn),
        prop::sample::select(&TAGS[..]).prop_map(FilterSpec::TagsContain),
        Just(FilterSpec::NoteExists),
        Just(FilterSpec::NoteNotExists),
    ]
}

fn filter_spec() -> impl Strategy<Value = FilterSpec> {
    prop_oneof![
        3 => filter_leaf(),
        1 => (filter_leaf(), filter_leaf()).prop_map(|(a, b)| FilterSpec::Both(Box::new(a), Box::new(b))),
    ]
}

fn subscriber() -> impl Strategy<Value = SubscriberSpec> {
    (
        prop::option::weighted(0.85, 0..USERS.len()),
        prop::option::of(0..TENANTS.len()),
        prop::option::weighted(0.3, 0..FEDERATIONS.len()),
        prop::option::weighted(0.5, filter_spec()),
    )
        .prop_map(|(user, tenant, federation, filter)| SubscriberSpec {
            user,
            tenant,
            federation,
            filter,
        })
}

fn event_spec() -> impl Strategy<Value = EventSpec> {
    let owner = prop_oneof![
        4 => Just(OwnerSpec::Absent),
        1 => Just(OwnerSpec::Null),
        3 => (0..USERS.len()).prop_map(OwnerSpec::User),
        1 => Just(OwnerSpec::Integer42),
        1 => Just(OwnerSpec::Unreadable),
    ];
    let federation = prop_oneof![
        4 => Just(FederationSpec::Absent),
        2 => (0..FEDERATIONS.len()).prop_map(FederationSpec::Federation),
        1 => Just(FederationSpec::Unreadable),
    ];
    let amount = prop::option::of(prop_oneof![
        4 => (-5i64..20).prop_map(Value::from),
        1 => (-5i64..20).prop_map(|n| Value::from(n as f64 + 0.5)),
        1 => Just(json!("7")),
    ]);
    let status = prop::option::of(prop_oneof![4 => status().prop_map(Value::from), 1 => Just(json!(3))]);
    let tags = prop::option::of(prop::collection::vec(prop::sample::select(&TAGS[..]), 0..3));
    let note = prop::option::of(prop_oneof![Just(Value::Null), Just(json!("n"))]);
    (
        prop::option::of(0..TENANTS.len()),
        owner,
        federation,
        amount,
        status,
        tags,
        note,
        prop::option::of(1usize..6),
    )
        .prop_map(
            |(tenant, owner, federation, amount, status, tags, note, chunk_size)| EventSpec {
                tenant,
                owner,
                federation,
                amount,
                status,
                tags,
                note,
                chunk_size,
            },
        )
}

fn build_filter(spec: &FilterSpec, filter: EventFilter) -> EventFilter {
    match spec {
        FilterSpec::AmountGt(n) => filter.gt("amount", *n),
        FilterSpec::AmountLte(n) => filter.lte("amount", *n),
        FilterSpec::StatusEq(s) => filter.eq("status", *s),
        FilterSpec::StatusNe(s) => filter.ne("status", *s),
        FilterSpec::StatusIn(list) => filter.is_in("status", list.iter().copied()),
        FilterSpec::StatusNotIn(list) => filter.not_in("status", list.iter().copied()),
        FilterSpec::TagsContain(tag) => filter.contains("tags", *tag),
        FilterSpec::NoteExists => filter.exists("note"),
        FilterSpec::NoteNotExists => filter.not_exists("note"),
        FilterSpec::Both(a, b) => build_filter(b, build_filter(a, filter)),
    }
}

fn event_data(spec: &EventSpec, seq: usize) -> Value {
    let mut data = Map::new();
    data.insert("seq".into(), seq.into());
    match spec.owner {
        OwnerSpec::Absent => {}
        OwnerSpec::Null => {
            data.insert("user_id".into(), Value::Null);
        }
        OwnerSpec::User(u) => {
            data.insert("user_id".into(), USERS[u].into());
        }
        OwnerSpec::Integer42 => {
            data.insert("user_id".into(), 42.into());
        }
        OwnerSpec::Unreadable => {
            data.insert("user_id".into(), json!({"id": "u0"}));
        }
    }
    match spec.federation {
        FederationSpec::Absent => {}
        FederationSpec::Federation(f) => {
            data.insert("federation_id".into(), FEDERATIONS[f].into());
        }
        FederationSpec::Unreadable => {
            data.insert("federation_id".into(), json!([FEDERATIONS[0]]));
        }
    }
    for (key, value) in [
        ("amount", &spec.amount),
        ("status", &spec.status),
        ("note", &spec.note),
    ] {
        if let Some(value) = value {
            data.insert(key.into(), value.clone());
        }
    }
    if let Some(tags) = &spec.tags {
        data.insert("tags".into(), json!(tags));
    }
    Value::Object(data)
}

/// The model of the event filter, written from the documented semantics.
fn model_filter(spec: &FilterSpec, event: &EventSpec) -> bool {
    let amount = event.amount.as_ref().and_then(Value::as_f64);
    let status = event.status.as_ref().and_then(Value::as_str);
    match spec {
        FilterSpec::AmountGt(n) => amount.is_some_and(|a| a > *n as f64),
        FilterSpec::AmountLte(n) => amount.is_some_and(|a| a <= *n as f64),
        FilterSpec::StatusEq(s) => status == Some(*s),
        FilterSpec::StatusNe(s) => status.is_some_and(|status| status != *s),
        FilterSpec::StatusIn(list) => status.is_some_and(|status| list.contains(&status)),
        FilterSpec::StatusNotIn(list) => status.is_some_and(|status| !list.contains(&status)),
        FilterSpec::TagsContain(tag) => event.tags.as_ref().is_some_and(|tags| tags.contains(tag)),
        FilterSpec::NoteExists => event.note.as_ref().is_some_and(|n| !n.is_null()),
        FilterSpec::NoteNotExists => event.note.as_ref().is_none_or(Value::is_null),
        FilterSpec::Both(a, b) => model_filter(a, event) && model_filter(b, event),
    }
}

/// What should happen to `subscriber` for `event`: `Ok` (a frame) or the refusing policy,
/// checked in the documented order: tenant, federation, filter, row.
fn model(subscriber: &SubscriberSpec, event: &EventSpec) -> Result<(), DropReason> {
    if subscriber.tenant != event.tenant {
        return Err(DropReason::Tenant);
    }
    let federation_ok = match event.federation {
        FederationSpec::Absent => true,
        FederationSpec::Federation(f) => subscriber.federation == Some(f),
        FederationSpec::Unreadable => return Err(DropReason::UnreadableFederation),
    };
    if !federation_ok {
        return Err(DropReason::Federation);
    }
    if let Some(filter) = &subscriber.filter {
        if !model_filter(filter, event) {
            return Err(DropReason::Filter);
        }
    }
    let user = subscriber.user.map(|u| USERS[u]);
    let row_ok = match event.owner {
        OwnerSpec::Absent | OwnerSpec::Null => true,
        OwnerSpec::User(u) => user == Some(USERS[u]),
        OwnerSpec::Integer42 => user == Some("42"),
        OwnerSpec::Unreadable => return Err(DropReason::UnreadableOwner),
    };
    if !row_ok {
        return Err(DropReason::Row);
    }
    Ok(())
}

fn register(executor: &SubscriptionExecutor, n: usize, spec: &SubscriberSpec) -> SubscriptionKey {
    let mut request = SubscriptionRequest::new(format!("conn-{n}"), format!("sub-{n}"), QUERY);
    if let Some(user) = spec.user {
        let mut context = SecurityContext::new(USERS[user]);
        if let Some(tenant) = spec.tenant {
            context = context.with_tenant(TENANTS[tenant]);
        }
        if let Some(federation) = spec.federation {
            context = context.with_federation(FEDERATIONS[federation]);
        }
        request = request.security_context(context);
    }
    if let Some(filter) = &spec.filter {
        request = request.filter(build_filter(filter, EventFilter::new()));
    }
    executor
        .register_subscription(request)
        .expect("valid subscription")
}

fn dispatch(
    executor: &SubscriptionExecutor,
    event: &Arc<Event>,
    chunk_size: Option<usize>,
) -> DispatchReport {
    match chunk_size {
        None => executor.dispatch_event_to_subscriptions(event).unwrap(),
        Some(size) => {
            let mut report = DispatchReport::default();
            for chunk in executor.prepare_dispatch(event).unwrap().into_chunks(size) {
                report.merge(&chunk.deliver());
            }
            report
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn no_frame_reaches_an_excluded_subscriber_and_the_counts_agree(
        subscribers in prop::collection::vec(subscriber(), 1..12),
        events in prop::collection::vec(event_spec(), EVENTS_PER_CASE),
    ) {
        let executor = SubscriptionExecutor::new(ExecutorConfig::default().allow_anonymous(true));
        // Anonymous subscribers have no tenant or federation of their own.
        let subscribers: Vec<SubscriberSpec> = subscribers
            .into_iter()
            .map(|s| if s.user.is_none() { SubscriberSpec { tenant: None, federation: None, ..s } } else { s })
            .collect();
        let keys: Vec<_> = subscribers.iter().enumerate().map(|(n, s)| register(&executor, n, s)).collect();
        let mut total = DispatchReport::default();
        for (seq, spec) in events.iter().enumerate() {
            let mut event = Event::new("orderPaid", "orders", event_data(spec, seq));
            if let Some(tenant) = spec.tenant {
                event = event.with_tenant(TENANTS[tenant]);
            }
            let report = dispatch(&executor, &Arc::new(event), spec.chunk_size);
            prop_assert_eq!(report.matched, report.delivered + report.errors + report.dropped_total());
            prop_assert_eq!(report.matched, subscribers.len());
            let mut expected = DispatchReport::default();
            for (n, (subscriber, key)) in subscribers.iter().zip(&keys).enumerate() {
                let frame = executor.next_response(*key).unwrap();
                match model(subscriber, spec) {
                    Ok(()) => {
                        let frame: Value = serde_json::from_slice(&frame.expect("an allowed frame arrives")).unwrap();
                        prop_assert_eq!(&frame["id"], &json!(format!("sub-{n}")));
                        prop_assert_eq!(&frame["payload"]["data"]["orders"]["seq"], &json!(seq));
                        expected.delivered += 1;
                    }
                    Err(reason) => {
                        prop_assert!(frame.is_none(), "{:?} got {:?} for {:?}", subscriber, frame, spec);
                        prop_assert!(report.dropped(reason) > 0, "{:?} not counted: {:?}", reason, report);
                    }
                }
                prop_assert_eq!(executor.next_response(*key).unwrap(), None);
            }
            prop_assert_eq!(report.delivered, expected.delivered);
            for reason in [
                DropReason::Tenant,
                DropReason::Federation,
                DropReason::UnreadableFederation,
                DropReason::Filter,
                DropReason::Row,
                DropReason::UnreadableOwner,
            ] {
                let want = subscribers.iter().filter(|s| model(s, spec) == Err(reason)).count();
                prop_assert_eq!(report.dropped(reason), want, "{:?}", reason);
            }
            total.merge(&report);
        }

        let metrics = executor.metrics_snapshot();
        prop_assert_eq!(metrics.events_dispatched, events.len() as u64);
        prop_assert_eq!(metrics.frames_delivered, total.delivered as u64);
        prop_assert_eq!(metrics.error_frames, total.errors as u64);
        for reason in DropReason::ALL {
            prop_assert_eq!(metrics.dropped(reason), total.dropped(reason) as u64);
        }
        for (policy, reasons) in [
            (Policy::Tenant, &[DropReason::Tenant][..]),
            (Policy::Row, &[DropReason::Row, DropReason::UnreadableOwner][..]),
            (Policy::Federation, &[DropReason::Federation, DropReason::UnreadableFederation][..]),
            (Policy::Filter, &[DropReason::Filter][..]),
        ] {
            let dropped: usize = reasons.iter().map(|r| total.dropped(*r)).sum();
            prop_assert_eq!(metrics.violations(policy), dropped as u64);
        }
        let refused = total.refused_total() as u64;
        prop_assert_eq!(metrics.validations_rejected, refused);
        prop_assert_eq!(
            metrics.validations_passed,
            subscribers.len() as u64 + total.matched as u64 - refused
        );
        prop_assert_eq!(metrics.active_subscriptions, subscribers.len() as u64);
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z.0-9]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z0-9]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn filter_json() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        prop::sample::select(
            &[
                "eq",
                "ne",
                "gt",
                "lt",
                "gte",
                "lte",
                "exists",
                "not_exists",
                "contains",
                "in",
                "not_in"
            ][..]
        )
        .prop_map(Value::from),
        json_value(),
    ];
    let condition = ("[a-z0-9.]{0,8}", op, prop::option::of(json_value())).prop_map(|(path, op, value)| {
        let mut object = Map::new();
        object.insert("path".into(), path.into());
        object.insert("op".into(), op);
        if let Some(value) = value {
            object.insert("value".into(), value);
        }
        Value::Object(object)
    });
    prop_oneof![
        4 => prop::collection::vec(condition, 0..4).prop_map(Value::from),
        1 => json_value(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_filters_and_data_never_panic_and_invalid_filters_are_typed_errors(
        filter in filter_json(),
        data in json_value(),
    ) {
        match EventFilter::from_json(&filter) {
            Ok(filter) => {
                prop_assert!(filter.validate().is_ok());
                let _ = filter.matches(&data);
                let reread = EventFilter::from_json(&filter.to_json());
                prop_assert_eq!(reread.as_ref(), Ok(&filter));
            }
            Err(error) => prop_assert!(!error.message().is_empty()),
        }
    }
}

// Owner and federation reads on arbitrary data

/// Keys of the generated data and segments of the generated paths: a small alphabet, so
/// paths often meet the data.
const KEYS: [&str; 3] = ["a", "b", "0"];

fn identity_data() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-2i64..3).prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(1.5)),
        prop::sample::select(&["u0", "u1", "1", ""][..]).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(prop::sample::select(&KEYS[..]), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn identity_path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(&KEYS[..]), 1..4).prop_map(|s| s.join(".")),
        1 => "[a-b0.]{0,6}",
    ]
}

/// The documented read of one row: `Ok(None)` no id, `Ok(Some(id))`, `Err(())` unreadable.
fn model_row(row: &Value, path: &str) -> Result<Option<String>, ()> {
    if !row.is_object() {
        return Ok(None);
    }
    let mut at = row;
    for segment in path.split('.') {
        at = match at {
            Value::Object(map) => match map.get(segment) {
                Some(next) => next,
                None => return Ok(None),
            },
            Value::Null => return Ok(None),
            _ => return Err(()),
        };
    }
    match at {
        Value::Null => Ok(None),
        Value::String(id) => Ok(Some(id.clone())),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Ok(Some(i.to_string())),
            (None, Some(u)) => Ok(Some(u.to_string())),
            (None, None) => Err(()),
        },
        _ => Err(()),
    }
}

/// The documented read of an event: a list is rows that must all name the same id.
fn model_identity(data: &Value, path: &str) -> Result<Option<String>, ()> {
    if !data.is_array() {
        return model_row(data, path);
    }
    fn leaves<'a>(value: &'a Value, into: &mut Vec<&'a Value>) {
        match value {
            Value::Array(rows) => rows.iter().for_each(|row| leaves(row, into)),
            row => into.push(row),
        }
    }
    let mut rows = Vec::new();
    leaves(data, &mut rows);
    let ids = rows
        .iter()
        .map(|row| model_row(row, path))
        .collect::<Result<Vec<_>, _>>()?;
    let named: std::collections::BTreeSet<&String> = ids.iter().flatten().collect();
    match named.len() {
        0 => Ok(None),
        1 if ids.iter().all(Option::is_some) => Ok(named.into_iter().next().cloned()),
        _ => Err(()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn owner_and_federation_reads_follow_the_documented_rules_on_any_data(
        data in identity_data(),
        path in identity_path(),
    ) {
        let event = Event::new("changed", "orders", data.clone());
        match (RowPolicy::owner_path(path.as_str()), FederationPolicy::federation_path(path.as_str())) {
            (Ok(row), Ok(federation)) => {
                let expected = model_identity(&data, &path);
                let owner = match &expected {
                    Ok(None) => EventOwner::Unowned,
                    Ok(Some(id)) => EventOwner::User(id.as_str().into()),
                    Err(()) => EventOwner::Unreadable,
                };
                let scope = match &expected {
                    Ok(None) => EventFederation::Unscoped,
                    Ok(Some(id)) => EventFederation::Federation(id.as_str().into()),
                    Err(()) => EventFederation::Unreadable,
                };
                prop_assert_eq!(row.owner(&event), owner, "{} at {:?}", data, path);
                prop_assert_eq!(federation.federation(&event), scope, "{} at {:?}", data, path);
            }
            (Err(a), Err(b)) => {
                prop_assert_eq!(a.kind(), FilterErrorKind::InvalidPath);
                prop_assert_eq!(b.kind(), FilterErrorKind::InvalidPath);
            }
            (row, federation) => prop_assert!(false, "{:?} / {:?}", row, federation),
        }
    }
}

/// Owners of rows in a list event: absent, one of [`USERS`] as a string, or 42 as an integer.
fn row_owner() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        4 => prop::sample::select(&USERS[..]).prop_map(|u| Some(Value::from(u))),
        1 => Just(Some(json!(42))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn a_list_of_rows_reaches_a_user_only_if_every_row_names_that_user(
        events in prop::collection::vec(prop::collection::vec(row_owner(), 0..4), 1..8),
    ) {
        let executor = SubscriptionExecutor::default();
        let keys: Vec<_> = USERS
            .iter()
            .enumerate()
            .map(|(n, user)| {
                let request = SubscriptionRequest::new(format!("c{n}"), "1", QUERY)
                    .security_context(SecurityContext::new(*user));
                executor.register_subscription(request).unwrap()
            })
            .collect();
        for (seq, owners) in events.iter().enumerate() {
            let rows: Vec<Value> = owners
                .iter()
                .map(|owner| match owner {
                    Some(owner) => json!({"seq": seq, "user_id": owner}),
                    None => json!({"seq": seq}),
                })
                .collect();
            let named: std::collections::BTreeSet<String> = owners
                .iter()
                .flatten()
                .map(|o| o.as_str().map_or_else(|| o.to_string(), str::to_owned))
                .collect();
            let unowned_rows = owners.iter().any(Option::is_none);
            let report = executor
                .dispatch_event_to_subscriptions(&Arc::new(Event::new("paid", "orders", Value::from(rows))))
                .unwrap();
            let unreadable = named.len() > 1 || (named.len() == 1 && unowned_rows);
            for (user, key) in USERS.iter().zip(&keys) {
                let reaches = !unreadable && (named.is_empty() || named.contains(*user));
                prop_assert_eq!(executor.next_response(*key).unwrap().is_some(), reaches, "{} {:?}", user, owners);
            }
            let expected_unreadable = if unreadable { USERS.len() } else { 0 };
            prop_assert_eq!(report.dropped(DropReason::UnreadableOwner), expected_unreadable);
        }
    }
}

// Admission: scope and RBAC over everything a subscription reads and listens to

const ROOT: &str = "orders";
const RBAC_KEYS: [&str; 13] = [
    "orders",
    "orders.total",
    "orders.ssn",
    "*.ssn",
    "payroll",
    "payroll.total",
    "payroll.profile.ssn",
    "orders.profile",
    "*.sku",
    "*.user_id",
    "orders.federation_id",
    "*.total",
    "news.id",
];
const ROLES: [&str; 2] = ["viewer", "finance"];
const SELECTABLE: [&str; 3] = ["id", "total", "ssn"];
const FILTER_PATHS: [&str; 5] = ["total", "ssn", "profile.ssn", "items.0.sku", "id"];
const CHANNELS: [&str; 3] = ["orders", "payroll", "news"];

#[derive(Debug, Clone)]
struct AdmissionPolicies {
    rules: Vec<(usize, Vec<usize>)>,
    deny_unlisted: bool,
    row: bool,
    federation: bool,
}

#[derive(Debug, Clone)]
struct Applicant {
    roles: Vec<usize>,
    payroll_scope: bool,
    selection: Vec<usize>,
    filter: Vec<usize>,
    channels: Option<Vec<usize>>,
}

fn indices(len: usize, max: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..len, 0..=max)
}

fn admission_policies() -> impl Strategy<Value = AdmissionPolicies> {
    (
        prop::collection::vec((0..RBAC_KEYS.len(), indices(ROLES.len(), 2)), 0..5),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.7),
    )
        .prop_map(|(rules, deny_unlisted, row, federation)| AdmissionPolicies {
            rules,
            deny_unlisted,
            row,
            federation,
        })
}

fn applicant() -> impl Strategy<Value = Applicant> {
    (
        indices(ROLES.len(), 2),
        any::<bool>(),
        prop::collection::vec(0..SELECTABLE.len(), 1..3),
        indices(FILTER_PATHS.len(), 2),
        prop::option::of(prop::collection::vec(0..CHANNELS.len(), 1..3)),
    )
        .prop_map(|(roles, payroll_scope, selection, filter, channels)| Applicant {
            roles,
            payroll_scope,
            selection,
            filter,
            channels,
        })
}

fn build_policies(spec: &AdmissionPolicies) -> SecurityPolicies {
    let mut rbac = RbacPolicy::default().deny_unlisted(spec.deny_unlisted);
    for (key, roles) in &spec.rules {
        rbac = rbac.allow(RBAC_KEYS[*key], roles.iter().map(|r| ROLES[*r]));
    }
    let mut policies = SecurityPolicies::default()
        .rbac(rbac)
        .scope(ScopePolicy::default().require_scopes("payroll", ["payroll:read"]));
    if !spec.row {
        policies = policies.row(RowPolicy::disabled());
    }
    if !spec.federation {
        policies = policies.federation(FederationPolicy::disabled());
    }
    policies
}

/// What subscribing should give, from the documented rules: the scope of every name
/// first, then each read path under each name.
fn model_admission(policies: &AdmissionPolicies, applicant: &Applicant) -> Result<(), Option<Vec<String>>> {
    let mut names = vec![ROOT];
    for channel in applicant.channels.iter().flatten() {
        if !names.contains(&CHANNELS[*channel]) {
            names.push(CHANNELS[*channel]);
        }
    }
    if names.contains(&"payroll") && !applicant.payroll_scope {
        return Err(None);
    }
    let mut suffixes = vec![String::new()];
    for field in &applicant.selection {
        suffixes.push(format!(".{}", SELECTABLE[*field]));
    }
    let mut data_paths: Vec<&str> = applicant.filter.iter().map(|f| FILTER_PATHS[*f]).collect();
    if policies.row {
        data_paths.push("user_id");
    }
    if policies.federation {
        data_paths.push("federation_id");
    }
    for path in data_paths {
        let mut suffix = String::new();
        for segment in path.split('.').filter(|s| s.parse::<usize>().is_err()) {
            suffix = format!("{suffix}.{segment}");
            suffixes.push(suffix.clone());
        }
    }
    let roles: Vec<&str> = applicant.roles.iter().map(|r| ROLES[*r]).collect();
    let allowed = |path: &str| {
        let wildcard = path.rsplit_once('.').map(|(_, last)| format!("*.{last}"));
        let keys: std::collections::BTreeSet<usize> = policies
            .rules
            .iter()
            .map(|(key, _)| *key)
            .filter(|key| RBAC_KEYS[*key] == path || Some(RBAC_KEYS[*key]) == wildcard.as_deref())
            .collect();
        if keys.is_empty() {
            return !policies.deny_unlisted;
        }
        // Each matching key needs one of its roles; a key given twice adds up its roles.
        keys.iter().all(|key| {
            policies
                .rules
                .iter()
                .filter(|(k, _)| k == key)
                .flat_map(|(_, roles)| roles)
                .any(|role| roles.contains(&ROLES[*role]))
        })
    };
    let refused: Vec<String> = names
        .iter()
        .flat_map(|name| suffixes.iter().map(move |suffix| format!("{name}{suffix}")))
        .filter(|path| !allowed(path))
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(Some(refused))
    }
}

fn apply(executor: &SubscriptionExecutor, n: usize, applicant: &Applicant) -> Result<SubscriptionKey, Error> {
    let fields: Vec<&str> = applicant.selection.iter().map(|f| SELECTABLE[*f]).collect();
    let query = format!("subscription {{ {ROOT} {{ {} }} }}", fields.join(" "));
    let mut context =
        SecurityContext::new(format!("u{n}")).with_roles(applicant.roles.iter().map(|r| ROLES[*r]));
    if applicant.payroll_scope {
        context = context.with_scopes(["payroll:read"]);
    }
    let mut request = SubscriptionRequest::new(format!("c{n}"), "1", query).security_context(context);
    if !applicant.filter.is_empty() {
        let filter = applicant
            .filter
            .iter()
            .fold(EventFilter::new(), |filter, f| filter.exists(FILTER_PATHS[*f]));
        request = request.filter(filter);
    }
    if let Some(channels) = &applicant.channels {
        request = request.channels(channels.iter().map(|c| CHANNELS[*c]));
    }
    executor.register_subscription(request)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn admission_matches_the_model_whatever_cohorts_already_exist(
        policies in admission_policies(),
        applicants in prop::collection::vec(applicant(), 1..8),
    ) {
        let executor = SubscriptionExecutor::new(ExecutorConfig::default().security(build_policies(&policies)));
        // Every applicant twice: the second time, an admitted one joins its own cohort.
        let rounds = applicants.iter().chain(&applicants).enumerate();
        for (n, applicant) in rounds {
            let result = apply(&executor, n, applicant);
            match (model_admission(&policies, applicant), result) {
                (Ok(()), Ok(_)) => {}
                (Err(None), Err(Error::ScopeMissing { .. })) => {}
                (Err(Some(refused)), Err(Error::FieldForbidden { field })) => {
                    prop_assert!(refused.contains(&field), "{} not in {:?}", field, refused);
                }
                (expected, result) => {
                    prop_assert!(false, "{:?} under {:?}: expected {:?}, got {:?}", applicant, policies, expected, result);
                }
            }
        }
    }
}

// Losses are announced, never lost: for any sequence of publishes, reads, bus gaps,
// rate-limit refusals and overflows, under every policy, the frames a subscriber reads
// plus the counts its notices announce equal the events that matched it.

#[derive(Debug, Clone)]
enum Step {
    /// Publish an event whose data is a string of this many bytes.
    Publish(usize),
    /// Read up to this many frames.
    Read(usize),
    /// The bus lost its stream for the channel.
    Gap,
    /// Time passes for the delivery bucket, in milliseconds.
    Advance(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..400).prop_map(Step::Publish),
        2 => (1usize..4).prop_map(Step::Read),
        1 => Just(Step::Gap),
        1 => (0u64..3000).prop_map(Step::Advance),
    ]
}

fn policy() -> impl Strategy<Value = OverflowPolicy> {
    prop_oneof![
        Just(OverflowPolicy::DropOldest),
        Just(OverflowPolicy::DropNewest),
        Just(OverflowPolicy::Close),
    ]
}

/// What a subscriber has read, summed.
#[derive(Debug, Default)]
struct Received {
    data: usize,
    lagged: u64,
    rate_limited: u64,
    gaps: u64,
    errors: usize,
}

impl Received {
    fn read(&mut self, frame: &[u8]) {
        let frame: Value = serde_json::from_slice(frame).unwrap();
        if frame["type"] == "error" {
            self.errors += 1;
            return;
        }
        if frame["payload"]["data"].is_object() {
            self.data += 1;
            return;
        }
        let extensions = &frame["payload"]["errors"][0]["extensions"];
        let count = extensions["count"].as_u64().expect("every notice has a count");
        match extensions["code"].as_str() {
            Some("EVENTS_LAGGED") => self.lagged += count,
            Some("RATE_LIMITED") => self.rate_limited += count,
            Some("EVENTS_GAP") => self.gaps += count,
            other => panic!("unexpected notice {other:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn frames_read_plus_counts_announced_equal_the_events_that_matched(
        steps in proptest::collection::vec(step(), 1..80),
        capacity in 1usize..5,
        max_bytes in prop_oneof![Just(300usize), Just(1000), Just(1 << 20)],
        overflow in policy(),
        burst in 1u32..4,
    ) {
        let clock = Arc::new(FakeClock::new());
        let config = ExecutorConfig::default()
            .queue_capacity(capacity)
            .queue_max_bytes(max_bytes)
            .overflow(overflow)
            .rate_limits(RateLimits::default().deliveries(BucketConfig::new(burst, 1.0)))
            .clock(clock.clone());
        let executor = SubscriptionExecutor::try_new(config).unwrap();
        let key = executor
            .register_subscription(
                SubscriptionRequest::new("c", "1", "subscription { ticks }")
                    .security_context(SecurityContext::new("alice")),
            )
            .unwrap();
        let queue = executor.response_queue(key).unwrap();
        let mut total = DispatchReport::default();
        let mut gaps_accepted = 0;
        let mut received = Received::default();
        let mut largest_frame = 0;
        let publish = |size: usize, total: &mut DispatchReport| {
            let event = Arc::new(Event::new("tick", "ticks", json!("x".repeat(size))));
            let report = executor.dispatch_event_to_subscriptions(&event).unwrap();
            prop_assert_eq!(report.matched, 1);
            total.merge(&report);
            Ok(())
        };
        for step in steps {
            match step {
                Step::Publish(size) => {
                    publish(size, &mut total)?;
                    largest_frame = largest_frame.max(size + 60);
                }
                Step::Read(n) => {
                    for frame in std::iter::from_fn(|| queue.try_next()).take(n) {
                        received.read(&frame);
                    }
                }
                Step::Gap => gaps_accepted += executor.signal_gap("ticks").delivered,
                Step::Advance(ms) => clock.advance(Duration::from_millis(ms)),
            }
            if overflow != OverflowPolicy::Close {
                prop_assert!(queue.queued_bytes() <= max_bytes.max(largest_frame));
            }
            prop_assert!(queue.len() <= capacity + 6, "{} entries", queue.len());
        }
        // A last delivery after the bucket refilled announces what it still holds back.
        clock.advance(Duration::from_secs(60));
        publish(0, &mut total)?;
        while let Some(frame) = queue.try_next() {
            received.read(&frame);
        }
        let mut lost_to_the_end = total.dropped(DropReason::QueueClosed);
        if overflow == OverflowPolicy::Close {
            lost_to_the_end += total.dropped(DropReason::QueueFull);
        }
        prop_assert_eq!(
            received.data as u64 + received.lagged + received.rate_limited + lost_to_the_end as u64,
            total.matched as u64,
            "{:?} {:?}", received, total
        );
        prop_assert_eq!(received.gaps, gaps_accepted as u64);
        prop_assert_eq!(received.errors, usize::from(total.dropped(DropReason::QueueFull) > 0 && overflow == OverflowPolicy::Close));
    }
}
