//! The outbox table and the names PostgreSQL sees.
//!
//! - [`Outbox`]: the SQL of the bus: create the table, publish (insert + notify in one
//!   statement), read one row, replay a channel after a position, delete old rows.
//! - [`notify_channel`]: a subcast channel as a NOTIFY channel (≤ 63 bytes; distinct
//!   channels never share one: names too long, or starting with `#`, are hashed to
//!   `<prefix>#<hex>`, which no literal name can be).
//! - [`quote_ident`]: an identifier quoted for SQL text (`LISTEN` takes no parameters).
//! - [`Notice`]: what a notification carries: `<id>` or `<id>:<wire event>`.
//!
//! Every event is a row; the notification names the row's id, and carries the event itself
//! when it fits in NOTIFY's 8000 bytes. Publishers of one channel take a transaction-scoped
//! advisory lock before the insert, so a channel's ids grow in commit order, which is also
//! the order its notifications are delivered in: the id is a replay cursor.
//!
//! Cleanup deletes a channel's oldest rows and blanks the newest row it expires (an empty
//! payload, never a valid event): that marker keeps the channel's newest id and tells a
//! replay from before it that events of the channel were deleted.

use sha2::{Digest, Sha256};

use crate::config::PostgresConfig;

/// NOTIFY payloads must be shorter than this many bytes.
pub(crate) const NOTIFY_LIMIT: usize = 8000;

/// Longest identifier PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_IDENTIFIER: usize = 63;

/// Longest configurable channel prefix, so hashed names always fit.
pub(crate) const MAX_PREFIX: usize = 15;

/// Quote `name` as an SQL identifier: wrapped in `"`, inner `"` doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// What follows the prefix in a hashed NOTIFY channel, and never in a literal one.
const HASHED: char = '#';

/// The NOTIFY channel of `channel`: `prefix + channel`, or `prefix + #` and 160 bits of its
/// SHA-256 when that would be longer than 63 bytes (PostgreSQL would truncate it, mixing
/// channels) or when the channel starts with `#`.
///
/// Injective for one prefix: a literal name never has `#` right after the prefix and a
/// hashed one always has, so a short channel can never be named like a long one's hash.
pub(crate) fn notify_channel(prefix: &str, channel: &str) -> String {
    if prefix.len() + channel.len() <= MAX_IDENTIFIER && !channel.starts_with(HASHED) {
        return format!("{prefix}{channel}");
    }
    let digest = Sha256::digest(channel.as_bytes());
    let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{HASHED}{hex}")
}

