//! The decompressors and the validator against a reference model of
//! Redis's `lzf_d.c`; the compressor against the `lzf` crate.

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

/// A prefix decoded alone equals the start of the whole stream's output,
/// and a stream shorter than the prefix gives none.
#[test]
fn prefix_is_the_start_of_the_output() {
    let mut x = 3u64;
    for len in [16usize, 40, 300, 5000] {
        // Runs and repeats, so both literals and back-references occur.
        let data: Vec<u8> = (0..len)
            .map(|i| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                if (i / 7) % 3 == 0 {
                    b'a'
                } else {
                    (x >> 60) as u8
                }
            })
            .collect();
        let Some(c) = compress(&data) else { continue };
        assert_eq!(
            decompress_prefix::<10>(&c),
            data.first_chunk::<10>().copied()
        );
        assert_eq!(
            decompress_prefix::<16>(&c),
            data.first_chunk::<16>().copied()
        );
        assert_eq!(decompress_prefix::<16>(&c[..1]), None);
    }
    assert_eq!(decompress_prefix::<4>(&[0x01, b'a', b'b']), None);
}
