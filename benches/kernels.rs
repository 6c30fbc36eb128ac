//! `cargo bench`: the CPU kernel table at an MNIST-like size (rows shrink with CVXNN_BENCH_QUICK=1).

use cvxnn::backend::Dims;

fn main() {
    let quick = std::env::var("CVXNN_BENCH_QUICK").is_ok_and(|v| v == "1");
    let threads = std::thread::available_parallelism().map_or(1, |c| c.get());
    let n = if quick { 512 } else { 8192 };
    for (p, c) in [(100, 10), (500, 10)] {
        let dims = Dims { n, d: 784, p, c };
        for (name, rows) in [
            (
                "f32",
                cvxnn::bench::run_cpu::<f32>(dims, threads, 3, 1).expect("bench"),
            ),
            (
                "f64",
                cvxnn::bench::run_cpu::<f64>(dims, threads, 3, 1).expect("bench"),
            ),
        ] {
            for r in rows {
                println!(
                    "cpu-{name} {threads}t n={n} d=784 p={p} c={c}  {}",
                    cvxnn::bench::format_row(&r)
                );
            }
        }
    }
}
