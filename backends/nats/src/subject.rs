//! Channel names as NATS subjects.
//!
//! A channel name may hold anything a subject may not (`.`, `*`, `>`, whitespace, any
//! Unicode), so the name goes into one token as lowercase hex of its UTF-8 bytes: the
//! mapping is injective (two channels never share a subject) and a 255-byte name makes a
//! 510-byte token, far within the server's control-line limit.
//!
//! - `<prefix>.live.<hex>`: what nodes subscribe to, and (without JetStream) publish on.
//! - `<prefix>.stored.<hex>`: what nodes publish on with JetStream; the stream captures it
//!   and republishes each event, with its sequence, on the live subject.

/// Longest prefix accepted.
const MAX_PREFIX_LEN: usize = 128;

/// The subjects of one bus.
#[derive(Debug, Clone)]
pub(crate) struct Subjects {
    prefix: String,
}

impl Subjects {
    pub(crate) fn new(prefix: &str) -> Self {
        Subjects {
            prefix: prefix.to_owned(),
        }
    }

    /// The subject nodes listen on for `channel`.
    pub(crate) fn live(&self, channel: &str) -> String {
        self.subject("live", channel)
    }

    /// The subject the stream captures for `channel`.
    pub(crate) fn stored(&self, channel: &str) -> String {
        self.subject("stored", channel)
    }

    /// Every stored subject, as the stream's subject filter.
    pub(crate) fn stored_wildcard(&self) -> String {
        format!("{}.stored.>", self.prefix)
    }

    /// Where the stream republishes what it stores.
    pub(crate) fn live_wildcard(&self) -> String {
        format!("{}.live.>", self.prefix)
    }

    fn subject(&self, kind: &str, channel: &str) -> String {
        let mut subject = String::with_capacity(self.prefix.len() + kind.len() + 2 + 2 * channel.len());
        subject.push_str(&self.prefix);
        subject.push('.');
        subject.push_str(kind);
        subject.push('.');
        for byte in channel.bytes() {
            subject.push(char::from(HEX[usize::from(byte >> 4)]));
            subject.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        subject
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Why `prefix` cannot start a subject, if it cannot.
pub(crate) fn subject_problem(prefix: &str) -> Option<&'static str> {
    if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN {
        return Some("must be 1 to 128 bytes");
    }
    if prefix
        .split('.')
        .any(|token| token.is_empty() || token.chars().any(|c| c.is_whitespace() || c == '*' || c == '>'))
    {
        return Some("must be '.'-separated non-empty tokens without whitespace, '*' or '>'");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_name_becomes_one_hex_token_after_the_prefix() {
        let subjects = Subjects::new("app.events");
        assert_eq!(subjects.live("a.*> b"), "app.events.live.612e2a3e2062");
        assert_eq!(subjects.stored("ü"), "app.events.stored.c3bc");
    }

    #[test]
    fn different_channels_never_share_a_subject() {
        let subjects = Subjects::new("p");
        let names = [
            "a.b",
            "a",
            "a.",
            ".a",
            "ab",
            "a*",
            "a>",
            "a b",
            "a\u{00e9}",
            "ae\u{301}",
        ];
        let mut seen: Vec<String> = names.iter().map(|name| subjects.live(name)).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), names.len());
    }

    #[test]
    fn a_prefix_with_wildcards_whitespace_or_empty_tokens_is_refused() {
        for prefix in ["", "a.*", "a.>", "a b", "a..b", ".a", "a.", "\t"] {
            assert!(subject_problem(prefix).is_some(), "{prefix:?}");
        }
        assert!(subject_problem(&"p".repeat(129)).is_some());
        assert_eq!(subject_problem("subcast"), None);
        assert_eq!(subject_problem("app.events-1"), None);
    }
}
