//! PostgresBus errors keep the backend's own error as their source.

mod common;

use std::error::Error as _;

use common::*;
use subcast_core::Error;
use subcast_postgres::{PostgresBus, PostgresConfig};
use tokio_postgres::error::SqlState;

#[tokio::test]
async fn connecting_to_a_missing_database_keeps_the_postgres_error_as_source() {
    let url = postgres_url();
    let (server, _) = url.rsplit_once('/').expect("a database in the URL");
    let missing = format!("{server}/subcast_no_such_database");
    let error = PostgresBus::connect(&missing, tokio_runtime(), PostgresConfig::default())
        .await
        .expect_err("the database does not exist");
    assert!(matches!(error, Error::Bus { bus: "postgres", .. }), "{error:?}");
    let source = error
        .source()
        .and_then(|s| s.downcast_ref::<tokio_postgres::Error>())
        .expect("the tokio-postgres error is the source");
    assert_eq!(source.code(), Some(&SqlState::INVALID_CATALOG_NAME));
}
