//! The readers of configuration values: one rule each, every refusal naming its field.
//!
//! - [`integer`], [`positive`], [`positive_usize`]: counts (`int` or `__index__`, never `bool`).
//! - [`number`], [`positive_number`], [`seconds`]: finite numbers and durations.
//! - [`flag`], [`string`], [`text`], [`texts`], [`text_lists`]: booleans, strings, lists, maps.
//! - [`Options`]: the keyword options of one object, taken one by one; unknown ones refused.
//! - [`invalid`]: the `InvalidConfigError` every reader raises.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::convert::type_name;
use crate::errors::{raise, PyError};

/// The `code` of `InvalidConfigError`.
pub const INVALID_CONFIG: &str = "INVALID_CONFIG";

/// Longest duration an option takes, in seconds (about 136 years): doubling a backoff of
/// this length still fits a `Duration`.
pub const MAX_SECONDS: f64 = 4_294_967_296.0;

/// The refusal of `field`: `InvalidConfigError("{field}: {reason}")`.
pub fn invalid(py: Python<'_>, field: &str, reason: impl std::fmt::Display) -> PyErr {
    raise(
        py,
        PyError::InvalidConfig,
        format!("{field}: {reason}"),
        INVALID_CONFIG,
    )
}

/// `value` as a message shows it: its `repr`, shortened.
pub fn shown(value: &Bound<'_, PyAny>) -> String {
    const LONGEST: usize = 60;
    let text = value
        .repr()
        .map_or_else(|_| format!("a {}", type_name(value)), |r| r.to_string());
    match text.char_indices().nth(LONGEST) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

fn is_bool(value: &Bound<'_, PyAny>) -> bool {
    value.is_instance_of::<PyBool>()
}

/// An integer from `min` to `max` (an `int`, or an object with `__index__`; never a `bool`).
pub fn integer(value: &Bound<'_, PyAny>, field: &str, min: u64, max: u64) -> PyResult<u64> {
    let py = value.py();
    let kind = if min == 0 {
        "a non-negative integer"
    } else {
        "a positive integer"
    };
    let is_integer =
        !is_bool(value) && (value.is_instance_of::<PyInt>() || value.hasattr("__index__").unwrap_or(false));
    if !is_integer {
        return Err(invalid(
            py,
            field,
            format!("must be {kind}, got {}", shown(value)),
        ));
    }
    match value.extract::<i64>() {
        Ok(n) if n < 0 || (n as u64) < min => Err(invalid(py, field, format!("must be {kind}, got {n}"))),
        Ok(n) if n as u64 > max => Err(invalid(py, field, format!("must be at most {max}, got {n}"))),
        Ok(n) => Ok(n as u64),
        // Out of the 64-bit range (or an `__index__` that raised).
        Err(_) if shown(value).starts_with('-') => Err(invalid(
            py,
            field,
            format!("must be {kind}, got {}", shown(value)),
        )),
        Err(_) => Err(invalid(
            py,
            field,
            format!("must be at most {max}, got {}", shown(value)),
        )),
    }
}

/// A positive integer up to `max`.
pub fn positive(value: &Bound<'_, PyAny>, field: &str, max: u64) -> PyResult<u64> {
    integer(value, field, 1, max)
}

/// A positive integer up to `2**63 - 1` (what every count of the engine holds).
pub fn positive_usize(value: &Bound<'_, PyAny>, field: &str) -> PyResult<usize> {
    positive(value, field, i64::MAX as u64).map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// A finite number (`int` or `float`, never a `bool` or a `str`).
pub fn number(value: &Bound<'_, PyAny>, field: &str) -> PyResult<f64> {
    let py = value.py();
    let numeric = !is_bool(value) && (value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>());
    let x = match numeric.then(|| value.extract::<f64>()) {
        Some(Ok(x)) => x,
        // An int too large for a float.
        Some(Err(_)) => f64::INFINITY,
        None => {
            return Err(invalid(
                py,
                field,
                format!("must be a number, got {}", shown(value)),
            ))
        }
    };
    if !x.is_finite() {
        return Err(invalid(
            py,
            field,
            format!("must be a finite number, got {}", shown(value)),
        ));
    }
    Ok(x)
}

/// A finite number greater than zero.
pub fn positive_number(value: &Bound<'_, PyAny>, field: &str) -> PyResult<f64> {
    let x = number(value, field)?;
    if x <= 0.0 {
        return Err(invalid(
            value.py(),
            field,
            format!("must be greater than 0, got {}", shown(value)),
        ));
    }
    Ok(x)
}

/// A positive number of seconds, at most [`MAX_SECONDS`].
pub fn seconds(value: &Bound<'_, PyAny>, field: &str) -> PyResult<Duration> {
    let x = number(value, field).map_err(|_| {
        invalid(
            value.py(),
            field,
            format!("must be a positive number of seconds, got {}", shown(value)),
        )
    })?;
    if x <= 0.0 {
        let reason = format!("must be a positive number of seconds, got {}", shown(value));
        return Err(invalid(value.py(), field, reason));
    }
    if x > MAX_SECONDS {
        let reason = format!("must be at most {MAX_SECONDS} seconds, got {}", shown(value));
        return Err(invalid(value.py(), field, reason));
    }
    Ok(Duration::from_secs_f64(x))
}

/// `True` or `False` (not `1`, not `None`).
pub fn flag(value: &Bound<'_, PyAny>, field: &str) -> PyResult<bool> {
    match value.cast::<PyBool>() {
        Ok(b) => Ok(b.is_true()),
        Err(_) => Err(invalid(
            value.py(),
            field,
            format!("must be True or False, got {}", shown(value)),
        )),
    }
}

/// A `str`, possibly empty.
pub fn string(value: &Bound<'_, PyAny>, field: &str) -> PyResult<String> {
    match value.cast::<PyString>() {
        Ok(s) => Ok(s.to_str()?.to_owned()),
        Err(_) => Err(invalid(
            value.py(),
            field,
            format!("must be a str, got {}", shown(value)),
        )),
    }
}

/// A non-empty `str`.
pub fn text(value: &Bound<'_, PyAny>, field: &str) -> PyResult<String> {
    let s = string(value, field)?;
    if s.is_empty() {
        return Err(invalid(value.py(), field, "must not be empty"));
    }
    Ok(s)
}

/// A `list` or `tuple` of non-empty `str`.
pub fn texts(value: &Bound<'_, PyAny>, field: &str) -> PyResult<Vec<String>> {
    let items = sequence(value, field, "a list of str")?;
    items
        .iter()
        .enumerate()
        .map(|(index, item)| text(item, &format!("{field}[{index}]")))
        .collect()
}

/// A `dict` of non-empty `str` keys to lists of non-empty `str`.
pub fn text_lists(value: &Bound<'_, PyAny>, field: &str) -> PyResult<Vec<(String, Vec<String>)>> {
    let py = value.py();
    let Ok(dict) = value.cast::<PyDict>() else {
        let reason = format!("must be a dict of str to lists of str, got {}", shown(value));
        return Err(invalid(py, field, reason));
    };
    let mut pairs = Vec::new();
    for (key, item) in snapshot(dict)? {
        let key = text(&key, &format!("{field} key"))?;
        let roles = texts(&item, &format!("{field}[{key:?}]"))?;
        pairs.push((key, roles));
    }
    Ok(pairs)
}

/// The items of a `list` or `tuple`, copied (user code cannot change them while read).
fn sequence<'py>(value: &Bound<'py, PyAny>, field: &str, what: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if let Ok(list) = value.cast::<PyList>() {
        return Ok(list.iter().collect());
    }
    if let Ok(tuple) = value.cast::<PyTuple>() {
        return Ok(tuple.iter().collect());
    }
    Err(invalid(
        value.py(),
        field,
        format!("must be {what}, got {}", shown(value)),
    ))
}

/// The items of `dict`, copied first: reading a value may run code that changes the dict.
fn snapshot<'py>(dict: &Bound<'py, PyDict>) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    dict.items()
        .iter()
        .map(|pair| pair.extract::<(Bound<'py, PyAny>, Bound<'py, PyAny>)>())
        .collect()
}

