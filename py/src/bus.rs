//! Which event bus an executor uses, and how events reach it.
//!
//! - [`EventBusConfig`]: the Python-visible choice: `memory()`, `redis(url, ...)`,
//!   `redis_cluster(urls, ...)`, `postgresql(url, ...)`, `nats(url, ...)`, with every
//!   option of the bus (read by [`crate::config`]).
//! - [`Transport`]: the facade's `Node` the executor is part of; [`Transport::publish`]
//!   publishes and dispatches locally before returning, with the calling thread doing the
//!   dispatch (the GIL is released by the caller). A network bus also gets the executor's
//!   own runtime, on which the node's pump delivers the events other nodes publish.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use subcast::{
    BusStats, DispatchReport, Error, Event, ExecutorConfig, Node, PumpConfig, PumpStats, RedisClusterBus,
    Result, SubscriptionExecutor,
};
use subcast_postgres::PostgresConfig;
use subcast_redis::RedisConfig;

use crate::config::{self, invalid};
use crate::runtime::{self, Blocker, OwnedRuntime};

/// Where an executor's events travel.
#[pyclass(frozen, module = "subcast._native")]
#[derive(Debug, Clone)]
pub struct EventBusConfig {
    pub(crate) kind: BusKind,
}

#[derive(Debug, Clone)]
pub(crate) enum BusKind {
    Memory,
    Redis {
        url: String,
        config: RedisConfig,
        shown: String,
    },
    Postgres {
        url: String,
        config: PostgresConfig,
        shown: String,
    },
    RedisCluster {
        /// One `redis+cluster://` URL or `redis://` seed, or several `redis://` seeds.
        seeds: Vec<String>,
        /// `seeds` as the user gave them, for `url` and `repr`.
        url: String,
        config: RedisConfig,
        shown: String,
    },
    #[cfg(feature = "tokio")]
    Nats {
        url: String,
        config: subcast::NatsConfig,
        shown: String,
    },
}

#[pymethods]
impl EventBusConfig {
    /// The in-memory bus: events reach this process's subscriptions only.
    #[staticmethod]
    fn memory() -> Self {
        EventBusConfig {
            kind: BusKind::Memory,
        }
    }

    /// A Redis bus at `url` (`redis://host:port/db`): events reach every node.
    #[staticmethod]
    #[pyo3(signature = (url, **options))]
    fn redis(url: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let url = bus_url(url)?;
        let (config, shown) = config::redis_config(url.py(), options)?;
        Ok(EventBusConfig {
            kind: BusKind::Redis {
                url: url.to_str()?.to_owned(),
                config,
                shown,
            },
        })
    }

    /// A PostgreSQL LISTEN/NOTIFY bus at `url` (`postgresql://user@host/db`).
    #[staticmethod]
    #[pyo3(signature = (url, **options))]
    fn postgresql(url: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let url = bus_url(url)?;
        let (config, shown) = config::postgres_config(url.py(), options)?;
        Ok(EventBusConfig {
            kind: BusKind::Postgres {
                url: url.to_str()?.to_owned(),
                config,
                shown,
            },
        })
    }

    /// A Redis Cluster bus reached through `urls`: one `redis+cluster://host:port,host:port`
    /// URL, one `redis://` seed, or a list of `redis://` seeds; options as for `redis`.
    #[staticmethod]
    #[pyo3(signature = (urls, **options))]
    fn redis_cluster(urls: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let py = urls.py();
        let (seeds, url) = match urls.cast::<pyo3::types::PyString>() {
            Ok(url) => {
                let url = url.to_str()?.to_owned();
                (vec![url.clone()], format!("{url:?}"))
            }
            Err(_) => {
                let refuse = || {
                    let reason = format!(
                        "must be a str or a non-empty list of str, got {}",
                        config::shown(urls)
                    );
                    invalid(py, "bus.urls", reason)
                };
                let list = urls.cast::<pyo3::types::PyList>().map_err(|_| refuse())?;
                let seeds = list
                    .iter()
                    .map(|seed| seed.extract::<String>().map_err(|_| refuse()))
                    .collect::<PyResult<Vec<_>>>()?;
                if seeds.is_empty() {
                    return Err(refuse());
                }
                (seeds.clone(), format!("{seeds:?}"))
            }
        };
        let (config, shown) = config::redis_config(py, options)?;
        Ok(EventBusConfig {
            kind: BusKind::RedisCluster {
                seeds,
                url,
                config,
                shown,
            },
        })
    }

    /// A NATS bus at `url` (`nats://host:port`), optionally replaying from JetStream.
    #[staticmethod]
    #[pyo3(signature = (url, **options))]
    fn nats(url: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let url = bus_url(url)?;
        #[cfg(feature = "tokio")]
        {
            let (config, shown) = config::nats_config(url.py(), options)?;
            Ok(EventBusConfig {
                kind: BusKind::Nats {
                    url: url.to_str()?.to_owned(),
                    config,
                    shown,
                },
            })
        }
        #[cfg(not(feature = "tokio"))]
        {
            let _ = options;
            let refused = Error::bus_message(
                "nats",
                "the NATS bus needs the tokio build of subcast (async-nats runs on tokio); this one runs on smol",
            );
            Err(crate::errors::to_py_err(url.py(), &refused))
        }
    }

