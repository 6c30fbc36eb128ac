//! Kernel benchmark on generated data: the masked forward and the gradient against a plain GEMM
//! of the same size (n x d times d x c p), all on the same threads, in the same run.

use crate::backend::cpu::{CpuBackend, CpuOptions};
use crate::backend::{Backend, Dims};
use crate::error::{Error, Result};
use crate::gates;
use crate::real::Real;
use crate::rng::Rng;
use ndarray::{Array2, linalg::general_mat_mul, s};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct BenchRow {
    pub op: &'static str,
    pub ms: f64,
    pub gflops: f64,
    pub ratio_to_gemm: f64,
}

fn random(rows: usize, cols: usize, rng: &mut Rng) -> Array2<f64> {
    Array2::from_shape_simple_fn((rows, cols), || rng.normal())
}

/// Median wall time of `reps` runs of `f`, in seconds (after one warm-up run).
fn time_median(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

/// Plain GEMM X (n x d) W (d x cp), rows split over the same threads, written to a full output.
fn plain_gemm<T: Real>(x: &Array2<T>, w: &Array2<T>, out: &mut Array2<T>, threads: usize) {
    let n = x.nrows();
    let per = n.div_ceil(threads.max(1));
    std::thread::scope(|sc| {
        for (t, mut chunk) in out.axis_chunks_iter_mut(ndarray::Axis(0), per).enumerate() {
            let xs = x.slice(s![t * per..(t * per + chunk.nrows()), ..]);
            sc.spawn(move || general_mat_mul(T::one(), &xs, w, T::zero(), &mut chunk));
        }
    });
}

pub fn run<T: Real>(dims: Dims, threads: usize, reps: usize, seed: u64) -> Result<Vec<BenchRow>> {
    let Dims { n, d, p, c } = dims;
    let out_bytes = n * c * p * std::mem::size_of::<T>();
    if out_bytes > 4 << 30 {
        return Err(Error::param(
            "--n",
            format!(
                "the reference GEMM output n x c p = {n} x {} needs {} MiB; choose smaller sizes",
                c * p,
                out_bytes >> 20
            ),
        ));
    }
    let mut rng = Rng::new(seed);
    let x = random(n, d, &mut rng);
    let y = random(n, c, &mut rng);
    let g = gates::gaussian(d, p, seed + 1);
    let mask = gates::patterns(&x, &g);
    let be = CpuBackend::<T>::new(
        &x,
        &y,
        mask,
        CpuOptions {
            threads,
            block_rows: 0,
        },
    );
    let u = be.upload(&(0..c * p * d).map(|_| rng.normal()).collect::<Vec<_>>())?;
    let mut preds = be.zeros(n * c)?;
    let mut grad = be.zeros(c * p * d)?;

    let flops = dims.product_flops();
    let threads = threads.max(1);
    let xt = x.mapv(T::of);
    let wt = Array2::from_shape_simple_fn((d, c * p), || T::of(rng.normal()));
    let mut out = Array2::<T>::zeros((n, c * p));
    let t_gemm = time_median(reps, || plain_gemm(&xt, &wt, &mut out, threads));
    let t_fwd = time_median(reps, || be.forward(&u, &mut preds).expect("cpu forward"));
    let t_grad = time_median(reps, || {
        be.gradient(&preds, &mut grad).expect("cpu gradient")
    });
    let row = |op, t: f64| BenchRow {
        op,
        ms: t * 1e3,
        gflops: flops / t / 1e9,
        ratio_to_gemm: t_gemm / t,
    };
    Ok(vec![
        row("gemm (reference)", t_gemm),
        row("masked forward", t_fwd),
        row("gradient", t_grad),
    ])
}
