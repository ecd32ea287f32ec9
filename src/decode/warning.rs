//! Warnings: facts of a decoded file that look wrong but that Redis and
//! Valkey accept when they load it (for example a Redis 5 stream whose
//! stored length differs from the count of its entries). A file with
//! warnings is valid; `rdbkit verify` prints them, `rdbkit info` lists them.
//!
//! Only the first [`Warnings::MAX_KEPT`] are kept (with the total count), so
//! hostile input cannot make the list grow without bound; nothing is
//! allocated while there is no warning.

use std::fmt;

/// Bytes of a key kept in a [`Warning`] (longer keys are cut).
const MAX_KEY_BYTES: usize = 256;

/// One warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Byte offset in the file (or payload) the warning is about.
    pub offset: u64,
    /// The key whose value it is about (cut to 256 bytes), if any.
    pub key: Option<Vec<u8>>,
    /// Whether `key` was cut.
    pub key_cut: bool,
    /// What was found.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(k) = &self.key {
            write!(
                f,
                "key '{}{}': ",
                crate::format::escape_bytes(k),
                if self.key_cut { "…" } else { "" }
            )?;
        }
        write!(f, "{} (at offset {})", self.message, self.offset)
    }
}

/// The warnings of a decode: the first [`Warnings::MAX_KEPT`] in file
/// order, and how many there were in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Warnings {
    kept: Vec<Warning>,
    total: u64,
}

impl Warnings {
    /// Warnings kept in full; later ones are only counted.
    pub const MAX_KEPT: usize = 100;

    /// Records a warning at `offset`; `message` is only called while fewer
    /// than [`Warnings::MAX_KEPT`] are kept.
    ///
    /// ```
    /// use rdbkit::decode::Warnings;
    /// let mut w = Warnings::default();
    /// for i in 0..150 {
    ///     w.add(i, || format!("warning {i}"));
    /// }
    /// assert_eq!((w.list().len(), w.total()), (100, 150));
    /// ```
    pub fn add(&mut self, offset: u64, message: impl FnOnce() -> String) {
        self.total = self.total.saturating_add(1);
        if self.kept.len() < Self::MAX_KEPT {
            self.kept.push(Warning {
                offset,
                key: None,
                key_cut: false,
                message: message(),
            });
        }
    }

    /// The kept warnings, in file order.
    pub fn list(&self) -> &[Warning] {
        &self.kept
    }

    /// How many warnings there were in all (kept or not).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// No warning at all.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Appends `other` (warnings found later in the file), within the cap.
    pub fn absorb(&mut self, other: Warnings) {
        self.total = self.total.saturating_add(other.total);
        let room = Self::MAX_KEPT.saturating_sub(self.kept.len());
        self.kept.extend(other.kept.into_iter().take(room));
    }

    /// Sets `key` on the kept warnings from index `from` on that have none.
    pub(crate) fn set_key(&mut self, from: usize, key: &[u8]) {
        for w in self.kept.iter_mut().skip(from).filter(|w| w.key.is_none()) {
            let cut = key.len() > MAX_KEY_BYTES;
            w.key = Some(key[..key.len().min(MAX_KEY_BYTES)].to_vec());
            w.key_cut = cut;
        }
    }

    /// Number of kept warnings (a mark for [`Warnings::set_key`]).
    pub(crate) fn kept_len(&self) -> usize {
        self.kept.len()
    }

    /// One line of text per kept warning, then `N more warnings not shown`
    /// when some were only counted.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        let more = self.total.saturating_sub(self.kept.len() as u64);
        self.kept
            .iter()
            .map(Warning::to_string)
            .chain((more > 0).then(|| format!("{more} more warnings not shown")))
    }

    /// The warnings as JSON: a list of `{offset, key, message}` objects
    /// (keys as lossy UTF-8) and the total count.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn to_json(&self) -> serde_json::Value {
        let list: Vec<serde_json::Value> = self
            .kept
            .iter()
            .map(|w| {
                serde_json::json!({
                    "offset": w.offset,
                    "key": w.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
                    "message": w.message,
                })
            })
            .collect();
        serde_json::json!({"total": self.total, "list": list})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_and_absorbed_in_order() {
        let mut a = Warnings::default();
        assert!(a.is_empty());
        a.add(5, || "first".into());
        a.set_key(0, b"k");
        let mut b = Warnings::default();
        for i in 0..200 {
            b.add(10 + i, || format!("w{i}"));
        }
        a.absorb(b);
        assert_eq!(a.total(), 201);
        assert_eq!(a.list().len(), Warnings::MAX_KEPT);
        assert_eq!(a.list()[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(a.list()[1].message, "w0");
        assert_eq!(a.list()[0].to_string(), "key 'k': first (at offset 5)");
        let long = vec![b'x'; 1000];
        a.set_key(1, &long);
        assert_eq!(a.list()[1].key.as_ref().map(Vec::len), Some(MAX_KEY_BYTES));
        assert!(a.list()[1].key_cut);
        let lines: Vec<String> = a.lines().collect();
        assert_eq!(lines.len(), 101);
        assert_eq!(lines[100], "101 more warnings not shown");
        #[cfg(feature = "json")]
        {
            let j = a.to_json();
            assert_eq!(j["total"], 201);
            assert_eq!(j["list"][0]["key"], "k");
        }
    }
}
