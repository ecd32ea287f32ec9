//! Dynomite placement: its 32-bit MurmurHash2 variant (`hash_murmur`),
//! the optional hash tag, and token dispatch over a rack's nodes
//! (`vnode_dispatch`), as in Netflix/dynomite `src/hashkit/dyn_murmur.c`,
//! `src/dyn_vnode.c`. [`super::Policy::Owner`] keeps the copy of a
//! conflicting key on the node that owns it; the other copies are leftovers
//! of a token change or of writes that bypassed Dynomite.

/// Dynomite's `hash_murmur`: MurmurHash2 with seed `0xdeadbeef * len`.
///
/// ```
/// // Dynomite hashes the empty key to 0: seed 0, no data, final mixes of 0.
/// assert_eq!(rdbkit::merge::dynomite::hash(b""), 0);
/// ```
pub fn hash(key: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let len = key.len() as u32;
    let mut h = 0xdead_beef_u32.wrapping_mul(len) ^ len;
    let mut chunks = key.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() == 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

/// The part of the key Dynomite hashes: with a hash tag pair (e.g. `{}`),
/// the text between the first opening and the next closing character when
/// both exist and enclose something; otherwise the whole key.
///
/// ```
/// use rdbkit::merge::dynomite::hashed_part;
/// assert_eq!(hashed_part(b"user:{42}:name", Some((b'{', b'}'))), b"42");
/// assert_eq!(hashed_part(b"plain", Some((b'{', b'}'))), b"plain");
/// ```
pub fn hashed_part(key: &[u8], tag: Option<(u8, u8)>) -> &[u8] {
    if let Some((open, close)) = tag {
        if let Some(s) = key.iter().position(|&c| c == open) {
            if let Some(e) = key[s + 1..].iter().position(|&c| c == close) {
                if e > 0 {
                    return &key[s + 1..s + 1 + e];
                }
            }
        }
    }
    key
}

/// Index (into `tokens`) of the node that owns `h`: the first node whose
/// token is >= the hash, wrapping to the lowest token when the hash is above
/// the largest token or <= the smallest.
///
/// ```
/// use rdbkit::merge::dynomite::owner;
/// let tokens = [1073741823, 3221225471];
/// assert_eq!(owner(5, &tokens), Some(0));
/// assert_eq!(owner(2_000_000_000, &tokens), Some(1));
/// assert_eq!(owner(4_000_000_000, &tokens), Some(0));
/// ```
pub fn owner(h: u32, tokens: &[u32]) -> Option<usize> {
    let lowest = (0..tokens.len()).min_by_key(|&i| tokens[i])?;
    let highest = tokens.iter().copied().max()?;
    if h > highest || h <= tokens[lowest] {
        return Some(lowest);
    }
    (0..tokens.len())
        .filter(|&i| tokens[i] >= h)
        .min_by_key(|&i| tokens[i])
}

/// Whether a key is one of Dynomite's read-repair metadata keys:
/// `._add-set` and `._rem-set` (one of each per node) and their per-key
/// forms `._add-set_<key>` / `._rem-set_<key>`.
///
/// ```
/// use rdbkit::merge::dynomite::is_metadata_key;
/// assert!(is_metadata_key(b"._add-set"));
/// assert!(is_metadata_key(b"._rem-set_user:1"));
/// assert!(!is_metadata_key(b"._add-settings"));
/// assert!(!is_metadata_key(b"user:1"));
/// ```
pub fn is_metadata_key(key: &[u8]) -> bool {
    [b"._add-set".as_slice(), b"._rem-set".as_slice()]
        .iter()
        .any(|p| {
            key.strip_prefix(*p)
                .is_some_and(|rest| rest.is_empty() || rest[0] == b'_')
        })
}

/// The input owning `key` by Dynomite placement: the key (or its hash-tag
/// part) hashed with [`hash`], dispatched over the inputs' `tokens` with
/// [`owner`].
///
/// ```
/// use rdbkit::merge::dynomite::owner_of_key;
/// let tokens = [1073741823, 3221225471];
/// let o = owner_of_key(b"user:{42}:name", &tokens, Some((b'{', b'}')));
/// assert_eq!(o, owner_of_key(b"42", &tokens, None));
/// ```
pub fn owner_of_key(key: &[u8], tokens: &[u32], hash_tag: Option<(u8, u8)>) -> Option<usize> {
    owner(hash(hashed_part(key, hash_tag)), tokens)
}