/// Keyword options of one configuration object, read one by one; `finish` refuses the rest.
pub struct Options<'py> {
    pub(crate) py: Python<'py>,
    scope: &'static str,
    items: Vec<(String, Bound<'py, PyAny>)>,
    /// `name=repr` of every option given, for `__repr__`.
    shown: Vec<String>,
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("scope", &self.scope)
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

impl<'py> Options<'py> {
    /// The options in `given` for the object the user names `scope` (e.g. `rate_limits`).
    pub fn new(py: Python<'py>, scope: &'static str, given: Option<&Bound<'py, PyDict>>) -> PyResult<Self> {
        let mut items = Vec::new();
        if let Some(dict) = given {
            for (key, value) in snapshot(dict)? {
                let Ok(key) = key.cast::<PyString>() else {
                    return Err(invalid(
                        py,
                        scope,
                        format!("option names must be str, got {}", shown(&key)),
                    ));
                };
                items.push((key.to_str()?.to_owned(), value));
            }
        }
        let shown = items.iter().map(|(k, v)| format!("{k}={}", shown(v))).collect();
        Ok(Options {
            py,
            scope,
            items,
            shown,
        })
    }

    /// Read `value` (a dict of options) for the object named `scope`.
    pub fn from_dict(value: &Bound<'py, PyAny>, scope: &'static str, class: &str) -> PyResult<Self> {
        match value.cast::<PyDict>() {
            Ok(dict) => Options::new(value.py(), scope, Some(dict)),
            Err(_) => {
                let reason = format!("must be a {class} or a dict of its options, got {}", shown(value));
                Err(invalid(value.py(), scope, reason))
            }
        }
    }

    /// `scope.name`, as messages name the option.
    pub fn field(&self, name: &str) -> String {
        format!("{}.{name}", self.scope)
    }

    /// Take option `name`, `None` included.
    pub fn take_raw(&mut self, name: &str) -> Option<Bound<'py, PyAny>> {
        let index = self.items.iter().position(|(key, _)| key == name)?;
        Some(self.items.swap_remove(index).1)
    }

    /// Take option `name`; `None` counts as not given.
    pub fn take(&mut self, name: &str) -> Option<Bound<'py, PyAny>> {
        self.take_raw(name).filter(|value| !value.is_none())
    }

    /// Refuse the options nobody took, naming the `known` ones.
    pub fn finish(self, known: &[&str]) -> PyResult<String> {
        if let Some((name, _)) = self.items.first() {
            let reason = format!("unknown option {name:?}; the options are {}", known.join(", "));
            return Err(invalid(self.py, self.scope, reason));
        }
        Ok(self.shown.join(", "))
    }
}