    /// `"memory"`, `"redis"`, `"redis_cluster"`, `"postgresql"` or `"nats"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.kind {
            BusKind::Memory => "memory",
            BusKind::Redis { .. } => "redis",
            BusKind::Postgres { .. } => "postgresql",
            BusKind::RedisCluster { .. } => "redis_cluster",
            #[cfg(feature = "tokio")]
            BusKind::Nats { .. } => "nats",
        }
    }

    /// The connection URL (`None` for the in-memory bus; the seeds, comma-separated, for a
    /// Redis Cluster given as a list).
    #[getter]
    fn url(&self) -> Option<String> {
        match &self.kind {
            BusKind::Memory => None,
            BusKind::Redis { url, .. } | BusKind::Postgres { url, .. } => Some(url.clone()),
            BusKind::RedisCluster { seeds, .. } => Some(seeds.join(",")),
            #[cfg(feature = "tokio")]
            BusKind::Nats { url, .. } => Some(url.clone()),
        }
    }

    fn __repr__(&self) -> String {
        let (method, url, shown) = match &self.kind {
            BusKind::Memory => return "EventBusConfig.memory()".to_owned(),
            BusKind::Redis { url, shown, .. } => ("redis", format!("{url:?}"), shown),
            BusKind::Postgres { url, shown, .. } => ("postgresql", format!("{url:?}"), shown),
            BusKind::RedisCluster { url, shown, .. } => ("redis_cluster", url.clone(), shown),
            #[cfg(feature = "tokio")]
            BusKind::Nats { url, shown, .. } => ("nats", format!("{url:?}"), shown),
        };
        match shown.as_str() {
            "" => format!("EventBusConfig.{method}({url})"),
            shown => format!("EventBusConfig.{method}({url}, {shown})"),
        }
    }
}

/// The `url` argument, which must be a `str`.
fn bus_url<'a, 'py>(url: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, pyo3::types::PyString>> {
    url.cast::<pyo3::types::PyString>().map_err(|_| {
        invalid(
            url.py(),
            "bus.url",
            format!("must be a str, got {}", config::shown(url)),
        )
    })
}

/// The node an executor is part of, with the runtime a network bus needs.
///
/// No lock is held while a call blocks: `publish` dispatches on the calling thread and
/// runs Python resolvers, which need the GIL that a caller of `stats` may hold.
#[derive(Debug)]
pub struct Transport {
    state: Mutex<State>,
    /// Signalled whenever a [`Lease`] ends, for `shutdown` to wait on.
    lease_ended: Condvar,
}

#[derive(Debug)]
enum State {
    Open {
        node: Arc<Node>,
        /// The runtime of a network bus's connections and pump; `None` in memory.
        runtime: Option<OwnedRuntime>,
    },
    /// Shut down: the connections are closed and only the final counters remain.
    Closed { bus: BusStats, pump: Option<PumpStats> },
}

/// The node, used outside the lock; `shutdown` waits until every lease has ended.
struct Lease<'a> {
    transport: &'a Transport,
    node: Option<Arc<Node>>,
    blocker: Option<Blocker>,
}

impl Lease<'_> {
    fn node(&self) -> &Node {
        self.node
            .as_deref()
            .expect("a lease holds its node until dropped")
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        match &self.blocker {
            Some(blocker) => blocker.block_on(future),
            None => futures_lite::future::block_on(future),
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // Released under the lock, so that `shutdown` cannot miss the notification between
        // counting the leases and waiting.
        let state = self.transport.state();
        self.node = None;
        drop(state);
        self.transport.lease_ended.notify_all();
    }
}

