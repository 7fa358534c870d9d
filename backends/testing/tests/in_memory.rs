//! The in-memory bus passes the scenarios that fit a bus without a server.

use std::sync::Arc;

use subcast_bus_testing::scenarios::{self, AfterOverflow, Bounds};
use subcast_bus_testing::smol_runtime;
use subcast_core::InMemoryBus;

#[test]
fn a_blocked_consumer_keeps_the_in_memory_buffers_bounded_and_the_losses_counted() {
    let runtime = smol_runtime();
    let bus = InMemoryBus::with_stream_capacity(16);
    let publisher = bus.connect();
    futures_lite::future::block_on(scenarios::a_blocked_consumer_keeps_every_buffer_bounded(
        &runtime,
        &publisher,
        Arc::new(bus),
        20_000,
        Bounds {
            pump_inbox: 8,
            stream: 16,
            received: 0,
        },
        AfterOverflow::CountedGaps,
    ));
}
