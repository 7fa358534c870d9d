//! `subcast._native.SubscriptionExecutor`: the engine as Python sees it.
//!
//! - Registration by `(connection_id, subscription_id)`; frames are then taken by
//!   subscription id alone when it is unique, or with `connection_id=` when it is not.
//! - `publish_event` converts the data with the GIL held, then publishes and dispatches
//!   with it released; Python resolvers attach again, once per callable the event reaches.
//! - `next_event` (non-blocking), `recv_blocking` (GIL released), `recv` (an asyncio
//!   future woken by the bridge thread, see [`crate::inbox`]); `next_events` and
//!   `drain_connection` take many subscriptions' queued frames in one call.
//! - `close()` completes every subscription, resolves every waiting future and joins the
//!   bridge thread with the GIL released.
//!
//! Beside the class: `registry` (the id lookups Python needs), `register` (reading
//! `register_subscription`'s arguments) and `frames` ([`FrameReceiver`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use serde_json::Value;
use subcast_core::{Event, Resolver, SubscriptionExecutor as CoreExecutor, SubscriptionRequest};

use crate::bridge::Bridge;
use crate::bus::{EventBusConfig, Transport};
use crate::config::{ExecutorArguments, ExecutorSettings};
use crate::connection::ConnectionInbox;
use crate::convert::{self, Identifier};
use crate::errors::{closed_error, conversion_error, raise, to_py_err, PyError};
use crate::fork::Origin;
use crate::ids::IdHash;
use crate::inbox::{Inbox, Taken, Wait};
use crate::metrics::{self, Sample};
use crate::resolver::PythonResolvers;

mod frames;
mod register;
mod registry;
mod resume;

pub use frames::FrameReceiver;
use register::{connection_inbox, event_filter, resolver_callable, security_context};
use registry::{Handle, Handles};
pub use resume::Resume;

/// How long `wait_channel_ready` waits when no timeout is given.
const DEFAULT_CHANNEL_READY_TIMEOUT: Duration = Duration::from_secs(5);

/// Distributes published events to registered GraphQL subscriptions as graphql-transport-ws frames.
#[pyclass(frozen, subclass, module = "subcast._native")]
#[derive(Debug)]
pub struct SubscriptionExecutor {
    core: Arc<CoreExecutor>,
    transport: Arc<Transport>,
    bridge: Arc<Bridge>,
    resolvers: PythonResolvers,
    handles: Arc<Mutex<Handles>>,
    closed: AtomicBool,
    /// The process that made it: a `fork()`ed child refuses to use it.
    origin: Origin,
}

