//! The compressor: liblzf 3.6's `lzf_compress` as Redis and Valkey build it.

use std::cell::RefCell;

use super::{MAX_LIT, MAX_OFF, MAX_REF};

/// Compresses `input` exactly as Redis and Valkey compress strings in RDB
/// files, returning `Some` when the result is strictly shorter than the
/// input (see [`compress_bounded`] for Redis's own "saves 4 bytes" bound).
///
/// The compressor follows the `lzf_compress` of liblzf 3.6 that ships with
/// Redis (`HLOG` 16, `VERY_FAST`), so the bytes, and therefore the decision
/// whether compression pays, are the ones a server writes. The hash table
/// lives in a thread-local buffer stamped with a generation number, so
/// compressing many small strings does not clear 64 Ki slots each time.
///
/// ```
/// use rdbkit::format::lzf::{compress, decompress};
/// let data = b"abcabcabcabcabcabcabcabcabcabcabcabc";
/// let packed = compress(data).expect("repetitive data compresses");
/// assert_eq!(decompress(&packed, data.len()).unwrap(), data);
/// assert_eq!(compress(b"xyz"), None);
/// ```
pub fn compress(input: &[u8]) -> Option<Vec<u8>> {
    compress_bounded(input, input.len().checked_sub(1)?)
}

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;

struct Table {
    /// `generation << 32 | position`; an older generation is an empty slot.
    slots: Vec<u64>,
    generation: u64,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table { slots: vec![0; HSIZE], generation: 0 });
}

#[inline]
fn frst(p: &[u8], i: usize) -> u32 {
    (u32::from(p[i]) << 8) | u32::from(p[i + 1])
}

#[inline]
fn next(v: u32, p: &[u8], i: usize) -> u32 {
    (v << 8) | u32::from(p[i + 2])
}

#[inline]
fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// Compresses `input` into at most `max_out` bytes, or `None` when the
/// output would not fit (liblzf's `lzf_compress(in, len, out, max_out)`
/// returning 0).
///
/// ```
/// use rdbkit::format::lzf::{compress_bounded, decompress};
/// let c = compress_bounded(&[b'a'; 100], 96).unwrap();
/// assert_eq!(decompress(&c, 100).unwrap(), vec![b'a'; 100]);
/// assert!(compress_bounded(b"abcdefgh", 4).is_none());
/// ```
pub fn compress_bounded(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    if in_len < 2 || in_len > u32::MAX as usize || max_out == 0 {
        return None;
    }
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        t.generation = (t.generation + 1) & 0xFFFF_FFFF;
        if t.generation == 0 {
            t.slots.iter_mut().for_each(|s| *s = 0);
            t.generation = 1;
        }
        let gen = t.generation << 32;
        compress_with(input, max_out, &mut t.slots, gen)
    })
}

fn compress_with(input: &[u8], max_out: usize, htab: &mut [u64], gen: u64) -> Option<Vec<u8>> {
    let in_len = input.len();
    // Slack so the bounded writes below never index past the buffer; the
    // explicit checks keep the result within `max_out`.
    let mut out = vec![0u8; max_out + 8];
    let out_end = max_out;
    let mut ip = 0usize;
    let mut lit = 0usize;
    let mut op = 1usize; // start run
    let mut hval = frst(input, ip);
    let lookup = |htab: &[u64], slot: usize| -> Option<usize> {
        let v = htab[slot];
        (v >> 32 == gen >> 32).then_some((v & 0xFFFF_FFFF) as usize)
    };
    while ip + 2 < in_len {
        hval = next(hval, input, ip);
        let slot = idx(hval);
        let r = lookup(htab, slot);
        htab[slot] = gen | ip as u64;
        let found = r.and_then(|r| {
            let off = ip.checked_sub(r)?.checked_sub(1)?;
            (r < ip
                && off < MAX_OFF
                && r > 0
                && input[r + 2] == input[ip + 2]
                && input[r] == input[ip]
                && input[r + 1] == input[ip + 1])
                .then_some((r, off))
        });
        if let Some((r, off)) = found {
            let mut len = 2usize;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_end && op - usize::from(lit == 0) + 3 + 1 >= out_end {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
            op -= usize::from(lit == 0); // undo run if length is zero

            // liblzf unrolls the first 16 steps without the maxlen bound
            // (maxlen > 16 leaves room), so a match can run to the last
            // byte of the input; the bounded loop alone stops 2 bytes short.
            let mut mismatch = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[r + len] != input[ip + len] {
                        mismatch = true;
                        break;
                    }
                }
            }
            if !mismatch {
                loop {
                    len += 1;
                    if !(len < maxlen && input[r + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2; // len is now #octets - 1
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 1;
            lit = 0;
            op += 1; // start run
            ip += len + 1;
            if ip + 2 >= in_len {
                break;
            }
            // VERY_FAST: hash the last two positions of the match.
            ip -= 2;
            hval = frst(input, ip);
            hval = next(hval, input, ip);
            htab[idx(hval)] = gen | ip as u64;
            ip += 1;
            hval = next(hval, input, ip);
            htab[idx(hval)] = gen | ip as u64;
            ip += 1;
        } else {
            if op >= out_end {
                return None;
            }
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8; // stop run
                lit = 0;
                op += 1; // start run
            }
        }
    }
    if op + 3 > out_end {
        return None;
    }
    while ip < in_len {
        lit += 1;
        out[op] = input[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1); // end run
    op -= usize::from(lit == 0);
    if op > out_end {
        return None;
    }
    out.truncate(op);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::lzf::decompress;

    #[test]
    fn round_trips() {
        let mut seed = 0x9E37_79B9u32;
        for n in [2usize, 3, 20, 21, 100, 1000, 70000, 300_000] {
            let data: Vec<u8> = (0..n)
                .map(|i| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    if i % 5 == 0 {
                        (seed >> 24) as u8
                    } else {
                        b"abcab"[i % 5]
                    }
                })
                .collect();
            if let Some(c) = compress_bounded(&data, n + 64) {
                assert_eq!(decompress(&c, n).unwrap(), data, "{n}");
            }
        }
    }

    #[test]
    fn a_match_runs_to_the_end_of_the_input() {
        // 0xEE, 30 distinct bytes, then their first 19 again: liblzf's
        // unrolled loop matches all 19 (a bounded loop would stop at 17).
        let mut input = vec![0xEE];
        input.extend(1..=30u8);
        input.extend(1..=19u8);
        let mut want = vec![30];
        want.extend_from_slice(&input[..31]);
        want.extend_from_slice(&[0xE0, 19 - 2 - 7, 29]);
        assert_eq!(compress_bounded(&input, 100).unwrap(), want);
    }

    #[test]
    fn respects_the_limit() {
        let data = vec![7u8; 1000];
        let c = compress_bounded(&data, 1000).unwrap();
        for max in 0..c.len() {
            assert!(compress_bounded(&data, max).is_none(), "{max}");
        }
        // liblzf's bound checks are conservative by up to 4 bytes.
        assert_eq!(compress_bounded(&data, c.len() + 4).unwrap(), c);
    }
}
