//! subcast: distribute events to GraphQL subscriptions.
//!
//! This facade re-exports [`subcast_core`], the runtime-free engine. Runtime adapters and
//! multi-node buses are added by cargo features as they land.
//!
//! - [`SubscriptionExecutor`]: register subscriptions, dispatch events, drain frames.
//! - [`InMemoryBus`]: the embedded bus; [`EventBus::publish_with_executor`] publishes and
//!   dispatches in one step.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub use subcast_core::*;
