//! Opening input files: a read-only memory map (the one place that needs
//! `unsafe`), with an in-memory fallback for pipes and empty files.

use std::fs::File;
use std::ops::Deref;
use std::path::Path;

use crate::{Error, ErrorKind, Result};

/// The bytes of an input file: memory-mapped when possible.
#[derive(Debug)]
pub enum Input {
    /// A read-only memory map.
    Mapped(memmap2::Mmap),
    /// Bytes read into memory (empty files, pipes).
    Owned(Vec<u8>),
}

impl Input {
    /// Opens `path` read-only and maps it.
    ///
    /// ```no_run
    /// let input = rdbkit::Input::open("dump.rdb").unwrap();
    /// println!("{} bytes", input.len());
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Input> {
        let path = path.as_ref();
        let io =
            |e: std::io::Error| Error::new(ErrorKind::Io(format!("{}: {e}", path.display())), 0);
        let f = File::open(path).map_err(io)?;
        let meta = f.metadata().map_err(io)?;
        if meta.is_file() && meta.len() > 0 {
            #[allow(unsafe_code)]
            // SAFETY: the map is read-only and private to this process. If
            // another process truncates the file while it is mapped, reads
            // may fault (SIGBUS); rdbkit never writes to its inputs.
            let map = unsafe { memmap2::Mmap::map(&f) }.map_err(io)?;
            #[cfg(unix)]
            let _ = map.advise(memmap2::Advice::Sequential);
            Ok(Input::Mapped(map))
        } else {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut &f, &mut v).map_err(io)?;
            Ok(Input::Owned(v))
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
