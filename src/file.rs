//! Opening input files: a read-only memory map (the one place that needs
//! `unsafe`), with an in-memory fallback for pipes and empty files.
//! Gzip-compressed inputs and pipes are read by [`crate::spill`].

use std::fs::File;
use std::ops::Deref;
use std::path::Path;

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
/// never RDB data.
#[derive(Debug)]
pub enum Input {
    /// A read-only memory map (of the file, or of the temporary spill file).
    Mapped(memmap2::Mmap),
    /// Bytes read into memory (empty files, small pipes or gzip inputs).
    Owned(Vec<u8>),
}

impl Input {
    /// Opens `path` read-only and maps it; `-` is standard input
    /// ([`Input::stdin`]; a file named `-` can be given as `./-`). Gzip
    /// files and pipes are decompressed / read as described on [`Input`].
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
        let io =
            |e: std::io::Error| Error::new(ErrorKind::Io(format!("{}: {e}", path.display())), 0);
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
            let io = |e: std::io::Error| Error::new(ErrorKind::Io(format!("{name}: {e}")), 0);
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
    /// ```
    /// use std::io::Write;
    /// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    /// gz.write_all(b"REDIS0011").unwrap();
    /// let compressed = gz.finish().unwrap();
    /// let input = rdbkit::Input::from_reader(&compressed[..], "backup.rdb.gz").unwrap();
    /// assert_eq!(&*input, b"REDIS0011");
    ///
    /// let e = rdbkit::Input::from_reader(&compressed[..20], "backup.rdb.gz").unwrap_err();
    /// assert!(matches!(e.kind(), rdbkit::ErrorKind::Gzip(_)));
    /// ```
    pub fn from_reader(reader: impl std::io::Read, name: &str) -> Result<Input> {
        crate::spill::read_all(reader, name)
    }

    /// Maps a regular, non-empty file read-only: every [`Input::Mapped`] is
    /// made here (input files and spill files alike).
    pub(crate) fn map_file(f: &File) -> std::io::Result<Input> {
        {
            #[allow(unsafe_code)]
            // SAFETY: the map is read-only and private to this process. If
            // another process truncates the file while it is mapped, reads
            // may fault (SIGBUS); rdbkit never writes to its inputs.
            let map = unsafe { memmap2::Mmap::map(f) }?;
            #[cfg(unix)]
            let _ = map.advise(memmap2::Advice::Sequential);
            Ok(Input::Mapped(map))
        }
    }
}

impl Deref for Input {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Input::Mapped(m) => m,
            Input::Owned(v) => v,
        }
    }
}
