//! Typed errors. Every error carries the byte offset in the input where the
//! problem was found and, when known, the key being read.

use std::fmt;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, without the location (see [`Error`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended before a field of `needed` bytes could be read.
    #[error(
        "unexpected end of input while reading {what} (needed {needed} bytes, {available} left)"
    )]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes left in the input.
        available: u64,
    },
    /// The file does not start with `REDIS` or `VALKEY`.
    #[error("not an RDB file: bad magic {0:?}")]
    BadMagic(String),
    /// The version is newer than this decoder knows, or otherwise not accepted.
    #[error("unsupported RDB version {version} ({magic} magic): {why}")]
    UnsupportedVersion {
        /// Version number from the header.
        version: u32,
        /// `REDIS` or `VALKEY`.
        magic: &'static str,
        /// Why it is refused.
        why: &'static str,
    },
    /// A byte in opcode/type position that is not valid for this file's lineage and version.
    #[error("unknown opcode or value type {byte} for {lineage} RDB {version}")]
    UnknownType {
        /// The offending byte.
        byte: u8,
        /// `Redis` or `Valkey`.
        lineage: &'static str,
        /// File version.
        version: u32,
    },
    /// A length prefix byte `0x82..=0xBF`.
    #[error("invalid length encoding byte 0x{0:02x}")]
    BadLengthEncoding(u8),
    /// A special string encoding byte other than INT8/16/32/LZF.
    #[error("invalid string encoding 0x{0:02x}")]
    BadStringEncoding(u8),
    /// A length or count larger than what the remaining input can hold.
    #[error("{what} {value} exceeds what the remaining {remaining} bytes can hold")]
    LengthTooLarge {
        /// What the length describes.
        what: &'static str,
        /// The claimed length.
        value: u64,
        /// Bytes left in the input.
        remaining: u64,
    },
    /// A configured limit was exceeded (see [`crate::Limits`]).
    #[error("{what} {value} exceeds the limit {limit}")]
    LimitExceeded {
        /// What was limited.
        what: &'static str,
        /// The value found.
        value: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A compressed string is corrupt.
    #[error("corrupt LZF data: {0}")]
    Lzf(String),
    /// A structural problem inside an embedded blob (listpack, ziplist, intset, zipmap).
    #[error("corrupt {blob}: {what} (at offset {at} inside the blob)")]
    Blob {
        /// Which blob kind.
        blob: &'static str,
        /// What is wrong.
        what: String,
        /// Offset inside the (decompressed) blob.
        at: usize,
    },
    /// A value's content is invalid (a sanitize check failed).
    #[error("invalid {value_type} value: {what}")]
    InvalidValue {
        /// The value type.
        value_type: &'static str,
        /// What is wrong.
        what: String,
    },
    /// Any other structural problem.
    #[error("{0}")]
    Corrupt(String),
    /// A value was asked for as a type it is not (`stream()` on a string,
    /// `next_field` on a list cursor): a mistake of the caller, not of the
    /// data.
    #[error("value of type {rdb_type} ({kind}) is not {wanted}")]
    WrongType {
        /// The value's RDB type byte.
        rdb_type: u8,
        /// Its type name.
        kind: &'static str,
        /// What was asked for.
        wanted: &'static str,
    },
    /// A pre-release module value (type 6) cannot be skipped without the module.
    #[error("pre-release module value (type 6, module {0}) cannot be skipped: its length is not recorded")]
    PreReleaseModule(String),
    /// The same key appears twice in one database (Redis panics loading such a file).
    #[error("duplicate key in db {db} (first seen at byte offset {first_offset})")]
    DuplicateKey {
        /// Database number.
        db: u64,
        /// Offset of the first occurrence.
        first_offset: u64,
    },
    /// The stored CRC-64 does not match the content.
    #[error("checksum mismatch: stored 0x{stored:016x}, computed 0x{computed:016x}")]
    ChecksumMismatch {
        /// Value in the file.
        stored: u64,
        /// Value computed over header..EOF.
        computed: u64,
    },
    /// A gzip-compressed input is corrupt: a bad member header, a CRC-32 or
    /// length trailer that does not match, invalid deflate data, or a stream
    /// that ends inside a member. The error's offset counts compressed bytes
    /// (how far the decompressor got); no byte of the stream was decoded as
    /// RDB data.
    #[error("corrupt gzip stream ({0}), in the compressed data")]
    Gzip(String),
    /// An I/O error (opening, mapping, reading a pipe, writing), with what
    /// was being done and the operating system's error ([`Error::io_error`]
    /// gives it back, e.g. to tell a closed pipe apart).
    #[error("{}", io_text(.context, .source))]
    Io {
        /// What was being done, naming the file (`"dump.rdb"`,
        /// `"writing out.rdb"`); empty when the caller adds it.
        context: String,
        /// The operating system's error.
        source: IoError,
    },
    /// The input file changed while it was being read: truncated, resized
    /// or rewritten by another process. Nothing decoded from it can be
    /// trusted (see [`crate::Input`]).
    #[error("input changed while being read: {0}")]
    InputChanged(String),
    /// The work was stopped by [`crate::interrupt::request`] (for example
    /// on Ctrl-C).
    #[error("interrupted")]
    Interrupted,
    /// An encoder could not represent a value in the chosen target.
    #[error("cannot encode: {0}")]
    Encode(String),
    /// Writing a value for the target would lose information, and that
    /// [`Loss`] was not allowed (see [`Loss::permission`]). Nothing of the
    /// value was written.
    ///
    /// ```
    /// use rdbkit::encode::{AllowLoss, HashEntry, Losses, OwnedValue, Target};
    /// use rdbkit::{ErrorKind, Loss};
    /// let h = OwnedValue::Hash(vec![HashEntry {
    ///     field: b"f".to_vec(),
    ///     value: b"v".to_vec(),
    ///     expire_ms: Some(1_700_000_000_000),
    /// }]);
    /// let mut losses = Losses::default();
    /// let e = h.encode(Target::redis(11), AllowLoss::default(), &mut losses).unwrap_err();
    /// assert!(matches!(e.kind(), ErrorKind::LossNotAllowed { loss: Loss::FieldTtls, .. }));
    /// assert!(e.to_string().contains("AllowLoss::field_ttls"), "{e}");
    /// // Allowed, the TTL is dropped and counted.
    /// let allow = AllowLoss { field_ttls: true, ..AllowLoss::default() };
    /// h.encode(Target::redis(11), allow, &mut losses).unwrap();
    /// assert_eq!(losses.field_ttls, 1);
    /// ```
    #[error("cannot encode: {detail}; dropping the {loss} needs {}", .loss.permission())]
    LossNotAllowed {
        /// What would be lost.
        loss: Loss,
        /// How much of it, and why the target cannot hold it.
        detail: String,
    },
}

