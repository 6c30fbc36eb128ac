//! One suite of backend operation tests, stamped out for every backend: each operation is
//! compared with the naive dense f64 reference (explicit D_i) on random shapes, including sizes
//! that are not multiples of the block size, gate counts spanning several mask words, and rows
//! split over threads and small blocks.

mod common;

use common::*;
use cvxnn::backend::Backend;
use cvxnn::backend::cpu::CpuOptions;
use cvxnn::backend::wgpu::{GPU_MAX_STEPS, GpuOptions, KernelChoice};
use cvxnn::regularizer::Regularizer;
use cvxnn::rng::Rng;

/// (n, d, p, c): odd sizes on purpose; 50,000 rows, 400 gates of 700 features and 5,000 features
/// are longer than one GPU invocation may loop (the host must split them).
/// Shapes for the workgroup-tiled kernels, which lavapipe runs 10-30x slower (barriers): none a
/// multiple of a tile, several 64- and 128-wide tiles along every axis of the larger ones, and
/// several row chunks under the small chunk options.
const SHAPES_TILED: &[(usize, usize, usize, usize)] = &[
    (1, 1, 1, 1),
    (37, 5, 7, 3),
    (130, 17, 70, 2),
    (257, 9, 130, 1),
    (150, 140, 140, 2),
];

const SHAPES: &[(usize, usize, usize, usize)] = &[
    (1, 1, 1, 1),
    (37, 5, 7, 3),
    (130, 17, 70, 2),
    (257, 9, 130, 1),
    (600, 12, 40, 4),
    (50_000, 2, 3, 1),
    (20, 700, 400, 1),
    (9, 5000, 6, 2),
];

fn rand_weights(len: usize, seed: u64) -> Vec<f64> {
    let mut r = Rng::new(seed);
    (0..len).map(|_| r.normal()).collect()
}

