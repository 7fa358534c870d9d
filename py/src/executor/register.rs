//! Reading `register_subscription`'s arguments: the user's security context, the event
//! filter, the connection inbox and the resolver callable.

use pyo3::prelude::*;
use pyo3::types::PyString;
use serde_json::Value;
use subcast_core::{EventFilter, SecurityContext};

use crate::connection::ConnectionInbox;
use crate::convert;
use crate::errors::{conversion_error, raise, to_py_err, PyError};

/// The security context of a user: `None` without `user_id`, which the other
/// identity arguments need.
pub(super) fn security_context(
    py: Python<'_>,
    user_id: Option<String>,
    tenant_id: Option<String>,
    federation_id: Option<String>,
    roles: Vec<String>,
    scopes: Vec<String>,
    claims: Value,
) -> PyResult<Option<SecurityContext>> {
    Ok(match user_id {
        Some(user_id) => {
            let mut security = SecurityContext::new(user_id)
                .with_roles(roles)
                .with_scopes(scopes);
            if let Some(tenant) = tenant_id {
                security = security.with_tenant(tenant);
            }
            if let Some(federation) = federation_id {
                security = security.with_federation(federation);
            }
            if let Value::Object(claims) = claims {
                for (name, value) in claims {
                    security = security.with_claim(name, value);
                }
            }
            Some(security)
        }
        None if tenant_id.is_some() || federation_id.is_some() || !roles.is_empty() || !scopes.is_empty() => {
            let message = "tenant_id, federation_id, roles and scopes describe a user: pass user_id too";
            return Err(raise(py, PyError::InvalidRequest, message, "BAD_REQUEST"));
        }
        None => None,
    })
}

/// Read `inbox=`: `None` or a `ConnectionInbox`.
pub(super) fn connection_inbox<'a, 'py>(
    py: Python<'py>,
    inbox: Option<&'a Bound<'py, PyAny>>,
) -> PyResult<Option<&'a Bound<'py, ConnectionInbox>>> {
    let Some(inbox) = inbox.filter(|i| !i.is_none()) else {
        return Ok(None);
    };
    let inbox = inbox.cast::<ConnectionInbox>().map_err(|_| {
        let message = format!(
            "inbox must be a ConnectionInbox, not {}",
            convert::type_name(inbox)
        );
        conversion_error(py, message)
    })?;
    Ok(Some(inbox))
}

/// Read `resolver=`: `None` or a callable.
pub(super) fn resolver_callable(
    py: Python<'_>,
    resolver: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<Py<PyAny>>> {
    match resolver.filter(|r| !r.is_none()) {
        None => Ok(None),
        Some(callable) if callable.is_callable() => Ok(Some(callable.clone().unbind())),
        Some(other) => {
            let message = format!("resolver must be callable, not {}", convert::type_name(other));
            Err(conversion_error(py, message))
        }
    }
}

/// Read `filter=`: a dict (the JSON form) or its JSON text.
pub(super) fn event_filter(
    py: Python<'_>,
    filter: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<EventFilter>> {
    let Some(filter) = filter.filter(|f| !f.is_none()) else {
        return Ok(None);
    };
    let parsed = match filter.cast::<PyString>() {
        Ok(text) => EventFilter::from_json_str(text.to_str()?),
        Err(_) => EventFilter::from_json(&convert::to_json(filter, "filter")?),
    };
    parsed
        .map(Some)
        .map_err(|e| to_py_err(py, &subcast_core::Error::InvalidFilter(e)))
}