/// Information a conversion drops only when the caller allows it: what an
/// [`ErrorKind::LossNotAllowed`] error refuses to lose. Each kind has its
/// permission, named by [`Loss::permission`].
///
/// ```
/// use rdbkit::Loss;
/// assert_eq!(Loss::FieldTtls.to_string(), "hash field TTLs");
/// assert_eq!(Loss::StreamMetadata.permission(), "AllowLoss::stream_metadata");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Loss {
    /// Hash field TTLs, for a target before Redis RDB 12 / Valkey 9 or a
    /// server without `HPEXPIREAT`; allowed by
    /// [`AllowLoss::field_ttls`](crate::encode::AllowLoss::field_ttls).
    FieldTtls,
    /// Stream metadata the target's stream type or the server's commands
    /// cannot carry (entries added, max deleted id, first id, consumer
    /// group read counters, IDMP state, a length with no entries); allowed
    /// by [`AllowLoss::stream_metadata`](crate::encode::AllowLoss::stream_metadata).
    StreamMetadata,
    /// Function libraries, for a target before RDB 10 (Redis 7.0) or a
    /// server without functions; allowed by
    /// [`MergeOptions::drop_functions`](crate::merge::MergeOptions::drop_functions)
    /// or [`RespOptions::drop_functions`](crate::export::resp::RespOptions::drop_functions).
    Functions,
}

impl Loss {
    /// The library setting that allows this loss: `AllowLoss::field_ttls`,
    /// `AllowLoss::stream_metadata` or the `drop_functions` option.
    ///
    /// ```
    /// assert_eq!(rdbkit::Loss::FieldTtls.permission(), "AllowLoss::field_ttls");
    /// ```
    pub fn permission(self) -> &'static str {
        match self {
            Loss::FieldTtls => "AllowLoss::field_ttls",
            Loss::StreamMetadata => "AllowLoss::stream_metadata",
            Loss::Functions => "the drop_functions option",
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Loss::FieldTtls => "hash field TTLs",
            Loss::StreamMetadata => "stream metadata",
            Loss::Functions => "function libraries",
        })
    }
}

fn io_text(context: &str, source: &IoError) -> String {
    if context.is_empty() {
        format!("I/O error: {source}")
    } else {
        format!("{context}: {source}")
    }
}

/// An [`std::io::Error`] kept inside an [`ErrorKind`] (which is `Clone` and
/// `PartialEq`): shared, and compared by kind and message.
#[derive(Debug, Clone)]
pub struct IoError(std::sync::Arc<std::io::Error>);

impl IoError {
    /// The operating system's error.
    pub fn get(&self) -> &std::io::Error {
        &self.0
    }
}

impl PartialEq for IoError {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind() == other.0.kind() && self.0.to_string() == other.0.to_string()
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// An error with its location: byte offset in the input and, when known, the key.
/// (Boxed, so that `Result`s on the decoding hot path stay small.)
#[derive(Debug, Clone, PartialEq)]
pub struct Error(Box<Inner>);

#[derive(Debug, Clone, PartialEq)]
struct Inner {
    kind: ErrorKind,
    offset: u64,
    key: Option<Box<[u8]>>,
}

/// The longest key prefix kept in an error message.
const KEY_IN_ERROR: usize = 200;

impl Error {
    /// Creates an error at a byte offset.
    ///
    /// ```
    /// use rdbkit::{Error, ErrorKind};
    /// let e = Error::new(ErrorKind::Corrupt("bad".into()), 42);
    /// assert_eq!(e.offset(), 42);
    /// ```
    #[cold]
    pub fn new(kind: ErrorKind, offset: u64) -> Self {
        Error(Box::new(Inner {
            kind,
            offset,
            key: None,
        }))
    }

