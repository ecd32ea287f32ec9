//! Writing outputs without ever destroying anything.
//!
//! Every file rdbkit writes (a merged or converted dump, a report) goes
//! through [`AtomicFile`]: a temporary file beside the destination, written,
//! `fsync`ed and then renamed into place, so the destination is either the
//! old file or the complete new one. Before any work starts:
//!
//! * [`check_paths`] compares every destination with every input and with
//!   each other by file identity (device and inode after following
//!   symbolic links; for a destination that does not exist yet, its
//!   resolved directory and name), so no output can replace an input or
//!   another output, and the same input cannot be given twice;
//! * [`AtomicFile::create`] refuses a destination that exists unless told
//!   to replace it, refuses anything but a regular file or a symbolic link
//!   (never a device such as `/dev/null`, a FIFO or a directory), and
//!   creates the temporary file at once, so an unwritable directory fails
//!   before the work.
//!
//! Temporary files are named `.NAME.rdbkit-HOST-PID-N.tmp` (the host name
//! keeps a process of another machine or container sharing the directory
//! from being taken for a dead one here). A dropped
//! [`AtomicFile`] removes its own; [`remove_temporaries`] removes every live
//! one (for a process about to exit on a signal); and
//! [`AtomicFile::create`] removes those left in the same directory by an
//! rdbkit process of this host that no longer runs (killed, or the machine
//! lost power), listing them in [`AtomicFile::stale_removed`]. Outputs
//! published together (the files of a split) wait in a [`StagingDir`],
//! cleaned up the same ways.
//!
//! ```
//! use rdbkit::atomic::AtomicFile;
//! use std::io::Write;
//! let dir = std::env::temp_dir().join(format!("rdbkit-atomic-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let dest = dir.join("report.json");
//! let mut f = AtomicFile::create(&dest, false).unwrap();
//! f.file().write_all(b"{}\n").unwrap();
//! f.commit().unwrap();
//! assert_eq!(std::fs::read(&dest).unwrap(), b"{}\n");
//! // An existing file is replaced only when asked to:
//! assert!(AtomicFile::create(&dest, false).is_err());
//! assert!(AtomicFile::create(&dest, true).is_ok());
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Live temporary files of this process, for [`remove_temporaries`].
/// `None` once they were removed for exiting: no new one may be created.
static LIVE: Mutex<Option<Vec<PathBuf>>> = Mutex::new(Some(Vec::new()));
static SEQ: AtomicU64 = AtomicU64::new(0);

fn live() -> std::sync::MutexGuard<'static, Option<Vec<PathBuf>>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes every temporary file this process has open for writing, and
/// prevents new ones (creating one then fails with `Interrupted`). For a
/// process about to exit without unwinding, e.g. on a second `SIGINT`.
/// Returns the files removed.
///
/// ```
/// // Nothing is being written in this example.
/// assert!(rdbkit::atomic::remove_temporaries().is_empty());
/// ```
pub fn remove_temporaries() -> Vec<PathBuf> {
    // Taking the list leaves `None`: a temporary file created after this
    // point is refused, so none can escape the clean-up.
    let files = live().take().unwrap_or_default();
    for f in &files {
        // A staging directory goes with the finished files inside it.
        if fs::symlink_metadata(f).is_ok_and(|m| m.is_dir()) {
            empty_and_remove(f, &[]);
        } else {
            let _ = fs::remove_file(f);
        }
    }
    files
}

/// The directory a destination is written in.
pub fn dir_of(dest: &Path) -> &Path {
    dest.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn host() -> String {
    let h = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let h: String = h
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(32)
        .collect();
    if h.is_empty() {
        "host".into()
    } else {
        h
    }
}

const TAG: &str = ".rdbkit-";

fn temp_name(dest: &Path, suffix: &str) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    dir_of(dest).join(format!(
        ".{name}{TAG}{}-{}-{seq}{suffix}.tmp",
        host(),
        std::process::id()
    ))
}