#[pymethods]
impl SubscriptionExecutor {
    #[new]
    #[pyo3(signature = (
        bus=None, *, queue_capacity=None, overflow=None, allow_anonymous=None, max_event_bytes=None,
        loopback_window=None, security=None, rate_limits=None, document_limits=None, pump=None,
        max_frame_bytes=None, queue_max_bytes=None, schema=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        bus: Option<&Bound<'_, PyAny>>,
        queue_capacity: Option<&Bound<'_, PyAny>>,
        overflow: Option<&Bound<'_, PyAny>>,
        allow_anonymous: Option<&Bound<'_, PyAny>>,
        max_event_bytes: Option<&Bound<'_, PyAny>>,
        loopback_window: Option<&Bound<'_, PyAny>>,
        security: Option<&Bound<'_, PyAny>>,
        rate_limits: Option<&Bound<'_, PyAny>>,
        document_limits: Option<&Bound<'_, PyAny>>,
        pump: Option<&Bound<'_, PyAny>>,
        max_frame_bytes: Option<&Bound<'_, PyAny>>,
        queue_max_bytes: Option<&Bound<'_, PyAny>>,
        schema: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let bus = match bus.filter(|b| !b.is_none()) {
            None => EventBusConfig {
                kind: crate::bus::BusKind::Memory,
            },
            Some(bus) => bus
                .cast::<EventBusConfig>()
                .map(|b| b.get().clone())
                .map_err(|_| {
                    let message = format!("must be an EventBusConfig, got {}", crate::config::shown(bus));
                    crate::config::invalid(py, "bus", message)
                })?,
        };
        let mut settings = ExecutorSettings::read(&ExecutorArguments {
            queue_capacity,
            overflow,
            allow_anonymous,
            max_event_bytes,
            max_frame_bytes,
            queue_max_bytes,
            loopback_window,
            security,
            rate_limits,
            document_limits,
            pump,
        })?;
        if let Some(schema) = crate::schema::read_schema(py, schema)? {
            settings.executor = settings.executor.schema(schema);
        }
        let transport = py
            .detach(|| Transport::open(&bus, settings.executor, settings.pump))
            .map_err(|e| to_py_err(py, &e))?;
        let core = transport.executor().ok_or_else(|| closed_error(py))?;
        let bridge = Bridge::start().map_err(|e| {
            raise(
                py,
                PyError::Subcast,
                format!("cannot start the asyncio bridge thread: {e}"),
                "INTERNAL_ERROR",
            )
        })?;
        Ok(SubscriptionExecutor {
            core,
            transport: Arc::new(transport),
            bridge: Arc::new(bridge),
            resolvers: PythonResolvers::default(),
            handles: Arc::default(),
            closed: AtomicBool::new(false),
            origin: Origin::here(),
        })
    }

    /// Register a subscription; its frames are then taken by `subscription_id`.
    ///
    /// With `cursor=` (a `next` frame's `payload.extensions.cursor`), returns the
    /// [`Resume`] that replays what the client missed since; an `inbox=` is then attached
    /// only once that replay is done.
    #[pyo3(signature = (
        connection_id, subscription_id, query, operation_name=None, variables=None, user_id=None,
        tenant_id=None, roles=None, scopes=None, channels=None, resolver=None, filter=None, *,
        federation_id=None, claims=None, inbox=None, cursor=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn register_subscription(
        &self,
        py: Python<'_>,
        connection_id: &Bound<'_, PyAny>,
        subscription_id: &Bound<'_, PyAny>,
        query: &Bound<'_, PyAny>,
        operation_name: Option<&Bound<'_, PyAny>>,
        variables: Option<&Bound<'_, PyAny>>,
        user_id: Option<&Bound<'_, PyAny>>,
        tenant_id: Option<&Bound<'_, PyAny>>,
        roles: Option<&Bound<'_, PyAny>>,
        scopes: Option<&Bound<'_, PyAny>>,
        channels: Option<&Bound<'_, PyAny>>,
        resolver: Option<&Bound<'_, PyAny>>,
        filter: Option<&Bound<'_, PyAny>>,
        federation_id: Option<&Bound<'_, PyAny>>,
        claims: Option<&Bound<'_, PyAny>>,
        inbox: Option<&Bound<'_, PyAny>>,
        cursor: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<Resume>> {
        self.ensure_open(py)?;
        let cursor = convert::optional_string(cursor, "cursor")?;
        let inbox = connection_inbox(py, inbox)?;
        let connection_id = Identifier::extract(connection_id, "connection_id")?.0;
        let subscription_id = Identifier::extract(subscription_id, "subscription_id")?.0;
        let connection_hash = IdHash::of_text(py, &connection_id)?;
        let subscription_hash = IdHash::of_text(py, &subscription_id)?;
        let query = convert::optional_string(Some(query), "query")?
            .ok_or_else(|| conversion_error(py, "query must be a str, not None"))?;
        let operation_name = convert::optional_string(operation_name, "operation_name")?;
        let variables = convert::to_json_object(variables, "variables")?;
        let user_id = Identifier::extract_optional(user_id, "user_id")?.map(|i| i.0);
        let tenant_id = Identifier::extract_optional(tenant_id, "tenant_id")?.map(|i| i.0);
        let roles = convert::string_list(roles, "roles")?.unwrap_or_default();
        let scopes = convert::string_list(scopes, "scopes")?.unwrap_or_default();
        let channels = convert::string_list(channels, "channels")?;
        let federation_id = Identifier::extract_optional(federation_id, "federation_id")?.map(|i| i.0);
        let claims = convert::to_json_object(claims, "claims")?;
        let filter = event_filter(py, filter)?;
        let resolver = resolver_callable(py, resolver)?;
        let security = security_context(py, user_id, tenant_id, federation_id, roles, scopes, claims)?;

        let mut request = SubscriptionRequest::new(connection_id.as_str(), subscription_id.as_str(), query)
            .variables(variables);
        if let Some(security) = security {
            request = request.security_context(security);
        }
        if let Some(filter) = filter {
            request = request.filter(filter);
        }
        if let Some(name) = operation_name {
            request = request.operation_name(name);
        }
        if let Some(channels) = channels {
            request = request.channels(channels);
        }
        let resolver = resolver.map(|callable| self.resolvers.acquire(callable));
        if let Some((_, resolver)) = &resolver {
            request = request.resolver(resolver.clone() as Arc<dyn Resolver>);
        }
        if let Some(cursor) = cursor {
            request = request.cursor(cursor);
        }
        let callable = resolver.map(|(id, _)| id);
        let core = self.core.clone();
        let registered = py.detach(move || {
            let (key, resume) = core.register_resumable(request)?;
            core.response_queue(key).map(|queue| (key, queue, resume))
        });
        let (key, queue, resume) = match registered {
            Ok(registered) => registered,
            Err(error) => {
                if let Some(id) = callable {
                    self.resolvers.release(id);
                }
                return Err(to_py_err(py, &error));
            }
        };
        // A resumed subscription is attached once replayed, by its `Resume`.
        if let Some(inbox) = inbox.filter(|_| resume.is_none()) {
            if let Err(error) = inbox.get().attach(py, &subscription_id, queue.clone()) {
                let core = self.core.clone();
                py.detach(move || core.complete_subscription(key)).ok();
                if let Some(id) = callable {
                    self.resolvers.release(id);
                }
                return Err(error);
            }
        }
        let handle = Handle {
            connection_hash,
            connection_id,
            subscription_hash,
            subscription_id,
            inbox: Inbox::new(queue.clone(), self.bridge.clone()),
            callable,
        };
        let resume = resume.map(|resume| {
            let inbox = inbox.map(|inbox| (inbox.clone().unbind(), handle.subscription_id.clone(), queue));
            Resume::new(self.transport.clone(), self.origin, resume, inbox)
        });
        self.handles().insert(key, handle);
        Ok(resume)
    }

    /// A connection's inbox: pass it to `register_subscription(..., inbox=)` and its writer
    /// waits on the connection as a whole (`await inbox.ready()`), then takes every
    /// subscription's frames in one call (`inbox.take_frames(connection)`).
    fn connection_inbox(&self, py: Python<'_>) -> PyResult<ConnectionInbox> {
        self.ensure_open(py)?;
        Ok(ConnectionInbox::new(self.bridge.clone()))
    }

    /// End one subscription; its waiting `recv` calls return `None`.
    #[pyo3(signature = (subscription_id, *, connection_id=None))]
    fn complete_subscription(
        &self,
        py: Python<'_>,
        subscription_id: &Bound<'_, PyAny>,
        connection_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.ensure_open(py)?;
        let (key, _) = self.lookup(py, subscription_id, connection_id)?;
        self.complete_keys(py, &[key]);
        Ok(())
    }

    /// End every subscription of a connection; returns how many there were.
    fn complete_connection(&self, py: Python<'_>, connection_id: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.ensure_open(py)?;
        let connection_id = Identifier::extract(connection_id, "connection_id")?.0;
        let hash = IdHash::of_text(py, &connection_id)?;
        let core = self.core.clone();
        let completed = py
            .detach(|| core.complete_connection(&connection_id))
            .map_err(|e| to_py_err(py, &e))?;
        // The core ended them; what is left here is the binding's own: ids and callables.
        let keys = self.handles().of_connection(hash, &connection_id).to_vec();
        self.forget_keys(&keys);
        Ok(completed)
    }

    /// Publish an event; returns the number of frames queued for this process's subscribers.
    #[pyo3(signature = (event_type, channel, data=None, tenant_id=None, *, correlation_id=None, event_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn publish_event(
        &self,
        py: Python<'_>,
        event_type: &Bound<'_, PyAny>,
        channel: &Bound<'_, PyAny>,
        data: Option<&Bound<'_, PyAny>>,
        tenant_id: Option<&Bound<'_, PyAny>>,
        correlation_id: Option<&Bound<'_, PyAny>>,
        event_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        self.ensure_open(py)?;
        let event_type = convert::optional_string(Some(event_type), "event_type")?
            .ok_or_else(|| conversion_error(py, "event_type must be a str, not None"))?;
        let channel = convert::optional_string(Some(channel), "channel")?
            .ok_or_else(|| conversion_error(py, "channel must be a str, not None"))?;
        let data = match data {
            Some(data) => convert::to_json(data, "data")?,
            None => Value::Null,
        };
        let mut event = Event::new(event_type, channel, data);
        if let Some(tenant) = Identifier::extract_optional(tenant_id, "tenant_id")? {
            event = event.with_tenant(tenant.0);
        }
        if let Some(correlation) = convert::optional_string(correlation_id, "correlation_id")? {
            event = event.with_correlation_id(correlation);
        }
        if let Some(id) = Identifier::extract_optional(event_id, "event_id")? {
            event = event.with_id(id.0);
        }
        let event = Arc::new(event);
        let report = py
            .detach(|| self.transport.publish(event))
            .map_err(|e| to_py_err(py, &e))?;
        Ok(report.delivered)
    }

    /// The next frame of a subscription without waiting: `bytes`, or `None` if there is none.
    #[pyo3(signature = (subscription_id, *, connection_id=None))]
    fn next_event<'py>(
        &self,
        py: Python<'py>,
        subscription_id: &Bound<'py, PyAny>,
        connection_id: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.ensure_open(py)?;
        let (_, inbox) = self.lookup(py, subscription_id, connection_id)?;
        Ok(match inbox.take() {
            Taken::Frame(body) => Some(inbox.bytes(py, &body)?),
            Taken::Empty | Taken::Ended => None,
        })
    }

    /// The queued frames of many subscriptions in one call: `[(subscription_id, frame), ...]`,
    /// each id as given, in the order of `subscription_ids`, then of the frames.
    #[pyo3(signature = (subscription_ids, *, max_per_subscription=None))]
    fn next_events<'py>(
        &self,
        py: Python<'py>,
        subscription_ids: &Bound<'py, PyAny>,
        max_per_subscription: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.ensure_open(py)?;
        let limit = convert::frame_limit(max_per_subscription, "max_per_subscription")?;
        let ids = subscription_ids.try_iter()?.collect::<PyResult<Vec<_>>>()?;
        let inboxes = self.inboxes(py, &ids)?;
        let mut taken = Vec::with_capacity(ids.len());
        for (index, inbox) in inboxes.iter().enumerate() {
            inbox.take_into(limit, |body| taken.push((index, body)));
        }
        let frames = taken
            .iter()
            .map(|(index, body)| Ok((&ids[*index], inboxes[*index].bytes(py, body)?)))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, frames)
    }

    /// The queued frames of every subscription of a connection in one call:
    /// `[(subscription_id, frame), ...]`, subscriptions in registration order. A
    /// connection with no subscriptions has no frames.
    #[pyo3(signature = (connection_id, *, max_per_subscription=None))]
    fn drain_connection<'py>(
        &self,
        py: Python<'py>,
        connection_id: &Bound<'py, PyAny>,
        max_per_subscription: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.ensure_open(py)?;
        let limit = convert::frame_limit(max_per_subscription, "max_per_subscription")?;
        let owned;
        let (hash, connection_id) = match connection_id.cast::<PyString>() {
            Ok(id) => (IdHash::of(id)?, id.to_str()?),
            Err(_) => {
                owned = Identifier::extract(connection_id, "connection_id")?.0;
                (IdHash::of_text(py, &owned)?, owned.as_str())
            }
        };
        let (taken_from, taken) = self.take_connection_frames(hash, connection_id, limit);
        let ids: Vec<_> = taken_from.iter().map(|(id, _)| PyString::new(py, id)).collect();
        let frames = taken
            .iter()
            .map(|(index, body)| Ok((&ids[*index], taken_from[*index].1.bytes(py, body)?)))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, frames)
    }

    /// Wait for the next frame with the GIL released; `None` once the subscription ended.
    #[pyo3(signature = (subscription_id, timeout=None, *, connection_id=None))]
    fn recv_blocking<'py>(
        &self,
        py: Python<'py>,
        subscription_id: &Bound<'py, PyAny>,
        timeout: Option<&Bound<'py, PyAny>>,
        connection_id: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.ensure_open(py)?;
        let timeout = convert::wait_timeout(timeout, "timeout")?;
        let (_, inbox) = self.lookup(py, subscription_id, connection_id)?;
        let mut signal = Ok(());
        let waited = py.detach(|| {
            inbox.recv_blocking(timeout, || {
                signal = Python::attach(|py| py.check_signals());
                signal.is_err()
            })
        });
        match waited {
            Ok(body) => body.map(|body| inbox.bytes(py, &body)).transpose(),
            Err(Wait::Interrupted) => Err(signal.err().unwrap_or_else(|| closed_error(py))),
            Err(Wait::TimedOut) => {
                let error = subcast_core::Error::Timeout(timeout.unwrap_or_default());
                Err(to_py_err(py, &error))
            }
        }
    }

    /// An awaitable of the next frame (`bytes`), or `None` once the subscription ended.
    #[pyo3(signature = (subscription_id, *, connection_id=None))]
    fn recv<'py>(
        &self,
        py: Python<'py>,
        subscription_id: &Bound<'py, PyAny>,
        connection_id: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.ensure_open(py)?;
        let (_, inbox) = self.lookup(py, subscription_id, connection_id)?;
        inbox.recv_future(py)
    }

    /// A receiver of one subscription's frames that outlives its registration: after
    /// `complete_subscription`, its `recv()` returns what was queued, then `None`.
    #[pyo3(signature = (subscription_id, *, connection_id=None))]
    fn receiver(
        &self,
        py: Python<'_>,
        subscription_id: &Bound<'_, PyAny>,
        connection_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<FrameReceiver> {
        self.ensure_open(py)?;
        let (_, inbox) = self.lookup(py, subscription_id, connection_id)?;
        Ok(FrameReceiver {
            inbox,
            origin: self.origin,
        })
    }

    /// Every metric by name (security decisions, frames, rate limits, bus and pump counters).
    fn get_metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.origin.check(py, "executor")?;
        // Without the GIL: the transport's lock may wait for a publish whose resolvers need it.
        let (engine, registry, (bus, pump)) = py.detach(|| {
            (
                self.core.metrics_snapshot(),
                self.core.stats(),
                self.transport.stats(),
            )
        });
        let dict = PyDict::new(py);
        for (name, sample) in
            metrics::snapshot(&engine, &registry, &bus, pump.as_ref(), self.resolvers.stats())
        {
            match sample {
                Sample::Int(value) => dict.set_item(name, value)?,
                Sample::Float(value) => dict.set_item(name, value)?,
            }
        }
        Ok(dict)
    }

    /// The metrics in the Prometheus text exposition format.
    fn metrics_prometheus(&self, py: Python<'_>) -> PyResult<String> {
        self.origin.check(py, "executor")?;
        Ok(py.detach(|| {
            let (bus, pump) = self.transport.stats();
            metrics::prometheus(
                &self.core.metrics_snapshot(),
                &bus,
                pump.as_ref(),
                self.resolvers.stats(),
            )
        }))
    }

    /// Wait (GIL released) until the bus delivers `channel`'s events to this node; `False`
    /// after `timeout` seconds. Subscribing a bus channel is asynchronous: a test that
    /// publishes from another node waits for this first. Always `True` in memory.
    #[pyo3(signature = (channel, timeout=None))]
    fn wait_channel_ready(
        &self,
        py: Python<'_>,
        channel: &Bound<'_, PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.ensure_open(py)?;
        let channel = convert::optional_string(Some(channel), "channel")?
            .ok_or_else(|| conversion_error(py, "channel must be a str, not None"))?;
        let timeout = match timeout {
            None => Some(DEFAULT_CHANNEL_READY_TIMEOUT),
            Some(timeout) => convert::wait_timeout(Some(timeout), "timeout")?,
        };
        // A sleep too long for the clock is never woken, which is what no limit means.
        let timeout = timeout.unwrap_or(Duration::MAX);
        Ok(py.detach(|| self.transport.channel_ready(&channel, timeout)))
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// End every subscription, wake every waiter and stop the executor's threads. In a
    /// `fork()`ed child, an inherited executor is only marked closed (its threads are the
    /// parent's).
    fn close(&self, py: Python<'_>) {
        if self.closed.swap(true, Ordering::AcqRel) || self.origin.is_inherited() {
            return;
        }
        let handles = std::mem::take(&mut *self.handles());
        let core = self.core.clone();
        let keys: Vec<_> = handles.by_key.keys().copied().collect();
        py.detach(|| {
            for key in keys {
                let _ = core.complete_subscription(key);
            }
        });
        for handle in handles.by_key.values() {
            handle.inbox.end(py);
            if let Some(id) = handle.callable {
                self.resolvers.release(id);
            }
        }
        py.detach(|| {
            self.bridge.stop();
            self.transport.shutdown();
        });
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close(py);
        false
    }
}

impl SubscriptionExecutor {
    fn ensure_open(&self, py: Python<'_>) -> PyResult<()> {
        self.origin.check(py, "executor")?;
        if self.closed.load(Ordering::Acquire) {
            return Err(closed_error(py));
        }
        Ok(())
    }
}

impl Drop for SubscriptionExecutor {
    fn drop(&mut self) {
        if self.origin.is_inherited() {
            // In a fork()ed child the parent's threads are gone and any lock they held stays
            // held: tearing down (joining threads, closing the pump) would hang. Leak it all.
            std::mem::forget(self.core.clone());
            std::mem::forget(self.transport.clone());
            std::mem::forget(self.bridge.clone());
            std::mem::forget(self.handles.clone());
            return;
        }
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        for key in self.handles().by_key.keys() {
            let _ = self.core.complete_subscription(*key);
        }
        // Never join here: the bridge thread may be waiting for the GIL this thread holds.
        self.bridge.request_stop();
    }
}