macro_rules! backend_suite {
    ($name:ident, $make:expr, $tol:expr) => {
        backend_suite!($name, $make, $tol, SHAPES);
    };
    ($name:ident, $make:expr, $tol:expr, $shapes:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn forward_matches_naive() {
                for (k, &(n, d, p, c)) in $shapes.iter().enumerate() {
                    let prob = problem(n, d, p, c, 10 + k as u64);
                    let dense = rand_weights(c * prob.g.ncols() * d, 1);
                    // Also group-sparse weights (a third of the groups nonzero), which the
                    // CPU multiplies packed.
                    let sparse: Vec<f64> = dense
                        .chunks(d)
                        .enumerate()
                        .flat_map(|(g, w)| w.iter().map(move |&a| if g % 3 == 1 { a } else { 0.0 }))
                        .collect();
                    for u in [&dense, &sparse] {
                        let want = naive_forward(&prob.x, &prob.g, u, c);
                        for small in [false, true] {
                            let Some(be) = ($make)(&prob, small) else {
                                return;
                            };
                            let got = backend_forward(&be, u);
                            let e = rel_diff(&got, want.as_slice().unwrap());
                            assert!(
                                e < $tol,
                                "shape {:?} small {small}: rel diff {e:e}",
                                (n, d, p, c)
                            );
                        }
                    }
                }
            }

            #[test]
            fn gradient_and_loss_match_naive() {
                for (k, &(n, d, p, c)) in $shapes.iter().enumerate() {
                    let prob = problem(n, d, p, c, 20 + k as u64);
                    let u = rand_weights(c * prob.g.ncols() * d, 2);
                    let want = naive_gradient(&prob.x, &prob.g, &prob.y, &u);
                    for small in [false, true] {
                        let Some(be) = ($make)(&prob, small) else {
                            return;
                        };
                        let e = rel_diff(&backend_gradient(&be, &u), &want);
                        assert!(
                            e < $tol,
                            "shape {:?} small {small}: gradient rel diff {e:e}",
                            (n, d, p, c)
                        );
                        let ub = be.upload(&u).unwrap();
                        let mut pr = be.zeros(be.dims().preds()).unwrap();
                        be.forward(&ub, &mut pr).unwrap();
                        let (l, lw) = (
                            be.loss(&pr).unwrap(),
                            naive_loss(&prob.x, &prob.g, &prob.y, &u),
                        );
                        assert!((l - lw).abs() <= $tol * lw, "loss {l} vs {lw}");
                    }
                }
            }

            #[test]
            fn fused_trial_and_objective_terms_match_reference() {
                let prob = problem(90, 5, 70, 2, 8);
                let (d, lam, eta) = (5, 0.02, 0.5);
                let len = 2 * prob.g.ncols() * d;
                let (v, g) = (rand_weights(len, 5), rand_weights(len, 6));
                let pv = naive_forward(&prob.x, &prob.g, &v, 2);
                for small in [false, true] {
                    let Some(be) = ($make)(&prob, small) else {
                        return;
                    };
                    for reg in [
                        Regularizer::NeuronGl1,
                        Regularizer::L2,
                        Regularizer::None,
                        Regularizer::L1,
                        Regularizer::FeatureGl1,
                    ] {
                        let (vb, gb) = (be.upload(&v).unwrap(), be.upload(&g).unwrap());
                        let pvb = be.upload(pv.as_slice().unwrap()).unwrap();
                        let mut out = be.zeros(len).unwrap();
                        let mut pout = be.zeros(be.dims().preds()).unwrap();
                        let tr = be
                            .trial(reg, lam, eta, &vb, &gb, &pvb, &mut out, &mut pout)
                            .unwrap();
                        let mut want: Vec<f64> =
                            v.iter().zip(&g).map(|(a, b)| a - eta * b).collect();
                        reg.prox(&mut want, d, eta * lam);
                        let step: f64 = want.iter().zip(&v).map(|(w, a)| (w - a).powi(2)).sum();
                        let pw = naive_forward(&prob.x, &prob.g, &want, 2);
                        let curv: f64 = (&pw - &pv).iter().map(|e| e * e).sum();
                        let loss = naive_loss(&prob.x, &prob.g, &prob.y, &want);
                        for (got, exp, what) in [
                            (tr.step_sq, step, "step"),
                            (tr.curv_sq, curv, "curv"),
                            (tr.loss, loss, "loss"),
                        ] {
                            assert!(
                                (got - exp).abs() <= 10.0 * $tol * exp.abs().max(1e-3),
                                "{reg:?} small {small} {what}: {got} vs {exp}"
                            );
                        }
                        assert!(rel_diff(&be.download(&out).unwrap(), &want) < $tol);
                        let (pen, sub) = be.objective_terms(reg, lam, &out, &gb).unwrap();
                        let (pw_, sw) = (
                            reg.value(&want, d),
                            reg.min_norm_subgrad_sq(&want, &g, d, lam),
                        );
                        assert!(
                            (pen - pw_).abs() <= 10.0 * $tol * pw_.max(1.0),
                            "{reg:?} penalty"
                        );
                        assert!(
                            (sub - sw).abs() <= 10.0 * $tol * sw.max(1.0),
                            "{reg:?} subgradient"
                        );
                    }
                }
            }

            /// A working set's packed sub-problem: its forward equals the full forward of
            /// weights that are zero outside the set, and its gradient is the full gradient
            /// restricted to the set (ragged gate lists, several mask words and chunks).
            #[test]
            fn restricted_products_match_full() {
                for (k, &(n, d, p, c)) in $shapes.iter().enumerate().take(5) {
                    let prob = problem(n, d, p, c, 40 + k as u64);
                    let p = prob.g.ncols();
                    let mut r = Rng::new(7 + k as u64);
                    // Output l keeps a random non-empty subset of its gates.
                    let gates: Vec<Vec<usize>> = (0..c)
                        .map(|l| {
                            let mut g: Vec<usize> = (0..p)
                                .filter(|&i| i == l % p || r.uniform() < 0.4)
                                .collect();
                            g.dedup();
                            g
                        })
                        .collect();
                    let mut u = rand_weights(c * p * d, 3);
                    let mut uw = Vec::new();
                    for l in 0..c {
                        for i in 0..p {
                            let grp = &mut u[(l * p + i) * d..(l * p + i + 1) * d];
                            if gates[l].contains(&i) {
                                uw.extend_from_slice(grp);
                            } else {
                                grp.iter_mut().for_each(|v| *v = 0.0);
                            }
                        }
                    }
                    for small in [false, true] {
                        let Some(be) = ($make)(&prob, small) else {
                            return;
                        };
                        let sub = be.restrict(&gates).unwrap();
                        assert_eq!(sub.weights_len(), uw.len());
                        let e = rel_diff(&backend_forward(&sub, &uw), &backend_forward(&be, &u));
                        assert!(e < $tol, "shape {:?}: forward rel diff {e:e}", (n, d, p, c));
                        let full = backend_gradient(&be, &u);
                        let mut want = Vec::new();
                        for l in 0..c {
                            for &i in &gates[l] {
                                want.extend_from_slice(&full[(l * p + i) * d..(l * p + i + 1) * d]);
                            }
                        }
                        let e = rel_diff(&backend_gradient(&sub, &uw), &want);
                        assert!(
                            e < $tol,
                            "shape {:?}: gradient rel diff {e:e}",
                            (n, d, p, c)
                        );
                    }
                }
            }

            #[test]
            fn prox_step_and_reductions_match_host() {
                // 150 gates: more than one 64-wide workgroup of groups per chunk unless forced small.
                let prob = problem(200, 6, 150, 3, 5);
                for small in [false, true] {
                    let Some(be) = ($make)(&prob, small) else {
                        return;
                    };
                    let len = be.dims().weights();
                    let (d, lam, eta) = (6, 0.05, 0.7);
                    let v = rand_weights(len, 3);
                    let g = rand_weights(len, 4);
                    for reg in [
                        Regularizer::NeuronGl1,
                        Regularizer::L2,
                        Regularizer::None,
                        Regularizer::L1,
                        Regularizer::FeatureGl1,
                    ] {
                        let (vb, gb) = (be.upload(&v).unwrap(), be.upload(&g).unwrap());
                        let mut out = be.zeros(len).unwrap();
                        let st_sq = be.prox_step(reg, lam, eta, &vb, &gb, &mut out).unwrap();
                        let got = be.download(&out).unwrap();
                        let mut want: Vec<f64> =
                            v.iter().zip(&g).map(|(a, b)| a - eta * b).collect();
                        reg.prox(&mut want, d, eta * lam);
                        assert!(rel_diff(&got, &want) < $tol, "{reg:?} prox");
                        let sq: f64 = want.iter().zip(&v).map(|(w, a)| (w - a).powi(2)).sum();
                        assert!((st_sq - sq).abs() <= $tol * sq.max(1.0), "{reg:?} sq");
                        let pen = be.penalty(reg, &out).unwrap();
                        assert!((pen - reg.value(&want, d)).abs() <= $tol * pen.max(1.0));
                        let s = be.subgrad_norm_sq(reg, lam, &out, &gb).unwrap();
                        let sw = reg.min_norm_subgrad_sq(&want, &g, d, lam);
                        assert!(
                            (s - sw).abs() <= $tol * sw.max(1.0),
                            "{reg:?} subgrad {s} vs {sw}"
                        );
                    }
                    let vb = be.upload(&v).unwrap();
                    let norms = be.group_norms(&vb).unwrap();
                    let want: Vec<f64> = v
                        .chunks(d)
                        .map(|c| c.iter().map(|a| a * a).sum::<f64>().sqrt())
                        .collect();
                    assert!(rel_diff(&norms, &want) < $tol);
                    let mut yb = be.upload(&g).unwrap();
                    be.axpby(2.0, &vb, -0.5, &mut yb).unwrap();
                    let want: Vec<f64> = v.iter().zip(&g).map(|(a, b)| 2.0 * a - 0.5 * b).collect();
                    assert!(rel_diff(&be.download(&yb).unwrap(), &want) < $tol);
                    let dot = be.dot(&vb, &yb).unwrap();
                    let dw: f64 = v.iter().zip(&want).map(|(a, b)| a * b).sum();
                    assert!((dot - dw).abs() <= $tol * dw.abs().max(1.0) * 10.0);
                }
            }
        }
    };
}