/// The PID in a temporary file name of this host (`.X.rdbkit-HOST-PID-N….tmp`).
fn temp_pid(name: &str, host: &str) -> Option<u32> {
    if !name.starts_with('.') || !name.ends_with(".tmp") {
        return None;
    }
    let rest = &name[name.rfind(TAG)? + TAG.len()..];
    let rest = rest.strip_prefix(host)?.strip_prefix('-')?;
    let (pid, after) = rest.split_once('-')?;
    let seq_end = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    if seq_end == 0 {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` runs (`None`: cannot tell on this system).
fn alive(pid: u32) -> Option<bool> {
    if !Path::new("/proc/self").exists() {
        return None;
    }
    Some(Path::new(&format!("/proc/{pid}")).exists())
}

/// The PID in a staging directory name of this host
/// (`.rdbkit-TAG-HOST-PID-N`, TAG in ASCII letters).
fn staging_pid(name: &str, host: &str) -> Option<u32> {
    let (tag, rest) = name.strip_prefix(TAG)?.split_once('-')?;
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let (pid, seq) = rest
        .strip_prefix(host)?
        .strip_prefix('-')?
        .split_once('-')?;
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Removes `dir` with the files in it when it holds nothing but regular
/// files, none of them `keep`; otherwise (a subdirectory, a link, an input)
/// leaves it whole. Returns whether `dir` is gone.
fn empty_and_remove(dir: &Path, keep: &[Identity]) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    let mut files = Vec::new();
    for e in entries {
        let Ok(e) = e else { return false };
        let path = e.path();
        if !e.file_type().is_ok_and(|t| t.is_file())
            || identity(&path).is_some_and(|id| keep.contains(&id))
        {
            return false;
        }
        files.push(path);
    }
    for f in &files {
        let _ = fs::remove_file(f);
    }
    fs::remove_dir(dir).is_ok()
}

/// Removes what dead rdbkit processes of this host left in `dir`:
/// temporary files, and staging directories ([`StagingDir`]) with the
/// files in them; never `keep` (inputs: a stale file given as an input
/// stays, and so does a staging directory holding one).
fn remove_stale(dir: &Path, keep: &[Identity]) -> Vec<PathBuf> {
    let me = std::process::id();
    let host = host();
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let (pid, staging) = match (temp_pid(&name, &host), staging_pid(&name, &host)) {
            (Some(pid), _) => (pid, false),
            (None, Some(pid)) => (pid, true),
            (None, None) => continue,
        };
        if pid == me || alive(pid) != Some(false) {
            continue;
        }
        let path = e.path();
        let Ok(t) = e.file_type() else { continue };
        let gone = if staging {
            t.is_dir() && empty_and_remove(&path, keep)
        } else {
            t.is_file()
                && !identity(&path).is_some_and(|id| keep.contains(&id))
                && fs::remove_file(&path).is_ok()
        };
        if gone {
            removed.push(path);
        }
    }
    removed
}

/// What names a file: device and inode when it exists (symbolic links
/// followed), else its resolved directory and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    Inode(u64, u64),
    Path(PathBuf),
}

pub(crate) fn identity(p: &Path) -> Option<Identity> {
    // `-` reads standard input: whatever file or pipe that is.
    let p = if p.as_os_str() == "-" {
        Path::new("/dev/stdin")
    } else {
        p
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = fs::metadata(p) {
            return Some(Identity::Inode(m.dev(), m.ino()));
        }
    }
    #[cfg(not(unix))]
    if let Ok(c) = fs::canonicalize(p) {
        return Some(Identity::Path(c));
    }
    let dir = fs::canonicalize(dir_of(p)).ok()?;
    Some(Identity::Path(dir.join(p.file_name()?)))
}

/// A path a command reads or writes, with what it is for the messages
/// (`"input 2"`, `"the output"`, `"the report"`).
#[derive(Debug, Clone, Copy)]
pub struct Role<'a> {
    /// What the path is for.
    pub what: &'a str,
    /// The path as given.
    pub path: &'a Path,
}

/// Checks, before any work, that no two of `inputs` are the same file and
/// that no output is an input or another output (compared by file
/// identity: device and inode through symbolic links, `.` and `..`).
/// The error names both paths.
///
/// # Errors
/// A [`PathClash`] naming both roles when an output is an input, a second
/// output, or the same file under another name (hard or symbolic link).
///
/// ```
/// use rdbkit::atomic::{check_paths, PathClash, Role};
/// use std::path::Path;
/// let dir = std::env::temp_dir().join(format!("rdbkit-paths-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let a = dir.join("a.rdb");
/// std::fs::write(&a, b"x").unwrap();
/// let a2 = dir.join(".").join("a.rdb");
/// let input = [Role { what: "input 1", path: &a }];
/// let report = [Role { what: "the report", path: &a2 }];
/// let e = check_paths(&input, &report).unwrap_err();
/// match &e {
///     PathClash::OutputIsInput { output, input } => {
///         assert_eq!((output.what.as_str(), input.what.as_str()), ("the report", "input 1"));
///         assert_eq!(input.path, a);
///     }
///     other => panic!("{other}"),
/// }
/// assert!(e.to_string().contains("the report would overwrite input 1"), "{e}");
/// let ok = dir.join("out.rdb");
/// assert!(check_paths(&input, &[Role { what: "the output", path: &ok }]).is_ok());
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn check_paths(inputs: &[Role<'_>], outputs: &[Role<'_>]) -> Result<(), PathClash> {
    let ids = |rs: &[Role<'_>]| -> Vec<Option<Identity>> {
        rs.iter().map(|r| identity(r.path)).collect()
    };
    let (iid, oid) = (ids(inputs), ids(outputs));
    for (i, a) in inputs.iter().enumerate() {
        for (j, b) in inputs.iter().enumerate().skip(i + 1) {
            if a.path.as_os_str() == "-" && b.path.as_os_str() == "-" {
                return Err(PathClash::StdinTwice {
                    first: a.named(),
                    second: b.named(),
                });
            }
            if iid[i].is_some() && iid[i] == iid[j] {
                return Err(PathClash::InputTwice {
                    first: a.named(),
                    second: b.named(),
                });
            }
        }
    }
    for (i, o) in outputs.iter().enumerate() {
        if o.path.as_os_str().is_empty() {
            return Err(PathClash::EmptyOutput(o.named()));
        }
        for (j, a) in inputs.iter().enumerate() {
            if oid[i].is_some() && oid[i] == iid[j] {
                return Err(PathClash::OutputIsInput {
                    output: o.named(),
                    input: a.named(),
                });
            }
        }
        for (j, b) in outputs.iter().enumerate().skip(i + 1) {
            if oid[i].is_some() && oid[i] == oid[j] {
                return Err(PathClash::OutputTwice {
                    first: o.named(),
                    second: b.named(),
                });
            }
        }
    }
    Ok(())
}

impl Role<'_> {
    /// An owned copy, for an error.
    ///
    /// ```
    /// use rdbkit::atomic::Role;
    /// let n = Role { what: "input 1", path: "a.rdb".as_ref() }.named();
    /// assert_eq!((n.what.as_str(), n.path.to_str()), ("input 1", Some("a.rdb")));
    /// ```
    pub fn named(&self) -> NamedPath {
        NamedPath {
            what: self.what.to_owned(),
            path: self.path.to_path_buf(),
        }
    }
}

/// A path with what it is for (an owned [`Role`]), as a [`PathClash`]
/// names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPath {
    /// What the path is for (`"input 2"`, `"the output"`).
    pub what: String,
    /// The path as given.
    pub path: PathBuf,
}

