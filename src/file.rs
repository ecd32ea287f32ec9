//! Opening input files: a read-only memory map (the one place that needs
//! `unsafe`), with an in-memory fallback for pipes and empty files.
//!
//! # Inputs that change while they are read
//!
//! A memory map shares the file's pages. When another process truncates a
//! mapped file, reading a page past the new end raises `SIGBUS`, which
//! kills the process (no message, no clean-up). rdbkit keeps the map — it
//! is what makes decoding zero-copy and verify fast — and makes the fault
//! harmless instead (Linux):
//!
//! * Every map is registered in a fixed, lock-free table of address ranges.
//! * A `SIGBUS` handler looks the faulting address up. If it lies in a
//!   registered input, the handler replaces the rest of that map with
//!   anonymous zero pages (one `mmap(MAP_FIXED)`), marks the input as
//!   changed and returns: the faulting read is retried and sees zeros. The
//!   handler only touches atomics and makes two system calls; it never
//!   unwinds or jumps, which is what makes signal handlers fragile in Rust.
//!   A fault anywhere else goes to the handler that was installed before
//!   (Rust's stack-overflow handler, or the default action).
//! * Decoding over zeros is harmless (the decoder is panic-free on any
//!   bytes), and its result is never used: [`Decoder`](crate::decode::Decoder)
//!   checks a process-wide flag before each record and stops with
//!   [`ErrorKind::InputChanged`] once its input faulted, and when it reaches
//!   `EOF` it compares the file's size and modification time with those at
//!   opening (a truncation inside the last page reads zeros without a
//!   fault; an in-place rewrite faults nothing). [`Input::check_unchanged`]
//!   makes the same checks for callers that copy bytes without decoding.
//!
//! Reading into buffers the process owns would avoid the fault but costs a
//! copy of every byte and memory as large as the file (a merge holds all
//! inputs at once); a read lease (`F_SETLEASE`) only delays a truncating
//! writer for `lease-break-time` and is refused to non-owners and on many
//! file systems. A private mapping still faults on truncation.
//!
//! Gzip-compressed inputs and pipes are read by [`crate::spill`].

use std::fs::File;
use std::ops::Deref;
use std::path::Path;
use std::time::SystemTime;

use crate::{Error, ErrorKind, Result};

/// The bytes of an input file: memory-mapped when possible.
///
/// A regular uncompressed file is memory-mapped (no copy). A gzip-compressed
/// input (recognised by its magic bytes `1f 8b`, whatever its name; several
/// concatenated members are one stream, as for `gzip -d`) and a pipe (standard
/// input, a FIFO, `/dev/stdin`, process substitution) are read to their end
/// first: into memory up to 64 MiB, beyond that into a temporary file in
/// [`std::env::temp_dir`] (`TMPDIR`) that is unlinked as soon as it is created
/// and then mapped. A corrupt gzip stream is an [`ErrorKind::Gzip`] error,
/// never RDB data. Gzip support is the `gzip` feature (on by default);
/// without it a gzip input is an [`ErrorKind::Io`] error of kind
/// [`std::io::ErrorKind::Unsupported`] saying that gzip support is not
/// compiled in.
///
/// Bytes already in memory become an `Input` with [`From<Vec<u8>>`].
#[derive(Debug)]
pub struct Input(Bytes);

/// Where an [`Input`]'s bytes are.
#[derive(Debug)]
enum Bytes {
    /// A read-only memory map of a regular file (the input itself, or the
    /// temporary spill file of a pipe or gzip input).
    Mapped(Mapping),
    /// Bytes read into memory (empty files, small pipes or gzip inputs).
    Owned(Vec<u8>),
}

/// A read-only memory map of a regular file, guarded against the file
/// being truncated or rewritten while it is mapped (see [`Input`]).
#[derive(Debug)]
struct Mapping {
    // `Drop` unregisters the range before the fields drop, so a range is
    // never registered while unmapped.
    slot: Option<usize>,
    map: memmap2::Mmap,
}

/// What identifies a version of a file: size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

/// A live map: its range, its file and the file's stamp when it was opened.
struct Registered {
    start: usize,
    end: usize,
    file: File,
    stamp: Stamp,
}

