//! LZF compression and decompression compatible with Redis (`lzf_c.c` /
//! `lzf_d.c`).
//!
//! Redis stores large strings (and quicklist/ziplist/listpack nodes) in RDB
//! files LZF-compressed, together with the compressed and the uncompressed
//! length. Decoding therefore always knows the *exact* expected output length,
//! and every function in this module insists that the stream produces exactly
//! that many bytes — just like Redis, which rejects a length mismatch.
//!
//! # Stream format
//!
//! The stream is a sequence of tokens, each starting with a control byte `c`:
//!
//! * `c < 32`: a literal run; the next `c + 1` input bytes are copied to the
//!   output.
//! * otherwise a back-reference: `len = c >> 5`; if `len == 7` the next input
//!   byte is added to `len`; then the next input byte `b` gives the distance
//!   `off = ((c & 0x1f) << 8) + b + 1`. `len + 2` bytes are copied from
//!   `out_pos - off`, byte by byte (so `off < len + 2` repeats a pattern).
//!
//! # Functions
//!
//! * [`decompress_into`], [`decompress`], [`decompress_to_vec`],
//!   [`decompress_append`] — decoding.
//! * [`validate`] — checks a stream end to end without producing output
//!   (no allocation, several GB/s of output).
//! * [`compress`] — a hash-table LZF compressor (same token format as
//!   `lzf_c.c`), returning `None` when the data does not shrink.
//!
//! All functions are written in safe Rust and never panic on malformed input.

use std::fmt;

/// Largest literal run a single token can carry.
const MAX_LIT: usize = 1 << 5;
/// Largest back-reference distance (`off`, 1-based).
const MAX_OFF: usize = 1 << 13;
/// Largest number of bytes a single back-reference copies (`7 + 255 + 2`).
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// An error found in an LZF stream.
///
/// Every variant that relates to a specific token carries `at`, the offset in
/// the *compressed input* of that token's control byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LzfError {
    /// The input ends in the middle of a token (a literal run longer than the
    /// remaining input, or a back-reference missing its length/offset byte).
    Truncated {
        /// Input offset of the incomplete token's control byte.
        at: usize,
    },
    /// A back-reference points before the start of the output
    /// (`offset > out_pos`).
    BackrefOutOfBounds {
        /// Input offset of the back-reference's control byte.
        at: usize,
        /// The (1-based) distance the back-reference asked for.
        offset: usize,
        /// The output position at which the back-reference was decoded.
        out_pos: usize,
    },
    /// The token at `at` would produce more output than `expected` bytes.
    OutputOverflow {
        /// Input offset of the offending token's control byte.
        at: usize,
        /// The expected (maximum) output length.
        expected: usize,
    },
    /// The stream decoded cleanly but produced a different number of bytes
    /// than expected.
    LengthMismatch {
        /// The expected output length.
        expected: usize,
        /// The number of bytes the stream actually produced.
        got: usize,
    },
}

impl fmt::Display for LzfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LzfError::Truncated { at } => {
                write!(f, "LZF stream truncated in token at input offset {at}")
            }
            LzfError::BackrefOutOfBounds {
                at,
                offset,
                out_pos,
            } => write!(
                f,
                "LZF back-reference at input offset {at} reaches {offset} bytes back \
                 but only {out_pos} bytes have been produced"
            ),
            LzfError::OutputOverflow { at, expected } => write!(
                f,
                "LZF token at input offset {at} overflows the expected output length {expected}"
            ),
            LzfError::LengthMismatch { expected, got } => write!(
                f,
                "LZF stream produced {got} bytes but {expected} were expected"
            ),
        }
    }
}

impl std::error::Error for LzfError {}

// ---------------------------------------------------------------------------
// Decompression
// ---------------------------------------------------------------------------