/// Why [`check_paths`] refused a set of paths; each variant carries the
/// two paths involved (one for [`PathClash::EmptyOutput`]) with their
/// roles.
///
/// ```
/// use rdbkit::atomic::{check_paths, PathClash, Role};
/// use std::path::Path;
/// let (a, b) = (Path::new("-"), Path::new("-"));
/// let inputs = [Role { what: "input 1", path: a }, Role { what: "input 2", path: b }];
/// let e = check_paths(&inputs, &[]).unwrap_err();
/// assert!(matches!(e, PathClash::StdinTwice { .. }));
/// assert_eq!(
///     e.to_string(),
///     "standard input ('-') can be only one of the inputs (input 1 and input 2)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathClash {
    /// Two inputs are standard input (`-`).
    StdinTwice {
        /// The first of them.
        first: NamedPath,
        /// The second.
        second: NamedPath,
    },
    /// Two inputs are the same file.
    InputTwice {
        /// The first of them.
        first: NamedPath,
        /// The second.
        second: NamedPath,
    },
    /// An output has an empty path.
    EmptyOutput(NamedPath),
    /// An output is one of the inputs: writing it would replace the input.
    OutputIsInput {
        /// The output.
        output: NamedPath,
        /// The input it would replace.
        input: NamedPath,
    },
    /// Two outputs are the same file.
    OutputTwice {
        /// The first of them.
        first: NamedPath,
        /// The second.
        second: NamedPath,
    },
}

impl std::fmt::Display for PathClash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |p: &Path| {
            if p.as_os_str() == "-" {
                "standard input".to_string()
            } else {
                format!("'{}'", p.display())
            }
        };
        let both = |a: &NamedPath, b: &NamedPath| {
            if a.path == b.path {
                shown(&a.path)
            } else {
                format!("{} and {}", shown(&a.path), shown(&b.path))
            }
        };
        match self {
            PathClash::StdinTwice { first, second } => write!(
                f,
                "standard input ('-') can be only one of the inputs ({} and {})",
                first.what, second.what
            ),
            PathClash::InputTwice { first, second } => write!(
                f,
                "{} and {} are the same file ({}); give each file once",
                first.what,
                second.what,
                both(first, second)
            ),
            PathClash::EmptyOutput(o) => write!(f, "{} has an empty path", o.what),
            PathClash::OutputIsInput { output, input } => write!(
                f,
                "{} would overwrite {} ({}); choose another file",
                output.what,
                input.what,
                both(output, input)
            ),
            PathClash::OutputTwice { first, second } => write!(
                f,
                "{} and {} are the same file ({}); choose different files",
                first.what,
                second.what,
                both(first, second)
            ),
        }
    }
}

