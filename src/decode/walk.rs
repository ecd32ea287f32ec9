//! Walking one value to its end at a chosen validation level, with the deep
//! (`sanitize-dump-payload yes`) checks.

use super::items::{Ctx, Items, Odd, Visit};
use super::module::{check_module_value, read_module_value};
use super::reader::Reader;
use super::stream::Stream;
use super::string::{Elem, RdbStr};
use super::{Level, Warnings};
use crate::format::rdb_type as t;
use crate::{Error, ErrorKind, Result};

/// A fast 64-bit hash of bytes (for duplicate detection by fingerprint).
/// Short inputs are read in at most two overlapping loads (with the length
/// in the seed, they determine every byte); longer ones 8 bytes at a time,
/// the last 8 overlapping.
#[inline]
pub(crate) fn fingerprint(b: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    #[inline(always)]
    fn u64_at(b: &[u8], i: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(w)
    }
    #[inline(always)]
    fn u32_at(b: &[u8], i: usize) -> u64 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[i..i + 4]);
        u64::from(u32::from_le_bytes(w))
    }
    let n = b.len();
    let mut h: u64 = (n as u64).wrapping_mul(K) ^ 0x2545_F491_4F6C_DD1D;
    let (x, y) = if n >= 8 {
        let mut i = 0;
        if n > 32 {
            // Four independent lanes of 8 bytes: long values (strings,
            // big elements) hash at several bytes a cycle.
            let mut l = [h, h ^ K, h.rotate_left(21), h.rotate_left(42) ^ K];
            while i + 32 < n {
                for (j, x) in l.iter_mut().enumerate() {
                    *x = (*x ^ u64_at(b, i + 8 * j)).wrapping_mul(K).rotate_left(31);
                }
                i += 32;
            }
            h = l[0] ^ l[1].rotate_left(16) ^ l[2].rotate_left(32) ^ l[3].rotate_left(48);
        }
        while i + 8 < n {
            h = (h ^ u64_at(b, i)).wrapping_mul(K).rotate_left(31);
            i += 8;
        }
        (u64_at(b, n - 8), 0)
    } else if n >= 4 {
        (u32_at(b, 0), u32_at(b, n - 4))
    } else if n > 0 {
        (
            u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16,
            0,
        )
    } else {
        (0, 0)
    };
    h = (h ^ x).wrapping_mul(K).rotate_left(31);
    h = (h ^ y).wrapping_mul(K);
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^ (h >> 32)
}

