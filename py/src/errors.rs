//! Errors as Python exceptions of subcast's own classes.
//!
//! - [`PyError`]: every class of `subcast.errors`, typed; [`PyError::of`] picks the one
//!   for an engine error.
//! - [`to_py_err`]: an engine error as the matching `subcast.errors` exception, with the
//!   engine's machine-readable code in its `code` attribute.
//! - [`raise`]: any [`PyError`], for errors the binding itself detects.
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

/// A class of `subcast.errors` (the classes are defined in Python).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PyError {
    /// `SubcastError`, the base class.
    Subcast,
    /// `AmbiguousSubscriptionError`.
    AmbiguousSubscription,
    /// `BusError`.
    Bus,
    /// `ConversionError`.
    Conversion,
    /// `DuplicateSubscriptionError`.
    DuplicateSubscription,
    /// `ExecutorClosedError`.
    ExecutorClosed,
    /// `ForkedProcessError`.
    ForkedProcess,
    /// `InvalidConfigError`.
    InvalidConfig,
    /// `InvalidDocumentError`.
    InvalidDocument,
    /// `InvalidFilterError`.
    InvalidFilter,
    /// `InvalidRequestError`.
    InvalidRequest,
    /// `RateLimitedError`.
    RateLimited,
    /// `SubscriptionRefusedError`.
    SubscriptionRefused,
    /// `SubscriptionTimeoutError`.
    SubscriptionTimeout,
    /// `UnknownConnectionError`.
    UnknownConnection,
    /// `UnknownSubscriptionError`.
    UnknownSubscription,
}

impl PyError {
    /// The class's name in `subcast.errors`.
    pub fn class(self) -> &'static str {
        match self {
            PyError::Subcast => "SubcastError",
            PyError::AmbiguousSubscription => "AmbiguousSubscriptionError",
            PyError::Bus => "BusError",
            PyError::Conversion => "ConversionError",
            PyError::DuplicateSubscription => "DuplicateSubscriptionError",
            PyError::ExecutorClosed => "ExecutorClosedError",
            PyError::ForkedProcess => "ForkedProcessError",
            PyError::InvalidConfig => "InvalidConfigError",
            PyError::InvalidDocument => "InvalidDocumentError",
            PyError::InvalidFilter => "InvalidFilterError",
            PyError::InvalidRequest => "InvalidRequestError",
            PyError::RateLimited => "RateLimitedError",
            PyError::SubscriptionRefused => "SubscriptionRefusedError",
            PyError::SubscriptionTimeout => "SubscriptionTimeoutError",
            PyError::UnknownConnection => "UnknownConnectionError",
            PyError::UnknownSubscription => "UnknownSubscriptionError",
        }
    }

    /// The class an engine error is raised as.
    pub fn of(error: &Error) -> PyError {
        match error {
            Error::Document(_) => PyError::InvalidDocument,
            Error::DuplicateSubscription { .. } => PyError::DuplicateSubscription,
            Error::UnknownSubscription(_) => PyError::UnknownSubscription,
            Error::UnknownConnection(_) => PyError::UnknownConnection,
            Error::InvalidId { .. }
            | Error::InvalidChannel { .. }
            | Error::EventTooLarge { .. }
            | Error::EventTooDeep { .. } => PyError::InvalidRequest,
            Error::InvalidConfig { .. } => PyError::InvalidConfig,
            Error::InvalidFilter(_) => PyError::InvalidFilter,
            Error::Timeout(_) => PyError::SubscriptionTimeout,
            Error::Closed(_) => PyError::ExecutorClosed,
            Error::Bus { .. } | Error::InvalidWireEvent(_) => PyError::Bus,
            Error::RateLimited { .. } | Error::SubscriptionLimit { .. } => PyError::RateLimited,
            Error::Unauthenticated
            | Error::FieldForbidden { .. }
            | Error::ScopeMissing { .. }
            | Error::IdentityMismatch { .. } => PyError::SubscriptionRefused,
            _ => PyError::Subcast,
        }
    }
}

/// An exception of class `kind` with `message` and `code`.
pub fn raise(py: Python<'_>, kind: PyError, message: impl Into<String>, code: &str) -> PyErr {
    let message = message.into();
    match build(py, kind.class(), &message, code) {
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
    raise(py, PyError::Conversion, message, BAD_REQUEST)
}

/// The executor was closed.
pub fn closed_error(py: Python<'_>) -> PyErr {
    raise(
        py,
        PyError::ExecutorClosed,
        "the executor is closed",
        INTERNAL_ERROR,
    )
}

/// The engine's `error` as the matching Python exception, with its code.
pub fn to_py_err(py: Python<'_>, error: &Error) -> PyErr {
    if let Error::InvalidConfig { setting, reason } = error {
        // As every configuration reader words it: the field first.
        return crate::config::invalid(py, setting, reason);
    }
    raise(py, PyError::of(error), error.to_string(), error.code())
}