/// The advisory lock serialising publishers of one NOTIFY channel.
pub(crate) fn lock_key(notify_channel: &str) -> i64 {
    let digest = Sha256::digest(notify_channel.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// What one notification says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Notice<'a> {
    /// The event is in the notification.
    Inline(i64, &'a [u8]),
    /// The event is too large: read row `id` of the outbox.
    Keyed(i64),
}

impl<'a> Notice<'a> {
    /// Parse `<id>` or `<id>:<wire>`.
    pub fn parse(payload: &'a str) -> Result<Notice<'a>, &'static str> {
        let (id, wire) = match payload.split_once(':') {
            Some((id, wire)) => (id, Some(wire)),
            None => (payload, None),
        };
        let id: i64 = id
            .parse()
            .map_err(|_| "the notification does not start with an outbox id")?;
        if id <= 0 {
            return Err("outbox ids are positive");
        }
        Ok(match wire {
            Some(wire) => Notice::Inline(id, wire.as_bytes()),
            None => Notice::Keyed(id),
        })
    }
}

/// The SQL of one outbox table.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    /// `"schema"."table"`.
    table: String,
    schema: String,
    index_prefix: String,
}

impl Outbox {
    /// The outbox named by `config`.
    pub fn new(config: &PostgresConfig) -> Outbox {
        Outbox {
            table: format!("{}.{}", quote_ident(&config.schema), quote_ident(&config.table)),
            schema: quote_ident(&config.schema),
            index_prefix: config.table.clone(),
        }
    }

    /// Create the schema, table and indexes if missing; concurrent creators take turns.
    pub fn create(&self) -> String {
        let table = &self.table;
        let by_channel = quote_ident(&format!("{}_channel_id", self.index_prefix));
        let by_age = quote_ident(&format!("{}_created_at", self.index_prefix));
        format!(
            "BEGIN;
             SELECT pg_advisory_xact_lock({lock});
             CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {table} (
                 id bigserial PRIMARY KEY,
                 channel text NOT NULL,
                 payload bytea NOT NULL,
                 created_at timestamptz NOT NULL DEFAULT now());
             CREATE INDEX IF NOT EXISTS {by_channel} ON {table} (channel, id);
             CREATE INDEX IF NOT EXISTS {by_age} ON {table} (created_at);
             COMMIT;",
            lock = lock_key("subcast-outbox-create"),
            schema = self.schema,
        )
    }

    /// Insert and notify: `$1` channel, `$2` wire bytes, `$3` lock key, `$4` NOTIFY channel.
    ///
    /// With `inline`, the notification carries `<id>:<wire>`, else `<id>`.
    pub fn publish(&self, inline: bool) -> String {
        let notice = if inline {
            "id::text || ':' || convert_from($2, 'UTF8')"
        } else {
            "id::text"
        };
        format!(
            "WITH lock AS (SELECT pg_advisory_xact_lock($3::int8)),
                  inserted AS (INSERT INTO {table} (channel, payload) SELECT $1::text, $2::bytea FROM lock RETURNING id)
             SELECT id, pg_notify($4::text, {notice})::text FROM inserted",
            table = self.table,
        )
    }

    /// `channel, payload` of row `$1`.
    pub fn read(&self) -> String {
        format!("SELECT channel, payload FROM {} WHERE id = $1", self.table)
    }

    /// `id, payload` of channel `$1` after id `$2`, in order, at most `$3` rows.
    pub fn replay(&self) -> String {
        format!(
            "SELECT id, payload FROM {} WHERE channel = $1 AND id > $2 ORDER BY id LIMIT $3",
            self.table
        )
    }

    /// The newest id of channel `$1` (0 when it has none): where a new subscription starts.
    ///
    /// Per channel: only publishers of one channel take turns, so a committed row of another
    /// channel may have a higher id than a row of this one that is still being committed.
    pub fn newest(&self) -> String {
        format!(
            "SELECT coalesce(max(id), 0) FROM {} WHERE channel = $1",
            self.table
        )
    }

    /// Delete events older than `$1` seconds; returns how many (`int8`).
    ///
    /// Per channel, every row before the newest expired one is deleted and that one becomes
    /// the marker, so what is left of a channel is always its newest rows, after a marker
    /// when anything was deleted.
    pub fn cleanup(&self) -> String {
        format!(
            "WITH expired AS (
                 SELECT channel, max(id) AS upto FROM {table}
                 WHERE created_at < now() - make_interval(secs => $1::float8)
                 GROUP BY channel),
             deleted AS (
                 DELETE FROM {table} AS o USING expired
                 WHERE o.channel = expired.channel AND o.id < expired.upto
                 RETURNING o.payload),
             marked AS (
                 UPDATE {table} AS o SET payload = ''::bytea FROM expired
                 WHERE o.id = expired.upto AND o.payload <> ''::bytea
                 RETURNING o.id)
             SELECT (SELECT count(*) FROM deleted WHERE payload <> ''::bytea)
                  + (SELECT count(*) FROM marked)",
            table = self.table,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_doubled_quotes() {
        assert_eq!(
            quote_ident(r#"a"; DROP TABLE x; --"#),
            r#""a""; DROP TABLE x; --""#
        );
    }

    #[test]
    fn long_channel_names_are_hashed_to_distinct_short_names() {
        let short = notify_channel("subcast:", "users");
        assert_eq!(short, "subcast:users");
        let a = notify_channel("subcast:", &"é".repeat(100));
        let b = notify_channel("subcast:", &format!("{}x", "é".repeat(100)));
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
        assert_eq!(notify_channel("subcast:", &"x".repeat(55)).len(), 63);
    }

    #[test]
    fn a_short_channel_named_like_a_long_ones_hash_gets_a_notify_channel_of_its_own() {
        let long = "l".repeat(100);
        let hashed = notify_channel("subcast:", &long);
        let literal = hashed.strip_prefix("subcast:").unwrap();
        assert!(literal.starts_with('#'));
        let impostor = notify_channel("subcast:", literal);
        assert_ne!(impostor, hashed);
        assert!(impostor.len() <= 63);
        assert_eq!(notify_channel("subcast:", "a#b"), "subcast:a#b");
    }

    #[test]
    fn notifications_carry_an_id_and_maybe_the_event() {
        assert_eq!(
            Notice::parse("12:{\"v\":1}"),
            Ok(Notice::Inline(12, b"{\"v\":1}"))
        );
        assert_eq!(Notice::parse("7"), Ok(Notice::Keyed(7)));
        assert!(Notice::parse("garbage").is_err());
        assert!(Notice::parse("-3").is_err());
        assert!(Notice::parse("{\"v\":1}").is_err());
    }
}
