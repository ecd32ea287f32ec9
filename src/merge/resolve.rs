//! Keys present in several inputs: equal copies are de-duplicated,
//! different ones are conflicts, resolved by the [`Policy`].

use std::collections::BTreeMap;

use super::dynomite;
use super::options::{ConflictKey, KeyPartition, MergeOptions, Policy};
use super::records::{out_db, part_of, record_at, unloc, Counts, OutId};
use super::report::{Conflict, ConflictCopy, Duplicate, MergeReport, MAX_LISTED};
use super::source::Source;
use crate::decode::scan::DbStarts;
use crate::decode::KeyRecord;
use crate::encode::OwnedValue;

/// A value normalised for comparison (order-insensitive where the type is).
pub(super) fn normalised(v: &crate::decode::Value<'_>) -> crate::Result<OwnedValue> {
    let mut o = OwnedValue::from_value(v)?;
    match &mut o {
        OwnedValue::Set(s) => s.sort(),
        OwnedValue::Hash(h) => h.sort_by(|a, b| a.field.cmp(&b.field)),
        OwnedValue::ZSet(z) => z.sort_by(|a, b| a.0.cmp(&b.0)),
        _ => {}
    }
    Ok(o)
}

/// Same type, value and expiry (and module key metadata).
pub(super) fn same_value(
    a: &KeyRecord<'_>,
    ad: &[u8],
    b: &KeyRecord<'_>,
    bd: &[u8],
) -> crate::Result<bool> {
    if a.expire_ms != b.expire_ms || a.value.kind() != b.value.kind() || a.key_meta != b.key_meta {
        return Ok(false);
    }
    if ad[a.body_span.clone()] == bd[b.body_span.clone()] {
        return Ok(true);
    }
    Ok(normalised(&a.value)? == normalised(&b.value)?)
}

pub(super) struct Resolver<'a> {
    pub(super) opts: &'a MergeOptions,
    /// The outputs of a split; `None` for a merge.
    pub(super) parts: Option<&'a KeyPartition>,
    pub(super) inputs: &'a [Source<'a>],
    /// Per input: where each database's key records start.
    pub(super) dbs: &'a [DbStarts],
    pub(super) skip: Vec<u64>,
    pub(super) counts: BTreeMap<OutId, Counts>,
    /// Duplicates and conflicts per output; the report's counts are set
    /// from these ([`Tallies::set_totals`]).
    pub(super) tallies: Tallies,
}

/// What the resolution found for one output (part of a split; a merge has
/// only part 0).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    duplicate_keys: u64,
    duplicates_identical: u64,
    conflicts_total: u64,
    conflicts_unresolved: u64,
}

/// What the resolution found, per output, and the output of each
/// duplicate and conflict the report lists.
#[derive(Debug, Default)]
pub(crate) struct Tallies {
    per_part: BTreeMap<u32, Tally>,
    duplicates: Vec<u32>,
    conflicts: Vec<u32>,
}

impl Tallies {
    /// Sets the report's duplicate and conflict counts to those of all
    /// outputs together.
    pub(crate) fn set_totals(&self, r: &mut MergeReport) {
        let mut t = Tally::default();
        for p in self.per_part.values() {
            t.duplicate_keys += p.duplicate_keys;
            t.duplicates_identical += p.duplicates_identical;
            t.conflicts_total += p.conflicts_total;
            t.conflicts_unresolved += p.conflicts_unresolved;
        }
        t.set(r);
    }

    /// Narrows `r`, a copy of the whole split's report `all`, to the
    /// duplicates and conflicts of output `part`.
    pub(crate) fn narrow(&self, all: &MergeReport, part: u32, r: &mut MergeReport) {
        fn of_part<T: Clone>(list: &[T], parts: &[u32], part: u32) -> Vec<T> {
            let mine = list.iter().zip(parts).filter(|x| *x.1 == part);
            mine.map(|x| x.0.clone()).collect()
        }
        self.per_part.get(&part).copied().unwrap_or_default().set(r);
        r.duplicates = of_part(&all.duplicates, &self.duplicates, part);
        r.conflicts = of_part(&all.conflicts, &self.conflicts, part);
    }
}

impl Tally {
    fn set(&self, r: &mut MergeReport) {
        r.duplicate_keys = self.duplicate_keys;
        r.duplicates_identical = self.duplicates_identical;
        r.conflicts_total = self.conflicts_total;
        r.conflicts_unresolved = self.conflicts_unresolved;
    }
}

/// One input's copy of a key present in several inputs.
pub(super) struct KeyCopy<'a> {
    /// The key's bytes.
    pub(super) key: Vec<u8>,
    /// The input holding this copy.
    pub(super) input: usize,
    /// Its location ([`loc`]: input and byte offset).
    pub(super) loc: u64,
    /// The output and database it goes to.
    pub(super) id: OutId,
    /// The record.
    pub(super) record: KeyRecord<'a>,
}

