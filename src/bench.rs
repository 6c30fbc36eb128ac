//! Kernel benchmark on generated data: the masked forward and the gradient (2 n d p c flops
//! each) against a plain GEMM of the same size (n x d times d x c p) measured in the same run on
//! the same device, plus the other per-iteration operations and one whole R-FISTA iteration.

use crate::backend::cpu::{CpuBackend, CpuOptions, mat_mul};
use crate::backend::wgpu::{GpuBackend, GpuContext, GpuOptions, GpuReal, tile_for, time_gemm};
use crate::backend::{Backend, Dims};
use crate::error::{Error, Result};
use crate::gates;
use crate::mask::BitMask;
use crate::real::Real;
use crate::regularizer::Regularizer;
use crate::rng::Rng;
use crate::solver::{self, FistaSettings, observer::Recorder};
use ndarray::{Array2, s};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct BenchRow {
    pub op: &'static str,
    pub ms: f64,
    /// None for operations that are not matrix products.
    pub gflops: Option<f64>,
    pub ratio_to_gemm: Option<f64>,
}

/// Median wall time of `reps` runs of `f`, in seconds (after one warm-up run).
fn time_median(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    Ok(time_in_turns(reps, 1, |_| f())?[0])
}

/// Median wall time of each of `ops` operations (`run(i)` runs operation i), timed in turns,
/// rep by rep (after one warm-up run each): on a shared VM a slow spell then slows every
/// operation alike instead of one of them, which keeps their ratios.
fn time_in_turns(
    reps: usize,
    ops: usize,
    mut run: impl FnMut(usize) -> Result<()>,
) -> Result<Vec<f64>> {
    for i in 0..ops {
        run(i)?;
    }
    let mut t = vec![Vec::with_capacity(reps); ops];
    for _ in 0..reps.max(1) {
        for (i, ti) in t.iter_mut().enumerate() {
            let s = Instant::now();
            run(i)?;
            ti.push(s.elapsed().as_secs_f64());
        }
    }
    Ok(t.into_iter()
        .map(|mut ti| {
            ti.sort_by(|a, b| a.total_cmp(b));
            ti[ti.len() / 2]
        })
        .collect())
}

/// Plain GEMM X (n x d) W (d x cp), rows split over the same threads, written to a full output.
fn plain_gemm<T: Real>(x: &Array2<T>, w: &Array2<T>, out: &mut Array2<T>, threads: usize) {
    let n = x.nrows();
    let per = n.div_ceil(threads.max(1));
    std::thread::scope(|sc| {
        for (t, mut chunk) in out.axis_chunks_iter_mut(ndarray::Axis(0), per).enumerate() {
            let xs = x.slice(s![t * per..(t * per + chunk.nrows()), ..]);
            sc.spawn(move || mat_mul(T::one(), &xs, w, T::zero(), &mut chunk));
        }
    });
}

/// Generated problem of the given size: X, Y ~ N(0, 1), Gaussian gates.
pub fn generated(dims: Dims, seed: u64) -> (Array2<f64>, Array2<f64>, BitMask) {
    let Dims { n, d, p, c } = dims;
    let mut rng = Rng::new(seed);
    let x = Array2::from_shape_simple_fn((n, d), || rng.normal());
    let y = Array2::from_shape_simple_fn((n, c), || rng.normal());
    let mask = gates::patterns(&x, &gates::gaussian(d, p, seed + 1));
    (x, y, mask)
}

/// The reference GEMM: its rate measured beforehand, or a run of it to time in turns with the
/// masked products.
pub enum Reference<'a> {
    Rate(Option<f64>),
    Run(&'a mut dyn FnMut()),
}

/// Times the backend's operations against the reference GEMM; `sync` waits for the device (a
/// no-op on the CPU).
pub fn time_backend<B: Backend>(
    be: &B,
    reps: usize,
    mut gemm: Reference<'_>,
    sync: &dyn Fn() -> Result<()>,
) -> Result<Vec<BenchRow>> {
    let dims = be.dims();
    let mut rng = Rng::new(7);
    let host: Vec<f64> = (0..dims.weights()).map(|_| 0.01 * rng.normal()).collect();
    let u = be.upload(&host)?;
    let mut preds = be.zeros(dims.preds())?;
    let mut grad = be.zeros(dims.weights())?;
    let mut out = be.zeros(dims.weights())?;
    let flops = dims.product_flops();
    // GEMM (where timed here), forward and gradient in turns; `skip` drops the GEMM's turn.
    let skip = usize::from(matches!(gemm, Reference::Rate(_)));
    let t = time_in_turns(reps, 3 - skip, |i| {
        match i + skip {
            0 => {
                if let Reference::Run(g) = &mut gemm {
                    g()
                }
            }
            1 => be.forward(&u, &mut preds)?,
            _ => be.gradient(&preds, &mut grad)?,
        }
        sync()
    })?;
    let gemm_rate = match gemm {
        Reference::Rate(rate) => rate,
        Reference::Run(_) => Some(flops / t[0]),
    };
    let (t_fwd, t_grad) = (t[1 - skip], t[2 - skip]);
    let product = |op, t: f64| BenchRow {
        op,
        ms: t * 1e3,
        gflops: Some(flops / t / 1e9),
        ratio_to_gemm: gemm_rate.map(|g| flops / t / g),
    };
    let other = |op, t: f64| BenchRow {
        op,
        ms: t * 1e3,
        gflops: None,
        ratio_to_gemm: None,
    };
    let mut rows = Vec::new();
    if let Some(g) = gemm_rate {
        rows.push(product("gemm (reference)", flops / g));
    }
    rows.push(product("masked forward", t_fwd));
    rows.push(product("gradient", t_grad));
    rows.push(other(
        "prox step + norm",
        time_median(reps, || {
            be.prox_step(Regularizer::NeuronGl1, 1e-3, 1.0, &u, &grad, &mut out)
                .map(|_| ())
        })?,
    ));
    rows.push(other(
        "loss (reduction)",
        time_median(reps, || be.loss(&preds).map(|_| ()))?,
    ));
    // Whole iterations: the spacing of the solver's own iteration time stamps.
    let params = FistaSettings {
        lambda: 1e-3,
        tol: 1e-300,
        max_iters: reps.max(2) + 1,
        ..Default::default()
    }
    .check()?;
    let mut rec = Recorder::default();
    solver::solve(be, &params, None, &mut rec)?;
    let h = &rec.history;
    if h.len() > 2 {
        let per = (h[h.len() - 1].time_s - h[1].time_s) / (h.len() - 2) as f64;
        rows.push(other("R-FISTA iteration", per));
    }
    Ok(rows)
}

