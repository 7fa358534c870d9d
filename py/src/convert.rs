//! Conversions between Python objects and the JSON values the engine speaks.
//!
//! - [`to_json`]: a Python value to a `serde_json::Value`, refusing what JSON cannot hold
//!   faithfully, with the path of the offending value in the error.
//! - [`to_python`]: a JSON value back to plain Python objects.
//! - [`Identifier`]: a connection or subscription id given as `str` or `int`.
//! - [`event_to_python`]: the event a Python resolver receives.
//! - [`wait_timeout`], [`frame_limit`]: the numbers the executor's calls take.
//!
//! Every binding converts through this module, so the rules live in one place:
//! `None`, `bool`, `int` (signed or unsigned 64-bit), finite `float`, `str`, `list`,
//! `tuple` (as a list) and `dict` with `str` keys. Configuration objects have their own
//! readers in [`crate::config`].
//!
//! A timeout is a number of seconds: `None` waits without limit, and so does one too large
//! for the clock (`math.inf`, `1e300`, `10**400`); a negative or NaN timeout raises
//! `InvalidRequestError` (a `ValueError`), anything else `ConversionError` (a `TypeError`).

use std::fmt::Write as _;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};
use subcast_core::{Event, MAX_EVENT_DEPTH};

use crate::errors::{conversion_error, raise, PyError};

/// Deepest nesting of lists and dicts accepted: the engine's one event depth limit, so that
/// Python refuses at conversion, naming the path, what every node would refuse on the bus
/// (and a self-referencing list fails cleanly instead of overflowing the stack).
pub const MAX_DEPTH: usize = MAX_EVENT_DEPTH;

/// Convert `value` to JSON; `root` names it in errors (e.g. `data`).
pub fn to_json(value: &Bound<'_, PyAny>, root: &str) -> PyResult<Value> {
    let mut path = Path::new(root);
    convert(value, &mut path, 0)
}

/// Convert an optional dict argument (`variables=None` is the empty object).
pub fn to_json_object(value: Option<&Bound<'_, PyAny>>, root: &str) -> PyResult<Value> {
    match value {
        None => Ok(Value::Object(Map::new())),
        Some(value) if value.is_none() => Ok(Value::Object(Map::new())),
        Some(value) => {
            if !value.is_instance_of::<PyDict>() {
                let message = format!("{root} must be a dict, not {}", type_name(value));
                return Err(conversion_error(value.py(), message));
            }
            to_json(value, root)
        }
    }
}

/// A JSON value as plain Python objects: dicts, lists, str, int, float, bool, None.
pub fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => number_to_python(py, n)?,
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => object_to_python(py, map)?.into_any(),
    })
}

/// A JSON object as a Python dict.
pub fn object_to_python<'py>(py: Python<'py>, map: &Map<String, Value>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, item) in map {
        dict.set_item(key, to_python(py, item)?)?;
    }
    Ok(dict)
}

/// The event as a resolver sees it: every field of the engine's `Event`.
pub fn event_to_python<'py>(py: Python<'py>, event: &Event) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("id", &event.id)?;
    dict.set_item("event_type", &event.event_type)?;
    dict.set_item("channel", &event.channel)?;
    dict.set_item("data", to_python(py, &event.data)?)?;
    dict.set_item("tenant_id", event.tenant_id.as_deref())?;
    dict.set_item("timestamp", event.timestamp)?;
    dict.set_item("correlation_id", event.correlation_id.as_deref())?;
    dict.set_item("origin", &event.origin)?;
    Ok(dict)
}

/// A connection or subscription id: a `str`, or an `int` taken as its decimal string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identifier(pub String);

impl Identifier {
    /// Read the argument `what` (for the error message).
    pub fn extract(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Self> {
        if let Ok(s) = value.cast::<PyString>() {
            return Ok(Identifier(s.to_str()?.to_owned()));
        }
        if value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>() {
            // `int(value)` first: an `IntEnum` member's `str` is not its number.
            let number = value.py().get_type::<PyInt>().call1((value,))?;
            let text = number.str().map_err(|_| {
                let message =
                    format!("{what} is an int too long to be an id (more digits than Python prints)");
                conversion_error(value.py(), message)
            })?;
            return Ok(Identifier(text.to_str()?.to_owned()));
        }
        let message = format!("{what} must be a str or an int, not {}", type_name(value));
        Err(conversion_error(value.py(), message))
    }

    /// Read an optional id (`None` stays `None`).
    pub fn extract_optional(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Self>> {
        match value {
            None => Ok(None),
            Some(value) if value.is_none() => Ok(None),
            Some(value) => Self::extract(value, what).map(Some),
        }
    }
}

/// Read a timeout in seconds: `None` (and a value too large for the clock) is no limit.
pub fn wait_timeout(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Duration>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let py = value.py();
    let numeric = !value.is_instance_of::<PyBool>()
        && (value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>());
    if !numeric {
        let message = format!(
            "{what} must be a number of seconds or None, not {}",
            type_name(value)
        );
        return Err(conversion_error(py, message));
    }
    let seconds = match value.extract::<f64>() {
        Ok(seconds) => seconds,
        // An int beyond the float range: as long as no clock can count, or negative.
        Err(_) if value.lt(0)? => f64::NEG_INFINITY,
        Err(_) => f64::INFINITY,
    };
    if seconds.is_nan() || seconds < 0.0 {
        let message = format!("{what} must be a non-negative number of seconds, got {seconds}");
        return Err(raise(py, PyError::InvalidRequest, message, "BAD_REQUEST"));
    }
    Ok(Duration::try_from_secs_f64(seconds).ok())
}

/// Read `max_per_subscription=`: at least 1; `None` (or more than can be queued) is every frame.
pub fn frame_limit(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<usize> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(usize::MAX);
    };
    let py = value.py();
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        let message = format!("{what} must be an int or None, not {}", type_name(value));
        return Err(conversion_error(py, message));
    }
    match value.extract::<i64>() {
        Ok(limit) if limit >= 1 => Ok(usize::try_from(limit).unwrap_or(usize::MAX)),
        Ok(limit) => {
            let message = format!("{what} must be at least 1, got {limit}");
            Err(raise(py, PyError::InvalidRequest, message, "BAD_REQUEST"))
        }
        Err(_) if value.lt(0)? => {
            let message = format!("{what} must be at least 1, got a negative int");
            Err(raise(py, PyError::InvalidRequest, message, "BAD_REQUEST"))
        }
        Err(_) => Ok(usize::MAX),
    }
}