/// Decompresses an LZF stream into `out`, which must be exactly as long as the
/// expected uncompressed length.
///
/// The stream must fill `out` exactly: producing fewer bytes yields
/// [`LzfError::LengthMismatch`], a token that would write past the end yields
/// [`LzfError::OutputOverflow`]. Errors are detected in the same order as
/// Redis's `lzf_d.c`. On error the contents of `out` are unspecified (but
/// nothing outside `out` is touched).
///
/// An empty input with an empty `out` is valid.
///
/// # Example
///
/// ```
/// use rdbkit::format::lzf::decompress_into;
///
/// // literal "ab", then a back-reference copying 4 bytes from 2 back
/// let stream = [0x01, b'a', b'b', 0x40, 0x01];
/// let mut out = [0u8; 6];
/// decompress_into(&stream, &mut out).unwrap();
/// assert_eq!(&out, b"ababab");
/// ```
pub fn decompress_into(input: &[u8], out: &mut [u8]) -> Result<(), LzfError> {
    let in_len = input.len();
    let out_len = out.len();
    let mut ip = 0usize;
    let mut op = 0usize;

    while ip < in_len {
        let at = ip;
        let c = input[ip] as usize;
        ip += 1;
        if c < MAX_LIT {
            let len = c + 1;
            if len > out_len - op {
                return Err(LzfError::OutputOverflow {
                    at,
                    expected: out_len,
                });
            }
            if len > in_len - ip {
                return Err(LzfError::Truncated { at });
            }
            if ip + MAX_LIT <= in_len && op + MAX_LIT <= out_len {
                // Fixed-size copy (two 16-byte moves); bytes past `len` are
                // overwritten by later tokens or rejected by the final
                // length check.
                out[op..op + MAX_LIT].copy_from_slice(&input[ip..ip + MAX_LIT]);
            } else {
                out[op..op + len].copy_from_slice(&input[ip..ip + len]);
            }
            ip += len;
            op += len;
        } else {
            let mut len = c >> 5;
            if ip >= in_len {
                return Err(LzfError::Truncated { at });
            }
            if len == 7 {
                len += input[ip] as usize;
                ip += 1;
                if ip >= in_len {
                    return Err(LzfError::Truncated { at });
                }
            }
            let off = ((c & 0x1f) << 8) + input[ip] as usize + 1;
            ip += 1;
            len += 2;
            if len > out_len - op {
                return Err(LzfError::OutputOverflow {
                    at,
                    expected: out_len,
                });
            }
            if off > op {
                return Err(LzfError::BackrefOutOfBounds {
                    at,
                    offset: off,
                    out_pos: op,
                });
            }
            copy_match(out, op, off, len);
            op += len;
        }
    }

    if op != out_len {
        return Err(LzfError::LengthMismatch {
            expected: out_len,
            got: op,
        });
    }
    Ok(())
}

/// Copies `len` bytes from `op - off` to `op` with LZ77 (byte-by-byte)
/// semantics. Requires `1 <= off <= op` and `op + len <= out.len()`.
#[inline(always)]
fn copy_match(out: &mut [u8], op: usize, off: usize, len: usize) {
    let src = op - off;
    let end = op + len;
    if end + 16 <= out.len() {
        // Enough slack after the match to copy in whole chunks; the few
        // bytes written past `end` are overwritten by subsequent tokens (or
        // the stream is rejected by the final length check).
        if off >= 16 {
            let mut s = src;
            let mut d = op;
            loop {
                let t: [u8; 16] = out[s..s + 16].try_into().unwrap();
                out[d..d + 16].copy_from_slice(&t);
                s += 16;
                d += 16;
                if d >= end {
                    break;
                }
            }
        } else if off == 1 {
            let v = [out[src]; 16];
            let mut d = op;
            loop {
                out[d..d + 16].copy_from_slice(&v);
                d += 16;
                if d >= end {
                    break;
                }
            }
        } else {
            // Short distance: replicate the pattern by doubling the distance
            // until it reaches 8, then copy 8-byte chunks. The region
            // [src, d) is always periodic with period `off` and `d - src`
            // is a multiple of `off`, so this matches byte-by-byte copying.
            let s = src;
            let mut d = op;
            while d - s < 8 {
                let t: [u8; 8] = out[s..s + 8].try_into().unwrap();
                out[d..d + 8].copy_from_slice(&t);
                d += d - s;
                if d >= end {
                    return;
                }
            }
            let mut s = s;
            loop {
                let t: [u8; 8] = out[s..s + 8].try_into().unwrap();
                out[d..d + 8].copy_from_slice(&t);
                s += 8;
                d += 8;
                if d >= end {
                    break;
                }
            }
        }
    } else if off >= len {
        out.copy_within(src..src + len, op);
    } else {
        for i in op..end {
            out[i] = out[i - off];
        }
    }
}

/// Decompresses an LZF stream whose uncompressed length is `expected_len`
/// into a newly allocated vector.
///
/// The caller should still bound `expected_len` (for RDB files, against the
/// input size times the maximum LZF expansion ratio and a configured limit);
/// outputs over 1 MiB are allocated only once [`validate`] has shown that
/// the stream produces them (see [`decompress_append`]).
///
/// # Example
///
/// ```
/// use rdbkit::format::lzf::{compress, decompress};
///
/// let data = b"hello hello hello hello hello".to_vec();
/// let packed = compress(&data).unwrap();
/// assert_eq!(decompress(&packed, data.len()).unwrap(), data);
/// ```
pub fn decompress(input: &[u8], expected_len: usize) -> Result<Vec<u8>, LzfError> {
    let mut out = Vec::new();
    decompress_append(input, expected_len, &mut out)?;
    Ok(out)
}

