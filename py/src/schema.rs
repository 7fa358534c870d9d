//! `SubscriptionExecutor(schema=sdl)`: the application's schema, as SDL text.
//!
//! - [`read_schema`]: the `schema=` argument parsed and validated once; an SDL that does
//!   not parse or validate raises `InvalidConfigError` listing every problem with its line
//!   and column.
//!
//! Any framework that prints its schema gives the text: `str(schema)` with Strawberry,
//! `ariadne.print_schema(schema)` or the type definitions given to `make_executable_schema`,
//! `graphql.print_schema(schema)` with graphql-core.

use pyo3::prelude::*;
use pyo3::types::PyString;
use subcast_core::Schema;

use crate::config::{invalid, shown};

/// The `schema=` argument: `None`, or SDL text.
pub fn read_schema(py: Python<'_>, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Schema>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let Ok(text) = value.cast::<PyString>() else {
        let reason = format!(
            "must be the schema's SDL as a str (Strawberry: str(schema)), got {}",
            shown(value)
        );
        return Err(invalid(py, "schema", reason));
    };
    let text = text.to_str()?;
    // Parsing a large SDL takes milliseconds: other Python threads run meanwhile.
    let parsed = py.detach(|| Schema::parse(text));
    parsed.map(Some).map_err(|e| invalid(py, "schema", e))
}
