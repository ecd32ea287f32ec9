//! A value's digest: 64 bits of its type and logical value, whatever the
//! encoding, RDB version or server that wrote it.
//!
//! The equality is the one `DEBUG DIGEST-VALUE` expresses: strings by
//! their bytes (an integer-encoded string by its decimal text), lists in
//! order, sets and hashes as sets (a hash field with its value and its
//! TTL), sorted sets as member → score (the score's bits: `-0` is not `0`,
//! as `%.17g` tells them apart), module values by module id and payload.
//! Streams go further than `DEBUG DIGEST-VALUE` (entries only): entries in
//! order, the last ID, and per consumer group its name, last delivered ID,
//! pending entries (ID, delivery count and time) and consumers with the IDs
//! they own. Consumer seen and active times and the derived counters
//! (entries read, entries added, first and largest deleted ID) are left
//! out: older files do not have them and a server fills them in on load.
//!
//! Unordered collections add their elements' hashes (so no order, sort or
//! allocation is needed); ordered ones chain them.

use crate::decode::{Elem, Kind, RdbStr, Value};
use crate::format::StreamId;
use crate::Result;

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Bytes hashed with a tag (so that a field and a value, or a member and a
/// score, cannot trade places).
fn h(tag: u64, b: &[u8]) -> u64 {
    mix(crate::decode::fingerprint(b), tag)
}

/// Combines two hashes (not commutative).
fn mix(a: u64, b: u64) -> u64 {
    let x = (a ^ b.rotate_left(23)).wrapping_mul(K);
    x ^ (x >> 31)
}

/// An element's text hash (an integer by its decimal text).
fn elem(tag: u64, e: &Elem<'_>) -> u64 {
    match e {
        Elem::Bytes(b) => h(tag, b),
        Elem::Int(i) => {
            let mut buf = [0u8; 20];
            h(tag, int_text(*i, &mut buf))
        }
    }
}

fn str_hash(tag: u64, s: &RdbStr<'_>) -> Result<u64> {
    match s {
        RdbStr::Raw(b) => Ok(h(tag, b)),
        RdbStr::Int(i) => {
            let mut buf = [0u8; 20];
            Ok(h(tag, int_text(*i, &mut buf)))
        }
        RdbStr::Lzf { .. } => Ok(h(tag, &s.to_bytes()?)),
    }
}

/// The decimal text of `i` in `buf`.
fn int_text(i: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut u = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if i < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// An order-independent sum of element hashes, in two lanes.
#[derive(Default)]
struct Unordered(u64, u64);

impl Unordered {
    fn add(&mut self, x: u64) {
        self.0 = self.0.wrapping_add(x);
        self.1 ^= x.wrapping_mul(K).rotate_left(29);
    }

    fn finish(&self, tag: u64) -> u64 {
        mix(mix(tag, self.0), self.1)
    }
}

fn id_hash(id: StreamId) -> u64 {
    mix(id.ms, id.seq)
}

/// The digest of a value: its type and logical value.
///
/// # Errors
/// A decoding error of the value (its elements are read).
///
/// ```
/// use rdbkit::decode::{Decoder, Item, Options};
/// use rdbkit::diff::value_digest;
/// use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
/// // The same set written for Redis 5 (an intset) and 7.2 (a listpack)...
/// let digest = |t: Target, members: &[&str]| {
///     let mut w = RdbWriter::new(Vec::new(), t).unwrap();
///     w.select_db(0).unwrap();
///     let v = OwnedValue::Set(members.iter().map(|m| m.as_bytes().to_vec()).collect());
///     w.key(b"s", &v, KeyMeta::default()).unwrap();
///     let file = w.finish().unwrap();
///     let d = Decoder::new(&file, Options::default()).unwrap().find_map(|i| match i.unwrap() {
///         Item::Key(k) => Some(value_digest(&k.value).unwrap()),
///         _ => None,
///     });
///     d.unwrap()
/// };
/// let a = digest(Target::redis(9), &["1", "2", "3"]);
/// // ... in another order, is the same value; another member is not.
/// assert_eq!(a, digest(Target::redis(11), &["3", "1", "2"]));
/// assert_ne!(a, digest(Target::redis(11), &["1", "2", "4"]));
/// ```
pub fn value_digest(v: &Value<'_>) -> Result<u64> {
    let kind = v.kind();
    let tag = kind as u64 + 1;
    Ok(match kind {
        Kind::String => str_hash(tag, &v.string()?)?,
        Kind::List => {
            let mut it = v.items()?;
            let mut acc = tag;
            while let Some(e) = it.next_elem()? {
                acc = mix(acc, elem(1, &e));
            }
            acc
        }
        Kind::Set => {
            let mut it = v.items()?;
            let mut u = Unordered::default();
            while let Some(e) = it.next_elem()? {
                u.add(elem(1, &e));
            }
            u.finish(tag)
        }
        Kind::ZSet => {
            let mut it = v.items()?;
            let mut u = Unordered::default();
            while let Some((m, score)) = it.next_scored()? {
                u.add(mix(elem(1, &m), score.to_bits()));
            }
            u.finish(tag)
        }
        Kind::Hash => {
            let mut it = v.items()?;
            let mut u = Unordered::default();
            while let Some(f) = it.next_field()? {
                let ttl = f.expire_ms.map_or(0, |t| mix(7, t as u64));
                u.add(mix(mix(elem(1, &f.field), elem(2, &f.value)), ttl));
            }
            u.finish(tag)
        }
        Kind::Stream => stream(tag, v)?,
        // Module values (and anything newer): the module and its payload
        // as stored, which is how the module gives it back.
        _ => h(tag, v.raw()),
    })
}

/// [`value_digest`] computed while the decoder checks the value
/// (`Sink::read`): the string or the elements of a string, list, set,
/// sorted set or hash value as the check walk reads them, so each element
/// is read once. Streams, modules and arrays are left to [`value_digest`]
/// ([`Digester::digest`] is `None` for them).
#[derive(Default)]
pub(crate) struct Digester {
    kind: Option<Kind>,
    /// Lists: the chain so far; strings: the digest.
    acc: u64,
    unordered: Unordered,
    buf: Vec<u8>,
}

impl Digester {
    /// The digest of the value just walked, for the kinds it computes.
    pub(crate) fn digest(&self) -> Option<u64> {
        let kind = self.kind?;
        let tag = kind as u64 + 1;
        Some(match kind {
            Kind::String | Kind::List => self.acc,
            _ => self.unordered.finish(tag),
        })
    }
}

impl crate::decode::Visit for Digester {
    const ELEMS: bool = true;

    #[inline]
    fn start(&mut self, rdb_type: u8, lineage: crate::format::Lineage) {
        self.kind = Kind::of(rdb_type, lineage).filter(|k| {
            matches!(
                k,
                Kind::String | Kind::List | Kind::Set | Kind::ZSet | Kind::Hash
            )
        });
        self.acc = self.kind.map_or(0, |k| k as u64 + 1);
        self.unordered = Unordered::default();
    }

    #[inline]
    fn string(&mut self, s: &RdbStr<'_>) -> Result<()> {
        // Decompressing checks an LZF stream as `RdbStr::validate` does,
        // with the same errors.
        self.acc = h(Kind::String as u64 + 1, s.bytes_in(&mut self.buf)?);
        Ok(())
    }

    #[inline]
    fn elem(&mut self, e: Elem<'_>) {
        match self.kind {
            Some(Kind::List) => self.acc = mix(self.acc, elem(1, &e)),
            _ => self.unordered.add(elem(1, &e)),
        }
    }

    #[inline]
    fn scored(&mut self, m: Elem<'_>, score: f64) {
        self.unordered.add(mix(elem(1, &m), score.to_bits()));
    }

    #[inline]
    fn field(&mut self, f: Elem<'_>, v: Elem<'_>, expire_ms: Option<i64>) {
        let ttl = expire_ms.map_or(0, |t| mix(7, t as u64));
        self.unordered.add(mix(mix(elem(1, &f), elem(2, &v)), ttl));
    }
}

fn stream(tag: u64, v: &Value<'_>) -> Result<u64> {
    let s = v.stream()?;
    let mut acc = mix(tag, id_hash(s.last_id));
    let mut entries = s.entries();
    while let Some(e) = entries.next_entry()? {
        acc = mix(acc, id_hash(e.id));
        for (f, val) in e.fields() {
            acc = mix(acc, mix(elem(1, &f), elem(2, &val)));
        }
    }
    let mut groups = Unordered::default();
    for g in s.groups() {
        let g = g?;
        let mut gh = mix(str_hash(3, &g.name)?, id_hash(g.last_id));
        let mut pel = Unordered::default();
        for p in g.pel() {
            let p = p?;
            pel.add(mix(
                mix(id_hash(p.id), p.delivery_count),
                p.delivery_time_ms as u64,
            ));
        }
        gh = mix(gh, pel.finish(4));
        let mut consumers = Unordered::default();
        for c in g.consumers() {
            let c = c?;
            let mut owned = Unordered::default();
            for id in c.pel() {
                owned.add(id_hash(id));
            }
            consumers.add(mix(str_hash(5, &c.name)?, owned.finish(6)));
        }
        groups.add(mix(gh, consumers.finish(7)));
    }
    Ok(mix(acc, groups.finish(8)))
}

#[cfg(test)]
mod tests {
    use super::{int_text, value_digest, Digester};
    use crate::decode::{Decoder, Item, Level, Options};
    use std::path::{Path, PathBuf};

    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else {
                out.push(p);
            }
        }
    }

    /// Every file of the fixtures and of the shared corpus (valid, corrupt
    /// or not RDB at all), at both checking levels: the decoder that shows
    /// a digester every element reads the same records and fails with the
    /// same error at the same place as the plain one, and the digest it
    /// computes while checking is `value_digest`'s.
    #[test]
    fn digests_while_checking_match_and_check_the_same() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut all = Vec::new();
        files(&root.join("tests/fixtures"), &mut all);
        let corpus = root.join("../shared/corpus");
        if corpus.is_dir() {
            files(&corpus, &mut all);
        } else {
            eprintln!("skipping the shared corpus: {} is absent", corpus.display());
        }
        let (mut keys, mut fused) = (0u64, 0u64);
        for path in &all {
            let Ok(data) = std::fs::read(path) else {
                continue;
            };
            for level in [Level::Full, Level::Deep] {
                let opts = Options {
                    level,
                    ..Options::default()
                };
                let (Ok(mut plain), Ok(mut seen)) =
                    (Decoder::new(&data, opts), Decoder::new(&data, opts))
                else {
                    continue;
                };
                let mut d = Digester::default();
                loop {
                    let (a, b) = (plain.next(), seen.next_visiting(&mut d));
                    match (a, b) {
                        (None, None) => break,
                        (Some(Ok(x)), Some(Ok(y))) => {
                            assert_eq!(format!("{x:?}"), format!("{y:?}"), "{}", path.display());
                            if let Item::Key(k) = y {
                                keys += 1;
                                if let Some(got) = d.digest() {
                                    fused += 1;
                                    let want = value_digest(&k.value);
                                    assert_eq!(Ok(got), want, "{} {:?}", path.display(), k.key);
                                }
                            }
                        }
                        (Some(Err(x)), Some(Err(y))) => {
                            assert_eq!(x.to_string(), y.to_string(), "{}", path.display());
                            break;
                        }
                        (x, y) => panic!("{}: {x:?} against {y:?}", path.display()),
                    }
                }
            }
        }
        assert!(
            fused > 0 && keys >= fused,
            "{keys} keys, {fused} digested while checked"
        );
    }

    #[test]
    fn integers_as_text() {
        for i in [0i64, 7, -7, 10, 123_456, i64::MIN, i64::MAX] {
            let mut b = [0u8; 20];
            assert_eq!(int_text(i, &mut b), i.to_string().as_bytes());
        }
    }
}
