use super::*;
use crate::encode::{BlobElem, ListpackBuilder};

/// The size-only listpack entry length equals what the builder writes.
#[test]
fn listpack_entry_len_matches_the_builder() {
    let mut cases: Vec<Vec<u8>> =
        vec![b"".to_vec(), b"0".to_vec(), b"-0".to_vec(), b"007".to_vec()];
    for i in [
        0i64,
        1,
        127,
        128,
        -1,
        -4096,
        4095,
        4096,
        -32768,
        32767,
        32768,
        8388607,
        -8388609,
        i64::from(i32::MAX),
        i64::from(i32::MAX) + 1,
        i64::MIN,
        i64::MAX,
    ] {
        cases.push(i.to_string().into_bytes());
    }
    for n in [1usize, 63, 64, 127, 4095, 4096, 16380, 20000] {
        cases.push(vec![b'x'; n]);
    }
    for c in &cases {
        let mut lp = ListpackBuilder::new();
        lp.push(BlobElem::Bytes(c));
        assert_eq!(
            lp.len() - 6,
            crate::encode::listpack_entry_len(BlobElem::Bytes(c)),
            "{:?}",
            String::from_utf8_lossy(&c[..c.len().min(20)])
        );
    }
}

#[test]
fn sds_headers() {
    assert_eq!(sds::alloc_len(0), 4);
    assert_eq!(sds::alloc_len(31), 33);
    assert_eq!(sds::alloc_len(32), 36);
    assert_eq!(sds::alloc_len(300), 306);
}

#[test]
fn no_model_is_an_error() {
    let r = ServerRelease::parse("valkey-8.0").unwrap();
    let e = Model::new(r, Allocator::Jemalloc).unwrap_err();
    assert!(e.to_string().contains("valkey-8.0"), "{e}");
}