    /// An [`ErrorKind::Io`] error: `context` says what was being done and
    /// names the file; `""` leaves that to the caller.
    ///
    /// ```
    /// use rdbkit::{Error, ErrorKind};
    /// let os = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
    /// let e = Error::io("writing standard output", os);
    /// assert_eq!(e.io_error().unwrap().kind(), std::io::ErrorKind::BrokenPipe);
    /// assert!(matches!(e.kind(), ErrorKind::Io { .. }));
    /// ```
    #[cold]
    pub fn io(context: impl Into<String>, e: std::io::Error) -> Self {
        Self::new(
            ErrorKind::Io {
                context: context.into(),
                source: IoError(std::sync::Arc::new(e)),
            },
            0,
        )
    }

    /// The operating system's error, for an [`ErrorKind::Io`] error.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match &self.0.kind {
            ErrorKind::Io { source, .. } => Some(source.get()),
            _ => None,
        }
    }

    /// An [`ErrorKind::LossNotAllowed`] error: `detail` says how much of
    /// `loss` the value holds and why the target cannot hold it.
    ///
    /// ```
    /// use rdbkit::{Error, Loss};
    /// let e = Error::loss(Loss::Functions, "2 function libraries cannot be written to REDIS0009");
    /// assert_eq!(
    ///     e.kind().to_string(),
    ///     "cannot encode: 2 function libraries cannot be written to REDIS0009; \
    ///      dropping the function libraries needs the drop_functions option"
    /// );
    /// ```
    #[cold]
    pub fn loss(loss: Loss, detail: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::LossNotAllowed {
                loss,
                detail: detail.into(),
            },
            0,
        )
    }

    /// Shorthand for [`ErrorKind::Corrupt`].
    pub fn corrupt(msg: impl Into<String>, offset: u64) -> Self {
        Self::new(ErrorKind::Corrupt(msg.into()), offset)
    }

    /// Attaches the key being read (kept up to 200 bytes), unless one is already set.
    pub fn with_key(mut self, key: &[u8]) -> Self {
        if self.0.key.is_none() {
            self.0.key = Some(key[..key.len().min(KEY_IN_ERROR)].into());
        }
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Byte offset in the input where the problem was found.
    pub fn offset(&self) -> u64 {
        self.0.offset
    }

    /// The key being read, when known (possibly truncated to 200 bytes).
    pub fn key(&self) -> Option<&[u8]> {
        self.0.key.as_deref()
    }

    /// Where the problem was found, as the error's message ends:
    /// `at byte offset N`, then ` (key '…')` when the key is known. Empty
    /// for an [`ErrorKind::Io`] error (the file, not its content, is at
    /// fault). For a caller that words the kind itself.
    ///
    /// ```
    /// use rdbkit::{Error, ErrorKind};
    /// let e = Error::new(ErrorKind::Corrupt("bad".into()), 42).with_key(b"k");
    /// assert_eq!(e.location(), "at byte offset 42 (key 'k')");
    /// assert_eq!(e.to_string(), format!("bad {}", e.location()));
    /// ```
    pub fn location(&self) -> String {
        if let ErrorKind::Io { .. } = &self.0.kind {
            return String::new();
        }
        let mut s = format!("at byte offset {}", self.0.offset);
        if let Some(k) = &self.0.key {
            s.push_str(&format!(" (key '{}')", crate::format::escape_bytes(k)));
        }
        s
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ErrorKind::Io { .. } = &self.0.kind {
            // No byte offset: the file, not its content, is at fault.
            return write!(f, "{}", self.0.kind);
        }
        write!(f, "{} {}", self.0.kind, self.location())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            ErrorKind::Io { source, .. } => Some(source.get()),
            _ => None,
        }
    }
}

/// An I/O error with no context ([`Error::io`] with `""`): what `?` on an
/// [`std::io::Result`] gives.
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io("", e)
    }
}

/// One of several inputs that could not be used: which one (its index in
/// the list given), its name, and what is wrong with it, where. `analyze`
/// and `diff` report their inputs' errors this way.
///
/// ```
/// let e = rdbkit::InputError {
///     input: 1,
///     name: "node2.rdb".into(),
///     error: rdbkit::Error::corrupt("bad length", 42),
/// };
/// assert!(e.to_string().starts_with("node2.rdb: "));
/// ```
#[derive(Debug)]
pub struct InputError {
    /// Its index.
    pub input: usize,
    /// Its name.
    pub name: String,
    /// What is wrong, where.
    pub error: Error,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.error)
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
