//! The decompressors: into a slice, a new vector, or an existing one.

use super::{validate, LzfError, MAX_LIT};

/// The first `N` bytes an LZF stream decompresses to, decoding no
/// further (a header's fields without the whole blob); `None` when the
/// stream is broken or shorter before them.
///
/// ```
/// use rdbkit::format::lzf::decompress_prefix;
/// let stream = [0x01, b'a', b'b', 0x40, 0x01];
/// assert_eq!(decompress_prefix::<5>(&stream), Some(*b"ababa"));
/// assert_eq!(decompress_prefix::<7>(&stream), None);
/// ```
pub fn decompress_prefix<const N: usize>(input: &[u8]) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    let (mut ip, mut op) = (0usize, 0usize);
    while op < N {
        let c = usize::from(*input.get(ip)?);
        ip += 1;
        if c < MAX_LIT {
            let run = input.get(ip..ip + c + 1)?;
            let n = run.len().min(N - op);
            out[op..op + n].copy_from_slice(&run[..n]);
            op += n;
            ip += c + 1;
        } else {
            let mut len = c >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip)?);
                ip += 1;
            }
            let back = ((c & 0x1f) << 8) + usize::from(*input.get(ip)?) + 1;
            ip += 1;
            let from = op.checked_sub(back)?;
            // Byte by byte: the copy may overlap what it writes.
            let end = (op + len + 2).min(N);
            for i in from..from + (end - op) {
                out[op] = out[i];
                op += 1;
            }
        }
    }
    Some(out)
}

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
/// # Errors
/// An [`LzfError`] when the stream is broken or does not fill `out` exactly;
/// `out` then holds garbage.
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
    } else if off == 1 {
        let b = out[src];
        out[op..end].fill(b);
    } else {
        // Near the end of the output (the last match of nearly every
        // stream): whole periods at a time, doubling. `[src, d)` repeats
        // with period `off` and `d - src` is a multiple of it, so copying
        // from `src` matches byte-by-byte copying.
        let mut d = op;
        while d < end {
            let n = (d - src).min(end - d);
            out.copy_within(src..src + n, d);
            d += n;
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
/// # Errors
/// An [`LzfError`] as for [`decompress_into`].
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
/// # Errors
/// An [`LzfError`] as for [`decompress_into`]; `out` then keeps its
/// previous contents plus unspecified bytes.
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
/// # Errors
/// An [`LzfError`] as for [`decompress_into`].
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