/// Read an optional list of strings (`roles`, `scopes`, `channels`).
pub fn string_list(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Vec<String>>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if value.is_instance_of::<PyString>()
        || !(value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>())
    {
        let message = format!("{what} must be a list of str, not {}", type_name(value));
        return Err(conversion_error(value.py(), message));
    }
    let mut strings = Vec::new();
    for (index, item) in value.try_iter()?.enumerate() {
        let item = item?;
        match item.cast::<PyString>() {
            Ok(s) => strings.push(s.to_str()?.to_owned()),
            Err(_) => {
                let message = format!("{what}[{index}] must be a str, not {}", type_name(&item));
                return Err(conversion_error(value.py(), message));
            }
        }
    }
    Ok(Some(strings))
}

/// Read an optional string argument.
pub fn optional_string(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<String>> {
    match value {
        None => Ok(None),
        Some(value) if value.is_none() => Ok(None),
        Some(value) => match value.cast::<PyString>() {
            Ok(s) => Ok(Some(s.to_str()?.to_owned())),
            Err(_) => {
                let message = format!("{what} must be a str or None, not {}", type_name(value));
                Err(conversion_error(value.py(), message))
            }
        },
    }
}

/// The type name of `value`, for messages.
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "object".to_owned(), |n| n.to_string())
}

fn convert(value: &Bound<'_, PyAny>, path: &mut Path, depth: usize) -> PyResult<Value> {
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        return int_to_json(value, path);
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        let x = f.value();
        return Number::from_f64(x).map(Value::Number).ok_or_else(|| {
            let message = format!("{x} at {path} is not a JSON number: NaN and infinities are refused");
            conversion_error(value.py(), message)
        });
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if depth >= MAX_DEPTH {
        let message =
            format!("{path} is nested more than {MAX_DEPTH} levels of lists and dicts deep (the limit of event data; a value containing itself?)");
        return Err(conversion_error(value.py(), message));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = Map::with_capacity(dict.len());
        for (key, item) in dict.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                let message = format!(
                    "dict key {} at {path} is a {}: JSON object keys must be str",
                    key.repr().map_or_else(|_| "?".to_owned(), |r| r.to_string()),
                    type_name(&key)
                );
                return Err(conversion_error(value.py(), message));
            };
            let key = key.to_str()?;
            path.push_key(key);
            let converted = convert(&item, path, depth + 1);
            path.pop();
            map.insert(key.to_owned(), converted?);
        }
        return Ok(Value::Object(map));
    }
    // The real item counts, never `__len__`, which a subclass can make return anything.
    if let Ok(list) = value.cast::<PyList>() {
        return convert_items(list.iter(), list.len(), path, depth);
    }
    if let Ok(tuple) = value.cast::<PyTuple>() {
        return convert_items(tuple.iter(), tuple.len(), path, depth);
    }
    let message = format!(
        "{path} is a {}, which subcast cannot send as JSON (use None, bool, int, float, str, list, tuple or dict)",
        type_name(value)
    );
    Err(conversion_error(value.py(), message))
}

fn convert_items<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    count: usize,
    path: &mut Path,
    depth: usize,
) -> PyResult<Value> {
    let mut array = Vec::with_capacity(count);
    for (index, item) in items.enumerate() {
        path.push_index(index);
        let converted = convert(&item, path, depth + 1);
        path.pop();
        array.push(converted?);
    }
    Ok(Value::Array(array))
}

fn int_to_json(value: &Bound<'_, PyAny>, path: &Path) -> PyResult<Value> {
    if let Ok(i) = value.extract::<i64>() {
        return Ok(Value::from(i));
    }
    if let Ok(u) = value.extract::<u64>() {
        return Ok(Value::from(u));
    }
    let message = format!(
        "the int at {path} does not fit in 64 bits: subcast sends integers from -2**63 to 2**64-1 \
         (send larger ones as str)"
    );
    Err(conversion_error(value.py(), message))
}

fn number_to_python<'py>(py: Python<'py>, n: &Number) -> PyResult<Bound<'py, PyAny>> {
    if let Some(i) = n.as_i64() {
        return Ok(i.into_pyobject(py)?.into_any());
    }
    if let Some(u) = n.as_u64() {
        return Ok(u.into_pyobject(py)?.into_any());
    }
    Ok(PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any())
}

/// Where a value sits inside the argument being converted, rendered like Python subscripts.
struct Path {
    text: String,
    marks: Vec<usize>,
}

impl Path {
    fn new(root: &str) -> Self {
        Path {
            text: root.to_owned(),
            marks: Vec::new(),
        }
    }

    fn push_key(&mut self, key: &str) {
        self.marks.push(self.text.len());
        let _ = write!(self.text, "[{key:?}]");
    }

    fn push_index(&mut self, index: usize) {
        self.marks.push(self.text.len());
        let _ = write!(self.text, "[{index}]");
    }

    fn pop(&mut self) {
        if let Some(mark) = self.marks.pop() {
            self.text.truncate(mark);
        }
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}
