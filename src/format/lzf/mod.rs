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
//!   [`decompress_append`] — decoding (`lzf/decompress.rs`).
//! * [`validate`] — checks a stream end to end without producing output
//!   (no allocation, several GB/s of output; `lzf/validate.rs`).
//! * [`compress`], [`compress_bounded`] — a hash-table LZF compressor (same
//!   token format as `lzf_c.c`), returning `None` when the data does not
//!   shrink (`lzf/compress.rs`).
//!
//! This module holds what the three share: the token limits and
//! [`LzfError`]. The tests that hold the decompressors and the validator to
//! a reference model of `lzf_d.c` are in `lzf/tests.rs`.
//!
//! All functions are written in safe Rust and never panic on malformed input.

mod compress;
mod decompress;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;

pub use compress::{compress, compress_bounded};
pub use decompress::{
    decompress, decompress_append, decompress_into, decompress_prefix, decompress_to_vec,
};
pub use validate::validate;

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