/// Every live map, for the checks that need the file (at `EOF` and in
/// [`Input::check_unchanged`]); the signal handler uses its own lock-free
/// table instead.
static REGISTERED: std::sync::Mutex<Vec<Registered>> = std::sync::Mutex::new(Vec::new());

fn registry() -> std::sync::MutexGuard<'static, Vec<Registered>> {
    REGISTERED.lock().unwrap_or_else(|p| p.into_inner())
}

impl Drop for Mapping {
    fn drop(&mut self) {
        let start = self.map.as_ptr() as usize;
        registry().retain(|r| r.start != start);
        if let Some(s) = self.slot {
            guard::release(s);
        }
    }
}

impl Mapping {
    /// Maps `file` (a non-empty regular file, `meta` its metadata).
    fn new(file: File, meta: &std::fs::Metadata) -> std::io::Result<Mapping> {
        #[allow(unsafe_code)]
        // SAFETY: the map is read-only and rdbkit never writes to its
        // inputs. Another process may still change the file: a truncation
        // turns reads past the new end into SIGBUS, which the guard below
        // turns into zero pages and a flag (see the module documentation);
        // a rewrite in place changes bytes under us, which the decoder and
        // `check_unchanged` detect through the size and mtime. The bytes are
        // only ever read as plain `u8`, so no value can be invalid.
        let map = unsafe { memmap2::Mmap::map(&file) }?;
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Sequential);
        let start = map.as_ptr() as usize;
        let slot = guard::acquire(start, map.len());
        registry().push(Registered {
            start,
            end: start + map.len(),
            file,
            stamp: Stamp::of(meta),
        });
        Ok(Mapping { slot, map })
    }
}

/// Why the map holding address `p` no longer shows its file as it was
/// opened, if it does not; `None` also for addresses outside every map.
fn changed_at(p: usize) -> Option<String> {
    let reg = registry();
    let r = reg.iter().find(|r| r.start <= p && p < r.end)?;
    if guard::faulted_at(p) {
        return Some("the file was truncated by another process".into());
    }
    let now = match r.file.metadata() {
        Ok(m) => Stamp::of(&m),
        Err(e) => return Some(format!("it can no longer be examined: {e}")),
    };
    if now.len != r.stamp.len {
        return Some(format!(
            "its size changed from {} to {} bytes",
            r.stamp.len, now.len
        ));
    }
    if now.modified != r.stamp.modified {
        return Some("it was modified by another process".into());
    }
    None
}

