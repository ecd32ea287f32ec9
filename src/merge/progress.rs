//! Progress of a merge, one phase at a time (verifying inputs, writing,
//! verifying the output, compressing): bytes processed and keys seen,
//! reported to the [`ProgressSink`] of [`MergeOptions::progress`]
//! (the command line's progress bar, say). Without a sink nothing is
//! counted; with one, workers report every [`STEP`] bytes, so a sink costs
//! a few calls per 4 MiB.
//!
//! [`MergeOptions::progress`]: super::MergeOptions::progress

use std::sync::Arc;

/// Bytes of progress a worker accumulates before reporting them.
pub(crate) const STEP: usize = 4 << 20;

/// Receives a merge's progress ([`MergeOptions::progress`]): the library
/// draws nothing itself. Called from several threads at once (inputs are
/// verified in parallel), hence `Send + Sync`; keep the calls cheap.
///
/// A merge runs these phases, each begun by [`phase`](Self::phase):
/// `"verifying inputs"`, `"writing"`, `"verifying output"` (when
/// [`MergeOptions::verify`]) and `"compressing"` (a `.gz` output).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::{Arc, Mutex};
/// use rdbkit::merge::ProgressSink;
///
/// #[derive(Default)]
/// struct Log {
///     phases: Mutex<Vec<(&'static str, u64)>>,
///     bytes: AtomicU64,
/// }
///
/// impl ProgressSink for Log {
///     fn phase(&self, name: &'static str, total_bytes: u64) {
///         self.phases.lock().unwrap().push((name, total_bytes));
///     }
///     fn advance(&self, bytes: u64, _keys: u64) {
///         self.bytes.fetch_add(bytes, Ordering::Relaxed);
///     }
/// }
///
/// let mut opts = rdbkit::merge::MergeOptions::new(vec!["n1.rdb".into()], "out.rdb".into());
/// let log = Arc::new(Log::default());
/// opts.progress = Some(log.clone());
/// // rdbkit::merge::merge(&opts) ... then read `log`.
/// ```
///
/// [`MergeOptions::progress`]: super::MergeOptions::progress
/// [`MergeOptions::verify`]: super::MergeOptions::verify
pub trait ProgressSink: Send + Sync {
    /// A phase starts: `name` (see above) over `total_bytes` bytes (the
    /// bytes reported may stay a little below: headers and the like are
    /// not counted). The previous phase, if any, is over, whether or not
    /// [`finish`](Self::finish) was called for it.
    fn phase(&self, name: &'static str, total_bytes: u64);

    /// `bytes` more bytes of the current phase were processed, and `keys`
    /// more keys seen (0 when the phase does not count keys).
    fn advance(&self, bytes: u64, keys: u64);

    /// The current phase is over (a progress bar is removed). Called at
    /// the end of phases and once more when the merge ends, however it
    /// ends; a [`phase`](Self::phase) may follow.
    fn finish(&self) {}
}

impl std::fmt::Debug for dyn ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
}

/// The merge's side of progress: forwards to the sink, if any.
pub(crate) struct Progress {
    sink: Option<Arc<dyn ProgressSink>>,
}

impl Progress {
    pub(crate) fn new(sink: Option<Arc<dyn ProgressSink>>) -> Self {
        Progress { sink }
    }

    /// No progress reported.
    #[cfg(test)]
    pub(crate) fn quiet() -> Self {
        Progress { sink: None }
    }

    /// Starts a phase of `total` bytes.
    pub(crate) fn phase(&self, name: &'static str, total: u64) {
        if let Some(s) = &self.sink {
            s.phase(name, total);
        }
    }

    /// Adds processed bytes and keys.
    pub(crate) fn add(&self, bytes: u64, keys: u64) {
        if let Some(s) = &self.sink {
            s.advance(bytes, keys);
        }
    }

    /// Ends the current phase.
    pub(crate) fn finish(&self) {
        if let Some(s) = &self.sink {
            s.finish();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Batches a worker's progress into [`STEP`]-sized reports.
pub(crate) struct Ticker<'p> {
    p: &'p Progress,
    last: usize,
    keys: u64,
}

impl<'p> Ticker<'p> {
    pub(crate) fn new(p: &'p Progress, start: usize) -> Self {
        Ticker {
            p,
            last: start,
            keys: 0,
        }
    }

    /// Notes that the worker is at byte `pos` and has seen `keys` more keys.
    #[inline]
    pub(crate) fn at(&mut self, pos: usize, keys: u64) {
        self.keys += keys;
        if pos >= self.last + STEP {
            self.flush(pos);
        }
    }

    /// Reports everything up to `pos`.
    pub(crate) fn flush(&mut self, pos: usize) {
        self.p.add(
            pos.saturating_sub(self.last) as u64,
            std::mem::take(&mut self.keys),
        );
        self.last = self.last.max(pos);
    }
}
