//! Python resolvers: `resolver(event, variables, context) -> dict`, called in batches.
//!
//! - [`PythonResolver`]: the executor's one [`Resolver`] for every Python callable. The
//!   engine hands it all the cohorts of an event in one batch, so a dispatch attaches to
//!   the interpreter once, however many Python-resolved cohorts the event reaches.
//! - [`ResolverBinding`]: a callable with the security context it is called with.
//!
//! A cohort shares one resolution, so subscribers whose contexts differ must not share a
//! cohort. The engine keys cohorts by document text; the binding appends a GraphQL
//! comment naming the binding ([`PythonResolver::tag_query`]) to make the key differ, and
//! reads it back from the parsed document's source when resolving.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;
use subcast_core::frame::RESOLVER_ERROR;
use subcast_core::{Event, ResolveError, ResolveRequest, ResolveResult, Resolver};

use crate::convert;

const TAG: &str = "\n# subcast resolver binding ";

/// A Python callable and the context it resolves for.
#[derive(Debug)]
pub struct ResolverBinding {
    callable: Py<PyAny>,
    context: Value,
}

#[derive(Debug, Default)]
struct Bindings {
    by_id: HashMap<u64, (Arc<ResolverBinding>, usize)>,
    by_identity: HashMap<(usize, String), u64>,
    next_id: u64,
}

/// The resolver behind every Python callable registered on one executor.
#[derive(Debug, Default)]
pub struct PythonResolver {
    bindings: Mutex<Bindings>,
}

impl PythonResolver {
    /// Hold `callable` with `context`; returns the binding id (shared by equal pairs).
    pub fn bind(&self, callable: Py<PyAny>, context: Value) -> u64 {
        let identity = (callable.as_ptr() as usize, context.to_string());
        let mut bindings = self.lock();
        if let Some(&id) = bindings.by_identity.get(&identity) {
            if let Some((_, refs)) = bindings.by_id.get_mut(&id) {
                *refs += 1;
                return id;
            }
        }
        let id = bindings.next_id;
        bindings.next_id += 1;
        let binding = Arc::new(ResolverBinding { callable, context });
        bindings.by_id.insert(id, (binding, 1));
        bindings.by_identity.insert(identity, id);
        id
    }

    /// Drop one reference to binding `id`, releasing the callable after the last.
    pub fn release(&self, id: u64) {
        let mut bindings = self.lock();
        let Some((binding, refs)) = bindings.by_id.get_mut(&id) else {
            return;
        };
        *refs -= 1;
        if *refs == 0 {
            let identity = (binding.callable.as_ptr() as usize, binding.context.to_string());
            bindings.by_id.remove(&id);
            bindings.by_identity.remove(&identity);
        }
    }

    /// `query` marked as resolved by binding `id` (a trailing GraphQL comment).
    pub fn tag_query(query: &str, id: u64) -> String {
        format!("{query}{TAG}{id}\n")
    }

    fn binding_of(&self, source: &str) -> Option<Arc<ResolverBinding>> {
        let start = source.rfind(TAG)? + TAG.len();
        let id: u64 = source[start..].trim_end().parse().ok()?;
        self.lock().by_id.get(&id).map(|(binding, _)| binding.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Bindings> {
        self.bindings.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Resolver for PythonResolver {
    fn resolve_batch(&self, event: &Event, requests: &[ResolveRequest<'_>]) -> Vec<ResolveResult> {
        // Look the callables up before attaching: the bindings lock is never held with the GIL.
        let bindings: Vec<_> = requests
            .iter()
            .map(|r| self.binding_of(r.document.source()))
            .collect();
        Python::attach(|py| {
            requests
                .iter()
                .zip(bindings)
                .map(|(request, binding)| match binding {
                    Some(binding) => call(py, &binding, event, request),
                    None => Err(ResolveError::new(
                        RESOLVER_ERROR,
                        "the subscription's resolver was released",
                    )),
                })
                .collect()
        })
    }
}

fn call(
    py: Python<'_>,
    binding: &ResolverBinding,
    event: &Event,
    request: &ResolveRequest<'_>,
) -> ResolveResult {
    let arguments = (|| -> PyResult<_> {
        Ok((
            convert::event_to_python(py, event)?,
            convert::object_to_python(py, request.variables)?,
            convert::to_python(py, &binding.context)?,
        ))
    })();
    let returned = arguments.and_then(|arguments| binding.callable.bind(py).call1(arguments));
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
