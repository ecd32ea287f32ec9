//! Inputs that cannot be memory-mapped as they are: gzip-compressed files
//! (detected by their magic bytes `1f 8b`, not by their name) and pipes
//! (standard input, FIFOs, `/dev/stdin`, process substitution).
//!
//! The decoder needs the whole input as one contiguous `&[u8]`, so such an
//! input is read (and decompressed) completely before decoding starts:
//! into memory while it is at most [`MEMORY_LIMIT`] bytes, beyond that into
//! a temporary file in [`std::env::temp_dir`] (`TMPDIR`) that is unlinked
//! right after it is created — nothing is left behind however the process
//! ends — and then memory-mapped through the same code path as a regular
//! input (a mapped [`Input`]).
//!
//! Gzip streams are decoded with `flate2` as `gzip -d` does: several members
//! one after the other (`cat a.gz b.gz`) form one stream; every member's
//! CRC-32 and length trailer is checked. A corrupt or truncated stream is an
//! [`crate::ErrorKind::Gzip`] error carrying the compressed byte offset; none of its
//! bytes are ever handed to the RDB decoder. Without the `gzip` feature a
//! gzip input is an I/O error of kind `Unsupported` ("gzip support is not
//! compiled in").

use std::fs::File;
use std::io::{self, Read, Write};
#[cfg(feature = "gzip")]
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

#[cfg(feature = "gzip")]
use crate::ErrorKind;
use crate::{Error, Input, Result};

/// The first two bytes of every gzip member.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Inputs read from a pipe or decompressed from gzip are kept in memory up to
/// this many bytes (64 MiB); larger ones are spilled to a temporary file.
pub(crate) const MEMORY_LIMIT: usize = 64 << 20;

/// Test-only override of [`MEMORY_LIMIT`] (a byte count), so that tests can
/// exercise the spill path with small inputs. Not meant for production use.
const THRESHOLD_ENV: &str = "RDBKIT_SPILL_THRESHOLD";

/// Size of one read from the source and one write to the spill file.
const CHUNK: usize = 1 << 20;

/// The name used in messages for an input path: `-` is standard input.
pub(crate) fn display_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        STDIN_NAME.to_string()
    } else {
        path.display().to_string()
    }
}

/// How standard input is named in messages.
pub(crate) const STDIN_NAME: &str = "standard input";

/// Whether the file starts with the gzip magic. Reads at most two bytes and
/// rewinds the file to its start.
pub(crate) fn starts_with_gzip(f: &File) -> io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    let mut head = [0u8; 2];
    let n = read_full(&mut &*f, &mut head)?;
    (&*f).seek(SeekFrom::Start(0))?;
    Ok(n == 2 && head == GZIP_MAGIC)
}

/// Reads `reader` to its end, decompressing it if it is gzip, into memory or
/// a spilled temporary file (see the module documentation). `name` names
/// the input in error messages.
pub(crate) fn read_all(reader: impl Read, name: &str) -> Result<Input> {
    read_all_with(reader, name, &Spill::from_env())
}

/// Where and when to spill.
pub(crate) struct Spill {
    /// Largest input kept in memory.
    pub(crate) limit: usize,
    /// Directory of the temporary file.
    pub(crate) dir: PathBuf,
    /// Creates the (already unlinked) temporary file in `dir`.
    pub(crate) create: fn(&Path) -> io::Result<File>,
}