/// The fingerprint of a key in a database: the key's [`fingerprint`] with
/// the database mixed in (for duplicate detection across databases).
#[inline]
pub(crate) fn key_fingerprint(db: u64, key: &[u8]) -> u64 {
    fingerprint(key) ^ db.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn elem_fingerprint(e: Elem<'_>, buf: &mut Vec<u8>) -> u64 {
    match e {
        Elem::Bytes(b) => fingerprint(b),
        Elem::Int(_) => {
            buf.clear();
            e.write_to(buf);
            fingerprint(buf)
        }
    }
}

/// Walks the value of type `rdb_type` at `r`, leaving `r` just past it.
/// Facts Redis accepts but that look wrong go to `warn`.
pub(crate) fn walk_value(
    rdb_type: u8,
    r: &mut Reader<'_>,
    ctx: Ctx,
    level: Level,
    warn: &mut Warnings,
) -> Result<()> {
    walk_value_visit(rdb_type, r, ctx, level, warn, &mut super::items::NoVisit)
}

/// A [`Visit`] as the decoder takes it: one dynamic call per value (the
/// walk inside is compiled for the visitor), so the decoder itself stays
/// one function for every visitor.
pub(crate) trait WalkValue {
    /// [`walk_value_visit`] with this visitor.
    fn walk(
        &mut self,
        rdb_type: u8,
        r: &mut Reader<'_>,
        ctx: Ctx,
        level: Level,
        warn: &mut Warnings,
    ) -> Result<()>;
}

impl<V: Visit> WalkValue for V {
    fn walk(
        &mut self,
        rdb_type: u8,
        r: &mut Reader<'_>,
        ctx: Ctx,
        level: Level,
        warn: &mut Warnings,
    ) -> Result<()> {
        walk_value_visit(rdb_type, r, ctx, level, warn, self)
    }
}

/// [`walk_value`], showing `v` the string or the elements of a string,
/// list, set, sorted set or hash value as the walk checks them (at
/// [`Level::Full`] and [`Level::Deep`]; a [`Level::Skip`] walk shows
/// nothing).
pub(crate) fn walk_value_visit<V: Visit>(
    rdb_type: u8,
    r: &mut Reader<'_>,
    ctx: Ctx,
    level: Level,
    warn: &mut Warnings,
    v: &mut V,
) -> Result<()> {
    v.start(rdb_type, ctx.lineage);
    match rdb_type {
        t::STRING => {
            let s = RdbStr::read(r, &ctx.limits, "string value")?;
            if level != Level::Skip {
                v.string(&s)?;
            }
        }
        t::MODULE_2 => {
            let m = read_module_value(r, &ctx.limits)?;
            if level != Level::Skip {
                let base = m.payload.as_ptr() as usize - r.buf().as_ptr() as usize;
                check_module_value(&m, r.offset_of(base), &ctx.limits)?;
            }
        }
        t::MODULE_PRE_GA => {
            let at = r.offset();
            let id = crate::format::ModuleId(r.length("module id")?);
            return Err(Error::new(ErrorKind::PreReleaseModule(id.name()), at));
        }
        _ if super::stream::stream_version(rdb_type).is_some() => {
            let s = Stream::parse(
                rdb_type,
                r,
                ctx,
                level != Level::Skip,
                level == Level::Deep,
                warn,
            )?;
            *r = Reader::at(r.buf(), s.end());
        }
        // Single-blob encodings at Skip level: step over the blob without
        // opening it (no LZF decompression, no element walk).
        _ if level == Level::Skip && super::items::is_single_blob(rdb_type) => {
            if matches!(rdb_type, t::HASH_LISTPACK_EX) {
                r.skip(8, "hash min expire")?;
            }
            RdbStr::skip(r, &ctx.limits, "blob")?;
        }
        _ => {
            let start = r.pos();
            let mut probe = r.clone();
            let always = always_checked(rdb_type, ctx);
            let checked = level == Level::Deep || (level == Level::Full && always);
            let items = Items::new(rdb_type, &mut probe, ctx, checked || V::ELEMS)?;
            let (end, odd) = match level {
                Level::Skip => (items.skip()?, Odd::default()),
                Level::Full if always => check_collection(items, start, r, false, warn, v)?,
                Level::Full => items.finish_visit(v)?,
                Level::Deep => check_collection(items, start, r, true, warn, v)?,
            };
            report_odd(odd, level, r.offset_of(start), warn)?;
            *r = Reader::at(r.buf(), end);
        }
    }
    Ok(())
}

/// Facts some Redis releases or levels refuse, found while walking a
/// collection: an error where every release that reads the file's RDB
/// version refuses them at this level, else a warning.
fn report_odd(odd: Odd, level: Level, at: u64, warn: &mut Warnings) -> Result<()> {
    let invalid = |vt: &'static str, what: String| {
        Err(Error::new(
            ErrorKind::InvalidValue {
                value_type: vt,
                what,
            },
            at,
        ))
    };
    if odd.text_scores > 0 {
        // No release checks ziplist/listpack scores: zzlGetScore reads them
        // with strtod.
        warn.add(at, || {
            format!(
                "{} sorted-set scores are not numbers (Redis loads them and reads them as \
                 strtod does)",
                odd.text_scores
            )
        });
    }
    if odd.intset_unordered {
        // intsetValidateIntegrity checks the order with deep only
        // ("Intset integrity check failed.").
        if level == Level::Deep {
            return invalid(
                "set",
                "intset elements not in strictly ascending order".into(),
            );
        }
        warn.add(at, || {
            "intset elements not in strictly ascending order (Redis loads it; \
             sanitize-dump-payload yes refuses it)"
                .into()
        });
    }
    Ok(())
}

/// Types whose content checks Redis runs on every load, with or without
/// `sanitize-dump-payload`: duplicates in the plain set and sorted-set
/// encodings (inserted into a dict one by one: "Duplicate set members
/// detected", "Duplicate zset fields detected", 6.2+) and in zipmaps and
/// hash/zset ziplists (always converted with a deep walk, 6.2+: "Zipmap
/// integrity check failed.", "Zset/Hash ziplist integrity check failed."),
/// and the field TTL range of the hashtable-with-TTL encodings ("invalid
/// expireAt time", 7.4+). Redis 5.0 and 6.0 check no duplicates, so for
/// RDB <= 9 they are warnings at `Full`.
fn always_checked(rdb_type: u8, ctx: Ctx) -> bool {
    match rdb_type {
        t::SET | t::ZSET | t::ZSET_2 | t::HASH_ZIPMAP | t::ZSET_ZIPLIST | t::HASH_ZIPLIST => true,
        t::HASH_METADATA_PRE_GA_OR_HASH_2 | t::HASH_METADATA => {
            ctx.lineage == crate::format::Lineage::Redis
        }
        _ => false,
    }
}

