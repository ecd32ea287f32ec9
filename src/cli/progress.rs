//! The merge's progress bar on stderr (a [`ProgressSink`]): one phase at a
//! time (verifying inputs, writing, verifying the output, compressing),
//! bytes processed, keys, throughput and ETA. `indicatif` draws nothing
//! when stderr is not a terminal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rdbkit::merge::ProgressSink;

/// The progress bar.
pub struct Bar {
    bar: ProgressBar,
    /// Keys seen in the current phase.
    keys: AtomicU64,
}

impl Bar {
    /// A bar, hidden until the first phase starts, as a merge's sink.
    pub fn sink() -> Arc<dyn ProgressSink> {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix:>16} [{bar:20}] {percent:>3}% {binary_bytes:>10} {binary_bytes_per_sec:>12} ETA {eta:>3} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Arc::new(Bar {
            bar,
            keys: AtomicU64::new(0),
        })
    }
}

impl ProgressSink for Bar {
    fn phase(&self, name: &'static str, total_bytes: u64) {
        self.keys.store(0, Ordering::Relaxed);
        let b = &self.bar;
        b.set_message("");
        b.set_prefix(name);
        b.set_length(total_bytes);
        b.reset();
        if b.is_hidden() {
            b.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    fn advance(&self, bytes: u64, keys: u64) {
        let k = self.keys.fetch_add(keys, Ordering::Relaxed) + keys;
        if keys > 0 {
            self.bar.set_message(format!("{k} keys"));
        }
        self.bar.inc(bytes);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
