//! subcast-py: the `subcast._native` extension module behind the Python package `subcast`.
//!
//! - [`executor`]: `SubscriptionExecutor`, the engine as Python sees it.
//! - [`bus`]: `EventBusConfig` and the opened bus.
//! - [`resolver`]: Python callables as the engine's batch resolver.
//! - [`inbox`] and [`bridge`]: frames for `next_event`, `recv_blocking` and asyncio `recv`.
//! - [`protocol`]: graphql-transport-ws as the engine's state machine, for ASGI servers.
//! - [`connection`]: `ConnectionInbox`, one wake-up per WebSocket for its writer.
//! - [`ids`]: subscriptions indexed by id, hashed as Python hashes `str`.
//! - [`convert`]: every conversion between Python objects and JSON, timeouts and counts.
//! - [`config`]: every policy and limit, as Python classes and keyword options.
//! - [`fork`]: objects inherited through `fork()` are refused, never used.
//! - [`errors`]: engine errors as `subcast.errors` exceptions.
//! - [`metrics`]: the metrics dict and its Prometheus exposition.
//! - [`runtime`]: the async runtime each executor owns.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

use pyo3::prelude::*;

pub mod bridge;
pub mod bus;
pub mod config;
pub mod connection;
pub mod convert;
pub mod errors;
pub mod executor;
pub mod fork;
pub mod ids;
pub mod inbox;
pub mod metrics;
pub mod protocol;
pub mod resolver;
pub mod runtime;
pub mod schema;

/// The async runtime this build runs its background work on: `"smol"` or `"tokio"`.
#[pyfunction(name = "runtime")]
fn runtime_name() -> &'static str {
    runtime::NAME
}

/// The engine of the `subcast` package.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    fork::install();
    module.add_class::<executor::SubscriptionExecutor>()?;
    module.add_class::<bus::EventBusConfig>()?;
    module.add_class::<config::SecurityPolicies>()?;
    module.add_class::<config::RateLimits>()?;
    module.add_class::<config::DocumentLimits>()?;
    module.add_class::<config::PumpConfig>()?;
    module.add_class::<executor::FrameReceiver>()?;
    module.add_class::<executor::Resume>()?;
    module.add_class::<protocol::ProtocolConfig>()?;
    module.add_class::<protocol::ProtocolConnection>()?;
    module.add_class::<connection::ConnectionInbox>()?;
    module.add_function(wrap_pyfunction!(runtime_name, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