impl Spill {
    /// [`MEMORY_LIMIT`] (or the test-only `RDBKIT_SPILL_THRESHOLD`) and
    /// [`std::env::temp_dir`].
    pub(crate) fn from_env() -> Spill {
        let limit = std::env::var(THRESHOLD_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or(MEMORY_LIMIT, |v| v.min(MEMORY_LIMIT));
        Spill {
            limit,
            dir: std::env::temp_dir(),
            create: temp_file,
        }
    }
}

pub(crate) fn read_all_with(mut reader: impl Read, name: &str, spill: &Spill) -> Result<Input> {
    let io_err = |e: io::Error| Error::io(name, e);
    let mut head = [0u8; 2];
    let n = read_full(&mut reader, &mut head).map_err(io_err)?;
    let source = io::Cursor::new(head).take(n as u64).chain(reader);
    if n == 2 && head == GZIP_MAGIC {
        #[cfg(feature = "gzip")]
        {
            let mut gz = Members::new(Counted::new(BufReader::with_capacity(CHUNK, source)));
            collect(&mut gz, name, spill, |gz, e| match gz.source() {
                // The source itself failed (not the data): an I/O error.
                Some(src) if src.error.is_some() => io_err(e),
                Some(src) => gzip_error(&e, src.consumed, gz.member),
                None => io_err(e),
            })
        }
        #[cfg(not(feature = "gzip"))]
        Err(io_err(no_gzip()))
    } else {
        let mut plain = source;
        collect(&mut plain, name, spill, |_, e| io_err(e))
    }
}

/// The error for a gzip input or output when rdbkit is built without its
/// `gzip` feature.
#[cfg(not(feature = "gzip"))]
pub(crate) fn no_gzip() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "gzip-compressed, but gzip support is not compiled in (rdbkit's `gzip` feature)",
    )
}

/// The message of the error returned for bytes after a complete member
/// that do not start another one.
#[cfg(feature = "gzip")]
const NOT_A_MEMBER: &str = "data after the end of a member that is not another gzip member";

/// The error for a gzip stream that fails to decode in its `member`-th
/// member (from 1) after `consumed` compressed bytes.
#[cfg(feature = "gzip")]
fn gzip_error(e: &io::Error, consumed: u64, member: u64) -> Error {
    let m = e.to_string();
    let what = if e.kind() == io::ErrorKind::UnexpectedEof {
        format!("truncated: the data ends inside member {member}")
    } else if m.contains(NOT_A_MEMBER) {
        format!("{NOT_A_MEMBER} (after member {})", member.saturating_sub(1))
    } else if m.contains("checksum") {
        format!("the CRC-32 or length trailer of member {member} does not match its data")
    } else if m.contains("header") {
        format!("invalid header of member {member}")
    } else {
        format!("{m} in member {member}")
    };
    Error::new(ErrorKind::Gzip(what), consumed)
}

/// A gzip stream of one or more members (`cat a.gz b.gz`), as `gzip -d`
/// reads it, except that anything after a member that is not another member
/// is an error rather than ignored "trailing garbage".
#[cfg(feature = "gzip")]
struct Members<R: BufRead> {
    /// The current member's decoder; `None` only after the end.
    dec: Option<flate2::bufread::GzDecoder<R>>,
    /// The current member, from 1.
    member: u64,
}

#[cfg(feature = "gzip")]
impl<R: BufRead> Members<R> {
    fn new(src: R) -> Self {
        Members {
            dec: Some(flate2::bufread::GzDecoder::new(src)),
            member: 1,
        }
    }

    fn source(&self) -> Option<&R> {
        self.dec.as_ref().map(|d| d.get_ref())
    }
}

#[cfg(feature = "gzip")]
impl<R: BufRead> Read for Members<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(dec) = self.dec.as_mut() else {
                return Ok(0);
            };
            let n = dec.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The member ended (its trailer checked): the stream ends too,
            // or another member starts.
            let rest = dec.get_mut().fill_buf()?;
            if rest.is_empty() {
                return Ok(0);
            }
            if rest[0] != GZIP_MAGIC[0] || rest.get(1).is_some_and(|&b| b != GZIP_MAGIC[1]) {
                self.member += 1;
                return Err(io::Error::new(io::ErrorKind::InvalidData, NOT_A_MEMBER));
            }
            let src = self.dec.take().map(|d| d.into_inner());
            self.dec = src.map(flate2::bufread::GzDecoder::new);
            self.member += 1;
        }
    }
}