impl Resolver<'_> {
    /// Resolves one group of records with the same fingerprint.
    pub(super) fn group(
        &mut self,
        group: &[&(u64, u64)],
        report: &mut MergeReport,
    ) -> crate::Result<()> {
        let inputs = self.inputs;
        let mut recs: Vec<KeyCopy<'_>> = Vec::with_capacity(group.len());
        for &&(_, l) in group {
            let (i, off) = unloc(l);
            let r = record_at(&inputs[i], off, self.dbs[i].db_at(off))?;
            let key = r.key.to_bytes()?.into_owned();
            let part = part_of(self.parts, r.db, &key).unwrap_or(0);
            recs.push(KeyCopy {
                id: (part, out_db(self.opts, r.db)),
                key,
                input: i,
                loc: l,
                record: r,
            });
        }
        // Split by real key bytes (fingerprint collisions) and output.
        recs.sort_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then(a.id.cmp(&b.id))
                .then(a.loc.cmp(&b.loc))
        });
        let mut s = 0;
        while s < recs.len() {
            let mut e = s + 1;
            while e < recs.len() && recs[e].key == recs[s].key && recs[e].id == recs[s].id {
                e += 1;
            }
            if e - s > 1 {
                self.key(&recs[s..e], report)?;
            }
            s = e;
        }
        Ok(())
    }

    fn drop_copy(&mut self, c: &KeyCopy<'_>) {
        self.skip.push(c.loc);
        let e = self.counts.entry(c.id).or_default();
        e.keys -= 1;
        if let Some(x) = c.record.expire_ms {
            e.expires -= 1;
            if x < self.opts.import_at {
                e.expired -= 1;
            }
        }
    }

    /// Resolves the copies of one key (in input order).
    fn key(&mut self, copies: &[KeyCopy<'_>], report: &mut MergeReport) -> crate::Result<()> {
        let opts = self.opts;
        let (part, db) = copies[0].id;
        let first = &copies[0];
        let mut all_same = true;
        for c in &copies[1..] {
            if !same_value(
                &first.record,
                &self.inputs[first.input],
                &c.record,
                &self.inputs[c.input],
            )? {
                all_same = false;
                break;
            }
        }
        let tally = self.tallies.per_part.entry(part).or_default();
        if all_same {
            tally.duplicates_identical += (copies.len() - 1) as u64;
            tally.duplicate_keys += 1;
            for c in &copies[1..] {
                self.drop_copy(c);
            }
            if report.duplicates.len() < MAX_LISTED {
                self.tallies.duplicates.push(part);
                report.duplicates.push(Duplicate {
                    db,
                    key: first.key.clone(),
                    inputs: copies.iter().map(|c| c.input).collect(),
                });
            }
            return Ok(());
        }
        tally.conflicts_total += 1;
        let mut owner = None;
        let kept = match opts.policy {
            Policy::Error => None,
            Policy::First => Some(0),
            Policy::Last => Some(copies.len() - 1),
            Policy::Owner => {
                let tokens: Vec<u32> = (0..self.inputs.len())
                    .map(|i| opts.tokens.get(i).copied().flatten().unwrap_or(0))
                    .collect();
                owner = dynomite::owner_of_key(&first.key, &tokens, opts.hash_tag);
                owner.and_then(|o| copies.iter().position(|c| c.input == o))
            }
            Policy::Custom => {
                let view: Vec<(usize, KeyRecord<'_>)> =
                    copies.iter().map(|c| (c.input, c.record.clone())).collect();
                let conflict = ConflictKey {
                    db,
                    key: &first.key,
                    copies: &view,
                };
                opts.resolver
                    .as_ref()
                    .and_then(|r| r.choose(&conflict))
                    .and_then(|i| copies.iter().position(|c| c.input == i))
            }
        };
        match kept {
            Some(k) => {
                for (j, c) in copies.iter().enumerate() {
                    if j != k {
                        self.drop_copy(c);
                    }
                }
            }
            None => {
                self.tallies
                    .per_part
                    .entry(part)
                    .or_default()
                    .conflicts_unresolved += 1
            }
        }
        if report.conflicts.len() < MAX_LISTED {
            self.tallies.conflicts.push(part);
            report.conflicts.push(Conflict {
                db,
                key: first.key.clone(),
                copies: copies
                    .iter()
                    .map(|c| ConflictCopy {
                        input: c.input,
                        kind: c.record.value.kind(),
                        encoding: c.record.value.encoding(),
                        bytes: c.record.body_span.len() as u64,
                        expire_ms: c.record.expire_ms,
                    })
                    .collect(),
                kept: kept.map(|k| copies[k].input),
                owner,
            });
        }
        Ok(())
    }
}