impl std::error::Error for PathClash {}

/// Why a destination cannot be written.
#[derive(Debug)]
pub enum CreateError {
    /// The destination exists and replacing it was not asked for (the
    /// `replace` argument of [`AtomicFile::create`]).
    Exists(PathBuf),
    /// The destination is not something rdbkit may replace (a directory, a
    /// device, a FIFO, a socket, `-`, a path without a file name).
    NotAFile(PathBuf, &'static str),
    /// The temporary file cannot be created (directory missing, not
    /// writable, disk full, ...).
    Io(PathBuf, io::Error),
    /// Temporary files were removed for exiting ([`remove_temporaries`]).
    Interrupted,
}

impl std::fmt::Display for CreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CreateError::Exists(p) => write!(f, "{} exists", p.display()),
            CreateError::NotAFile(p, what) => write!(f, "{}: {what}", p.display()),
            CreateError::Io(p, e) => write!(f, "cannot create a file in {}: {e}", p.display()),
            CreateError::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for CreateError {}

/// A destination being written through a temporary file beside it; see
/// the [module documentation](self).
#[derive(Debug)]
pub struct AtomicFile {
    dest: PathBuf,
    tmp: PathBuf,
    file: File,
    replace: bool,
    stale: Vec<PathBuf>,
}

/// Creates `path` (which must not exist) and registers it for clean-up.
fn create_temp(path: &Path) -> Result<File, CreateError> {
    let mut l = live();
    let Some(list) = l.as_mut() else {
        return Err(CreateError::Interrupted);
    };
    let f = OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .open(path)
        .map_err(|e| CreateError::Io(dir_of(path).to_path_buf(), e))?;
    list.push(path.to_path_buf());
    Ok(f)
}

fn forget_temp(path: &Path) {
    if let Some(l) = live().as_mut() {
        l.retain(|p| p != path);
    }
}

/// Checks that `dest` may be written (see [`AtomicFile::create`]) without
/// creating anything.
///
/// # Errors
/// [`CreateError::NotAFile`] for `-`, a directory or anything but a
/// regular file or a symbolic link; [`CreateError::Exists`] when `dest`
/// exists and `replace` is false.
///
/// ```
/// use rdbkit::atomic::check_destination;
/// assert!(check_destination("/dev/null".as_ref(), true).is_err());
/// assert!(check_destination("-".as_ref(), true).is_err());
/// ```
pub fn check_destination(dest: &Path, replace: bool) -> Result<(), CreateError> {
    if dest.as_os_str() == "-" {
        return Err(CreateError::NotAFile(
            dest.into(),
            "standard output cannot be the destination (it is written to a temporary file, verified and renamed into place); name a file",
        ));
    }
    if dest.file_name().is_none() {
        return Err(CreateError::NotAFile(dest.into(), "is not a file name"));
    }
    if let Ok(m) = fs::symlink_metadata(dest) {
        let t = m.file_type();
        if !(t.is_file() || t.is_symlink()) {
            let what = if t.is_dir() {
                "is a directory"
            } else {
                "is not a regular file (a device, FIFO or socket); only a regular file is replaced"
            };
            return Err(CreateError::NotAFile(dest.into(), what));
        }
        if !replace {
            return Err(CreateError::Exists(dest.into()));
        }
    }
    Ok(())
}

impl AtomicFile {
    /// Checks `dest` and creates the temporary file beside it: `dest` must
    /// not exist unless `replace`, and may only be a regular file or a
    /// symbolic link (which is replaced itself; its target is untouched).
    /// Stale temporary files and staging directories ([`StagingDir`]) of
    /// dead rdbkit processes in the same directory are removed first
    /// ([`AtomicFile::stale_removed`]).
    ///
    /// # Errors
    /// As [`check_destination`]; [`CreateError::Interrupted`] after
    /// Ctrl-C; [`CreateError::Io`] when the temporary file cannot be
    /// created in `dest`'s directory.
    pub fn create(dest: &Path, replace: bool) -> Result<AtomicFile, CreateError> {
        Self::create_keeping(dest, replace, &[])
    }

    /// [`AtomicFile::create`], never removing `keep` as stale (the inputs).
    ///
    /// # Errors
    /// As [`AtomicFile::create`].
    pub fn create_keeping(
        dest: &Path,
        replace: bool,
        keep: &[&Path],
    ) -> Result<AtomicFile, CreateError> {
        check_destination(dest, replace)?;
        let keep: Vec<Identity> = keep.iter().filter_map(|p| identity(p)).collect();
        let stale = remove_stale(dir_of(dest), &keep);
        let tmp = temp_name(dest, "");
        let file = create_temp(&tmp)?;
        Ok(AtomicFile {
            dest: dest.to_path_buf(),
            tmp,
            file,
            replace,
            stale,
        })
    }

