//! Python resolvers: `resolver(event, variables, context) -> dict`, called in batches.
//!
//! - [`PythonResolvers`]: an executor's resolvers, one per distinct Python callable,
//!   shared by every subscription registered with that callable.
//! - [`PythonResolver`]: one callable as the engine's [`Resolver`]. It
//!   [depends on the context](Resolver::depends_on_context), so the engine gives each
//!   subscriber context its own cohort and hands the context in with each request.
//!
//! The engine keys cohorts by resolver, and batches a dispatch's cohorts by resolver too:
//! one resolver per callable keeps two callables from ever sharing a frame, and resolves
//! all of one callable's cohorts of an event with a single attach to the interpreter. A
//! dispatch therefore attaches once per distinct callable its event reaches, however many
//! subscribers and contexts that callable serves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use subcast_core::RESOLVER_ERROR;
use subcast_core::{Event, ResolveError, ResolveRequest, ResolveResult, Resolver, SecurityContext};

use crate::convert;

/// Identifies a callable held by [`PythonResolvers`]: its object address, stable while held.
pub type CallableId = usize;

/// Calls into Python by every resolver of one executor.
#[derive(Debug, Default)]
pub struct ResolverStats {
    batches: AtomicU64,
    calls: AtomicU64,
}

impl ResolverStats {
    /// Batches resolved, each with one attach to the interpreter.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Callable invocations, one per cohort resolved.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// The resolvers of one executor's Python callables, counted by the subscriptions using them.
#[derive(Debug, Default)]
pub struct PythonResolvers {
    by_callable: Mutex<HashMap<CallableId, (Arc<PythonResolver>, usize)>>,
    stats: Arc<ResolverStats>,
}

impl PythonResolvers {
    /// The resolver of `callable` for one more subscription; release it with [`Self::release`].
    pub fn acquire(&self, callable: Py<PyAny>) -> (CallableId, Arc<PythonResolver>) {
        // Holding the callable keeps its address from being reused while it names the entry.
        let id = callable.as_ptr() as CallableId;
        let mut by_callable = self.lock();
        let (resolver, refs) = by_callable.entry(id).or_insert_with(|| {
            let resolver = PythonResolver {
                callable,
                stats: self.stats.clone(),
            };
            (Arc::new(resolver), 0)
        });
        *refs += 1;
        (id, resolver.clone())
    }

    /// Drop one subscription's hold on callable `id`, forgetting it after the last.
    pub fn release(&self, id: CallableId) {
        let mut by_callable = self.lock();
        if let Some((_, refs)) = by_callable.get_mut(&id) {
            *refs -= 1;
            if *refs == 0 {
                by_callable.remove(&id);
            }
        }
    }

    /// Calls into Python so far, released callables included.
    pub fn stats(&self) -> &ResolverStats {
        &self.stats
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CallableId, (Arc<PythonResolver>, usize)>> {
        self.by_callable.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One Python callable as the engine's resolver.
#[derive(Debug)]
pub struct PythonResolver {
    callable: Py<PyAny>,
    stats: Arc<ResolverStats>,
}

impl Resolver for PythonResolver {
    fn resolve_batch(&self, event: &Event, requests: &[ResolveRequest<'_>]) -> Vec<ResolveResult> {
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats
            .calls
            .fetch_add(requests.len() as u64, Ordering::Relaxed);
        Python::attach(|py| {
            requests
                .iter()
                .map(|request| self.call(py, event, request))
                .collect()
        })
    }

    fn depends_on_context(&self) -> bool {
        true
    }
}

impl PythonResolver {
    fn call(&self, py: Python<'_>, event: &Event, request: &ResolveRequest<'_>) -> ResolveResult {
        // Each call gets its own objects: a resolver that mutates them affects no other.
        let arguments = (|| -> PyResult<_> {
            Ok((
                convert::event_to_python(py, event)?,
                convert::object_to_python(py, request.variables)?,
                context_to_python(py, request.context)?,
            ))
        })();
        let returned = arguments.and_then(|arguments| self.callable.bind(py).call1(arguments));
        let data = returned.and_then(|data| {
            if !data.is_instance_of::<PyDict>() {
                let message = format!(
                    "the resolver returned a {}; it must return a dict (the frame's `data`)",
                    convert::type_name(&data)
                );
                return Err(crate::errors::conversion_error(py, message));
            }
            convert::to_json(&data, "resolver result")
        });
        data.map_err(|error| ResolveError::new(RESOLVER_ERROR, describe(py, &error)))
    }
}

/// The subscriber as a resolver sees it; an anonymous subscriber has every field empty.
fn context_to_python<'py>(
    py: Python<'py>,
    context: Option<&SecurityContext>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("user_id", context.map(SecurityContext::user_id))?;
    dict.set_item("tenant_id", context.and_then(SecurityContext::tenant_id))?;
    dict.set_item(
        "roles",
        context
            .map(|c| c.roles().iter().collect::<Vec<_>>())
            .unwrap_or_default(),
    )?;
    dict.set_item(
        "scopes",
        context
            .map(|c| c.scopes().iter().collect::<Vec<_>>())
            .unwrap_or_default(),
    )?;
    dict.set_item("federation_id", context.and_then(SecurityContext::federation_id))?;
    let claims = match context {
        Some(context) => convert::object_to_python(py, context.claims())?,
        None => PyDict::new(py),
    };
    dict.set_item("claims", claims)?;
    Ok(dict)
}

/// `ClassName: message`, never a traceback.
fn describe(py: Python<'_>, error: &PyErr) -> String {
    let class = error
        .get_type(py)
        .name()
        .map_or_else(|_| "Exception".to_owned(), |n| n.to_string());
    match error.value(py).str() {
        Ok(message) if !message.is_empty().unwrap_or(true) => format!("{class}: {message}"),
        _ => class,
    }
}
