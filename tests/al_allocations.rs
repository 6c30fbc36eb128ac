//! The augmented Lagrangian allocates nothing after its first outer step: a counting global
//! allocator sees the same number of allocations for a run of 300 inner iterations as for one
//! of 900 (several more outer steps), on one CPU thread (more threads spawn scoped workers per
//! pass, which allocate their handles). The one exception is inside the GEMM: the `gemm` crate
//! allocates its packing buffers at every call (a few KiB), which the allocator tells apart by
//! the caller's stack and counts on their own. Its own test binary, so no other test's
//! allocations count.

mod common;

use common::problem;
use cvxnn::backend::cpu::{CpuBackend, CpuOptions};
use cvxnn::solver::{self, AlSettings, FistaSettings, observer::Silent};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static GEMM_PACKING: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

/// Counts one allocation, by whether the GEMM made it (the stack is read with counting
/// off, since reading it allocates).
fn record() {
    if !COUNTING.with(|c| c.replace(false)) {
        return;
    }
    let stack = std::backtrace::Backtrace::force_capture().to_string();
    if stack.contains("gemm_common::") {
        GEMM_PACKING.fetch_add(1, Ordering::Relaxed);
    } else {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
    COUNTING.with(|c| c.set(true));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (allocations outside the GEMM, inside it, outer steps) of an AL run of `iters` inner
/// iterations.
fn count(iters: usize) -> (u64, u64, usize) {
    let p = problem(60, 5, 6, 2, 11);
    let be = CpuBackend::<f64>::new(
        &p.x,
        &p.y,
        p.mask.doubled(),
        CpuOptions {
            threads: 1,
            block_rows: 16,
            block_cols: 0,
        },
    );
    // A loose inner tolerance makes short outer steps; the 1e-30 bounds keep the run going.
    let settings = AlSettings {
        fista: FistaSettings {
            lambda: 1e-3,
            tol: 1e-2,
            max_iters: iters,
            ..FistaSettings::default()
        },
        viol_tol: 1e-30,
        ..AlSettings::default()
    }
    .check()
    .unwrap();
    ALLOCATIONS.store(0, Ordering::Relaxed);
    GEMM_PACKING.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let al = solver::solve_al(&be, &settings, None, &mut Silent).unwrap();
    COUNTING.with(|c| c.set(false));
    assert_eq!(
        al.solution.iterations, iters,
        "status {:?}, outer {}",
        al.solution.status, al.outer
    );
    (
        ALLOCATIONS.load(Ordering::Relaxed),
        GEMM_PACKING.load(Ordering::Relaxed),
        al.outer,
    )
}

#[test]
fn augmented_lagrangian_allocates_nothing_after_its_first_outer_step() {
    let (short, short_gemm, short_outer) = count(300);
    let (long, long_gemm, long_outer) = count(900);
    eprintln!(
        "300 its: {short} allocations (+{short_gemm} GEMM packing), {short_outer} outer; \
         900 its: {long} (+{long_gemm}), {long_outer} outer"
    );
    // The stack test must see the GEMM's own allocations, or it proves nothing.
    assert!(long_gemm > short_gemm);
    // The longer run crosses several more outer steps (multiplier updates, warm restarts).
    assert!(long_outer >= short_outer + 3);
    assert_eq!(short, long, "allocations grew with the outer steps");
}
