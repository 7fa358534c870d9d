//! Ids read from event data (owners, federations) and from variables (identity checks).
//!
//! - `Identity`: an id, its absence, or something that is not one.
//! - `read_event_identity`: the fail-closed read of the row and federation policies,
//!   lists of rows included (the rules are stated on the function and in `row.rs`).
//! - `identity_matches`: whether a variable's value names a given id.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

/// An id read from event data or variables.
pub(crate) enum Identity {
    Absent,
    Id(Arc<str>),
    Malformed,
}

/// Read the id at dot-`path` in event `data`, for the row and federation policies.
///
/// Each segment of `path` is an object key. Data (or a row) that is not an object (a
/// scalar, `null`) has no fields and names no id; so does a path that ends at a missing
/// field or at `null`, or meets `null` on the way. A path that meets a scalar or a list on
/// the way is malformed: the id is there in a shape the path does not describe.
///
/// Data that is a list holds rows, each read at `path`; a row that is itself a list holds
/// rows in turn, as the projection reads it, so nested lists are read to their leaves. The
/// rows name one id when every row names that same id; when no row names an id, there is
/// none; anything else (rows of different ids, a row without an id among rows with one, a
/// malformed row) is malformed.
pub(crate) fn read_event_identity(data: &Value, path: &str) -> Identity {
    if !data.is_array() {
        return match read_row_identity(data, path) {
            RowIdentity::Absent => Identity::Absent,
            RowIdentity::Id(id) => Identity::Id(id.into()),
            RowIdentity::Malformed => Identity::Malformed,
        };
    }
    let mut named: Option<Cow<'_, str>> = None;
    let mut unnamed = false;
    // An explicit stack: event data is depth-limited, but this read must not rely on it.
    let mut pending = vec![data];
    while let Some(value) = pending.pop() {
        if let Value::Array(rows) = value {
            pending.extend(rows.iter().rev());
            continue;
        }
        match read_row_identity(value, path) {
            RowIdentity::Absent => unnamed = true,
            RowIdentity::Id(id) => match &named {
                None => named = Some(id),
                Some(first) if *first == id => {}
                Some(_) => return Identity::Malformed,
            },
            RowIdentity::Malformed => return Identity::Malformed,
        }
    }
    match (named, unnamed) {
        (None, _) => Identity::Absent,
        (Some(id), false) => Identity::Id(id.into()),
        (Some(_), true) => Identity::Malformed,
    }
}

/// An id read from one row, borrowed when it is a string.
enum RowIdentity<'a> {
    Absent,
    Id(Cow<'a, str>),
    Malformed,
}

fn read_row_identity<'a>(row: &'a Value, path: &str) -> RowIdentity<'a> {
    if !row.is_object() {
        return RowIdentity::Absent;
    }
    let mut current = row;
    for segment in path.split('.') {
        current = match current {
            Value::Object(fields) => match fields.get(segment) {
                Some(value) => value,
                None => return RowIdentity::Absent,
            },
            Value::Null => return RowIdentity::Absent,
            _ => return RowIdentity::Malformed,
        };
    }
    match current {
        Value::Null => RowIdentity::Absent,
        Value::String(id) => RowIdentity::Id(Cow::Borrowed(id)),
        Value::Number(n) if n.is_i64() || n.is_u64() => RowIdentity::Id(Cow::Owned(n.to_string())),
        _ => RowIdentity::Malformed,
    }
}

/// Strings are ids as they are, integers in decimal; `null` or missing is no id; anything
/// else is malformed.
pub(crate) fn read_identity(value: Option<&Value>) -> Identity {
    match value {
        None | Some(Value::Null) => Identity::Absent,
        Some(Value::String(id)) => Identity::Id(id.as_str().into()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Identity::Id(n.to_string().into()),
        Some(_) => Identity::Malformed,
    }
}

/// Whether `value` (a string, or an integer in decimal) names `id`.
pub(crate) fn identity_matches(value: &Value, id: &str) -> bool {
    match read_identity(Some(value)) {
        Identity::Id(found) => *found == *id,
        Identity::Absent | Identity::Malformed => false,
    }
}
