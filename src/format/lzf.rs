//! Temporary LZF (replaced by the optimised implementation).
use std::fmt;
/// LZF error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LzfError {
    /// Truncated.
    Truncated { at: usize },
    /// Bad backref.
    BackrefOutOfBounds {
        at: usize,
        offset: usize,
        out_pos: usize,
    },
    /// Overflow.
    OutputOverflow { at: usize, expected: usize },
    /// Mismatch.
    LengthMismatch { expected: usize, got: usize },
}
impl fmt::Display for LzfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}
impl std::error::Error for LzfError {}
/// Decompress into.
pub fn decompress_into(input: &[u8], out: &mut [u8]) -> Result<(), LzfError> {
    let (mut ip, mut op) = (0usize, 0usize);
    while ip < input.len() {
        let c = input[ip] as usize;
        let at = ip;
        ip += 1;
        if c < 32 {
            let n = c + 1;
            if ip + n > input.len() {
                return Err(LzfError::Truncated { at });
            }
            if op + n > out.len() {
                return Err(LzfError::OutputOverflow {
                    at,
                    expected: out.len(),
                });
            }
            out[op..op + n].copy_from_slice(&input[ip..ip + n]);
            ip += n;
            op += n;
        } else {
            let mut len = c >> 5;
            if len == 7 {
                if ip >= input.len() {
                    return Err(LzfError::Truncated { at });
                }
                len += input[ip] as usize;
                ip += 1;
            }
            if ip >= input.len() {
                return Err(LzfError::Truncated { at });
            }
            let off = ((c & 0x1f) << 8) + input[ip] as usize + 1;
            ip += 1;
            if off > op {
                return Err(LzfError::BackrefOutOfBounds {
                    at,
                    offset: off,
                    out_pos: op,
                });
            }
            let n = len + 2;
            if op + n > out.len() {
                return Err(LzfError::OutputOverflow {
                    at,
                    expected: out.len(),
                });
            }
            for i in 0..n {
                out[op + i] = out[op + i - off];
            }
            op += n;
        }
    }
    if op != out.len() {
        return Err(LzfError::LengthMismatch {
            expected: out.len(),
            got: op,
        });
    }
    Ok(())
}
/// Decompress.
pub fn decompress(input: &[u8], expected_len: usize) -> Result<Vec<u8>, LzfError> {
    let mut v = Vec::new();
    decompress_to_vec(input, expected_len, &mut v)?;
    Ok(v)
}
/// Decompress to vec.
pub fn decompress_to_vec(
    input: &[u8],
    expected_len: usize,
    out: &mut Vec<u8>,
) -> Result<(), LzfError> {
    out.clear();
    out.resize(expected_len, 0);
    decompress_into(input, out)
}
/// Validate.
pub fn validate(input: &[u8], expected_len: usize) -> Result<(), LzfError> {
    decompress(input, expected_len).map(|_| ())
}
/// Compress.
pub fn compress(input: &[u8]) -> Option<Vec<u8>> {
    lzf::compress(input).ok()
}
