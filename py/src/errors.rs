//! Errors as Python exceptions of subcast's own classes.
//!
//! - [`to_py_err`]: an engine error as the matching `subcast.errors` exception, with the
//!   engine's machine-readable code in its `code` attribute.
//! - [`raise`]: any `subcast.errors` class by name, for errors the binding itself detects.
//! - [`conversion_error`], [`closed_error`]: the two the binding raises most.
//!
//! The classes are plain Python (`python/subcast/errors.py`) so that they can also inherit
//! from the matching built-in (`LookupError`, `TypeError`, `TimeoutError`…).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;
use subcast_core::Error;
use subcast_core::{BAD_REQUEST, INTERNAL_ERROR};

/// An exception of class `subcast.errors.<class>` with `message` and `code`.
pub fn raise(py: Python<'_>, class: &str, message: impl Into<String>, code: &str) -> PyErr {
    let message = message.into();
    match build(py, class, &message, code) {
        Ok(err) => err,
        Err(_) => PyRuntimeError::new_err(message),
    }
}

fn build(py: Python<'_>, class: &str, message: &str, code: &str) -> PyResult<PyErr> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module = MODULE.get_or_try_init(py, || py.import("subcast.errors").map(Bound::unbind))?;
    let exception = module.bind(py).getattr(class)?.call1((message,))?;
    exception.setattr("code", code)?;
    Ok(PyErr::from_value(exception))
}

/// A value that cannot cross into the engine (`TypeError` and `ValueError` both catch it).
pub fn conversion_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(py, "ConversionError", message, BAD_REQUEST)
}

/// The executor was closed.
pub fn closed_error(py: Python<'_>) -> PyErr {
    raise(
        py,
        "ExecutorClosedError",
        "the executor is closed",
        INTERNAL_ERROR,
    )
}

/// The engine's `error` as the matching Python exception, with its code.
pub fn to_py_err(py: Python<'_>, error: &Error) -> PyErr {
    let class = match error {
        Error::Document(_) => "InvalidDocumentError",
        Error::DuplicateSubscription { .. } => "DuplicateSubscriptionError",
        Error::UnknownSubscription(_) => "UnknownSubscriptionError",
        Error::UnknownConnection(_) => "UnknownConnectionError",
        Error::InvalidId { .. } | Error::InvalidChannel { .. } | Error::EventTooLarge { .. } => {
            "InvalidRequestError"
        }
        Error::InvalidFilter(_) => "InvalidFilterError",
        Error::Timeout(_) => "SubscriptionTimeoutError",
        Error::Closed(_) => "ExecutorClosedError",
        Error::Bus { .. } | Error::InvalidWireEvent(_) => "BusError",
        Error::RateLimited { .. } | Error::SubscriptionLimit { .. } => "RateLimitedError",
        Error::Unauthenticated
        | Error::FieldForbidden { .. }
        | Error::ScopeMissing { .. }
        | Error::IdentityMismatch { .. } => "SubscriptionRefusedError",
        _ => "SubcastError",
    };
    raise(py, class, error.to_string(), error.code())
}
