//! cargo-fuzz target `roundtrip`: see `rdbkit_fuzz::check_roundtrip` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rdbkit_fuzz::check_roundtrip(data));
