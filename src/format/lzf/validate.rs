//! The validator: checks a stream end to end without producing output.

use super::{LzfError, MAX_LIT, MAX_OFF};

/// Checks that `input` is a well-formed LZF stream decoding to exactly
/// `expected_len` bytes, without producing the output.
///
/// Verifies that no token is truncated, no back-reference reaches before the
/// start of the output, no token overflows `expected_len`, and that the total
/// length is exactly `expected_len`. It returns exactly the same result as
/// [`decompress_into`](super::decompress_into) with an `expected_len`-byte
/// buffer would, but does not allocate and runs at several GB/s of
/// (virtual) output.
///
/// # Errors
/// An [`LzfError`] saying where the stream is broken: a truncated token, a
/// back-reference before the start, or a length other than `expected_len`.
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
