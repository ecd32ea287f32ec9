//! cargo-fuzz target `merge`: see `rdbkit_fuzz::check_merge` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rdbkit_fuzz::check_merge(data));