/// Content checks of a collection on top of the full walk. With `deep`,
/// every check `sanitize-dump-payload yes` runs (duplicates, HFE TTL range
/// and order, array index order); without, only those of
/// [`always_checked`] types. Returns the end position.
fn check_collection<V: Visit>(
    mut items: Items<'_>,
    start: usize,
    r: &Reader<'_>,
    deep: bool,
    warn: &mut Warnings,
    v: &mut V,
) -> Result<(usize, Odd)> {
    let rt = items.rdb_type();
    let always = always_checked(rt, items.ctx());
    let at = r.offset_of(start);
    let mut fps: Vec<u64> = Vec::new();
    let mut buf = Vec::new();
    let invalid = |vt: &'static str, what: String| {
        Error::new(
            ErrorKind::InvalidValue {
                value_type: vt,
                what,
            },
            at,
        )
    };
    let (vt, check_dups) = match rt {
        t::LIST | t::LIST_ZIPLIST | t::LIST_QUICKLIST | t::LIST_QUICKLIST_2 => ("list", false),
        t::SET | t::SET_INTSET | t::SET_LISTPACK => ("set", true),
        t::ZSET | t::ZSET_2 | t::ZSET_ZIPLIST | t::ZSET_LISTPACK => ("zset", true),
        t::ARRAY => ("array", false),
        // 22/24: Redis finds duplicates only in deep mode (or once the hash
        // is converted to a dict); the TTL range is always checked.
        t::HASH_METADATA_PRE_GA_OR_HASH_2 | t::HASH_METADATA => ("hash", deep),
        _ => ("hash", true),
    };
    let check_dups = check_dups && (deep || always);
    match vt {
        "list" | "set" => {
            while let Some(e) = items.next_elem()? {
                v.elem(e);
                if check_dups {
                    fps.push(elem_fingerprint(e, &mut buf));
                }
            }
        }
        "zset" => {
            while let Some((m, score)) = items.next_scored()? {
                v.scored(m, score);
                fps.push(elem_fingerprint(m, &mut buf));
            }
        }
        "array" => {
            let mut prev: Option<u64> = None;
            while let Some((idx, _)) = items.next_array()? {
                if deep && prev.is_some_and(|p| idx <= p) {
                    return Err(invalid("array", format!("index {idx} is not ascending")));
                }
                prev = Some(idx);
            }
        }
        _ => {
            // Listpack-ex: TTL'd fields first in non-decreasing TTL order, then TTL-less ones.
            let ordered = deep && matches!(rt, t::HASH_LISTPACK_EX | t::HASH_LISTPACK_EX_PRE_GA);
            let mut last_ttl: Option<i64> = Some(i64::MIN);
            while let Some(f) = items.next_field()? {
                v.field(f.field, f.value, f.expire_ms);
                fps.push(elem_fingerprint(f.field, &mut buf));
                if let Some(e) = f.expire_ms {
                    if !(0..=0x0000_FFFF_FFFF_FFFF).contains(&e) {
                        return Err(invalid("hash", format!("field TTL {e} out of range")));
                    }
                }
                if ordered {
                    match (last_ttl, f.expire_ms) {
                        (None, Some(_)) => {
                            return Err(invalid(
                                "hash",
                                "a field with a TTL follows fields without one".into(),
                            ))
                        }
                        (Some(p), Some(e)) if e < p => {
                            return Err(invalid("hash", "field TTLs not in ascending order".into()))
                        }
                        _ => {}
                    }
                    last_ttl = f.expire_ms;
                }
            }
        }
    }
    if check_dups && fps.len() > 1 {
        fps.sort_unstable();
        if fps.windows(2).any(|w| w[0] == w[1]) && has_exact_duplicate(rt, r, start, items.ctx())? {
            // 5.0 and 6.0 load RDB <= 9 files without looking for
            // duplicates (dictAdd unchecked, ziplists and zipmaps kept as
            // they are): a warning there, unless deep (6.2+ refuse them).
            if !deep && items.ctx().version <= 9 {
                let word = member_word(vt);
                warn.add(at, || {
                    format!("duplicate {vt} {word} (Redis 5.0/6.0 load it; 6.2+ refuse it)")
                });
            } else {
                return Err(invalid(
                    vt,
                    format!("duplicate {} detected", member_word(vt)),
                ));
            }
        }
    }
    Ok((items.end_pos(), items.odd))
}

fn member_word(vt: &str) -> &'static str {
    match vt {
        "hash" => "field",
        _ => "member",
    }
}

/// Confirms a fingerprint collision by comparing the actual bytes.
fn has_exact_duplicate(rt: u8, r: &Reader<'_>, start: usize, ctx: Ctx) -> Result<bool> {
    let mut probe = Reader::at(r.buf(), start);
    let mut items = Items::new(rt, &mut probe, ctx, true)?;
    let mut all: Vec<Vec<u8>> = Vec::new();
    loop {
        let v = match rt {
            t::ZSET | t::ZSET_2 | t::ZSET_ZIPLIST | t::ZSET_LISTPACK => {
                items.next_scored()?.map(|(m, _)| m.to_bytes().into_owned())
            }
            t::SET | t::SET_INTSET | t::SET_LISTPACK => {
                items.next_elem()?.map(|m| m.to_bytes().into_owned())
            }
            _ => items.next_field()?.map(|f| f.field.to_bytes().into_owned()),
        };
        match v {
            Some(v) => all.push(v),
            None => break,
        }
    }
    all.sort_unstable();
    Ok(all.windows(2).any(|w| w[0] == w[1]))
}
