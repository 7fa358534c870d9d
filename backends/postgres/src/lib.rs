//! subcast-postgres: the PostgreSQL event bus (in progress).