backend_suite!(
    cpu_f64,
    |p: &Problem, small| Some(cpu64(p, cpu_small(small))),
    1e-12
);
backend_suite!(
    cpu_f32,
    |p: &Problem, small| Some(cpu32(p, cpu_small(small))),
    1e-5
);
backend_suite!(wgpu_f32, |p: &Problem, small| gpu32(p, small), 1e-5);
backend_suite!(wgpu_f64, |p: &Problem, small| gpu64(p, small), 1e-10);
// The suite again for the workgroup-tiled (gpu-style) kernels: 64 and 128 tiles, f32 and f64,
// with the step limit GPUs get (one dispatch per chunk), lavapipe's, and a tiny one (many
// accumulating dispatches); then the cpu-style ones unsplit and with naga's runtime bounds
// checks kept (the default creates them unchecked).
backend_suite!(
    wgpu_f32_gpu_style,
    |p: &Problem, small| gpu_opts::<f32>(
        p,
        small,
        GpuOptions {
            kernels: KernelChoice::GpuStyle,
            ..Default::default()
        }
    ),
    1e-5,
    SHAPES_TILED
);
backend_suite!(
    wgpu_f64_gpu_style_unsplit,
    |p: &Problem, small| gpu_opts::<f64>(
        p,
        small,
        GpuOptions {
            kernels: KernelChoice::GpuStyle,
            max_steps: GPU_MAX_STEPS,
            ..Default::default()
        }
    ),
    1e-10,
    SHAPES_TILED
);
backend_suite!(
    wgpu_f32_gpu_style_128_unsplit,
    |p: &Problem, small| {
        gpu_opts::<f32>(
            p,
            small,
            GpuOptions {
                kernels: KernelChoice::GpuStyle,
                max_steps: GPU_MAX_STEPS,
                tile: 128,
                ..Default::default()
            },
        )
    },
    1e-5,
    SHAPES_TILED
);
backend_suite!(
    wgpu_f64_gpu_style_128_tiny_steps,
    |p: &Problem, small| gpu_opts::<f64>(
        p,
        small,
        GpuOptions {
            kernels: KernelChoice::GpuStyle,
            max_steps: 100,
            tile: 128,
            ..Default::default()
        }
    ),
    1e-10,
    SHAPES_TILED
);
// One step per dispatch: hundreds of dispatches with parameter blocks of several sizes in one
// encoder (the fused trial's prox, forward and sums), past what one uniform buffer of blocks
// holds. An encoder that sized its buffers by its first block overflowed them here.
backend_suite!(
    wgpu_f32_one_step,
    |p: &Problem, small| gpu_opts::<f32>(
        p,
        small,
        GpuOptions {
            kernels: KernelChoice::CpuStyle,
            max_steps: 1,
            ..Default::default()
        }
    ),
    1e-5,
    &[(37, 5, 7, 3)]
);
backend_suite!(
    wgpu_f32_unsplit,
    |p: &Problem, small| gpu_opts::<f32>(
        p,
        small,
        GpuOptions {
            kernels: KernelChoice::CpuStyle,
            max_steps: GPU_MAX_STEPS,
            ..Default::default()
        }
    ),
    1e-5
);
backend_suite!(
    wgpu_f32_checked,
    |p: &Problem, small| gpu_opts::<f32>(
        p,
        small,
        GpuOptions {
            kernels: KernelChoice::CpuStyle,
            checked: true,
            ..Default::default()
        }
    ),
    1e-5
);

