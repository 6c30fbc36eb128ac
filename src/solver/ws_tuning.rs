//! The working-set rule's measured constants (BENCHMARKS.md has the runs behind each).

/// Inner solves stop at this fraction of the outer relative gap (celer's 0.3; measured in
/// BENCHMARKS.md together with [`ACTIVE_FACTOR`]).
pub const INNER_FRACTION: f64 = 0.1;
/// Inner solves stop by this fraction of the gap tolerance at the latest: the full gap is then
/// about the inner one (0.1 overshot: 1.0-2.0x the products; BENCHMARKS.md).
pub const INNER_FLOOR: f64 = 0.9;
/// A working set holds at least this many times an output's active groups (celer's 2), until
/// none of the output's zero groups breaks its optimality condition at U: then the active groups
/// alone (keeping 1.5x cost 1.0-1.36x the products to rel_gap 1e-4 and 1e-6 on 24 runs, 0-1 %
/// more at 1e-2; BENCHMARKS.md).
pub const ACTIVE_FACTOR: f64 = 1.5;
/// Past this fraction of the gates per output the run finishes on the full problem.
pub const FULL_FRACTION: f64 = 0.75;
/// With `auto`, working sets are used from lambda >= this fraction of lambda_max, and then
/// exactly as with `on`. Below it the ratio does not tell dense solutions apart: the digits
/// (200 gates) at 0.0086 lambda_max took 1.2-1.6x less time with working sets, the dense
/// side-by-side regression at 0.0085 (84 % of its groups active) 1.1-3.1x the products
/// (measured in BENCHMARKS.md).
pub const AUTO_MIN_RATIO: f64 = 0.015;
/// Gates per output in the first working set (beside [`ACTIVE_FACTOR`] times the active ones).
pub const INITIAL_GATES: usize = 10;

/// An inner solve keeps the last one's momentum if the working set grew by at most this.
pub const KEEP_MOMENTUM_GROWTH: f64 = 1.2;
