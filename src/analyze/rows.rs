//! Per-key listings on every core, written in file order: [`write_rows`].

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};

use super::{row, AnalyzeOptions, KeyRow};
use crate::decode::scan::{self, ScanOptions, Sink};
use crate::decode::{Decoder, Item, Level, Options};
use crate::{Error, Limits, Result};

/// A range's text kept in memory up to this many bytes; beyond, it goes to
/// a temporary file (so memory stays bounded whatever the input).
const IN_MEMORY: usize = 64 << 10;

/// What a range wrote: bytes, or a temporary file holding them.
enum Chunk {
    Mem(Vec<u8>),
    File(File),
}

struct RowSink<'o, F> {
    opts: &'o AnalyzeOptions,
    input: usize,
    format: &'o F,
    buf: Vec<u8>,
    file: Option<File>,
    chunks: Vec<Chunk>,
}

impl<F> RowSink<'_, F> {
    fn io(e: std::io::Error) -> Error {
        Error::io("a temporary file", e)
    }

    fn spill(&mut self) -> Result<()> {
        let f = match &mut self.file {
            Some(f) => f,
            // Unlinked at once: nothing is left behind however the process ends.
            None => self
                .file
                .insert(crate::spill::temp_file(&std::env::temp_dir()).map_err(Self::io)?),
        };
        f.write_all(&self.buf).map_err(Self::io)?;
        self.buf.clear();
        Ok(())
    }

    /// Closes the range's text into a chunk.
    fn close(&mut self) -> Result<()> {
        if self.file.is_some() {
            self.spill()?;
        }
        match self.file.take() {
            Some(f) => self.chunks.push(Chunk::File(f)),
            None if !self.buf.is_empty() => {
                self.chunks.push(Chunk::Mem(std::mem::take(&mut self.buf)));
            }
            None => {}
        }
        Ok(())
    }
}

impl<'a, F: Fn(&KeyRow<'_>, &mut Vec<u8>) + Sync> Sink<'a> for RowSink<'_, F> {
    fn record(&mut self, _at: usize, item: &Item<'a>, _dec: &Decoder<'a>) -> Result<()> {
        let Item::Key(k) = item else {
            return Ok(());
        };
        if !self.opts.wants(k)? {
            return Ok(());
        }
        let r = row(self.opts, k, self.input)?;
        (self.format)(&r, &mut self.buf);
        if self.buf.len() >= IN_MEMORY {
            self.spill()?;
        }
        Ok(())
    }

    fn end(&mut self, _walked: &scan::Walked, _warnings: crate::decode::Warnings) -> Result<()> {
        self.close()
    }

    fn append(&mut self, mut next: Self) {
        // Both were closed by `end`; a failure to close would have been
        // reported there.
        let _ = self.close();
        let _ = next.close();
        self.chunks.append(&mut next.chunks);
    }
}

/// Formats every key's row of one input with `format` (on every core, one
/// range of the file each) and writes the text to `out` in file order,
/// once the input was checked whole as `verify` checks it: nothing is
/// written for a corrupt input. Each range's text waits in memory up to
/// 64 KiB, beyond in an unlinked temporary file, so memory stays bounded.
///
/// # Errors
/// The first decoding error (with its offset and key); an I/O error of a
/// temporary file (context "a temporary file") or of `out` (context
/// "the output").
///
/// ```
/// use rdbkit::analyze::{write_rows, AnalyzeOptions};
/// use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
/// use rdbkit::memory::{Allocator, Model};
/// use rdbkit::release::ServerRelease;
/// let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
/// w.select_db(0).unwrap();
/// for k in ["a", "b"] {
///     w.key(k.as_bytes(), &OwnedValue::String(b"1".to_vec()), KeyMeta::default()).unwrap();
/// }
/// let file = w.finish().unwrap();
/// let model = Model::new(ServerRelease::parse("redis-7.4").unwrap(), Allocator::Jemalloc).unwrap();
/// let mut out = Vec::new();
/// write_rows(&file, 0, &AnalyzeOptions::new(model), |r, buf: &mut Vec<u8>| {
///     buf.extend_from_slice(&r.key);
///     buf.push(b'\n');
/// }, &mut out).unwrap();
/// assert_eq!(out, b"a\nb\n");
/// ```
pub fn write_rows<F: Fn(&KeyRow<'_>, &mut Vec<u8>) + Sync>(
    data: &[u8],
    input: usize,
    opts: &AnalyzeOptions,
    format: F,
    out: &mut impl Write,
) -> Result<()> {
    let so = ScanOptions {
        decode: Options {
            level: Level::Full,
            verify_checksum: true,
            limits: Limits::default(),
        },
        threads: scan::cores(),
        fingerprint: false,
    };
    let scanned = scan::scan(data, &so, |_| RowSink {
        opts,
        input,
        format: &format,
        buf: Vec::new(),
        file: None,
        chunks: Vec::new(),
    })?;
    let mut sink = scanned.sink;
    sink.close()?;
    let to_out = |e: std::io::Error| Error::io("the output", e);
    for c in sink.chunks {
        match c {
            Chunk::Mem(b) => out.write_all(&b).map_err(to_out)?,
            Chunk::File(mut f) => {
                f.seek(SeekFrom::Start(0)).map_err(RowSink::<F>::io)?;
                // Read errors are the temporary file's, write errors the
                // output's: copied by hand to tell them apart.
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = match std::io::Read::read(&mut f, &mut buf) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        r => r.map_err(RowSink::<F>::io)?,
                    };
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buf[..n]).map_err(to_out)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
    use crate::memory::{Allocator, Model};
    use crate::release::ServerRelease;

    /// A file big enough for parallel ranges and spilled chunks: the rows
    /// are those of the one-core listing, in the same order.
    #[test]
    fn parallel_rows_in_file_order() {
        let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
        w.select_db(0).unwrap();
        let mut x = 1u64;
        for i in 0..220_000u32 {
            // Bytes LZF cannot shrink.
            let v: Vec<u8> = (0..80 + (i % 50))
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (x >> 56) as u8
                })
                .collect();
            let v = OwnedValue::String(v);
            w.key(format!("key:{i}").as_bytes(), &v, KeyMeta::default())
                .unwrap();
        }
        let file = w.finish().unwrap();
        assert!(file.len() > 20 << 20);
        let model = Model::new(
            ServerRelease::parse("redis-7.4").unwrap(),
            Allocator::Jemalloc,
        )
        .unwrap();
        let opts = AnalyzeOptions::new(model);
        let line = |r: &KeyRow<'_>, buf: &mut Vec<u8>| {
            buf.extend_from_slice(&r.key);
            buf.extend_from_slice(format!(",{}\n", r.memory_bytes).as_bytes());
        };
        let mut parallel = Vec::new();
        write_rows(&file, 0, &opts, line, &mut parallel).unwrap();
        let mut one = Vec::new();
        super::super::for_each_key(&file, 0, &opts, |r| {
            line(r, &mut one);
            Ok(())
        })
        .unwrap();
        assert_eq!(parallel.len(), one.len());
        assert!(parallel == one, "rows differ or are out of order");
        // A corrupt input writes nothing.
        let mut out = Vec::new();
        let cut = &file[..file.len() / 2];
        assert!(write_rows(cut, 0, &opts, line, &mut out).is_err());
        assert!(out.is_empty());
    }
}
