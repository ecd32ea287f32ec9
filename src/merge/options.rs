//! What a merge is asked to do: [`MergeOptions`] and the conflict
//! [`Policy`].

use std::path::PathBuf;
use std::sync::Arc;

use super::ProgressSink;
use crate::decode::KeyRecord;
use crate::encode::{AllowLoss, Target};

/// How a key present in several inputs with different contents is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Policy {
    /// Refuse the merge and list the conflicts (default). Nothing is written.
    #[default]
    Error,
    /// Keep the copy from the earliest input.
    First,
    /// Keep the copy from the latest input.
    Last,
    /// Keep the copy on the node that owns the key by Dynomite token
    /// ([`dynomite::owner`](super::dynomite::owner)); every input needs a token
    /// ([`MergeOptions::tokens`]). A conflict whose owner holds no copy
    /// stays unresolved.
    Owner,
    /// Ask [`MergeOptions::resolver`], which sees every copy.
    Custom,
}

impl Policy {
    /// The command-line name (`error`, `first`, `last`, `owner`).
    ///
    /// ```
    /// assert_eq!(rdbkit::merge::Policy::Owner.name(), "owner");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Policy::Error => "error",
            Policy::First => "first",
            Policy::Last => "last",
            Policy::Owner => "owner",
            Policy::Custom => "custom",
        }
    }
}

/// A key whose copies differ between inputs, as a [`ConflictResolver`]
/// sees it.
#[derive(Debug)]
pub struct ConflictKey<'a> {
    /// Output database.
    pub db: u64,
    /// The key.
    pub key: &'a [u8],
    /// Each input's copy: the input index (0-based) and its record, in
    /// input order.
    pub copies: &'a [(usize, KeyRecord<'a>)],
}

/// Chooses which copy of a conflicting key is kept, for [`Policy::Custom`]:
/// the input index of the copy to keep, or `None` to leave the conflict
/// unresolved (the merge is then refused, as with [`Policy::Error`]).
///
/// ```
/// use rdbkit::merge::{ConflictResolver, MergeOptions, Policy};
/// // Keep the copy that expires last (no expiry counts as latest).
/// let latest = ConflictResolver::new(|c| {
///     c.copies.iter().max_by_key(|(_, r)| r.expire_ms.unwrap_or(i64::MAX)).map(|(i, _)| *i)
/// });
/// let mut o = MergeOptions::new(vec!["a.rdb".into(), "b.rdb".into()], "out.rdb".into());
/// o.policy = Policy::Custom;
/// o.resolver = Some(latest);
/// ```
#[derive(Clone)]
pub struct ConflictResolver(Arc<ResolverFn>);

type ResolverFn = dyn Fn(&ConflictKey<'_>) -> Option<usize> + Send + Sync;

impl ConflictResolver {
    /// A resolver calling `f` for every conflicting key.
    pub fn new(f: impl Fn(&ConflictKey<'_>) -> Option<usize> + Send + Sync + 'static) -> Self {
        ConflictResolver(Arc::new(f))
    }

    /// The input whose copy `f` keeps, if it names one of the copies.
    pub(crate) fn choose(&self, c: &ConflictKey<'_>) -> Option<usize> {
        (self.0)(c).filter(|i| c.copies.iter().any(|(j, _)| j == i))
    }
}

impl std::fmt::Debug for ConflictResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConflictResolver(..)")
    }
}

/// Which keys a merge takes ([`MergeOptions::select`]): a test of a
/// record's source database and key.
///
/// ```
/// use rdbkit::merge::{KeySelector, MergeOptions};
/// let mut o = MergeOptions::new(vec!["n1.rdb".into()], "users.rdb".into());
/// o.select = Some(KeySelector::new(|db, key| db == 0 && key.starts_with(b"user:")));
/// assert!(o.select.as_ref().unwrap().keeps(0, b"user:1"));
/// ```
#[derive(Clone)]
pub struct KeySelector(Arc<SelectFn>);

type SelectFn = dyn Fn(u64, &[u8]) -> bool + Send + Sync;

impl KeySelector {
    /// A selector keeping the keys `f` accepts.
    pub fn new(f: impl Fn(u64, &[u8]) -> bool + Send + Sync + 'static) -> Self {
        KeySelector(Arc::new(f))
    }

    /// Whether the key of database `db` is kept.
    pub fn keeps(&self, db: u64, key: &[u8]) -> bool {
        (self.0)(db, key)
    }
}

impl std::fmt::Debug for KeySelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySelector(..)")
    }
}

/// Which output of a [`super::split`] takes each key: the output's index
/// for a record's source database and key, or `None` to leave the key out
/// (counted in [`super::MergeReport::dropped_unselected`]).
///
/// ```
/// use rdbkit::cluster::key_slot;
/// use rdbkit::merge::KeyPartition;
/// // Two outputs: slots 0-8191 and 8192-16383.
/// let p = KeyPartition::new(|_db, key| Some(usize::from(key_slot(key) >= 8192)));
/// assert_eq!(p.part(0, b"foo{hash_tag}"), Some(0)); // slot 2515
/// assert_eq!(p.part(0, b"somekey"), Some(1)); // slot 11058
/// ```
#[derive(Clone)]
pub struct KeyPartition(Arc<PartFn>);

