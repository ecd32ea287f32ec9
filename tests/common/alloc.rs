//! A counting global allocator for tests that bound heap use.
//!
//! Include it with `#[path = "common/alloc.rs"] mod alloc;` and install it
//! with `#[global_allocator] static A: alloc::Counting = alloc::Counting;`
//! (a global allocator is per test binary). Counters are per thread, so the
//! test harness running other tests in parallel does not disturb a
//! measurement: [`measure`] runs a closure and reports the peak number of
//! bytes live at once on the calling thread above what was live at the
//! start, and the number of allocations made.
#![allow(dead_code, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The allocator: `System` plus per-thread counters.
pub struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn add(n: isize) {
    // `try_with`: the thread-locals may be gone while a thread exits.
    let _ = LIVE.try_with(|l| {
        let v = l.get() + n;
        l.set(v);
        let _ = PEAK.try_with(|p| {
            if v > p.get() {
                p.set(v)
            }
        });
    });
}

fn count() {
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded to `System` unchanged; the bookkeeping
// only touches const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
            count();
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
            count();
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        add(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Counted as the old and the new block both live at the peak.
            add(new_size as isize);
            add(-(layout.size() as isize));
            count();
        }
        p
    }
}

/// What [`measure`] saw.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Most bytes live at once on this thread, above the starting level.
    pub peak_bytes: usize,
    /// Allocations (and reallocations) made on this thread.
    pub allocations: u64,
}

/// Runs `f` on this thread and reports its heap use.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let c0 = COUNT.with(Cell::get);
    let out = f();
    let peak = PEAK.with(Cell::get) - start;
    let allocations = COUNT.with(Cell::get) - c0;
    (
        out,
        Usage {
            peak_bytes: peak.max(0) as usize,
            allocations,
        },
    )
}