/// Outputs longer than this are only allocated once [`validate`] has shown
/// that the stream really produces them: a claimed length that the stream
/// cannot back costs no memory, whatever the caller's bound.
const EAGER_ALLOC_MAX: usize = 1 << 20;

/// Appends the `expected_len` bytes an LZF stream decodes to to `out`.
///
/// When the output is larger than 1 MiB it is allocated only after the
/// stream has been validated, so a lying length field costs time
/// proportional to the input, not memory proportional to the claim (a
/// hostile file cannot make the decoder allocate 88 times its size). On
/// error `out` keeps its previous contents plus unspecified bytes.
///
/// # Example
///
/// ```
/// use rdbkit::format::lzf::decompress_append;
///
/// let mut buf = b"ab".to_vec();
/// decompress_append(&[0x00, b'x', 0x20, 0x00], 4, &mut buf).unwrap();
/// assert_eq!(buf, b"abxxxx");
/// ```
pub fn decompress_append(
    input: &[u8],
    expected_len: usize,
    out: &mut Vec<u8>,
) -> Result<(), LzfError> {
    if expected_len > EAGER_ALLOC_MAX {
        validate(input, expected_len)?;
    }
    let start = out.len();
    out.resize(start + expected_len, 0);
    decompress_into(input, &mut out[start..])
}

/// Like [`decompress`], but reuses `out` (it is cleared and resized to
/// `expected_len`), which avoids an allocation per call when decoding many
/// values.
///
/// As with [`decompress`], large outputs are allocated only once validated.
/// On error the contents of `out` are unspecified.
///
/// # Example
///
/// ```
/// use rdbkit::format::lzf::decompress_to_vec;
///
/// let mut buf = Vec::new();
/// // literal "xy" followed by a run copying 6 bytes at distance 1
/// decompress_to_vec(&[0x01, b'x', b'y', 0x80, 0x00], 8, &mut buf).unwrap();
/// assert_eq!(buf, b"xyyyyyyy");
/// ```
pub fn decompress_to_vec(
    input: &[u8],
    expected_len: usize,
    out: &mut Vec<u8>,
) -> Result<(), LzfError> {
    out.clear();
    decompress_append(input, expected_len, out)
}

/// Checks that `input` is a well-formed LZF stream decoding to exactly
/// `expected_len` bytes, without producing the output.
///
/// Verifies that no token is truncated, no back-reference reaches before the
/// start of the output, no token overflows `expected_len`, and that the total
/// length is exactly `expected_len`. It returns exactly the same result as
/// [`decompress_into`] with an `expected_len`-byte buffer would, but does not
/// allocate and runs at several GB/s of (virtual) output.
///
/// # Example
///
/// ```
/// use rdbkit::format::lzf::{validate, LzfError};
///
/// let stream = [0x01, b'a', b'b', 0x40, 0x01]; // decodes to "ababab"
/// assert!(validate(&stream, 6).is_ok());
/// assert_eq!(
///     validate(&stream, 7),
///     Err(LzfError::LengthMismatch { expected: 7, got: 6 })
/// );
/// ```
pub fn validate(input: &[u8], expected_len: usize) -> Result<(), LzfError> {
    let in_len = input.len();
    // Fast path first (see `validate_fast`); it stops at the end of the input
    // or before anything suspicious, and the exact token-by-token loop below
    // takes over from there, reporting the precise error if there is one.
    let (mut ip, mut op) = if in_len > MAX_LIT + 1 {
        validate_fast(input, expected_len)
    } else {
        (0, 0)
    };

    while ip < in_len {
        let at = ip;
        let c = input[ip] as usize;
        ip += 1;
        if c < MAX_LIT {
            let len = c + 1;
            if len > expected_len - op {
                return Err(LzfError::OutputOverflow {
                    at,
                    expected: expected_len,
                });
            }
            if len > in_len - ip {
                return Err(LzfError::Truncated { at });
            }
            ip += len;
            op += len;
        } else {
            let mut len = c >> 5;
            if ip >= in_len {
                return Err(LzfError::Truncated { at });
            }
            if len == 7 {
                len += input[ip] as usize;
                ip += 1;
                if ip >= in_len {
                    return Err(LzfError::Truncated { at });
                }
            }
            let off = ((c & 0x1f) << 8) + input[ip] as usize + 1;
            ip += 1;
            len += 2;
            if len > expected_len - op {
                return Err(LzfError::OutputOverflow {
                    at,
                    expected: expected_len,
                });
            }
            if off > op {
                return Err(LzfError::BackrefOutOfBounds {
                    at,
                    offset: off,
                    out_pos: op,
                });
            }
            op += len;
        }
    }

    if op != expected_len {
        return Err(LzfError::LengthMismatch {
            expected: expected_len,
            got: op,
        });
    }
    Ok(())
}