type PartFn = dyn Fn(u64, &[u8]) -> Option<usize> + Send + Sync;

impl KeyPartition {
    /// A partition giving each key the output `f` names.
    pub fn new(f: impl Fn(u64, &[u8]) -> Option<usize> + Send + Sync + 'static) -> Self {
        KeyPartition(Arc::new(f))
    }

    /// The output taking the key of database `db`, if any.
    pub fn part(&self, db: u64, key: &[u8]) -> Option<usize> {
        (self.0)(db, key)
    }
}

impl std::fmt::Debug for KeyPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPartition(..)")
    }
}

/// Everything a merge needs to know. [`MergeOptions::new`] gives the
/// defaults; change the public fields as needed.
///
/// ```
/// use rdbkit::merge::{MergeOptions, Policy};
/// let mut o = MergeOptions::new(vec!["n1.rdb".into(), "n2.rdb".into()], "out.rdb.gz".into());
/// o.policy = Policy::Owner;
/// o.tokens = vec![Some(1073741823), Some(3221225471)];
/// o.drop_dynomite_metadata = true;
/// o.expect_keys = Some(vec![1278, 1327]);
/// assert!(o.verify && !o.force);
/// ```
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// Input files, in order (`first` / `last` refer to this order). An
    /// input may be gzip-compressed (recognised by its content) or a pipe;
    /// the path `-` is standard input (at most one input may be `-`; a
    /// file named `-` can be given as `./-`). See [`crate::Input::open`].
    pub inputs: Vec<PathBuf>,
    /// Output file; a name ending in `.gz` is written gzip-compressed
    /// (the `gzip` feature; without it such a name is refused).
    pub output: PathBuf,
    /// Target format. `None`: the newest input version when all inputs
    /// share a lineage (Redis `REDIS00xx` or Valkey `VALKEY0xx`; Valkey
    /// 7.2-8.1 files count as Valkey when every input was written by Valkey).
    pub target: Option<Target>,
    /// Conflict policy.
    pub policy: Policy,
    /// The chooser [`Policy::Custom`] asks.
    pub resolver: Option<ConflictResolver>,
    /// Dynomite token of each input (for [`Policy::Owner`]), by input index.
    pub tokens: Vec<Option<u32>>,
    /// Dynomite hash tag pair (e.g. `(b'{', b'}')`); `None` hashes whole keys.
    pub hash_tag: Option<(u8, u8)>,
    /// Only the keys this accepts (by source database and key) are merged;
    /// the others are left out before anything else, as the Dynomite
    /// metadata keys are ([`super::MergeReport::dropped_unselected`]).
    /// To write several outputs, each with its share of the keys, use
    /// [`super::split`]: one reading of the inputs for all.
    pub select: Option<KeySelector>,
    /// Move every database into db 0; the same key in two databases is then
    /// a duplicate or a conflict like any other.
    pub flatten_dbs: bool,
    /// Keep databases as they are (for an open-source target). Without this
    /// or `flatten_dbs`, keys in db > 0 refuse the merge.
    pub keep_dbs: bool,
    /// Drop Dynomite's read-repair metadata keys (`._add-set*`, `._rem-set*`).
    pub drop_dynomite_metadata: bool,
    /// Drop keys whose expiry is before this unix time (ms).
    pub drop_expired_at: Option<i64>,
    /// Expected key count of each input (all databases), in input order.
    pub expect_keys: Option<Vec<u64>>,
    /// Expected key count of the output.
    pub expect_total: Option<u64>,
    /// Losses allowed when re-encoding for an older target.
    pub allow: AllowLoss,
    /// Drop function libraries when the target has none (RDB < 10).
    pub drop_functions: bool,
    /// Replace an existing output.
    pub force: bool,
    /// Re-read and verify the output before publishing it.
    pub verify: bool,
    /// Reference time (unix ms) for "already expired" counts and the
    /// expected DBSIZE after import.
    pub import_at: i64,
    /// Where the merge reports its progress (phases, bytes, keys); `None`
    /// (the default): nowhere. The command line draws its progress bar
    /// from these reports.
    pub progress: Option<Arc<dyn ProgressSink>>,
}

/// Options with the defaults of [`MergeOptions::new`], no inputs and no
/// output path: for [`super::merge_bytes`].
impl Default for MergeOptions {
    fn default() -> Self {
        MergeOptions::new(Vec::new(), PathBuf::new())
    }
}

impl MergeOptions {
    /// Options with defaults: conflicts are errors, db > 0 is refused,
    /// the output is verified, the import time is now, no progress reports.
    pub fn new(inputs: Vec<PathBuf>, output: PathBuf) -> Self {
        let n = inputs.len();
        MergeOptions {
            inputs,
            output,
            target: None,
            policy: Policy::Error,
            resolver: None,
            tokens: vec![None; n],
            hash_tag: None,
            select: None,
            flatten_dbs: false,
            keep_dbs: false,
            drop_dynomite_metadata: false,
            drop_expired_at: None,
            expect_keys: None,
            expect_total: None,
            allow: AllowLoss::default(),
            drop_functions: false,
            force: false,
            verify: true,
            import_at: crate::now_ms(),
            progress: None,
        }
    }
}
