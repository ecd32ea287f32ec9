//! Redis Cluster: the slot of a key, slot ranges, and the masters of a
//! `CLUSTER NODES` listing.
//!
//! ```
//! use rdbkit::cluster::{key_slot, shard_ranges};
//! assert_eq!(key_slot(b"foo"), 12182);
//! // Keys with the same hash tag share a slot.
//! assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"{user1000}.followers"));
//! // Three shards as `redis-cli --cluster create` cuts them.
//! assert_eq!(shard_ranges(3), vec![(0, 5460), (5461, 10922), (10923, 16383)]);
//! ```

/// Slots in a cluster.
pub const SLOTS: u16 = 16384;

/// CRC-16/XMODEM (polynomial 0x1021, initial value 0, not reflected), as
/// Redis's `crc16.c` computes it.
///
/// ```
/// assert_eq!(rdbkit::cluster::crc16(b"123456789"), 0x31C3);
/// ```
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The slot of a key, as the server's `keyHashSlot` finds it: the CRC-16
/// of the bytes between the first `{` and the first `}` after it, when
/// there are both and they enclose at least one byte; otherwise of the
/// whole key; modulo 16384.
///
/// ```
/// use rdbkit::cluster::{crc16, key_slot};
/// assert_eq!(key_slot(b"a{b}c"), crc16(b"b") % 16384);
/// // An empty tag hashes the whole key, even if a later tag is not empty.
/// assert_eq!(key_slot(b"{}{x}"), crc16(b"{}{x}") % 16384);
/// assert_eq!(key_slot(b"{x"), crc16(b"{x") % 16384);
/// ```
pub fn key_slot(key: &[u8]) -> u16 {
    let whole = || crc16(key) & (SLOTS - 1);
    let Some(s) = key.iter().position(|&b| b == b'{') else {
        return whole();
    };
    match key[s + 1..].iter().position(|&b| b == b'}') {
        Some(0) | None => whole(),
        Some(e) => crc16(&key[s + 1..s + 1 + e]) & (SLOTS - 1),
    }
}

/// `n` contiguous slot ranges (inclusive) covering every slot, cut as
/// `redis-cli --cluster create` assigns them to `n` masters.
pub fn shard_ranges(n: usize) -> Vec<(u16, u16)> {
    let n = n.clamp(1, usize::from(SLOTS));
    let per = f64::from(SLOTS) / n as f64;
    let mut out = Vec::with_capacity(n);
    let (mut first, mut cursor) = (0i64, 0.0f64);
    for i in 0..n {
        let mut last = (cursor + per - 1.0).round() as i64;
        if last > i64::from(SLOTS) || i == n - 1 {
            last = i64::from(SLOTS) - 1;
        }
        if last < first {
            last = first;
        }
        out.push((first as u16, last as u16));
        first = last + 1;
        cursor += per;
    }
    out
}

/// A slot specification that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SlotsError(pub String);

/// Parses `0-5460,5461-10922,10923-16383` (single slots allowed: `42`):
/// one inclusive range per item, in order.
///
/// # Errors
/// A [`SlotsError`] for a malformed item, a slot beyond 16383 or a range
/// whose end is before its start.
///
/// ```
/// let r = rdbkit::cluster::parse_ranges("0-99,100,101-16383").unwrap();
/// assert_eq!(r, vec![(0, 99), (100, 100), (101, 16383)]);
/// assert!(rdbkit::cluster::parse_ranges("5-3").is_err());
/// ```
pub fn parse_ranges(text: &str) -> Result<Vec<(u16, u16)>, SlotsError> {
    text.split(',')
        .map(|item| parse_range(item.trim()))
        .collect()
}

fn parse_range(item: &str) -> Result<(u16, u16), SlotsError> {
    let slot = |s: &str| -> Result<u16, SlotsError> {
        match s.parse::<u16>() {
            Ok(n) if n < SLOTS => Ok(n),
            _ => Err(SlotsError(format!(
                "'{s}' is not a slot (0 to {})",
                SLOTS - 1
            ))),
        }
    };
    let (a, b) = match item.split_once('-') {
        Some((a, b)) => (slot(a)?, slot(b)?),
        None => {
            let s = slot(item)?;
            (s, s)
        }
    };
    if b < a {
        return Err(SlotsError(format!("range '{item}' ends before it starts")));
    }
    Ok((a, b))
}

/// A master of a `CLUSTER NODES` listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    /// Node id.
    pub id: String,
    /// `ip:port` (without the cluster bus port and hostname).
    pub addr: String,
    /// The slot ranges it serves (migrating and importing slots, in
    /// brackets in the listing, are not listed).
    pub slots: Vec<(u16, u16)>,
}

/// The masters of a `CLUSTER NODES` reply, in listing order. Replicas,
/// nodes marked failed and masters without slots are left out.
///
/// # Errors
/// A [`SlotsError`] naming a line that is not a node line or holds a
/// malformed slot range.
///
/// ```
/// let text = "07c3 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460\n\
///             67ed 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922 [10923->-292f]\n\
///             9fbe 127.0.0.1:30004@40004 slave 07c3 0 1426238318243 1 connected\n";
/// let m = rdbkit::cluster::parse_cluster_nodes(text).unwrap();
/// assert_eq!(m.len(), 2);
/// assert_eq!((m[1].addr.as_str(), m[1].slots.clone()), ("127.0.0.1:30002", vec![(5461, 10922)]));
/// ```
pub fn parse_cluster_nodes(text: &str) -> Result<Vec<Master>, SlotsError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() < 8 {
            return Err(SlotsError(format!(
                "line {}: not a CLUSTER NODES line ({} fields, 8 at least)",
                n + 1,
                f.len()
            )));
        }
        let flags: Vec<&str> = f[2].split(',').collect();
        if !flags.contains(&"master") || flags.iter().any(|x| *x == "fail" || *x == "noaddr") {
            continue;
        }
        let addr = f[1].split(['@', ',']).next().unwrap_or(f[1]).to_string();
        let mut slots = Vec::new();
        for s in &f[8..] {
            if s.starts_with('[') {
                continue;
            }
            slots.push(parse_range(s).map_err(|e| SlotsError(format!("line {}: {e}", n + 1)))?);
        }
        if !slots.is_empty() {
            out.push(Master {
                id: f[0].to_string(),
                addr,
                slots,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_slots() {
        // Slots Redis's documentation and `CLUSTER KEYSLOT` give.
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"hello"), 866);
        assert_eq!(key_slot(b"somekey"), 11058);
        assert_eq!(key_slot(b"{}"), crc16(b"{}") % SLOTS);
    }

    #[test]
    fn shards_cover_every_slot_once() {
        for n in [1usize, 2, 3, 5, 7, 100, 16384] {
            let r = shard_ranges(n);
            assert_eq!(r.len(), n);
            assert_eq!(r[0].0, 0);
            assert_eq!(r[n - 1].1, SLOTS - 1);
            for w in r.windows(2) {
                assert_eq!(w[0].1 + 1, w[1].0);
            }
        }
    }
}