impl Input {
    /// Opens `path` read-only and maps it; `-` is standard input
    /// ([`Input::stdin`]; a file named `-` can be given as `./-`). Gzip
    /// files and pipes are decompressed / read as described on [`Input`].
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when the file cannot be opened, read or mapped (naming
    /// the path); [`ErrorKind::Gzip`] for a corrupt gzip stream; an `Io` error
    /// of kind [`std::io::ErrorKind::Unsupported`] for a gzip input without the
    /// `gzip` feature.
    ///
    /// ```no_run
    /// let input = rdbkit::Input::open("dump.rdb").unwrap();
    /// println!("{} bytes", input.len());
    /// let backup = rdbkit::Input::open("dump.rdb.gz").unwrap(); // decompressed
    /// println!("{} bytes decompressed", backup.len());
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Input> {
        let path = path.as_ref();
        if path.as_os_str() == "-" {
            return Input::stdin();
        }
        let io = |e: std::io::Error| Error::io(path.display().to_string(), e);
        let f = File::open(path).map_err(io)?;
        let meta = f.metadata().map_err(io)?;
        if meta.is_file() && meta.len() > 0 && !crate::spill::starts_with_gzip(&f).map_err(io)? {
            Input::map_file(&f).map_err(io)
        } else {
            crate::spill::read_all(f, &path.display().to_string())
        }
    }

    /// Reads standard input: memory-mapped when it is a regular
    /// uncompressed file read from its start (`rdbkit verify - < dump.rdb`),
    /// otherwise read to its end as described on [`Input`] (a pipe, a gzip
    /// stream). Errors name it "standard input". Standard input can be read
    /// once per process.
    ///
    /// # Errors
    /// As [`Input::open`], naming "standard input".
    ///
    /// ```no_run
    /// // cat dump.rdb.gz | my-tool
    /// let input = rdbkit::Input::stdin().unwrap();
    /// println!("{} bytes", input.len());
    /// ```
    pub fn stdin() -> Result<Input> {
        let name = crate::spill::STDIN_NAME;
        #[cfg(unix)]
        {
            use std::io::Seek;
            use std::os::fd::AsFd;
            let io = |e: std::io::Error| Error::io(name, e);
            let stdin = std::io::stdin();
            let mut f = File::from(stdin.as_fd().try_clone_to_owned().map_err(io)?);
            let meta = f.metadata().map_err(io)?;
            if meta.is_file()
                && meta.len() > 0
                && f.stream_position().ok() == Some(0)
                && !crate::spill::starts_with_gzip(&f).map_err(io)?
            {
                return Input::map_file(&f).map_err(io);
            }
        }
        crate::spill::read_all(std::io::stdin().lock(), name)
    }

    /// Reads `reader` to its end (decompressing it if it is gzip) as
    /// described on [`Input`]. `name` names the input in error messages.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when `reader` (or the temporary spill file) fails;
    /// [`ErrorKind::Gzip`] for a corrupt gzip stream (an `Unsupported` `Io`
    /// error without the `gzip` feature).
    ///
    /// ```
    /// use std::io::Write;
    /// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    /// gz.write_all(b"REDIS0011").unwrap();
    /// let compressed = gz.finish().unwrap();
    /// # #[cfg(feature = "gzip")] {
    /// let input = rdbkit::Input::from_reader(&compressed[..], "backup.rdb.gz").unwrap();
    /// assert_eq!(&*input, b"REDIS0011");
    ///
    /// let e = rdbkit::Input::from_reader(&compressed[..20], "backup.rdb.gz").unwrap_err();
    /// assert!(matches!(e.kind(), rdbkit::ErrorKind::Gzip(_)));
    /// # }
    /// # #[cfg(not(feature = "gzip"))] {
    /// // Built without the `gzip` feature: an error that says so.
    /// let e = rdbkit::Input::from_reader(&compressed[..], "backup.rdb.gz").unwrap_err();
    /// assert_eq!(e.io_error().unwrap().kind(), std::io::ErrorKind::Unsupported);
    /// # }
    /// ```
    pub fn from_reader(reader: impl std::io::Read, name: &str) -> Result<Input> {
        crate::spill::read_all(reader, name)
    }

    /// Maps a regular, non-empty file read-only: every mapped input is
    /// made here (input files and spill files alike).
    pub(crate) fn map_file(f: &File) -> std::io::Result<Input> {
        Ok(Input(Bytes::Mapped(Mapping::new(
            f.try_clone()?,
            &f.metadata()?,
        )?)))
    }

    /// Whether the bytes are a memory map (not read into memory).
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self.0, Bytes::Mapped(_))
    }

    /// Fails with [`ErrorKind::InputChanged`] when the file is known to
    /// have changed since it was opened: truncated while mapped, or its
    /// size or modification time differ. Call it after using bytes that
    /// no decoder reached `EOF` over (copying, for example).
    ///
    /// # Errors
    /// [`ErrorKind::InputChanged`] when the mapped file was truncated, or its
    /// size or modification time changed, since it was opened.
    ///
    /// ```no_run
    /// let input = rdbkit::Input::open("dump.rdb").unwrap();
    /// // ... copy bytes out of `input` ...
    /// input.check_unchanged().expect("dump.rdb changed while it was copied");
    /// ```
    pub fn check_unchanged(&self) -> Result<()> {
        check_region(self, 0)
    }
}

/// Bytes already in memory, as an input: [`Input::check_unchanged`] never
/// fails for them.
///
/// ```
/// let input = rdbkit::Input::from(b"REDIS0011".to_vec());
/// assert_eq!(&input[..5], b"REDIS");
/// input.check_unchanged().unwrap();
/// ```
impl From<Vec<u8>> for Input {
    fn from(bytes: Vec<u8>) -> Input {
        Input(Bytes::Owned(bytes))
    }
}

impl Deref for Input {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Bytes::Mapped(m) => &m.map,
            Bytes::Owned(v) => v,
        }
    }
}

/// Whether any guarded map has faulted since the process started: cheap
/// enough to ask before every record.
#[inline]
pub(crate) fn any_fault() -> bool {
    guard::FAULTS.load(std::sync::atomic::Ordering::Relaxed) != 0
}