/// Reads `r` to its end into memory, or into a spill file once more than
/// `spill.limit` bytes came. `read_error` turns a read failure into the
/// error to report.
fn collect<R: Read>(
    r: &mut R,
    name: &str,
    spill: &Spill,
    read_error: impl Fn(&R, io::Error) -> Error,
) -> Result<Input> {
    let mut mem: Vec<u8> = Vec::new();
    // Up to limit + 1 bytes in memory: one byte more than the limit says
    // that the input does not fit.
    let cap = spill.limit.saturating_add(1);
    while mem.len() < cap {
        let start = mem.len();
        let want = (cap - start).min(CHUNK);
        if mem.capacity() < start + want {
            // Doubling, but never beyond the cap.
            let target = (mem.capacity() * 2).max(start + want).min(cap);
            mem.reserve_exact(target - start);
        }
        mem.resize(start + want, 0);
        let n = match read_full(r, &mut mem[start..]) {
            Ok(n) => n,
            Err(e) => return Err(read_error(r, e)),
        };
        mem.truncate(start + n);
        if n < want {
            return Ok(Input::from(mem));
        }
    }
    // Too large for memory: spill.
    let spill_err = |e: io::Error| spill_error(name, &spill.dir, e);
    let mut file = (spill.create)(&spill.dir).map_err(spill_err)?;
    copy_rest(r, mem, &mut file, &read_error, &spill_err)?;
    Input::map_file(&file).map_err(|e| {
        Error::io(
            format!(
                "{name}: cannot map the temporary file in {}",
                spill.dir.display()
            ),
            e,
        )
    })
}

/// The error for a failure to write the spill file in `dir`.
fn spill_error(name: &str, dir: &Path, e: io::Error) -> Error {
    let hint = if e.kind() == io::ErrorKind::StorageFull {
        " (the disk is full: point TMPDIR at a directory with more space)"
    } else {
        ""
    };
    Error::io(
        format!(
            "{name}: cannot spill the input to a temporary file in {}{hint}",
            dir.display()
        ),
        e,
    )
}

/// Writes `mem` then the rest of `r` to `out`.
fn copy_rest<R: Read, W: Write>(
    r: &mut R,
    mem: Vec<u8>,
    out: &mut W,
    read_error: &impl Fn(&R, io::Error) -> Error,
    write_error: &impl Fn(io::Error) -> Error,
) -> Result<()> {
    out.write_all(&mem).map_err(write_error)?;
    drop(mem);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match read_full(r, &mut buf) {
            Ok(n) => n,
            Err(e) => return Err(read_error(r, e)),
        };
        out.write_all(&buf[..n]).map_err(write_error)?;
        if n < buf.len() {
            return out.flush().map_err(write_error);
        }
    }
}

