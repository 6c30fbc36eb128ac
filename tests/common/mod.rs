//! Shared helpers: random problems and a naive dense reference with explicit D_i matrices.
#![allow(dead_code)]

use cvxnn::backend::Backend;
use cvxnn::backend::cpu::{CpuBackend, CpuOptions};
use cvxnn::gates;
use cvxnn::mask::BitMask;
use cvxnn::rng::Rng;
use ndarray::Array2;

pub struct Problem {
    pub x: Array2<f64>,
    pub y: Array2<f64>,
    /// Gates (d x p) whose patterns are all distinct and non-zero.
    pub g: Array2<f64>,
    pub mask: BitMask,
}

pub fn randn(rows: usize, cols: usize, rng: &mut Rng) -> Array2<f64> {
    Array2::from_shape_simple_fn((rows, cols), || rng.normal())
}

/// A random problem: X ~ N(0,1) (n x d), Y from a random gated model plus noise (n x c).
pub fn problem(n: usize, d: usize, p: usize, c: usize, seed: u64) -> Problem {
    let mut rng = Rng::new(seed);
    let x = randn(n, d, &mut rng);
    let g_all = gates::gaussian(d, p, seed + 100);
    let pats = gates::unique_patterns(&x, &g_all);
    let g = g_all.select(ndarray::Axis(1), &pats.kept);
    let u: Vec<f64> = (0..c * g.ncols() * d).map(|_| rng.normal()).collect();
    let mut y = naive_forward(&x, &g, &u, c);
    y.mapv_inplace(|v| v + 0.1 * rng.normal());
    Problem {
        x,
        y,
        g,
        mask: pats.mask,
    }
}

/// D_i as explicit 0/1 diagonals: d_mat[r][i] = 1[x_r . g_i > 0].
pub fn d_matrix(x: &Array2<f64>, g: &Array2<f64>) -> Array2<f64> {
    let z = x.dot(g);
    z.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 })
}

/// sum_i D_i X U_{l,i}, with U laid out (c, p, d), by plain loops.
pub fn naive_forward(x: &Array2<f64>, g: &Array2<f64>, u: &[f64], c: usize) -> Array2<f64> {
    let (n, d) = x.dim();
    let p = g.ncols();
    let dm = d_matrix(x, g);
    let mut out = Array2::zeros((n, c));
    for r in 0..n {
        for l in 0..c {
            let mut acc = 0.0;
            for i in 0..p {
                if dm[[r, i]] == 1.0 {
                    for j in 0..d {
                        acc += x[[r, j]] * u[(l * p + i) * d + j];
                    }
                }
            }
            out[[r, l]] = acc;
        }
    }
    out
}

/// grad_{l,i} = X^T D_i (Yhat - Y)_l / (n c), by plain loops.
pub fn naive_gradient(x: &Array2<f64>, g: &Array2<f64>, y: &Array2<f64>, u: &[f64]) -> Vec<f64> {
    let (n, d) = x.dim();
    let (p, c) = (g.ncols(), y.ncols());
    let dm = d_matrix(x, g);
    let res = naive_forward(x, g, u, c) - y;
    let mut grad = vec![0.0; c * p * d];
    for l in 0..c {
        for i in 0..p {
            for r in 0..n {
                if dm[[r, i]] == 1.0 {
                    for j in 0..d {
                        grad[(l * p + i) * d + j] += x[[r, j]] * res[[r, l]] / (n * c) as f64;
                    }
                }
            }
        }
    }
    grad
}

pub fn naive_loss(x: &Array2<f64>, g: &Array2<f64>, y: &Array2<f64>, u: &[f64]) -> f64 {
    let (n, c) = y.dim();
    let r = naive_forward(x, g, u, c) - y;
    r.iter().map(|v| v * v).sum::<f64>() / (2 * n * c) as f64
}

/// max |a - b| / max(max |b|, tiny)
pub fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