/// Fails when `data` lies in a guarded map that faulted (the file was
/// truncated while it was read).
pub(crate) fn check_faulted(data: &[u8], at: u64) -> Result<()> {
    if guard::faulted_at(data.as_ptr() as usize) {
        return Err(Error::new(
            ErrorKind::InputChanged("the file was truncated by another process".into()),
            at,
        ));
    }
    Ok(())
}

/// Gives back the whole pages of `bytes` (part of a mapped input) that
/// this process holds, once they were read: they stay in the page cache,
/// and reading them again maps them again, so nothing changes but the
/// process's resident memory, which then stays near what is being read
/// instead of growing to the size of the input. Bytes that are not in a
/// mapped input are left alone.
pub(crate) fn release(bytes: &[u8]) {
    guard::drop_pages(bytes.as_ptr() as usize, bytes.len());
}

/// Fails when `data` is a map whose file changed since it was opened (see
/// [`Input::check_unchanged`]); other bytes pass.
pub(crate) fn check_region(data: &[u8], at: u64) -> Result<()> {
    match changed_at(data.as_ptr() as usize) {
        Some(why) => Err(Error::new(ErrorKind::InputChanged(why), at)),
        None => Ok(()),
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod guard {
    //! The `SIGBUS` guard: a lock-free table of mapped ranges and the
    //! handler that consults it (see the module documentation above).

    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::OnceLock;

    /// How many maps can be guarded at once (an input beyond that is read
    /// into memory instead).
    const SLOTS: usize = 1024;

    struct Slot {
        start: AtomicUsize,
        end: AtomicUsize,
        faulted: AtomicBool,
    }

    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Slot = Slot {
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        faulted: AtomicBool::new(false),
    };

    static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
    /// Faults handled so far (non-zero: some decoder may have to stop).
    pub(super) static FAULTS: AtomicUsize = AtomicUsize::new(0);
    static PAGE: AtomicUsize = AtomicUsize::new(4096);
    /// The handler installed before ours, to pass foreign faults on to.
    static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

    fn install() -> bool {
        static INSTALLED: OnceLock<bool> = OnceLock::new();
        *INSTALLED.get_or_init(|| {
            // SAFETY: sysconf and sigaction are called with valid
            // arguments; the handler is async-signal-safe (atomics, mmap,
            // sigaction).
            unsafe {
                let page = libc::sysconf(libc::_SC_PAGESIZE);
                if page > 0 {
                    PAGE.store(page as usize, Ordering::Relaxed);
                }
                let mut new: libc::sigaction = std::mem::zeroed();
                new.sa_sigaction = on_sigbus as *const () as usize;
                new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut new.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(libc::SIGBUS, &new, &mut old) != 0 {
                    return false;
                }
                let _ = PREVIOUS.set(old);
            }
            true
        })
    }

    /// Registers `start..start + len`; `None` when no guard is available.
    pub(super) fn acquire(start: usize, len: usize) -> Option<usize> {
        if start == 0 || len == 0 || !install() {
            return None;
        }
        for (i, s) in TABLE.iter().enumerate() {
            if s.start
                .compare_exchange(0, start, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                s.faulted.store(false, Ordering::Release);
                s.end.store(start + len, Ordering::Release);
                return Some(i);
            }
        }
        None
    }

    /// Unregisters slot `i` (before its range is unmapped).
    pub(super) fn release(i: usize) {
        let s = &TABLE[i];
        s.end.store(0, Ordering::Release);
        s.faulted.store(false, Ordering::Release);
        s.start.store(0, Ordering::Release);
    }

    /// `madvise(MADV_DONTNEED)` on the whole pages of `start..start + len`
    /// when they lie in one registered map.
    pub(super) fn drop_pages(start: usize, len: usize) {
        let page = PAGE.load(Ordering::Relaxed);
        let from = start.saturating_add(page - 1) & !(page - 1);
        let to = start.saturating_add(len) & !(page - 1);
        if to <= from {
            return;
        }
        let inside = TABLE.iter().any(|s| {
            let start = s.start.load(Ordering::Acquire);
            start != 0 && start <= from && to <= s.end.load(Ordering::Acquire)
        });
        if inside {
            // SAFETY: `from..to` is page-aligned and lies inside a live
            // read-only map of ours (registered before use, unregistered
            // before unmapping; the caller borrows bytes of it). rdbkit never
            // writes to it, so dropping its pages loses nothing: for a shared
            // file mapping the next read maps the file's bytes again from the
            // page cache, for the guard's private zero pages it maps zeros
            // again, the same bytes as before.
            unsafe {
                libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED);
            }
        }
    }

    /// Whether `addr` lies in a guarded range that faulted.
    pub(super) fn faulted_at(addr: usize) -> bool {
        TABLE.iter().any(|s| {
            let start = s.start.load(Ordering::Acquire);
            start != 0
                && start <= addr
                && addr < s.end.load(Ordering::Acquire)
                && s.faulted.load(Ordering::Acquire)
        })
    }

    extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
        let addr = if info.is_null() {
            0
        } else {
            unsafe { (*info).si_addr() as usize }
        };
        let page = PAGE.load(Ordering::Relaxed);
        for s in TABLE.iter() {
            let start = s.start.load(Ordering::Acquire);
            let end = s.end.load(Ordering::Acquire);
            if start == 0 || addr < start || addr >= end {
                continue;
            }
            // Zero pages from the faulting page to the end of the map: the
            // file is shorter now, so every later page would fault too.
            let from = addr & !(page - 1);
            let to = (end + page - 1) & !(page - 1);
            // SAFETY: `from..to` lies inside a live read-only map of ours
            // (registered before use, released before unmapping), which
            // this replaces with private zero pages of the same access.
            let p = unsafe {
                libc::mmap(
                    from as *mut libc::c_void,
                    to - from,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                s.faulted.store(true, Ordering::Release);
                FAULTS.fetch_add(1, Ordering::AcqRel);
                return;
            }
            break;
        }
        // Not ours: pass it on to the previous handler, or let the default
        // action happen when the faulting access is retried.
        // SAFETY: the previous action is called as it was installed.
        unsafe {
            match PREVIOUS.get() {
                Some(prev)
                    if prev.sa_sigaction != libc::SIG_DFL && prev.sa_sigaction != libc::SIG_IGN =>
                {
                    if prev.sa_flags & libc::SA_SIGINFO != 0 {
                        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                            std::mem::transmute(prev.sa_sigaction);
                        f(sig, info, ctx);
                    } else {
                        let f: extern "C" fn(libc::c_int) = std::mem::transmute(prev.sa_sigaction);
                        f(sig);
                    }
                }
                _ => {
                    let mut dfl: libc::sigaction = std::mem::zeroed();
                    dfl.sa_sigaction = libc::SIG_DFL;
                    libc::sigemptyset(&mut dfl.sa_mask);
                    libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod guard {
    //! No `SIGBUS` guard on this platform: maps are unguarded, and a
    //! truncation while reading is caught only by the size check.
    use std::sync::atomic::AtomicUsize;
    pub(super) static FAULTS: AtomicUsize = AtomicUsize::new(0);
    pub(super) fn acquire(_: usize, _: usize) -> Option<usize> {
        None
    }
    pub(super) fn release(_: usize) {}
    pub(super) fn drop_pages(_: usize, _: usize) {}
    pub(super) fn faulted_at(_: usize) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, len: usize) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("rdbkit-file-{}-{name}", std::process::id()));
        std::fs::write(&p, vec![7u8; len]).unwrap();
        p
    }

    #[test]
    fn truncated_map_reads_zeros_and_reports_the_change() {
        let p = temp("trunc", 1 << 20);
        let input = Input::open(&p).unwrap();
        assert!(input.check_unchanged().is_ok());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(4096)
            .unwrap();
        // Past the new end: without the guard this read is SIGBUS.
        assert_eq!(input[1 << 19], 0);
        assert_eq!(input[100], 7);
        let e = input.check_unchanged().unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InputChanged(_)), "{e}");
        assert!(e.to_string().contains("truncated"), "{e}");
        drop(input);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn a_rewritten_file_is_reported() {
        let p = temp("rewrite", 10000);
        let input = Input::open(&p).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        std::io::Write::write_all(&mut f, b"x").unwrap();
        drop(f);
        let e = input.check_unchanged().unwrap_err();
        assert!(e.to_string().contains("modified"), "{e}");
        drop(input);
        std::fs::remove_file(&p).unwrap();
    }
}