    /// A second temporary file beside the same destination (for example a
    /// compressed copy), removed when dropped; it replaces the first on
    /// [`AtomicFile::swap_in`].
    ///
    /// # Errors
    /// [`CreateError::Io`] when the second temporary file cannot be created.
    pub fn sibling(&self, suffix: &str) -> Result<(PathBuf, File), CreateError> {
        let p = temp_name(&self.dest, suffix);
        let f = create_temp(&p)?;
        Ok((p, f))
    }

    /// Makes `sibling` (from [`AtomicFile::sibling`]) the file to publish;
    /// the previous temporary file is removed.
    pub fn swap_in(&mut self, sibling: PathBuf, file: File) {
        let old = std::mem::replace(&mut self.tmp, sibling);
        self.file = file;
        let _ = fs::remove_file(&old);
        forget_temp(&old);
    }

    /// Removes a sibling temporary file that is not needed any more.
    pub fn discard_sibling(sibling: &Path) {
        let _ = fs::remove_file(sibling);
        forget_temp(sibling);
    }

    /// Stale temporary files and staging directories removed when this
    /// file was created.
    pub fn stale_removed(&self) -> &[PathBuf] {
        &self.stale
    }

    /// The file being written (opened for reading and writing; use
    /// [`File::try_clone`] to hand it to a writer that owns it).
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// The temporary file's path.
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// The destination.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes the file to disk and moves it into place. Without `replace`
    /// it is linked, which fails if the destination appeared meanwhile (it
    /// is never replaced silently). The directory is synced afterwards.
    ///
    /// # Errors
    /// The `io::Error` of the `fsync`, of the rename or link into place
    /// ([`io::ErrorKind::AlreadyExists`] when, without `replace`, the
    /// destination appeared meanwhile), or of syncing the directory. The
    /// temporary file is removed on failure.
    pub fn commit(mut self) -> io::Result<()> {
        self.file.sync_all()?;
        publish(&self.tmp, &self.dest, self.replace)?;
        forget_temp(&self.tmp);
        self.tmp = PathBuf::new();
        if let Ok(d) = File::open(dir_of(&self.dest)) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
            forget_temp(&self.tmp);
        }
    }
}

/// A directory for outputs that are published together: each is written
/// and verified inside it (through [`AtomicFile`]s of its own), then all
/// are moved into place with [`StagingDir::publish`] once every one is
/// ready, so a failure or an interruption publishes none.
///
/// It is named `.rdbkit-TAG-HOST-PID-N` in the outputs' directory (the
/// same file system, so publishing is a link or a rename). A dropped one is
/// removed with the files left in it, [`remove_temporaries`] removes the
/// live ones, and [`StagingDir::create`] removes those of rdbkit processes
/// of this host that no longer run (killed with `SIGKILL`, or the machine
/// lost power), with the stale temporary files beside them.
///
/// ```
/// use rdbkit::atomic::StagingDir;
/// let dir = std::env::temp_dir().join(format!("rdbkit-staging-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let staging = StagingDir::create(&dir, "doc", &[]).unwrap();
/// std::fs::write(staging.path().join("a.rdb"), b"finished").unwrap();
/// staging.publish("a.rdb", &dir.join("a.rdb"), false).unwrap();
/// drop(staging);
/// let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
/// assert_eq!(names, ["a.rdb"]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct StagingDir {
    path: PathBuf,
    stale: Vec<PathBuf>,
}

