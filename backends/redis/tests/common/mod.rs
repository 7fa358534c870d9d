//! Test support: the helpers every bus's tests share, and the Redis server to use.

pub use subcast_bus_testing::*;

/// The Redis server the tests use (`SUBCAST_REDIS_URL`, default the local one).
pub fn redis_url() -> String {
    std::env::var("SUBCAST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}