pub fn cpu64(p: &Problem, opts: CpuOptions) -> CpuBackend<f64> {
    CpuBackend::new(&p.x, &p.y, p.mask.clone(), opts)
}

pub fn cpu32(p: &Problem, opts: CpuOptions) -> CpuBackend<f32> {
    CpuBackend::new(&p.x, &p.y, p.mask.clone(), opts)
}

/// Forward of host weights through a backend, back on the host.
pub fn backend_forward<B: Backend>(be: &B, u: &[f64]) -> Vec<f64> {
    let ub = be.upload(u).unwrap();
    let mut pr = be.zeros(be.dims().preds()).unwrap();
    be.forward(&ub, &mut pr).unwrap();
    be.download(&pr).unwrap()
}

pub fn backend_gradient<B: Backend>(be: &B, u: &[f64]) -> Vec<f64> {
    let ub = be.upload(u).unwrap();
    let mut pr = be.zeros(be.dims().preds()).unwrap();
    be.forward(&ub, &mut pr).unwrap();
    let mut g = be.zeros(be.weights_len()).unwrap();
    be.gradient(&pr, &mut g).unwrap();
    be.download(&g).unwrap()
}

use cvxnn::backend::wgpu::{
    AdapterChoice, GpuBackend, GpuContext, GpuOptions, GpuReal, KernelChoice,
};
use std::sync::{Arc, OnceLock};

/// The GPU context the tests share (any adapter, software included). `None` means skip, unless
/// REQUIRE_GPU=1, where a missing adapter fails the test.
pub fn gpu_ctx() -> Option<Arc<GpuContext>> {
    static CTX: OnceLock<Option<Arc<GpuContext>>> = OnceLock::new();
    let ctx = CTX
        .get_or_init(|| {
            match GpuContext::open(&AdapterChoice {
                name: None,
                allow_software: true,
            }) {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!("SKIPPED GPU tests: {e}");
                    None
                }
            }
        })
        .clone();
    if ctx.is_none() && std::env::var("REQUIRE_GPU").is_ok_and(|v| v == "1") {
        panic!("REQUIRE_GPU=1 but no adapter could be opened");
    }
    ctx
}

/// Small forced chunks: several row chunks and several gate chunks per output.
pub const SMALL_GPU: GpuOptions = GpuOptions {
    max_rows_per_chunk: 64,
    max_gates_per_chunk: 7,
    kernels: KernelChoice::Auto,
    checked: false,
    max_steps: 0,
    tile: 0,
};

/// A GPU backend with `opts` over the default (or, when `small`, the small-chunk) options.
pub fn gpu_opts<T: GpuReal>(p: &Problem, small: bool, opts: GpuOptions) -> Option<GpuBackend<T>> {
    let ctx = gpu_ctx()?;
    if T::WGSL == "f64" && !ctx.has_f64() {
        eprintln!("SKIPPED f64 GPU test: {} has no SHADER_F64", ctx.describe());
        return None;
    }
    let opts = if small {
        GpuOptions {
            max_rows_per_chunk: SMALL_GPU.max_rows_per_chunk,
            max_gates_per_chunk: SMALL_GPU.max_gates_per_chunk,
            ..opts
        }
    } else {
        opts
    };
    Some(GpuBackend::new(ctx, &p.x, &p.y, &p.mask, opts).unwrap())
}

pub fn gpu32(p: &Problem, small: bool) -> Option<GpuBackend<f32>> {
    gpu_opts(p, small, GpuOptions::default())
}

pub fn gpu64(p: &Problem, small: bool) -> Option<GpuBackend<f64>> {
    gpu_opts(p, small, GpuOptions::default())
}

pub fn cpu_small(small: bool) -> CpuOptions {
    if small {
        CpuOptions {
            threads: 2,
            block_rows: 16,
            block_cols: 5,
        }
    } else {
        CpuOptions::default()
    }
}