#[test]
fn gradient_matches_central_differences_f64() {
    for (k, &(n, d, p, c)) in SHAPES.iter().skip(1).enumerate() {
        let prob = problem(n, d, p, c, 40 + k as u64);
        let be = cpu64(&prob, CpuOptions::default());
        let len = be.dims().weights();
        let u = rand_weights(len, 7);
        let grad = backend_gradient(&be, &u);
        let f = |w: &[f64]| {
            let wb = be.upload(w).unwrap();
            let mut pr = be.zeros(be.dims().preds()).unwrap();
            be.forward(&wb, &mut pr).unwrap();
            be.loss(&pr).unwrap()
        };
        let mut rng = Rng::new(9);
        let gmax = grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for _ in 0..20 {
            let j = rng.below(len);
            let h = 1e-5;
            let (mut up, mut dn) = (u.clone(), u.clone());
            up[j] += h;
            dn[j] -= h;
            let fd = (f(&up) - f(&dn)) / (2.0 * h);
            // f is quadratic, so central differences are exact up to rounding.
            assert!(
                (fd - grad[j]).abs() <= 1e-7 * gmax.max(1e-3),
                "coord {j}: fd {fd} vs {}",
                grad[j]
            );
        }
    }
}

/// Where the CPU gradient splits columns over the threads (64 groups a thread or more), it
/// gives the same bits on 1, 2 and 3 threads, with one tile per thread or, under small tiles,
/// threads taking many tiles from the shared queue. (A row split adds partial sums.)
#[test]
fn cpu_gradient_bits_do_not_depend_on_the_threads() {
    for (k, &(n, d, p, c)) in SHAPES.iter().enumerate() {
        let prob = problem(n, d, p, c, 60 + k as u64);
        let u = rand_weights(c * prob.g.ncols() * d, 3);
        for block_cols in [0, 7] {
            let cp = c * prob.g.ncols();
            let grads: Vec<Vec<u64>> = [1, 2, 3]
                .iter()
                .filter(|&&threads| threads == 1 || cp >= 64 * threads)
                .map(|&threads| {
                    let opts = CpuOptions {
                        threads,
                        block_rows: 0,
                        block_cols,
                    };
                    let be = cpu64(&prob, opts);
                    backend_gradient(&be, &u)
                        .iter()
                        .map(|v| v.to_bits())
                        .collect()
                })
                .collect();
            assert!(
                grads.windows(2).all(|w| w[0] == w[1]),
                "shape {:?} block_cols {block_cols}",
                (n, d, p, c)
            );
        }
    }
}

/// Timestamp queries time both products on the device where the adapter has them (lavapipe
/// does), and the products they time are the real ones: the forward recorded for the timer
/// leaves the same predictions as `forward`.
#[test]
fn device_timer_times_the_products() {
    let prob = problem(300, 20, 40, 3, 77);
    let Some(be) = gpu32(&prob, false) else {
        return;
    };
    let u = rand_weights(3 * prob.g.ncols() * 20, 5);
    let ub = be.upload(&u).unwrap();
    let preds = be.zeros(be.dims().preds()).unwrap();
    let grad = be.zeros(be.weights_len()).unwrap();
    let Some((f, g)) = be.device_times(&ub, &preds, &grad, 2).unwrap() else {
        eprintln!("SKIPPED: the adapter has no TIMESTAMP_QUERY");
        return;
    };
    assert!(f > 0.0 && g > 0.0 && f < 10.0 && g < 10.0, "{f} {g}");
    let want = naive_forward(&prob.x, &prob.g, &u, 3);
    let got = be.download(&preds).unwrap();
    assert!(rel_diff(&got, want.as_slice().unwrap()) < 1e-5);
}
