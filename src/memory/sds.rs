//! Redis's dynamic strings (`sds.c`): a header sized for the length, the
//! bytes and a terminating zero, in one allocation.

/// Bytes allocated for an sds of `len` bytes made with `sdsnewlen`: a
/// 1-byte header below 32 bytes (type 5; type 8 for the empty string),
/// then 3, 5, 9 or 17 bytes.
#[inline]
pub(super) fn alloc_len(len: u64) -> u64 {
    let header = match len {
        0 => 3,
        1..=31 => 1,
        32..=0xff => 3,
        0x100..=0xffff => 5,
        0x1_0000..=0xffff_ffff => 9,
        _ => 17,
    };
    header + len + 1
}