pub fn run_cpu<T: Real>(
    dims: Dims,
    threads: usize,
    reps: usize,
    seed: u64,
) -> Result<Vec<BenchRow>> {
    let Dims { n, d, p, c } = dims;
    let out_bytes = n * c * p * std::mem::size_of::<T>();
    if out_bytes > 4 << 30 {
        return Err(Error::param(
            "n",
            format!(
                "the reference GEMM output n x c p = {n} x {} needs {} MiB; choose smaller sizes",
                c * p,
                out_bytes >> 20
            ),
        ));
    }
    let (x, y, mask) = generated(dims, seed);
    let be = CpuBackend::<T>::new(
        &x,
        &y,
        mask,
        CpuOptions {
            threads,
            block_rows: 0,
            block_cols: 0,
        },
    );
    let mut rng = Rng::new(seed + 2);
    let xt = x.mapv(T::of);
    let wt = Array2::from_shape_simple_fn((d, c * p), || T::of(rng.normal()));
    let mut out = Array2::<T>::zeros((n, c * p));
    let mut gemm = || plain_gemm(&xt, &wt, &mut out, threads.max(1));
    time_backend(&be, reps, Reference::Run(&mut gemm), &|| Ok(()))
}

pub fn run_gpu<T: GpuReal>(
    ctx: Arc<GpuContext>,
    dims: Dims,
    opts: GpuOptions,
    reps: usize,
    seed: u64,
) -> Result<Vec<BenchRow>> {
    let (x, y, mask) = generated(dims, seed);
    // The reference GEMM's rate on the same device, on a block of the same product small enough
    // for one binding (the full n x c p output of a MNIST-sized product would not fit).
    let s = std::mem::size_of::<T>();
    let maxb = ctx.max_binding() as usize;
    let (mut m, k, mut n) = (dims.n, dims.d, dims.c * dims.p);
    while m * n * s > maxb || m * k * s > maxb || k * n * s > maxb {
        if m >= n && m > 1 {
            m = m.div_ceil(2);
        } else if n > 1 {
            n = n.div_ceil(2);
        } else {
            break;
        }
    }
    let tile = if opts.kernels.tiled_on(ctx.info.device_type) {
        tile_for(&ctx, opts.tile, dims.n, s)?
    } else {
        0
    };
    let gemm = match time_gemm::<T>(&ctx, m, k, n, reps, tile) {
        Ok(t) => {
            if (m, n) != (dims.n, dims.c * dims.p) {
                log::info!("reference GEMM on a {m} x {k} x {n} block");
            }
            Some(2.0 * (m * k * n) as f64 / t)
        }
        Err(e) => {
            log::warn!("no reference GEMM: {e}");
            None
        }
    };
    let be = GpuBackend::<T>::new(ctx, &x, &y, &mask, opts)?;
    let mut rows = time_backend(&be, reps, Reference::Rate(gemm), &|| be.sync())?;
    // The same products timed on the device (timestamps around the passes): no submission,
    // wait or host overhead.
    let mut rng = Rng::new(7);
    let host: Vec<f64> = (0..dims.weights()).map(|_| 0.01 * rng.normal()).collect();
    let u = be.upload(&host)?;
    let preds = be.zeros(dims.preds())?;
    let grad = be.zeros(dims.weights())?;
    if let Some((f, g)) = be.device_times(&u, &preds, &grad, reps)? {
        let flops = dims.product_flops();
        for (op, t) in [
            ("forward (device timer)", f),
            ("gradient (device timer)", g),
        ] {
            rows.push(BenchRow {
                op,
                ms: t * 1e3,
                gflops: Some(flops / t / 1e9),
                ratio_to_gemm: gemm.map(|r| flops / t / r),
            });
        }
    }
    Ok(rows)
}

/// One table line: op, ms, GFLOP/s, ratio to the GEMM rate ("-" where not a product).
pub fn format_row(r: &BenchRow) -> String {
    let opt = |v: Option<f64>, prec: usize| {
        v.map(|x| format!("{x:.prec$}"))
            .unwrap_or_else(|| "-".into())
    };
    format!(
        "{:<24} {:>10.2} {:>10} {:>12}",
        r.op,
        r.ms,
        opt(r.gflops, 1),
        opt(r.ratio_to_gemm, 2)
    )
}

pub const HEADER: &str = "op                               ms    GFLOP/s  x GEMM rate";
