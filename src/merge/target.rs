//! The output's target: chosen from the inputs' headers and leading aux
//! fields when not given, and what the output says about its producer.

use super::cause::Cause;
use super::records::skip_opts;
use crate::decode::{Decoder, Item};
use crate::encode::Target;
use crate::format::{Header, Lineage};
use crate::release::Support;

/// Header and the aux fields before the first database of a file.
pub(super) fn preamble(data: &[u8]) -> crate::Result<(Header, Vec<(String, String)>)> {
    let mut dec = Decoder::new(data, skip_opts())?;
    let header = dec.header();
    let mut aux = Vec::new();
    for item in dec.by_ref() {
        match item? {
            Item::Aux { key, value } => aux.push((
                String::from_utf8_lossy(&key.to_bytes()?).into_owned(),
                String::from_utf8_lossy(&value.to_bytes()?).into_owned(),
            )),
            Item::SelectDb(_) | Item::Key(_) | Item::Eof { .. } => break,
            _ => {}
        }
    }
    Ok((header, aux))
}

pub(super) fn made_by_valkey(aux: &[(String, String)]) -> bool {
    aux.iter().any(|(k, _)| k == "valkey-ver")
}

/// The default target: the newest input version when all inputs share a
/// lineage. Valkey 7.2-8.1 files (`REDIS0011` written by Valkey) go with
/// Valkey 80+ files; Redis files and Valkey 80+ files need an explicit target.
pub(super) fn default_target(pre: &[(Header, Vec<(String, String)>)]) -> Result<Target, Cause> {
    let redis = pre.iter().filter(|p| p.0.lineage == Lineage::Redis);
    let redis_max = redis.clone().map(|p| p.0.version).max();
    // Valkey writes REDIS-magic files up to 11 (7.2-8.1).
    let valkey_redis = crate::release::newest_format(Lineage::Valkey, Lineage::Redis);
    let all_redis_from_valkey = redis
        .clone()
        .all(|p| made_by_valkey(&p.1) && Some(p.0.version) <= valkey_redis);
    let valkey_max = pre
        .iter()
        .filter(|p| p.0.lineage == Lineage::Valkey)
        .map(|p| p.0.version)
        .max();
    match (redis_max, valkey_max) {
        (Some(_), Some(v)) if all_redis_from_valkey => Ok(Target {
            lineage: Lineage::Valkey,
            version: v,
            valkey: true,
        }),
        (Some(r), Some(v)) => Err(Cause::MixedLineage {
            redis: r,
            valkey: v,
            // The release standing for that format, not older than RDB 9,
            // or the newest Valkey release.
            suggested: [
                Target::redis(r.max(9))
                    .release()
                    .map_or("redis-X.Y", |x| x.name),
                crate::release::RELEASES
                    .iter()
                    .rfind(|x| x.lineage == Lineage::Valkey && x.support == Support::Full)
                    .map_or("valkey-X.Y", |x| x.name),
            ],
        }),
        (Some(v), None) => Ok(Target {
            valkey: all_redis_from_valkey,
            ..Target::redis(v)
        }),
        (None, Some(v)) => Ok(Target {
            lineage: Lineage::Valkey,
            version: v,
            valkey: true,
        }),
        (None, None) => Err(Cause::InvalidOptions("no inputs".into())),
    }
}
