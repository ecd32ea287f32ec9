//! cargo-fuzz target `decode_file`: see `rdbkit_fuzz::check_file` (fuzz/src/lib.rs).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rdbkit_fuzz::check_file(data));
