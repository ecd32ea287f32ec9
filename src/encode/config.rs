//! What an encoding is allowed to do: the server settings that choose
//! encodings ([`EncodeConfig`]), the information losses a caller allows
//! ([`AllowLoss`]) and those that happened ([`Losses`]). Shared by the
//! value, collection and stream encoders.

use super::primitives::StrOpts;
use crate::{Error, ErrorKind};

/// Which information losses the caller allows when a target cannot hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AllowLoss {
    /// Drop hash field TTLs (target below RDB 12).
    pub field_ttls: bool,
    /// Drop stream metadata the target's stream type cannot carry.
    pub stream_metadata: bool,
}

/// Losses that happened (allowed) while encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Losses {
    /// Hash fields whose TTL was dropped.
    pub field_ttls: u64,
    /// Streams whose metadata was reduced.
    pub stream_metadata: u64,
}

impl Losses {
    /// Adds another tally.
    pub fn add(&mut self, o: Losses) {
        self.field_ttls += o.field_ttls;
        self.stream_metadata += o.stream_metadata;
    }
}

/// The server settings that decide which encoding a value gets and how big
/// list and stream nodes grow. [`EncodeConfig::default`] holds the defaults
/// of Redis 2.4 … 8.x and Valkey 7.2 … 9.x (the same everywhere; checked
/// with `CONFIG GET` on Redis 6.0, 6.2, 7.0, 7.4 and Valkey 8.1, 9.1).
///
/// Encodings are only a size hint for the loading server (it converts a
/// compact blob that exceeds its own thresholds), so any config produces
/// files every server reads; the defaults produce the bytes a default
/// server would write.
///
/// ```
/// use rdbkit::encode::{AllowLoss, EncodeConfig, Losses, OwnedValue, Target};
/// let cfg = EncodeConfig { list_max_listpack_size: 2, ..EncodeConfig::default() };
/// let list = OwnedValue::List(vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
/// let (ty, bytes) = list
///     .encode_with(Target::redis(11), &cfg, AllowLoss::default(), &mut Losses::default())
///     .unwrap();
/// assert_eq!(ty, 18);       // quicklist 2
/// assert_eq!(bytes[0], 2);  // two nodes of at most two elements
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeConfig {
    /// `hash-max-listpack-entries` (also `hash-max-ziplist-entries`, `hash-max-zipmap-entries`): 512.
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value`: 64 bytes.
    pub hash_max_listpack_value: usize,
    /// `zset-max-listpack-entries` (`zset-max-ziplist-entries`): 128.
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value`: 64 bytes.
    pub zset_max_listpack_value: usize,
    /// `set-max-intset-entries`: 512.
    pub set_max_intset_entries: usize,
    /// `set-max-listpack-entries` (Redis 7.2+, Valkey): 128.
    pub set_max_listpack_entries: usize,
    /// `set-max-listpack-value`: 64 bytes.
    pub set_max_listpack_value: usize,
    /// `list-max-listpack-size` (`list-max-ziplist-size`, RDB 7+): -2 (8 KB
    /// nodes); negative values are size classes, positive ones entry counts.
    pub list_max_listpack_size: i32,
    /// `list-max-ziplist-entries` of Redis 2.4 … 3.0 (RDB < 7): 512.
    pub list_max_ziplist_entries: usize,
    /// `list-max-ziplist-value` of Redis 2.4 … 3.0: 64 bytes.
    pub list_max_ziplist_value: usize,
    /// Elements at least this long get their own PLAIN quicklist node
    /// (RDB 10+; Redis's `packed_threshold`, 1 GiB).
    pub packed_threshold: usize,
    /// `stream-node-max-bytes`: 4096.
    pub stream_node_max_bytes: usize,
    /// `stream-node-max-entries`: 100.
    pub stream_node_max_entries: usize,
    /// `rdbcompression`: LZF for strings and blobs over 20 bytes.
    pub compression: bool,
}

impl Default for EncodeConfig {
    fn default() -> Self {
        EncodeConfig {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_max_ziplist_entries: 512,
            list_max_ziplist_value: 64,
            packed_threshold: 1 << 30,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
            compression: true,
        }
    }
}

impl EncodeConfig {
    pub(super) fn str_opts(&self) -> StrOpts {
        StrOpts {
            compress: self.compression,
            int_forms: true,
        }
    }
}

pub(super) fn enc_err(what: String) -> Error {
    Error::new(ErrorKind::Encode(what), 0)
}
