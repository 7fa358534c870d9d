use std::cmp::Ordering;

use super::eval::{json_cmp, json_eq, lookup};
use serde_json::json;

#[test]
fn lookup_walks_objects_and_array_indices() {
    let data = json!({"a": {"b": [{"c": 1}, {"c": 2}]}});
    assert_eq!(lookup(&data, "a.b.1.c"), Some(&json!(2)));
    assert_eq!(lookup(&data, "a.b.x"), None);
    assert_eq!(lookup(&data, "a.b.9.c"), None);
    assert_eq!(lookup(&json!(3), "a"), None);
}

#[test]
fn integers_and_floats_compare_by_value() {
    assert_eq!(json_eq(&json!(1), &json!(1.0)), Some(true));
    assert_eq!(json_cmp(&json!(u64::MAX), &json!(-1)), Some(Ordering::Greater));
    assert_eq!(json_eq(&json!("1"), &json!(1)), None);
}
