//! RedisBus errors keep the backend's own error as their source.

use std::error::Error as _;

use subcast_bus_testing::tokio_runtime;
use subcast_core::Error;
use subcast_redis::{RedisBus, RedisConfig};

#[tokio::test]
async fn connecting_to_a_closed_port_keeps_the_io_error_as_source() {
    // Port 1 (tcpmux) is closed on the test machine: the connection is refused at once.
    let error = RedisBus::connect("redis://127.0.0.1:1", tokio_runtime(), RedisConfig::default())
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(error, Error::Bus { bus: "redis", .. }), "{error:?}");
    let source = error
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the io error is the source");
    assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
}
