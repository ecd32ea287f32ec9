//! The analysis as JSON (the `json` feature): the schema of
//! `rdbkit analyze --format json`.

use serde_json::{json, Value};

use super::{Analysis, KeyRow, Sums, TTL_BUCKETS};
use crate::export::json::bytes_json;

fn sums(s: &Sums) -> Value {
    json!({"keys": s.keys, "expires": s.expires, "elements": s.elements,
           "serialized_bytes": s.serialized_bytes, "memory_bytes": s.memory_bytes})
}

impl KeyRow<'_> {
    /// One key as JSON: db, key (a string when UTF-8, else
    /// `{"base64": ...}`), type, encoding, elements, serialized_bytes,
    /// memory_bytes, expire_ms and input (1-based).
    pub fn to_json(&self) -> Value {
        json!({"db": self.db, "key": bytes_json(&self.key), "type": self.kind.name(),
               "encoding": self.encoding.name(), "elements": self.elements,
               "serialized_bytes": self.serialized_bytes, "memory_bytes": self.memory_bytes,
               "expire_ms": self.expire_ms, "input": self.input + 1})
    }
}

impl Analysis {
    /// The analysis as JSON: inputs, target, allocator, totals, by_type,
    /// by_db, top_keys, prefixes, ttl.
    ///
    /// ```
    /// # use rdbkit::analyze::{analyze, AnalyzeOptions};
    /// # use rdbkit::memory::{Allocator, Model};
    /// # use rdbkit::release::ServerRelease;
    /// # let file = b"REDIS0010\xfe\x00\x00\x01a\xc0\x01\xff\0\0\0\0\0\0\0\0";
    /// let model = Model::new(ServerRelease::parse("redis-7.0").unwrap(), Allocator::Jemalloc).unwrap();
    /// let r = analyze(&[("dump.rdb", &file[..])], &AnalyzeOptions::new(model)).unwrap();
    /// let j = r.to_json();
    /// assert_eq!(j["totals"]["keys"], 1);
    /// assert_eq!(j["top_keys"][0]["key"], "a");
    /// ```
    pub fn to_json(&self) -> Value {
        let mut totals = sums(&self.totals.sums);
        totals["duplicates"] = json!(self.totals.duplicates);
        totals["used_memory_estimate"] = json!(self.used_memory_estimate);
        let mut buckets = Vec::new();
        for (le, s) in TTL_BUCKETS.iter().zip(&self.ttl.buckets) {
            let mut b = sums(s);
            b["le_ms"] = if *le == i64::MAX {
                Value::Null
            } else {
                json!(le)
            };
            buckets.push(b);
        }
        json!({
            "inputs": self.inputs.iter().map(|i| {
                let mut v = sums(&i.sums);
                v["path"] = json!(i.name);
                v["bytes"] = json!(i.bytes);
                v["version"] = json!(i.version);
                v
            }).collect::<Vec<_>>(),
            "target": self.target,
            "allocator": self.allocator,
            "totals": totals,
            "by_type": self.by_type.iter().map(|((k, e), s)| {
                let mut v = sums(s);
                v["type"] = json!(k.name());
                v["encoding"] = json!(e.name());
                v
            }).collect::<Vec<_>>(),
            "by_db": self.by_db.iter().map(|(db, s)| {
                let mut v = sums(s);
                v["db"] = json!(db);
                v
            }).collect::<Vec<_>>(),
            "top_keys": self.top_keys.iter().map(KeyRow::to_json).collect::<Vec<_>>(),
            "prefixes": self.prefixes.iter().map(|p| {
                let mut v = sums(&p.sums);
                v["prefix"] = if p.other { json!("(other)") } else { bytes_json(&p.prefix) };
                v["depth"] = json!(p.depth);
                v["other"] = json!(p.other);
                v
            }).collect::<Vec<_>>(),
            "prefixes_exact": self.prefixes_exact,
            "ttl": {"no_expiry": sums(&self.ttl.no_expiry), "expired": sums(&self.ttl.expired),
                    "buckets": buckets},
        })
    }
}