impl Transport {
    /// Build the node: an executor configured by `executor`, the bus `config` describes and,
    /// for a network bus, a runtime of its own and the pump (blocking: call without the GIL).
    pub fn open(config: &EventBusConfig, executor: ExecutorConfig, pump: PumpConfig) -> Result<Self> {
        let builder = Node::builder().executor_config(executor).pump_config(pump);
        if let BusKind::Memory = config.kind {
            let node = futures_lite::future::block_on(builder.build())?;
            return Ok(Transport::new(State::Open {
                node: Arc::new(node),
                runtime: None,
            }));
        }
        let mut runtime = OwnedRuntime::start().map_err(|e| {
            Error::bus(
                "runtime",
                format!("cannot start the {} runtime: {e}", runtime::NAME),
                e,
            )
        })?;
        let bus_runtime = runtime.runtime();
        let builder = builder.runtime(bus_runtime.clone());
        // The facade's URLs cover Redis and PostgreSQL; the Redis Cluster and NATS buses are
        // connected here (NATS inside the tokio runtime it needs) and handed to the node.
        let built = runtime.block_on(async {
            let builder = match &config.kind {
                BusKind::Memory => builder,
                BusKind::Redis { url, config, .. } => {
                    builder.redis_config(config.clone()).bus_url(url.as_str())
                }
                BusKind::Postgres { url, config, .. } => {
                    builder.postgres_config(config.clone()).bus_url(url.as_str())
                }
                BusKind::RedisCluster { seeds, config, .. } => {
                    let bus = match seeds.as_slice() {
                        [url] => RedisClusterBus::connect(url, bus_runtime, config.clone()).await?,
                        seeds => RedisClusterBus::connect_seeds(seeds, bus_runtime, config.clone()).await?,
                    };
                    builder.bus(Arc::new(bus))
                }
                #[cfg(feature = "tokio")]
                BusKind::Nats { url, config, .. } => {
                    let bus = subcast::NatsBus::connect(url, bus_runtime, config.clone()).await?;
                    builder.bus(Arc::new(bus))
                }
            };
            builder.build().await
        });
        match built {
            Ok(node) => Ok(Transport::new(State::Open {
                node: Arc::new(node),
                runtime: Some(runtime),
            })),
            Err(error) => {
                runtime.shutdown();
                Err(error)
            }
        }
    }

    fn new(state: State) -> Self {
        Transport {
            state: Mutex::new(state),
            lease_ended: Condvar::new(),
        }
    }

    /// The node's executor (`None` once shut down).
    pub fn executor(&self) -> Option<Arc<SubscriptionExecutor>> {
        match &*self.state() {
            State::Open { node, .. } => Some(node.executor().clone()),
            State::Closed { .. } => None,
        }
    }

    /// Publish `event` and dispatch it to the node's local subscriptions.
    pub fn publish(&self, event: Arc<Event>) -> Result<DispatchReport> {
        let lease = self.lease().ok_or(Error::Closed("event bus"))?;
        lease.block_on(lease.node().publish(event))
    }

    /// Wait up to `timeout` until the bus delivers `channel` to this node (always true in memory).
    pub fn channel_ready(&self, channel: &str, timeout: Duration) -> bool {
        let Some(lease) = self.lease() else {
            return false;
        };
        let Some(runtime) = lease.node().runtime().cloned() else {
            return true;
        };
        let deadline = runtime.sleep(timeout);
        lease.block_on(futures_lite::future::or(
            lease.node().channel_ready(channel),
            async {
                deadline.await;
                false
            },
        ))
    }

    /// Read the next page of what a resumed subscription missed from the bus's history (see
    /// [`subcast_core::Resume::next_page`]); blocking: call without the GIL.
    pub fn replay_page(&self, resume: &mut subcast_core::Resume) -> Result<Option<Vec<bytes::Bytes>>> {
        let lease = self.lease().ok_or(Error::Closed("event bus"))?;
        let node = lease.node();
        lease.block_on(resume.next_page(node.executor(), &**node.bus()))
    }

    /// The bus's counters, and the pump's for a network bus.
    pub fn stats(&self) -> (BusStats, Option<PumpStats>) {
        match &*self.state() {
            State::Open { node, .. } => {
                let stats = node.stats();
                (stats.bus, stats.pump)
            }
            State::Closed { bus, pump } => (bus.clone(), pump.clone()),
        }
    }

    /// Stop the pump, close the bus's connections and stop the runtime, joining their
    /// threads (call without the GIL). Waits for the publishes already under way.
    pub fn shutdown(&self) {
        let mut state = self.state();
        let bus = match &*state {
            State::Open { node, .. } => node.stats().bus,
            State::Closed { .. } => return,
        };
        let State::Open { mut node, runtime } =
            std::mem::replace(&mut *state, State::Closed { bus, pump: None })
        else {
            return;
        };
        // Nothing new can lease the node now; wait for the leases already out.
        let node = loop {
            match Arc::try_unwrap(node) {
                Ok(node) => break node,
                Err(shared) => {
                    node = shared;
                    state = self.lease_ended.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            }
        };
        drop(state);
        // The last reference: shutting down drops the bus, closing its connections.
        let stats = match &runtime {
            Some(runtime) => runtime.block_on(node.shutdown()),
            None => futures_lite::future::block_on(node.shutdown()),
        };
        if let Some(mut runtime) = runtime {
            runtime.shutdown();
        }
        *self.state() = State::Closed {
            bus: stats.bus,
            pump: stats.pump,
        };
    }

    fn lease(&self) -> Option<Lease<'_>> {
        match &*self.state() {
            State::Open { node, runtime } => Some(Lease {
                transport: self,
                node: Some(node.clone()),
                blocker: runtime.as_ref().map(OwnedRuntime::blocker),
            }),
            State::Closed { .. } => None,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
