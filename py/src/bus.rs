//! Which event bus an executor uses, and how events reach it.
//!
//! - [`EventBusConfig`]: the Python-visible choice: `memory()`, `redis(url, ...)`,
//!   `postgresql(url, ...)`, with every option of the bus (read by [`crate::config`]).
//! - [`Transport`]: the opened bus; [`Transport::publish`] publishes and dispatches locally
//!   before returning, with the calling thread doing the dispatch (the GIL is released by
//!   the caller). A network bus also gets the executor's own runtime and an `EventPump`,
//!   whose dispatcher thread delivers the events other nodes publish.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use subcast_core::{
    BusStats, DispatchReport, Error, Event, EventBus, EventPump, InMemoryBus, PumpConfig, PumpStats, Result,
    SubscriptionExecutor,
};
use subcast_postgres::{PostgresBus, PostgresConfig};
use subcast_redis::{RedisBus, RedisConfig};

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

    /// `"memory"`, `"redis"` or `"postgresql"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.kind {
            BusKind::Memory => "memory",
            BusKind::Redis { .. } => "redis",
            BusKind::Postgres { .. } => "postgresql",
        }
    }

    /// The connection URL (`None` for the in-memory bus).
    #[getter]
    fn url(&self) -> Option<&str> {
        match &self.kind {
            BusKind::Memory => None,
            BusKind::Redis { url, .. } | BusKind::Postgres { url, .. } => Some(url),
        }
    }

    fn __repr__(&self) -> String {
        let (method, url, shown) = match &self.kind {
            BusKind::Memory => return "EventBusConfig.memory()".to_owned(),
            BusKind::Redis { url, shown, .. } => ("redis", url, shown),
            BusKind::Postgres { url, shown, .. } => ("postgresql", url, shown),
        };
        match shown.as_str() {
            "" => format!("EventBusConfig.{method}({url:?})"),
            shown => format!("EventBusConfig.{method}({url:?}, {shown})"),
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

/// An opened bus, with the runtime and pump a network bus needs.
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
    Memory(Arc<dyn EventBus>),
    Network(Network),
    /// Shut down: the connections are closed and only the final counters remain.
    Closed {
        bus: BusStats,
        pump: Option<PumpStats>,
    },
}

#[derive(Debug)]
struct Network {
    bus: Arc<dyn EventBus>,
    runtime: OwnedRuntime,
    pump: Arc<EventPump>,
}

/// The pump, used outside the lock; `shutdown` waits until every lease has ended.
struct Lease<'a> {
    transport: &'a Transport,
    pump: Option<Arc<EventPump>>,
    blocker: Blocker,
}

impl Lease<'_> {
    fn pump(&self) -> &EventPump {
        self.pump
            .as_deref()
            .expect("a lease holds its pump until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // Released under the lock, so that `shutdown` cannot miss the notification between
        // counting the leases and waiting.
        let state = self.transport.state();
        self.pump = None;
        drop(state);
        self.transport.lease_ended.notify_all();
    }
}

impl Transport {
    /// Open the bus `config` describes for `executor` (blocking: call without the GIL).
    pub fn open(
        config: &EventBusConfig,
        executor: &Arc<SubscriptionExecutor>,
        pump_config: PumpConfig,
    ) -> Result<Self> {
        if let BusKind::Memory = config.kind {
            return Ok(Transport::new(State::Memory(Arc::new(InMemoryBus::new()))));
        }
        let mut runtime = OwnedRuntime::start().map_err(|e| {
            Error::bus(
                "runtime",
                format!("cannot start the {} runtime: {e}", runtime::NAME),
                e,
            )
        })?;
        let connected = runtime.block_on(async {
            let bus: Arc<dyn EventBus> = match &config.kind {
                BusKind::Redis { url, config, .. } => {
                    Arc::new(RedisBus::connect(url, runtime.runtime(), config.clone()).await?)
                }
                BusKind::Postgres { url, config, .. } => {
                    Arc::new(PostgresBus::connect(url, runtime.runtime(), config.clone()).await?)
                }
                BusKind::Memory => Arc::new(InMemoryBus::new()),
            };
            Ok::<_, Error>(bus)
        });
        let bus = match connected {
            Ok(bus) => bus,
            Err(error) => {
                runtime.shutdown();
                return Err(error);
            }
        };
        let pump = EventPump::start(executor.clone(), bus.clone(), runtime.runtime(), pump_config);
        Ok(Transport::new(State::Network(Network {
            bus,
            runtime,
            pump: Arc::new(pump),
        })))
    }

    fn new(state: State) -> Self {
        Transport {
            state: Mutex::new(state),
            lease_ended: Condvar::new(),
        }
    }

    /// Publish `event` and dispatch it to `executor`'s local subscriptions.
    pub fn publish(&self, event: Arc<Event>, executor: &SubscriptionExecutor) -> Result<DispatchReport> {
        let state = self.state();
        let lease = match &*state {
            State::Memory(bus) => {
                let bus = bus.clone();
                drop(state);
                return futures_lite::future::block_on(executor.publish(&*bus, event));
            }
            State::Network(network) => self.lease(network),
            State::Closed { .. } => return Err(Error::Closed("event bus")),
        };
        drop(state);
        lease.blocker.block_on(lease.pump().publish(event))
    }

    /// Wait up to `timeout` until the bus delivers `channel` to this node (always true in memory).
    pub fn channel_ready(&self, channel: &str, timeout: Duration) -> bool {
        let state = self.state();
        let (lease, deadline) = match &*state {
            State::Memory(_) => return true,
            State::Network(network) => (self.lease(network), network.runtime.runtime().sleep(timeout)),
            State::Closed { .. } => return false,
        };
        drop(state);
        lease.blocker.block_on(futures_lite::future::or(
            lease.pump().channel_ready(channel),
            async {
                deadline.await;
                false
            },
        ))
    }

    /// The bus's counters, and the pump's for a network bus.
    pub fn stats(&self) -> (BusStats, Option<PumpStats>) {
        match &*self.state() {
            State::Memory(bus) => (bus.stats(), None),
            State::Network(network) => (network.bus.stats(), Some(network.pump.stats())),
            State::Closed { bus, pump } => (bus.clone(), pump.clone()),
        }
    }

    /// Stop the pump, close the bus's connections and stop the runtime, joining their
    /// threads (call without the GIL). Waits for the publishes already under way.
    pub fn shutdown(&self) {
        let mut state = self.state();
        let bus = match &*state {
            State::Memory(bus) => bus.stats(),
            State::Network(network) => network.bus.stats(),
            State::Closed { .. } => return,
        };
        let previous = std::mem::replace(&mut *state, State::Closed { bus, pump: None });
        let State::Network(Network {
            bus,
            mut runtime,
            mut pump,
        }) = previous
        else {
            return;
        };
        // Nothing new can lease the pump now; wait for the leases already out.
        let pump = loop {
            match Arc::try_unwrap(pump) {
                Ok(pump) => break pump,
                Err(shared) => {
                    pump = shared;
                    state = self.lease_ended.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            }
        };
        drop(state);
        let pump_stats = runtime.block_on(pump.shutdown());
        let bus_stats = bus.stats();
        // The last reference: this closes the bus's connections.
        drop(bus);
        runtime.shutdown();
        *self.state() = State::Closed {
            bus: bus_stats,
            pump: Some(pump_stats),
        };
    }

    fn lease(&self, network: &Network) -> Lease<'_> {
        Lease {
            transport: self,
            pump: Some(network.pump.clone()),
            blocker: network.runtime.blocker(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
