//! Which event bus an executor uses, and how events reach it.
//!
//! - [`EventBusConfig`]: the Python-visible choice: `memory()`, `redis(url)`, `postgresql(url)`.
//! - [`Transport`]: the opened bus; [`Transport::publish`] publishes and dispatches locally
//!   before returning, with the calling thread doing the dispatch (the GIL is released by
//!   the caller). A network bus also gets the executor's own runtime and an `EventPump`,
//!   whose dispatcher thread delivers the events other nodes publish.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use pyo3::prelude::*;
use subcast_core::{
    BusStats, DispatchReport, Error, Event, EventBus, EventPump, InMemoryBus, PumpConfig, PumpStats, Result,
    SubscriptionExecutor,
};
use subcast_postgres::{PostgresBus, PostgresConfig};
use subcast_redis::{RedisBus, RedisConfig};

use crate::runtime::{self, OwnedRuntime};

/// Where an executor's events travel.
#[pyclass(frozen, module = "subcast._native")]
#[derive(Debug, Clone)]
pub struct EventBusConfig {
    pub(crate) kind: BusKind,
}

#[derive(Debug, Clone)]
pub(crate) enum BusKind {
    Memory,
    Redis { url: String },
    Postgres { url: String },
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
    fn redis(url: String) -> Self {
        EventBusConfig {
            kind: BusKind::Redis { url },
        }
    }

    /// A PostgreSQL LISTEN/NOTIFY bus at `url` (`postgresql://user@host/db`).
    #[staticmethod]
    fn postgresql(url: String) -> Self {
        EventBusConfig {
            kind: BusKind::Postgres { url },
        }
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
            BusKind::Redis { url } | BusKind::Postgres { url } => Some(url),
        }
    }

    fn __repr__(&self) -> String {
        match &self.kind {
            BusKind::Memory => "EventBusConfig.memory()".to_owned(),
            BusKind::Redis { url } => format!("EventBusConfig.redis({url:?})"),
            BusKind::Postgres { url } => format!("EventBusConfig.postgresql({url:?})"),
        }
    }
}

/// An opened bus, with the runtime and pump a network bus needs.
#[derive(Debug)]
pub struct Transport {
    bus: Arc<dyn EventBus>,
    network: Mutex<Option<Network>>,
}

#[derive(Debug)]
struct Network {
    runtime: OwnedRuntime,
    pump: Option<EventPump>,
}

impl Transport {
    /// Open the bus `config` describes for `executor` (blocking: call without the GIL).
    pub fn open(config: &EventBusConfig, executor: &Arc<SubscriptionExecutor>) -> Result<Self> {
        let (url, redis) = match &config.kind {
            BusKind::Memory => {
                return Ok(Transport {
                    bus: Arc::new(InMemoryBus::new()),
                    network: Mutex::new(None),
                })
            }
            BusKind::Redis { url } => (url, true),
            BusKind::Postgres { url } => (url, false),
        };
        let mut runtime = OwnedRuntime::start()
            .map_err(|e| Error::Bus(format!("cannot start the {} runtime: {e}", runtime::NAME)))?;
        let connected = runtime.block_on(async {
            let bus: Arc<dyn EventBus> = if redis {
                Arc::new(RedisBus::connect(url, runtime.runtime(), RedisConfig::default()).await?)
            } else {
                Arc::new(PostgresBus::connect(url, runtime.runtime(), PostgresConfig::default()).await?)
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
        let pump = EventPump::start(
            executor.clone(),
            bus.clone(),
            runtime.runtime(),
            PumpConfig::default(),
        );
        Ok(Transport {
            bus,
            network: Mutex::new(Some(Network {
                runtime,
                pump: Some(pump),
            })),
        })
    }

    /// Publish `event` and dispatch it to `executor`'s local subscriptions.
    pub fn publish(&self, event: Arc<Event>, executor: &SubscriptionExecutor) -> Result<DispatchReport> {
        let network = self.network();
        match &*network {
            Some(Network {
                runtime,
                pump: Some(pump),
            }) => runtime.block_on(pump.publish(event)),
            Some(Network { pump: None, .. }) => Err(Error::Closed("event bus")),
            None => {
                drop(network);
                futures_lite::future::block_on(self.bus.publish_with_executor(event, executor))
            }
        }
    }

    /// Wait up to `timeout` until the bus delivers `channel` to this node (always true in memory).
    pub fn channel_ready(&self, channel: &str, timeout: Duration) -> bool {
        let network = self.network();
        let Some(Network {
            runtime,
            pump: Some(pump),
        }) = &*network
        else {
            return network.is_none();
        };
        let deadline = runtime.runtime().sleep(timeout);
        runtime.block_on(futures_lite::future::or(pump.channel_ready(channel), async {
            deadline.await;
            false
        }))
    }

    /// The bus's counters, and the pump's for a network bus.
    pub fn stats(&self) -> (BusStats, Option<PumpStats>) {
        let pump = self
            .network()
            .as_ref()
            .and_then(|n| n.pump.as_ref().map(EventPump::stats));
        (self.bus.stats(), pump)
    }

    /// Stop the pump and the runtime, joining their threads (call without the GIL).
    pub fn shutdown(&self) {
        let Some(mut network) = self.network().take() else {
            return;
        };
        if let Some(pump) = network.pump.take() {
            network.runtime.block_on(pump.shutdown());
        }
        network.runtime.shutdown();
    }

    fn network(&self) -> MutexGuard<'_, Option<Network>> {
        self.network.lock().unwrap_or_else(|e| e.into_inner())
    }
}