/// Reads until `buf` is full or the source ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Creates a new file in `dir`, readable and writable by this process only,
/// and unlinks it at once: it lives as long as the handle (and a map of it).
pub(crate) fn temp_file(dir: &Path) -> io::Result<File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut last = None;
    for _ in 0..16 {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(
            ".rdbkit-spill-{}-{seq}-{nanos}.tmp",
            std::process::id()
        ));
        let mut o = std::fs::OpenOptions::new();
        o.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        #[cfg(windows)]
        // FILE_FLAG_DELETE_ON_CLOSE: Windows cannot unlink an open file.
        std::os::windows::fs::OpenOptionsExt::custom_flags(&mut o, 0x0400_0000);
        match o.open(&path) {
            Ok(f) => {
                #[cfg(not(windows))]
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

/// A buffered reader that counts the bytes consumed from it (the compressed
/// offset) and remembers whether the underlying source failed.
#[cfg(feature = "gzip")]
struct Counted<R> {
    inner: R,
    consumed: u64,
    error: Option<io::ErrorKind>,
}

#[cfg(feature = "gzip")]
impl<R> Counted<R> {
    fn new(inner: R) -> Self {
        Counted {
            inner,
            consumed: 0,
            error: None,
        }
    }
}

#[cfg(feature = "gzip")]
impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(feature = "gzip")]
impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self.inner.fill_buf() {
            Ok(b) => Ok(b),
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.error = Some(e.kind());
                }
                Err(e)
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.consumed += n as u64;
        self.inner.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use flate2::write::GzEncoder;
    use flate2::Compression;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn spill(limit: usize, dir: &Path) -> Spill {
        Spill {
            limit,
            dir: dir.to_path_buf(),
            create: temp_file,
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn fresh_dir(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("rdbkit-spill-unit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn plain_and_gzip_in_memory_and_spilled() {
        let dir = fresh_dir("modes");
        let d = data(300_000);
        for limit in [0, 1, 299_999, 300_000, 1 << 20] {
            let s = spill(limit, &dir);
            let plain = read_all_with(&d[..], "x", &s).unwrap();
            assert_eq!(&*plain, &d[..], "plain, limit {limit}");
            assert_eq!(!plain.is_mapped(), limit >= d.len());
            #[cfg(feature = "gzip")]
            {
                let z = gz(&d);
                let dec = read_all_with(&z[..], "x", &s).unwrap();
                assert_eq!(&*dec, &d[..], "gzip, limit {limit}");
                assert_eq!(dec.is_mapped(), limit < d.len());
            }
        }
        // The spill files were unlinked at once.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn multi_member_and_empty() {
        let dir = fresh_dir("multi");
        let s = spill(4, &dir);
        #[cfg(feature = "gzip")]
        {
            let mut z = gz(b"hello ");
            z.extend(gz(b""));
            z.extend(gz(b"world"));
            assert_eq!(&*read_all_with(&z[..], "x", &s).unwrap(), b"hello world");
        }
        assert_eq!(&*read_all_with(&b""[..], "x", &s).unwrap(), b"");
        assert_eq!(&*read_all_with(&b"\x1f"[..], "x", &s).unwrap(), b"\x1f");
        std::fs::remove_dir(&dir).unwrap();
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn corrupt_gzip_is_a_gzip_error_with_its_offset() {
        let dir = fresh_dir("corrupt");
        let s = spill(1 << 20, &dir);
        let d = data(100_000);
        let z = gz(&d);
        // Truncated inside the deflate data, inside the trailer, after the header.
        for cut in [z.len() / 2, z.len() - 3, 10, 2] {
            let e = read_all_with(&z[..cut], "x", &s).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::Gzip(_)), "cut {cut}: {e}");
            assert!(e.offset() <= cut as u64, "cut {cut}: {e}");
            assert!(e.to_string().contains("truncated"), "cut {cut}: {e}");
        }
        // A flipped trailer byte (CRC-32), a flipped length.
        for at in [z.len() - 8, z.len() - 1] {
            let mut bad = z.clone();
            bad[at] ^= 0x55;
            let e = read_all_with(&bad[..], "x", &s).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::Gzip(_)), "{e}");
            assert!(e.to_string().contains("CRC-32"), "{e}");
        }
        // Anything after a complete member that is not another member.
        for tail in [&b"REDIS0011"[..], b"\0", b"\x1f\x00"] {
            let mut trailing = z.clone();
            trailing.extend_from_slice(tail);
            let e = read_all_with(&trailing[..], "x", &s).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::Gzip(_)), "{e}");
            assert_eq!(e.offset(), z.len() as u64, "{e}");
            assert!(e.to_string().contains("not another gzip member"), "{e}");
        }
        // A second member cut short.
        let mut two = z.clone();
        two.extend_from_slice(&z[..30]);
        let e = read_all_with(&two[..], "x", &s).unwrap_err();
        assert!(e.to_string().contains("inside member 2"), "{e}");
        assert_eq!(e.offset(), two.len() as u64, "{e}");
        // A bad compression method in the header.
        let mut hdr = z.clone();
        hdr[2] = 7;
        let e = read_all_with(&hdr[..], "x", &s).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Gzip(_)), "{e}");
        std::fs::remove_dir(&dir).unwrap();
    }

    /// A source that fails: an I/O error naming the input, not a gzip error.
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("device on fire"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(0x1f);
            self.0 -= n;
            Ok(n)
        }
    }

    #[test]
    fn source_failure_is_an_io_error() {
        let dir = fresh_dir("failing");
        let s = spill(10, &dir);
        let e = read_all_with(Failing(5), "in.rdb", &s).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Io { .. } if e.to_string().contains("in.rdb") && e.to_string().contains("device on fire")),
            "{e}"
        );
        #[cfg(feature = "gzip")]
        {
            let gz_then_fail = io::Cursor::new(gz(&data(1000))[..20].to_vec()).chain(Failing(0));
            let e = read_all_with(gz_then_fail, "in.gz", &s).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::Io { .. } if e.to_string().contains("in.gz")),
                "{e}"
            );
        }
        std::fs::remove_dir(&dir).unwrap();
    }

    /// A full disk while spilling (writes to /dev/full fail with ENOSPC)
    /// is an I/O error naming the input and the directory.
    #[cfg(target_os = "linux")]
    #[test]
    fn full_disk_names_input_and_dir() {
        let s = Spill {
            limit: 10,
            dir: PathBuf::from("/some/tmp"),
            create: |_| {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/full")
            },
        };
        let inputs = [
            data(100),
            #[cfg(feature = "gzip")]
            gz(&data(100)),
        ];
        for input in inputs {
            let e = read_all_with(&input[..], "in.rdb", &s).unwrap_err();
            let m = e.to_string();
            assert!(matches!(e.kind(), ErrorKind::Io { .. }), "{m}");
            assert!(m.contains("in.rdb") && m.contains("/some/tmp"), "{m}");
            assert!(m.contains("disk is full"), "{m}");
        }
    }

    /// Without the `gzip` feature a gzip input, in memory or spilled, is an
    /// error that says so (never RDB data, never a crash).
    #[cfg(not(feature = "gzip"))]
    #[test]
    fn gzip_without_the_feature_is_an_error() {
        let dir = fresh_dir("nogzip");
        for limit in [0, 1 << 20] {
            let s = spill(limit, &dir);
            let e = read_all_with(&gz(&data(1000))[..], "in.rdb.gz", &s).unwrap_err();
            assert_eq!(
                e.io_error().map(io::Error::kind),
                Some(io::ErrorKind::Unsupported),
                "{e}"
            );
            let m = e.to_string();
            assert!(m.contains("in.rdb.gz"), "{m}");
            assert!(m.contains("gzip support is not compiled in"), "{m}");
        }
        // Two bytes that are not the magic are data, as with the feature.
        let s = spill(4, &dir);
        assert_eq!(
            &*read_all_with(&b"\x1f\x8c"[..], "x", &s).unwrap(),
            b"\x1f\x8c"
        );
        // A gzip file, whatever its name, through `Input::open`.
        let f = dir.join("dump.rdb");
        std::fs::write(&f, gz(b"REDIS0011")).unwrap();
        let e = Input::open(&f).unwrap_err();
        assert_eq!(
            e.io_error().map(io::Error::kind),
            Some(io::ErrorKind::Unsupported)
        );
        assert!(
            e.to_string()
                .contains("dump.rdb: gzip-compressed, but gzip support is not compiled in"),
            "{e}"
        );
        std::fs::remove_file(&f).unwrap();
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn names() {
        assert_eq!(display_name(Path::new("-")), "standard input");
        assert_eq!(display_name(Path::new("a/b.rdb")), "a/b.rdb");
    }
}