impl StagingDir {
    /// Creates the staging directory `tag` (ASCII letters) of this process
    /// in `parent`, which must exist. Stale staging directories and stale
    /// temporary files in `parent` are removed first, never
    /// touching `keep` (the inputs); see [`StagingDir::stale_removed`].
    ///
    /// # Errors
    /// [`CreateError::Interrupted`] after Ctrl-C; [`CreateError::Io`] when
    /// the directory cannot be created.
    pub fn create(parent: &Path, tag: &str, keep: &[&Path]) -> Result<StagingDir, CreateError> {
        let keep: Vec<Identity> = keep.iter().filter_map(|p| identity(p)).collect();
        let stale = remove_stale(parent, &keep);
        let path = parent.join(format!(
            "{TAG}{tag}-{}-{}-{}",
            host(),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let mut l = live();
        let Some(list) = l.as_mut() else {
            return Err(CreateError::Interrupted);
        };
        fs::create_dir(&path).map_err(|e| CreateError::Io(parent.to_path_buf(), e))?;
        list.push(path.clone());
        Ok(StagingDir { path, stale })
    }

    /// The directory, to write the outputs in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stale directories and temporary files removed by
    /// [`StagingDir::create`].
    pub fn stale_removed(&self) -> &[PathBuf] {
        &self.stale
    }

    /// Moves the finished file `name` of this directory to `dest` (on the
    /// same file system). Without `replace` it is linked, which fails if
    /// `dest` exists; `dest` is never a directory or a special file.
    ///
    /// # Errors
    /// The `io::Error` of the link or rename.
    pub fn publish(&self, name: &str, dest: &Path, replace: bool) -> io::Result<()> {
        publish(&self.path.join(name), dest, replace)
    }

    /// Publishes every `(name, dest)` as [`StagingDir::publish`] does, as
    /// a set: without `replace`, every `dest` is checked to be free before
    /// the first is moved, and when one fails after all (a file appeared
    /// meanwhile) those already published are taken back, so the set is
    /// published whole or not at all. With `replace` the files they
    /// replaced are gone: a failure leaves the ones before it published.
    ///
    /// # Errors
    /// The destination that failed and the `io::Error` of its check, link
    /// or rename.
    ///
    /// ```
    /// use rdbkit::atomic::StagingDir;
    /// let dir = std::env::temp_dir().join(format!("rdbkit-publish-all-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let staging = StagingDir::create(&dir, "doc", &[]).unwrap();
    /// for n in ["a.rdb", "b.rdb"] {
    ///     std::fs::write(staging.path().join(n), n).unwrap();
    /// }
    /// std::fs::write(dir.join("b.rdb"), "there before").unwrap();
    /// let set = [("a.rdb", dir.join("a.rdb")), ("b.rdb", dir.join("b.rdb"))];
    /// let (failed, _) = staging.publish_all(&set, false).unwrap_err();
    /// assert_eq!(failed, dir.join("b.rdb"));
    /// assert!(!dir.join("a.rdb").exists());
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn publish_all<P: AsRef<Path>>(
        &self,
        items: &[(&str, P)],
        replace: bool,
    ) -> Result<(), (PathBuf, io::Error)> {
        if !replace {
            for (_, dest) in items {
                let dest = dest.as_ref();
                check_destination(dest, false).map_err(|e| {
                    let e = match e {
                        CreateError::Exists(_) => io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "the file exists (it appeared meanwhile)",
                        ),
                        e => io::Error::other(e.to_string()),
                    };
                    (dest.to_path_buf(), e)
                })?;
            }
        }
        let mut done: Vec<(&Path, Option<Identity>)> = Vec::new();
        for (name, dest) in items {
            let dest = dest.as_ref();
            let id = identity(&self.path.join(name));
            if let Err(e) = self.publish(name, dest, replace) {
                if !replace {
                    // Only what this call put there, unchanged since.
                    for (d, id) in done {
                        if id.is_some() && identity(d) == id {
                            let _ = fs::remove_file(d);
                        }
                    }
                }
                return Err((dest.to_path_buf(), e));
            }
            done.push((dest, id));
        }
        if let Some(d) = items
            .first()
            .and_then(|(_, d)| File::open(dir_of(d.as_ref())).ok())
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        empty_and_remove(&self.path, &[]);
        forget_temp(&self.path);
    }
}

/// Moves the finished temporary file to `out`. Without `replace` it is
/// linked, which fails if `out` appeared meanwhile (no silent replacement).
fn publish(tmp: &Path, out: &Path, replace: bool) -> io::Result<()> {
    if let Err(CreateError::NotAFile(_, what)) = check_destination(out, true) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} changed meanwhile: {what}", out.display()),
        ));
    }
    if replace {
        return fs::rename(tmp, out);
    }
    match fs::hard_link(tmp, out) {
        Ok(()) => fs::remove_file(tmp),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) if fs::symlink_metadata(out).is_ok() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the destination appeared meanwhile",
        )),
        // File systems without hard links.
        Err(_) => fs::rename(tmp, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rdbkit-atomic-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn temp_names_parse_back() {
        let h = host();
        let t = temp_name(Path::new("/x/out.rdb"), ".gz");
        let n = t.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(temp_pid(&n, &h), Some(std::process::id()));
        assert_eq!(temp_pid(".out.rdb.rdbkit-otherhost-12-0.tmp", &h), None);
        assert_eq!(temp_pid("out.rdb", &h), None);
        assert_eq!(temp_pid(&format!(".a.rdbkit-{h}-x-0.tmp"), &h), None);
    }

    #[test]
    fn stale_files_of_dead_processes_are_removed_and_inputs_kept() {
        let d = dir("stale");
        let h = host();
        // PIDs above the kernel's maximum (4194304) never run.
        let dead = d.join(format!(".out.rdb.rdbkit-{h}-99999999-0.tmp"));
        let dead_input = d.join(format!(".in.rdb.rdbkit-{h}-99999998-0.tmp"));
        let alive = d.join(format!(".out.rdb.rdbkit-{h}-1-0.tmp"));
        let other_host = d.join(".out.rdb.rdbkit-elsewhere-99999999-0.tmp");
        for p in [&dead, &dead_input, &alive, &other_host] {
            fs::write(p, b"x").unwrap();
        }
        let f = AtomicFile::create_keeping(&d.join("out.rdb"), false, &[&dead_input]).unwrap();
        assert_eq!(f.stale_removed(), std::slice::from_ref(&dead));
        assert!(!dead.exists() && dead_input.exists() && alive.exists() && other_host.exists());
        let tmp = f.temp_path().to_path_buf();
        assert!(tmp.exists());
        drop(f);
        assert!(!tmp.exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn staging_names_parse_back() {
        let h = host();
        let d = dir("staging-names");
        let s = StagingDir::create(&d, "split", &[]).unwrap();
        let n = s.path().file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(staging_pid(&n, &h), Some(std::process::id()));
        let p = |name: String| staging_pid(&name, &h);
        assert_eq!(p(format!(".rdbkit-other-{h}-12-0")), Some(12));
        assert_eq!(p(format!(".rdbkit-split-{h}-12")), None);
        assert_eq!(p(format!(".rdbkit-split-{h}-12-x")), None);
        assert_eq!(p(format!(".rdbkit-sp1it-{h}-12-0")), None);
        assert_eq!(p(".rdbkit-split-elsewhere-12-0".into()), None);
        // Temporary file names are not staging names.
        assert_eq!(p(format!(".a.rdb.rdbkit-{h}-12-0.tmp")), None);
        drop(s);
        assert_eq!(fs::read_dir(&d).unwrap().count(), 0);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn stale_staging_of_dead_processes_is_removed_and_nothing_else() {
        let d = dir("staging-stale");
        let h = host();
        let make = |name: &str, files: &[&str]| {
            let p = d.join(name);
            fs::create_dir(&p).unwrap();
            for f in files {
                fs::write(p.join(f), b"x").unwrap();
            }
            p
        };
        // PIDs above the kernel's maximum (4194304) never run.
        let dead = make(
            &format!(".rdbkit-split-{h}-99999999-0"),
            &[
                "shard-1.rdb",
                &format!(".shard-2.rdb.rdbkit-{h}-99999999-3.tmp"),
            ],
        );
        let dead_empty = make(&format!(".rdbkit-split-{h}-99999997-1"), &[]);
        let alive = make(&format!(".rdbkit-split-{h}-1-0"), &["a.rdb"]);
        let other_host = make(".rdbkit-split-elsewhere-99999999-0", &["a.rdb"]);
        let dead_other_tag = make(&format!(".rdbkit-other-{h}-99999999-0"), &["a.rdb"]);
        let not_staging = make(&format!(".rdbkit-sp1it-{h}-99999999-0"), &["a.rdb"]);
        let a_file = d.join(format!(".rdbkit-split-{h}-99999999-1"));
        fs::write(&a_file, b"x").unwrap();
        let with_input = make(&format!(".rdbkit-split-{h}-99999996-0"), &["in.rdb"]);
        let with_dir = make(&format!(".rdbkit-split-{h}-99999995-0"), &["a.rdb"]);
        fs::create_dir(with_dir.join("sub")).unwrap();
        let stale_file = d.join(format!(".out.rdb.rdbkit-{h}-99999999-0.tmp"));
        fs::write(&stale_file, b"x").unwrap();
        let input = with_input.join("in.rdb");
        let s = StagingDir::create(&d, "split", &[&input]).unwrap();
        let mut removed = s.stale_removed().to_vec();
        removed.sort();
        let mut want = vec![
            dead.clone(),
            dead_empty.clone(),
            dead_other_tag,
            stale_file.clone(),
        ];
        want.sort();
        assert_eq!(removed, want);
        assert!(!dead.exists() && !dead_empty.exists() && !stale_file.exists());
        assert!(a_file.is_file());
        for (kept, n) in [
            (&alive, 1),
            (&other_host, 1),
            (&not_staging, 1),
            (&with_input, 1),
            (&with_dir, 2),
        ] {
            assert_eq!(fs::read_dir(kept).unwrap().count(), n, "{kept:?}");
        }
        // Its own directory goes with what was left in it.
        fs::write(s.path().join("shard-1.rdb"), b"x").unwrap();
        let own = s.path().to_path_buf();
        drop(s);
        assert!(!own.exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn staging_publishes_without_replacing() {
        let d = dir("staging-publish");
        let s = StagingDir::create(&d, "split", &[]).unwrap();
        fs::write(s.path().join("a.rdb"), b"new").unwrap();
        fs::write(d.join("a.rdb"), b"old").unwrap();
        let e = s.publish("a.rdb", &d.join("a.rdb"), false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(d.join("a.rdb")).unwrap(), b"old");
        fs::create_dir(d.join("dir")).unwrap();
        assert!(s.publish("a.rdb", &d.join("dir"), true).is_err());
        s.publish("a.rdb", &d.join("a.rdb"), true).unwrap();
        assert_eq!(fs::read(d.join("a.rdb")).unwrap(), b"new");
        drop(s);
        let mut names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["a.rdb", "dir"]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_set_is_published_whole_or_not_at_all() {
        let d = dir("publish-all");
        let s = StagingDir::create(&d, "split", &[]).unwrap();
        for n in ["a", "b", "c"] {
            fs::write(s.path().join(n), n).unwrap();
        }
        let set = |names: &[&'static str]| -> Vec<(&'static str, PathBuf)> {
            names.iter().map(|&n| (n, d.join(n))).collect()
        };
        // "missing" fails after "a" and "b" were linked: both taken back.
        let e = s
            .publish_all(&set(&["a", "b", "missing"]), false)
            .unwrap_err();
        assert_eq!(e.0, d.join("missing"));
        assert_eq!(e.1.kind(), io::ErrorKind::NotFound);
        assert!(!d.join("a").exists() && !d.join("b").exists());
        // Taken back means gone: the staged copies were moved, not kept.
        assert!(!s.path().join("a").exists());
        // A file that was replaced meanwhile is not the one published: kept.
        fs::write(s.path().join("a"), "a").unwrap();
        fs::write(s.path().join("b"), "b").unwrap();
        fs::write(d.join("c"), "someone else's").unwrap();
        let e = s.publish_all(&set(&["a", "b", "c"]), false).unwrap_err();
        assert_eq!(e.0, d.join("c"));
        assert_eq!(e.1.kind(), io::ErrorKind::AlreadyExists);
        assert!(!d.join("a").exists(), "checked before anything moved");
        assert_eq!(fs::read(d.join("c")).unwrap(), b"someone else's");
        s.publish_all(&set(&["a", "b"]), false).unwrap();
        assert_eq!(fs::read(d.join("b")).unwrap(), b"b");
        // With replace, existing files are replaced.
        fs::write(s.path().join("c"), "c").unwrap();
        s.publish_all(&set(&["c"]), true).unwrap();
        assert_eq!(fs::read(d.join("c")).unwrap(), b"c");
        drop(s);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn special_files_and_directories_are_never_replaced() {
        let d = dir("special");
        assert!(matches!(
            AtomicFile::create(Path::new("/dev/null"), true),
            Err(CreateError::NotAFile(..))
        ));
        assert!(matches!(
            AtomicFile::create(&d, true),
            Err(CreateError::NotAFile(..))
        ));
        assert!(matches!(
            AtomicFile::create(Path::new("-"), true),
            Err(CreateError::NotAFile(..))
        ));
        assert!(matches!(
            AtomicFile::create(&d.join("missing/out.rdb"), true),
            Err(CreateError::Io(..))
        ));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn same_files_are_found_through_links_and_dots() {
        let d = dir("same");
        let a = d.join("a.rdb");
        fs::write(&a, b"x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&a, d.join("link.rdb")).unwrap();
        let b = d.join("sub/../a.rdb");
        fs::create_dir_all(d.join("sub")).unwrap();
        let inputs = [Role {
            what: "input 1",
            path: &a,
        }];
        for p in [b.clone(), d.join("link.rdb"), d.join("./a.rdb")] {
            let e = check_paths(
                &inputs,
                &[Role {
                    what: "the report",
                    path: &p,
                }],
            )
            .unwrap_err();
            assert!(e.to_string().contains("would overwrite input 1"), "{e}");
        }
        // Two outputs that do not exist yet, named differently.
        let o1 = d.join("new.json");
        let o2 = d.join("sub/../new.json");
        let e = check_paths(
            &[],
            &[
                Role {
                    what: "the output",
                    path: &o1,
                },
                Role {
                    what: "the report",
                    path: &o2,
                },
            ],
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("the output and the report are the same file"),
            "{e}"
        );
        // The same input twice.
        let e = check_paths(
            &[
                Role {
                    what: "input 1",
                    path: &a,
                },
                Role {
                    what: "input 2",
                    path: &b,
                },
            ],
            &[],
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("input 1 and input 2 are the same file"),
            "{e}"
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
