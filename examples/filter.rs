//! Copies the keys that start with a prefix into a new file, written
//! safely (temporary file beside the output, fsync, rename) and read back.
//!
//!     cargo run --example filter -- examples/dump1.rdb /tmp/users.rdb user:

use std::path::Path;

use rdbkit::atomic::AtomicFile;
use rdbkit::encode::copy_filtered;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, prefix] = &args[..] else {
        return Err("usage: filter IN OUT PREFIX".into());
    };
    let data = rdbkit::Input::open(Path::new(input))?;
    let mut out = AtomicFile::create(Path::new(output), false)?;
    let keep = |k: &rdbkit::decode::KeyRecord<'_>| {
        k.key
            .to_bytes()
            .is_ok_and(|key| key.starts_with(prefix.as_bytes()))
    };
    let summary = copy_filtered(&data, std::io::BufWriter::new(out.file()), None, keep)?;
    // Check what was written before it takes the output's name.
    let written = std::fs::read(out.temp_path())?;
    let check = rdbkit::stats::inspect(&written, Default::default(), rdbkit::now_ms())?;
    assert_eq!(check.keys(), summary.kept_keys());
    out.commit()?;
    println!(
        "{output}: {} keys kept, {} left out, {} bytes",
        summary.kept_keys(),
        summary.dropped_keys(),
        summary.bytes
    );
    Ok(())
}