/// Size, in input bytes, of the blocks [`validate`]'s fast path works on.
const BLOCK: usize = 256;

/// Validates a prefix of the stream quickly, block by block (see
/// `validate_block`), returning the input and output positions of the first
/// token it did not check. It stops when fewer than `MAX_LIT + 2` input bytes
/// remain, or at the start of a block that contains an out-of-bounds
/// back-reference or overflows `expected_len`; all tokens before the returned
/// position are valid.
fn validate_fast(input: &[u8], expected_len: usize) -> (usize, usize) {
    let in_len = input.len();
    let mut ip = 0usize;
    let mut op = 0usize;
    let mut adv = [0u8; BLOCK];
    let mut pad = [0u8; BLOCK + 2];
    while in_len - ip > MAX_LIT + 1 {
        let rem = in_len - ip;
        // Tokens starting before `limit` end before the input does.
        let limit = (rem - (MAX_LIT + 1)).min(BLOCK);
        let win: &[u8; BLOCK + 2] = match input[ip..].get(..BLOCK + 2) {
            Some(w) => w.try_into().unwrap(),
            None => {
                pad[..rem].copy_from_slice(&input[ip..]);
                pad[rem..].fill(0);
                &pad
            }
        };
        match validate_block(win, &mut adv, limit, op) {
            Some((q, o)) if o <= expected_len => {
                ip += q;
                op = o;
            }
            _ => break,
        }
    }
    (ip, op)
}

/// Output length of a token by control byte, not counting the extra length
/// byte of long back-references.
static TOKEN_OUT_LEN: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = if c < MAX_LIT {
            c as u16 + 1
        } else {
            (c >> 5) as u16 + 2
        };
        c += 1;
    }
    t
};

/// Stores, for every position of `win`, the number of input bytes a token
/// starting there occupies (`c + 2` for a literal run, 2 or 3 for a
/// back-reference). Vectorises.
#[inline(always)]
fn fill_advance(adv: &mut [u8], win: &[u8]) {
    for (a, &c) in adv.iter_mut().zip(win) {
        *a = if c < MAX_LIT as u8 {
            c + 2
        } else if c >= 7 << 5 {
            3
        } else {
            2
        };
    }
}

/// `((c & 0x1f) << 8) + 1` for back-reference control bytes (the distance
/// minus its low byte); a large negative value for literal control bytes.
static OFF_BASE: [i32; 256] = {
    let mut t = [0i32; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = if c < MAX_LIT {
            -(1 << 20)
        } else {
            (((c & 0x1f) << 8) + 1) as i32
        };
        c += 1;
    }
    t
};

/// Walks the tokens starting in `win[..limit]` (`limit <= BLOCK`; each such
/// token must lie entirely inside the real input) with `op` bytes already
/// produced. Returns the number of input bytes consumed and the new output
/// position, or `None` if some back-reference reaches before the start of the
/// output. Output overflow is left to the caller (it is monotonic).
///
/// The serial dependency between tokens is the bottleneck of validation, so
/// the input advance of a token starting at each position of the block is
/// computed up front (a vectorisable loop) and the chain of token starts then
/// costs one L1 load and one add per token. Back-references can only be out
/// of bounds while fewer than `MAX_OFF` bytes have been produced, so later
/// blocks skip that check entirely.
#[inline(always)]
fn validate_block(
    win: &[u8; BLOCK + 2],
    adv: &mut [u8; BLOCK],
    limit: usize,
    op: usize,
) -> Option<(usize, usize)> {
    fill_advance(adv, &win[..BLOCK]);
    let mut q = 0usize;
    let mut o = op;
    if op >= MAX_OFF {
        while q < limit {
            let c = win[q] as usize;
            let ext = ((c >= 7 << 5) as usize).wrapping_neg();
            o += TOKEN_OUT_LEN[c] as usize + (win[q + 1] as usize & ext);
            q += adv[q] as usize;
        }
    } else {
        let mut bad = false;
        while q < limit {
            let c = win[q] as usize;
            let b1 = win[q + 1] as usize;
            let b2 = win[q + 2] as usize;
            let ext = ((c >= 7 << 5) as usize).wrapping_neg();
            // Low byte of the distance: the byte after the length byte of a
            // long back-reference (branch-free select).
            let lo = b1 ^ ((b1 ^ b2) & ext);
            // `OFF_BASE` is hugely negative for literals, which never fail.
            let off = OFF_BASE[c] as isize + lo as isize;
            bad |= off > o as isize;
            o += TOKEN_OUT_LEN[c] as usize + (b1 & ext);
            q += adv[q] as usize;
        }
        if bad {
            return None;
        }
    }
    Some((q, o))
}

