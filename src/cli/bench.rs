//! `cvxnn bench`.

use clap::Args;
use cvxnn::Error;
use cvxnn::backend::Dims;
use cvxnn::train::Precision;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Rows.
    #[arg(long, default_value_t = 4096)]
    n: usize,
    /// Features.
    #[arg(long, default_value_t = 784)]
    d: usize,
    /// Gates.
    #[arg(long, default_value_t = 200)]
    p: usize,
    /// Outputs.
    #[arg(long, default_value_t = 10)]
    c: usize,
    #[arg(long, value_enum, default_value = "f32")]
    precision: Precision,
    /// Worker threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

pub fn run(a: BenchArgs) -> cvxnn::Result<i32> {
    if [a.n, a.d, a.p, a.c, a.reps].contains(&0) {
        return Err(Error::param(
            "--n/--d/--p/--c/--reps",
            "all sizes must be >= 1",
        ));
    }
    let threads = match a.threads {
        0 => std::thread::available_parallelism().map_or(1, |c| c.get()),
        t => t,
    };
    let dims = Dims {
        n: a.n,
        d: a.d,
        p: a.p,
        c: a.c,
    };
    println!(
        "device: cpu-{:?}, {threads} threads; n {} d {} p {} c {}; {:.2} GFLOP per product (2 n d p c); median of {}",
        a.precision,
        a.n,
        a.d,
        a.p,
        a.c,
        dims.product_flops() / 1e9,
        a.reps
    );
    let rows = match a.precision {
        Precision::F32 => cvxnn::bench::run::<f32>(dims, threads, a.reps, 1)?,
        Precision::F64 => cvxnn::bench::run::<f64>(dims, threads, a.reps, 1)?,
    };
    println!(
        "{:<18} {:>10} {:>10} {:>12}",
        "op", "ms", "GFLOP/s", "x GEMM rate"
    );
    for r in rows {
        println!(
            "{:<18} {:>10.2} {:>10.1} {:>12.2}",
            r.op, r.ms, r.gflops, r.ratio_to_gemm
        );
    }
    Ok(0)
}
