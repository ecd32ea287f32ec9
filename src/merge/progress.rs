//! The progress bar on stderr: one phase at a time (verifying inputs,
//! writing, verifying the output, compressing), bytes processed, keys,
//! throughput and ETA. `indicatif` draws nothing when stderr is not a
//! terminal, so a disabled or redirected bar costs only a few atomic adds.

use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Bytes of progress a worker accumulates before reporting them.
pub(crate) const STEP: usize = 4 << 20;

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    keys: AtomicU64,
}

impl Progress {
    pub(crate) fn new(enabled: bool) -> Self {
        let bar = enabled.then(|| {
            // Hidden until the first phase starts.
            let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix:>16} [{bar:20}] {percent:>3}% {binary_bytes:>10} {binary_bytes_per_sec:>12} ETA {eta:>3} {msg}",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b
        });
        Progress {
            bar,
            keys: AtomicU64::new(0),
        }
    }

    /// Starts a phase of `total` bytes.
    pub(crate) fn phase(&self, name: &'static str, total: u64) {
        self.keys.store(0, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.set_message("");
            b.set_prefix(name);
            b.set_length(total);
            b.reset();
            if b.is_hidden() {
                b.set_draw_target(ProgressDrawTarget::stderr());
            }
        }
    }

    /// Adds processed bytes and keys.
    pub(crate) fn add(&self, bytes: u64, keys: u64) {
        if let Some(b) = &self.bar {
            let k = self.keys.fetch_add(keys, Ordering::Relaxed) + keys;
            if keys > 0 {
                b.set_message(format!("{k} keys"));
            }
            b.inc(bytes);
        }
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
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
