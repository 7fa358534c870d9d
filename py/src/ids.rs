//! Subscriptions indexed by connection or subscription id, hashed the way Python hashes `str`.
//!
//! - [`IdHash`]: an id's Python `str` hash.
//! - [`IdIndex`]: a map from ids to values, keyed by that hash.
//!
//! A `str` caches its hash, so a server that passes the same id objects on every call pays
//! no hashing at all, where a Rust `HashMap<String, _>` would SipHash every id of every
//! drain. The hash stays safe against chosen ids (graphql-transport-ws lets clients pick
//! subscription ids): Python's `str` hash is SipHash keyed per process.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::prelude::*;
use pyo3::types::PyString;

/// The hash Python gives an id's `str`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdHash(isize);

impl IdHash {
    /// The hash of `id`: cached in an exact `str`, recomputed from the text of a subclass
    /// (whose `__hash__` may differ from the text's).
    pub fn of(id: &Bound<'_, PyString>) -> PyResult<Self> {
        if id.is_exact_instance_of::<PyString>() {
            return id.hash().map(IdHash);
        }
        Self::of_text(id.py(), id.to_str()?)
    }

    /// The hash of the `str` holding `id`.
    pub fn of_text(py: Python<'_>, id: &str) -> PyResult<Self> {
        PyString::new(py, id).hash().map(IdHash)
    }
}

/// Values by id: the ids sharing a hash share a bucket, compared by text.
#[derive(Debug)]
pub struct IdIndex<V> {
    buckets: HashMap<IdHash, Bucket<V>, BuildHasherDefault<Prehashed>>,
}

/// The ids of one hash (almost always a single one) and their values.
type Bucket<V> = Vec<(Box<str>, V)>;

impl<V> Default for IdIndex<V> {
    fn default() -> Self {
        IdIndex {
            buckets: HashMap::default(),
        }
    }
}

impl<V> IdIndex<V> {
    /// The value of `id`, whose hash is `hash`.
    pub fn get(&self, hash: IdHash, id: &str) -> Option<&V> {
        self.buckets
            .get(&hash)?
            .iter()
            .find_map(|(known, value)| (**known == *id).then_some(value))
    }

    /// The value of `id`, inserted as `V::default()` if it has none.
    pub fn get_or_default(&mut self, hash: IdHash, id: &str) -> &mut V
    where
        V: Default,
    {
        let bucket = self.buckets.entry(hash).or_default();
        let index = match bucket.iter().position(|(known, _)| **known == *id) {
            Some(index) => index,
            None => {
                bucket.push((id.into(), V::default()));
                bucket.len() - 1
            }
        };
        &mut bucket[index].1
    }

    /// Apply `edit` to the value of `id`, then forget the value if `edit` returns `true`.
    pub fn edit(&mut self, hash: IdHash, id: &str, edit: impl FnOnce(&mut V) -> bool) {
        let Some(bucket) = self.buckets.get_mut(&hash) else {
            return;
        };
        let Some(index) = bucket.iter().position(|(known, _)| **known == *id) else {
            return;
        };
        if edit(&mut bucket[index].1) {
            bucket.swap_remove(index);
            if bucket.is_empty() {
                self.buckets.remove(&hash);
            }
        }
    }
}

/// The hasher of keys that are hashes already: Python's `str` hash is well mixed.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `IdHash` (an `isize`) is hashed here; this keeps the hasher whole regardless.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_isize(&mut self, value: isize) {
        self.0 = value as u64;
    }
}