// ---------------------------------------------------------------------------
// Compression
// ---------------------------------------------------------------------------

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

use std::cell::RefCell;

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
    use proptest::prelude::*;

    /// Straightforward byte-at-a-time transcription of Redis's `lzf_d.c`
    /// (with `CHECK_INPUT`), used as the reference model.
    fn reference(input: &[u8], expected: usize) -> Result<Vec<u8>, LzfError> {
        let mut out: Vec<u8> = Vec::new();
        let mut ip = 0;
        while ip < input.len() {
            let at = ip;
            let c = input[ip] as usize;
            ip += 1;
            if c < 32 {
                let len = c + 1;
                if out.len() + len > expected {
                    return Err(LzfError::OutputOverflow { at, expected });
                }
                if ip + len > input.len() {
                    return Err(LzfError::Truncated { at });
                }
                out.extend_from_slice(&input[ip..ip + len]);
                ip += len;
            } else {
                let mut len = c >> 5;
                if ip >= input.len() {
                    return Err(LzfError::Truncated { at });
                }
                if len == 7 {
                    len += input[ip] as usize;
                    ip += 1;
                    if ip >= input.len() {
                        return Err(LzfError::Truncated { at });
                    }
                }
                let off = ((c & 0x1f) << 8) + input[ip] as usize + 1;
                ip += 1;
                if out.len() + len + 2 > expected {
                    return Err(LzfError::OutputOverflow { at, expected });
                }
                if off > out.len() {
                    return Err(LzfError::BackrefOutOfBounds {
                        at,
                        offset: off,
                        out_pos: out.len(),
                    });
                }
                for _ in 0..len + 2 {
                    let b = out[out.len() - off];
                    out.push(b);
                }
            }
        }
        if out.len() != expected {
            return Err(LzfError::LengthMismatch {
                expected,
                got: out.len(),
            });
        }
        Ok(out)
    }

    /// Runs every decoder on the stream and checks they agree with the
    /// reference model; returns the reference result.
    fn check_all(input: &[u8], expected: usize) -> Result<Vec<u8>, LzfError> {
        let want = reference(input, expected);
        let got = decompress(input, expected);
        assert_eq!(got, want, "decompress vs reference");
        let mut buf = vec![0xAA; 3];
        let got2 = decompress_to_vec(input, expected, &mut buf).map(|()| buf.clone());
        assert_eq!(got2, want, "decompress_to_vec vs reference");
        assert_eq!(
            validate(input, expected),
            want.as_ref().map(|_| ()).map_err(|e| *e),
            "validate vs reference"
        );
        want
    }

    fn sample_texts() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = vec![
            b"hello world hello world hello world".to_vec(),
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                .to_vec(),
            vec![0u8; 100_000],
            (0..=255u8).cycle().take(70_000).collect(),
            (0..50_000u32)
                .flat_map(|i| format!("key:{}:{}\n", i % 97, i % 13).into_bytes())
                .collect(),
        ];
        // pseudo-random with repeats
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut r = Vec::new();
        for i in 0..200_000usize {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i > 100 && x % 3 == 0 {
                let d = 1 + (x >> 8) as usize % 9000.min(r.len());
                let b = r[r.len() - d];
                r.push(b);
            } else {
                r.push((x >> 24) as u8 % 16);
            }
        }
        v.push(r);
        v
    }

    #[test]
    fn lzf_crate_compress_then_our_decompress() {
        for data in sample_texts() {
            let packed = ::lzf::compress(&data).unwrap();
            assert_eq!(check_all(&packed, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn our_compress_then_lzf_crate_decompress() {
        for data in sample_texts() {
            let packed = compress(&data).unwrap();
            assert!(packed.len() < data.len());
            assert_eq!(::lzf::decompress(&packed, data.len()).unwrap(), data);
            assert_eq!(check_all(&packed, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn empty() {
        assert_eq!(decompress(&[], 0).unwrap(), Vec::<u8>::new());
        assert_eq!(validate(&[], 0), Ok(()));
        assert_eq!(decompress_into(&[], &mut []), Ok(()));
        assert_eq!(
            decompress(&[], 5),
            Err(LzfError::LengthMismatch {
                expected: 5,
                got: 0
            })
        );
        assert_eq!(
            validate(&[], 5),
            Err(LzfError::LengthMismatch {
                expected: 5,
                got: 0
            })
        );
        assert_eq!(compress(&[]), None);
        assert_eq!(compress(b"a"), None);
        assert_eq!(compress(b"abcd"), None);
    }

    #[test]
    fn offset_one_run_length() {
        // 'z' then copy 9 bytes from distance 1 (len field 7 -> needs ext byte 0)
        let stream = [0x00, b'z', 0xE0, 0x00, 0x00];
        assert_eq!(check_all(&stream, 10).unwrap(), vec![b'z'; 10]);
        // every short distance, every length, incl. chunked paths with slack
        for off in 1..=20usize {
            for len in 3..=40usize {
                let mut stream = vec![(off - 1) as u8];
                stream.extend((0..off).map(|i| b'a' + i as u8));
                let l = len - 2;
                if l < 7 {
                    stream.push((l << 5) as u8);
                } else {
                    stream.push(7 << 5);
                    stream.push((l - 7) as u8);
                }
                stream.push((off - 1) as u8);
                let mut want: Vec<u8> = (0..off).map(|i| b'a' + i as u8).collect();
                for _ in 0..len {
                    want.push(want[want.len() - off]);
                }
                // exact fit, and followed by a trailing literal (slack path)
                assert_eq!(check_all(&stream, want.len()).unwrap(), want);
                let mut s2 = stream.clone();
                s2.push(31);
                s2.extend(std::iter::repeat_n(b'#', 32));
                let mut w2 = want.clone();
                w2.extend(std::iter::repeat_n(b'#', 32));
                assert_eq!(check_all(&s2, w2.len()).unwrap(), w2);
            }
        }
    }

    #[test]
    fn max_length_backref() {
        // 8192 literal-ish bytes, then a max-length ref at max distance
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for i in 0..256usize {
            stream.push(31);
            for j in 0..32usize {
                let b = ((i * 32 + j) * 7 % 251) as u8;
                stream.push(b);
                want.push(b);
            }
        }
        assert_eq!(want.len(), 8192);
        // len = 7 + 255 (+2 = 264 bytes), off = 8192
        stream.extend_from_slice(&[0xE0 | 0x1f, 0xFF, 0xFF]);
        for _ in 0..264 {
            want.push(want[want.len() - 8192]);
        }
        assert_eq!(check_all(&stream, want.len()).unwrap(), want);
        // and an overlapping max-length ref at distance 1
        stream.extend_from_slice(&[0xE0, 0xFF, 0x00]);
        for _ in 0..264 {
            want.push(*want.last().unwrap());
        }
        assert_eq!(check_all(&stream, want.len()).unwrap(), want);
        // one more byte of expected length -> mismatch, one less -> overflow
        let n = want.len();
        assert_eq!(
            validate(&stream, n + 1),
            Err(LzfError::LengthMismatch {
                expected: n + 1,
                got: n
            })
        );
        assert_eq!(
            check_all(&stream, n - 1),
            Err(LzfError::OutputOverflow {
                at: stream.len() - 3,
                expected: n - 1
            })
        );
    }

    #[test]
    fn literal_run_of_32() {
        let data: Vec<u8> = (0..32u8).collect();
        let mut stream = vec![31u8];
        stream.extend_from_slice(&data);
        assert_eq!(check_all(&stream, 32).unwrap(), data);
        // two runs back to back
        let mut s2 = stream.clone();
        s2.extend_from_slice(&stream);
        let mut d2 = data.clone();
        d2.extend_from_slice(&data);
        assert_eq!(check_all(&s2, 64).unwrap(), d2);
        // a 32-byte literal cannot produce 31 bytes
        assert_eq!(
            check_all(&stream, 31),
            Err(LzfError::OutputOverflow {
                at: 0,
                expected: 31
            })
        );
    }

    #[test]
    fn error_truncated() {
        // literal run claims 4 bytes, only 3 present
        assert_eq!(
            check_all(&[0x03, 1, 2, 3], 4),
            Err(LzfError::Truncated { at: 0 })
        );
        // back-reference missing its offset byte
        assert_eq!(
            check_all(&[0x00, b'a', 0x20], 3),
            Err(LzfError::Truncated { at: 2 })
        );
        // long back-reference missing its length byte
        assert_eq!(
            check_all(&[0x00, b'a', 0xE0], 20),
            Err(LzfError::Truncated { at: 2 })
        );
        // long back-reference with length byte but no offset byte
        assert_eq!(
            check_all(&[0x00, b'a', 0xE0, 0x00], 20),
            Err(LzfError::Truncated { at: 2 })
        );
    }

    #[test]
    fn truncated_tail_after_long_prefix() {
        // A valid prefix of various lengths (so the fast paths are active and
        // block boundaries fall everywhere), then an incomplete final token.
        for prefix_len in 0..700usize {
            let mut stream = Vec::new();
            let mut produced = 0;
            let mut left = prefix_len;
            while left > 0 {
                let run = left.min(33) - 1; // bytes in this run, 0..=32
                if run == 0 {
                    // a lone 2-byte back-reference (needs prior output)
                    if produced == 0 {
                        stream.extend_from_slice(&[0x00, b'q']);
                        produced += 1;
                        left = left.saturating_sub(2);
                        continue;
                    }
                    stream.extend_from_slice(&[0x20, 0x00]);
                    produced += 3;
                    left = left.saturating_sub(2);
                    continue;
                }
                stream.push((run - 1) as u8);
                stream.extend((0..run).map(|i| (i * 13 + prefix_len) as u8));
                produced += run;
                left -= run + 1;
            }
            let at = stream.len();
            let tails: [&[u8]; 6] = [
                &[31],
                &[0x20],
                &[0xE0],
                &[0xE0, 0x05],
                &[0x10, 1, 2],
                &[31; 32],
            ];
            for tail in tails {
                let mut s = stream.clone();
                s.extend_from_slice(tail);
                for expected in [produced + 40, produced + 300] {
                    assert_eq!(
                        check_all(&s, expected),
                        Err(LzfError::Truncated { at }),
                        "prefix {prefix_len} tail {tail:?}"
                    );
                }
            }
            // and the complete prefix is valid
            assert!(check_all(&stream, produced).is_ok());
        }
    }

    #[test]
    fn error_backref_out_of_bounds() {
        // reference with nothing produced yet
        assert_eq!(
            check_all(&[0x20, 0x00], 3),
            Err(LzfError::BackrefOutOfBounds {
                at: 0,
                offset: 1,
                out_pos: 0
            })
        );
        // 2 bytes produced, distance 3
        assert_eq!(
            check_all(&[0x01, b'a', b'b', 0x20, 0x02], 5),
            Err(LzfError::BackrefOutOfBounds {
                at: 3,
                offset: 3,
                out_pos: 2
            })
        );
        // distance exactly equal to the position is fine
        assert_eq!(
            check_all(&[0x01, b'a', b'b', 0x20, 0x01], 5).unwrap(),
            b"ababa"
        );
    }

    #[test]
    fn error_output_overflow() {
        assert_eq!(
            check_all(&[0x02, 1, 2, 3], 2),
            Err(LzfError::OutputOverflow { at: 0, expected: 2 })
        );
        assert_eq!(
            check_all(&[0x00, b'a', 0x20, 0x00], 3),
            Err(LzfError::OutputOverflow { at: 2, expected: 3 })
        );
        // overflow is reported before truncation / bad reference, like lzf_d.c
        assert_eq!(
            check_all(&[0x05, 1], 3),
            Err(LzfError::OutputOverflow { at: 0, expected: 3 })
        );
        assert_eq!(
            check_all(&[0x40, 0x10], 3),
            Err(LzfError::OutputOverflow { at: 0, expected: 3 })
        );
    }

    #[test]
    fn error_length_mismatch() {
        assert_eq!(
            check_all(&[0x01, b'a', b'b'], 3),
            Err(LzfError::LengthMismatch {
                expected: 3,
                got: 2
            })
        );
        let mut out = [0u8; 3];
        assert_eq!(
            decompress_into(&[0x01, b'a', b'b'], &mut out),
            Err(LzfError::LengthMismatch {
                expected: 3,
                got: 2
            })
        );
    }

    #[test]
    fn errors_deep_in_long_streams() {
        // Errors past the validate fast path's window, and inside it.
        let data: Vec<u8> = (0..5000u32)
            .flat_map(|i| format!("{},", i % 321).into_bytes())
            .collect();
        let packed = compress(&data).unwrap();
        assert_eq!(check_all(&packed, data.len()).unwrap(), data);
        for cut in [1, 2, 3, 10, 33, 34, 100, packed.len() / 2] {
            let _ = check_all(&packed[..packed.len() - cut], data.len());
        }
        for n in [0, 1, data.len() / 2, data.len() - 1, data.len() + 1] {
            assert!(check_all(&packed, n).is_err());
        }
        for pos in 0..packed.len().min(400) {
            let mut p = packed.clone();
            p[pos] ^= 0x5A;
            let _ = check_all(&p, data.len());
        }
    }

    #[test]
    fn display_and_error_trait() {
        let errs = [
            LzfError::Truncated { at: 1 },
            LzfError::BackrefOutOfBounds {
                at: 2,
                offset: 3,
                out_pos: 4,
            },
            LzfError::OutputOverflow { at: 5, expected: 6 },
            LzfError::LengthMismatch {
                expected: 7,
                got: 8,
            },
        ];
        for e in errs {
            let s = e.to_string();
            assert!(!s.is_empty());
            let _: &dyn std::error::Error = &e;
        }
    }

    fn compressible() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2000),
            proptest::collection::vec(0u8..4, 0..5000),
            proptest::collection::vec(
                proptest::sample::select(vec![&b"foo"[..], b"bar", b"bazqux", b"\x00\x01", b"x"]),
                0..600
            )
            .prop_map(|v| v.concat()),
        ]
    }

    fn big_compressible() -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::collection::vec(
                proptest::sample::select(vec![
                    &b"user:"[..],
                    b"alpha",
                    b"\x00\x00\x00",
                    b"{\"id\":",
                    b"zz",
                    b"0123456789",
                ]),
                0..4000,
            ),
            proptest::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(words, noise)| {
                let mut v = words.concat();
                for (i, b) in noise.into_iter().enumerate() {
                    let at = (i * 7919) % (v.len() + 1);
                    v.insert(at, b);
                }
                v
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Corrupt long streams in various ways: validate, both decoders and
        /// the reference model must agree exactly (including error offsets),
        /// also where the fast paths hand over to the exact loops.
        #[test]
        fn mutated_long_streams_agree(
            data in big_compressible(),
            ours in any::<bool>(),
            muts in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..3),
            cut in proptest::option::of(any::<proptest::sample::Index>()),
            delta in -300i64..300,
        ) {
            let packed = if ours { compress(&data) } else { ::lzf::compress(&data).ok() };
            let Some(mut p) = packed else { return Ok(()); };
            prop_assert_eq!(&check_all(&p, data.len()).unwrap(), &data);
            for (idx, b) in muts {
                let i = idx.index(p.len());
                p[i] = b;
            }
            if let Some(c) = cut {
                p.truncate(c.index(p.len() + 1));
            }
            let expected = (data.len() as i64 + delta).max(0) as usize;
            check_all(&p, expected).ok();
            check_all(&p, data.len()).ok();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_streams_agree_and_never_panic(
            input in proptest::collection::vec(any::<u8>(), 0..300),
            expected in 0usize..2000,
        ) {
            check_all(&input, expected).ok();
        }

        #[test]
        fn arbitrary_structured_streams_agree(
            tokens in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), 0u8..40), 0..60),
            slack in 0usize..40,
        ) {
            // Build mostly-valid streams: literals and back-references with
            // small offsets, so validity depends on subtle bounds.
            let mut s = Vec::new();
            let mut produced = 0usize;
            for (c, a, b, k) in tokens {
                if k < 20 {
                    let n = (c % 32) as usize + 1;
                    s.push(n as u8 - 1);
                    s.extend(std::iter::repeat_n(a, n));
                    produced += n;
                } else {
                    let off = (b as usize % 24) + 1;
                    let len = if k < 30 { 1 + (c % 6) as usize } else { 7 + a as usize };
                    s.push((len.min(7) << 5) as u8);
                    if len >= 7 { s.push((len - 7) as u8); }
                    s.push((off - 1) as u8);
                    produced += len + 2;
                }
            }
            for expected in [produced, produced.saturating_sub(slack), produced + slack] {
                check_all(&s, expected).ok();
            }
        }

        #[test]
        fn compress_roundtrip(data in compressible()) {
            if let Some(p) = compress(&data) {
                prop_assert!(p.len() < data.len());
                prop_assert_eq!(validate(&p, data.len()), Ok(()));
                prop_assert_eq!(&decompress(&p, data.len()).unwrap(), &data);
                prop_assert_eq!(&::lzf::decompress(&p, data.len()).unwrap(), &data);
            }
            if let Ok(p) = ::lzf::compress(&data) {
                prop_assert_eq!(validate(&p, data.len()), Ok(()));
                prop_assert_eq!(&decompress(&p, data.len()).unwrap(), &data);
            }
        }
    }
}

#[cfg(test)]
mod redis_exact_tests {
    use super::*;

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
