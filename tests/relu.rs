//! The cone-constrained ReLU program: the augmented Lagrangian's terms against plain loops and
//! finite differences, the AL solve against Clarabel's interior point, the gated/ReLU
//! equivalence at lam = 0, and the decompositions.

mod common;

use common::*;
use cvxnn::backend::cpu::{CpuBackend, CpuOptions};
use cvxnn::backend::{Backend, ConePenalty};
use cvxnn::conic;
use cvxnn::decompose;
use cvxnn::rng::Rng;
use cvxnn::solver::{self, AlParams, AlSettings, FistaSettings, observer::Silent};

/// The doubled-pattern backend of the ReLU program (small blocks so blocking is exercised).
fn relu_backend(p: &Problem) -> CpuBackend<f64> {
    let opts = CpuOptions {
        threads: 1,
        block_rows: 7,
        block_cols: 0,
    };
    CpuBackend::new(&p.x, &p.y, p.mask.doubled(), opts)
}

/// Gaps g_{j,(l,i)} = -s_i (2 D_ji - 1) x_j . U_{l,i} by plain loops, laid out (n, c 2p).
fn naive_gaps(p: &Problem, u: &[f64]) -> Vec<f64> {
    let (n, d) = p.x.dim();
    let (c, p1) = (p.y.ncols(), p.mask.cols());
    let p2 = 2 * p1;
    let mut g = vec![0.0; n * c * p2];
    for j in 0..n {
        for l in 0..c {
            for i in 0..p2 {
                let o = if p.mask.get(j, i % p1) { 1.0 } else { -1.0 };
                let s = if i < p1 { 1.0 } else { -1.0 };
                let z: f64 = (0..d).map(|k| p.x[[j, k]] * u[(l * p2 + i) * d + k]).sum();
                g[j * c * p2 + l * p2 + i] = -s * o * z;
            }
        }
    }
    g
}

fn augmented<B: Backend>(be: &B, u: &[f64], gamma: &B::Buf, delta: f64) -> (f64, Vec<f64>) {
    let ub = be.upload(u).unwrap();
    let mut preds = be.zeros(be.dims().preds()).unwrap();
    be.forward(&ub, &mut preds).unwrap();
    let mut g = be.zeros(u.len()).unwrap();
    be.gradient(&preds, &mut g).unwrap();
    let mut gp = be.zeros(u.len()).unwrap();
    let pen = ConePenalty {
        shift: gamma,
        scale: 1.0 / delta,
        weight: delta,
        neg_from: be.dims().p / 2,
    };
    let t = be
        .cone(&ub, pen.neg_from, Some(&pen), Some(&mut gp))
        .unwrap();
    be.axpby(1.0, &gp, 1.0, &mut g).unwrap();
    (
        be.loss(&preds).unwrap() + t.penalty,
        be.download(&g).unwrap(),
    )
}

#[test]
fn cone_terms_match_plain_loops_and_the_gradient_matches_finite_differences() {
    let p = problem(37, 4, 6, 2, 11);
    let be = relu_backend(&p);
    let dims = be.dims();
    let mut rng = Rng::new(5);
    let u: Vec<f64> = (0..dims.weights()).map(|_| rng.normal()).collect();
    let gamma_h: Vec<f64> = (0..dims.n * dims.c * dims.p)
        .map(|_| rng.normal().max(0.0))
        .collect();
    let gamma = be.upload(&gamma_h).unwrap();
    let delta = 0.7;

    // Violation and penalty against the loops.
    let gaps = naive_gaps(&p, &u);
    let want_vsq: f64 = gaps.iter().map(|g| g.max(0.0).powi(2)).sum();
    let want_vmax = gaps.iter().fold(0.0f64, |m, g| m.max(*g));
    let want_pen: f64 = gaps
        .iter()
        .zip(&gamma_h)
        .map(|(g, m)| (g + m / delta).max(0.0).powi(2))
        .sum::<f64>()
        * delta
        / 2.0;
    let ub = be.upload(&u).unwrap();
    let pen = ConePenalty {
        shift: &gamma,
        scale: 1.0 / delta,
        weight: delta,
        neg_from: dims.p / 2,
    };
    let t = be.cone(&ub, dims.p / 2, Some(&pen), None).unwrap();
    assert!((t.viol_sq - want_vsq).abs() <= 1e-10 * want_vsq);
    assert!((t.viol_max - want_vmax).abs() <= 1e-12 * want_vmax);
    assert!((t.penalty - want_pen).abs() <= 1e-10 * want_pen);

    // Multiplier step against the loops.
    let mut gm = be.upload(&gamma_h).unwrap();
    be.cone_update(&ub, dims.p / 2, delta, &mut gm).unwrap();
    let want: Vec<f64> = gamma_h
        .iter()
        .zip(&gaps)
        .map(|(m, g)| (m + delta * g).max(0.0))
        .collect();
    assert!(rel_diff(&be.download(&gm).unwrap(), &want) < 1e-12);

    // The trial's curvature against the textbook form in f64.
    let step: Vec<f64> = (0..u.len()).map(|_| 0.3 * rng.normal()).collect();
    let w: Vec<f64> = u.iter().zip(&step).map(|(a, b)| a + b).collect();
    let (pn, curv) = be
        .cone_trial(&ub, &be.upload(&step).unwrap(), &pen)
        .unwrap();
    let mut gp = be.zeros(u.len()).unwrap();
    let p0 = be
        .cone(&ub, dims.p / 2, Some(&pen), Some(&mut gp))
        .unwrap()
        .penalty;
    let p1 = be
        .cone(&be.upload(&w).unwrap(), dims.p / 2, Some(&pen), None)
        .unwrap()
        .penalty;
    let lin: f64 = gp.iter().zip(&step).map(|(a, b)| a * b).sum();
    assert!((pn - p1).abs() <= 1e-10 * p1);
    assert!(
        curv >= 0.0 && (curv - (p1 - p0 - lin)).abs() <= 1e-8 * p1,
        "{curv} vs {}",
        p1 - p0 - lin
    );

    // Directional derivatives of f + penalty by central differences.
    let (_, grad) = augmented(&be, &u, &gamma, delta);
    for trial in 0..4 {
        let dir: Vec<f64> = (0..u.len()).map(|_| rng.normal()).collect();
        let h = 1e-6;
        let at = |s: f64| {
            let w: Vec<f64> = u.iter().zip(&dir).map(|(a, b)| a + s * b).collect();
            augmented(&be, &w, &gamma, delta).0
        };
        let fd = (at(h) - at(-h)) / (2.0 * h);
        let an: f64 = grad.iter().zip(&dir).map(|(a, b)| a * b).sum();
        assert!(
            (fd - an).abs() <= 1e-6 * an.abs().max(1.0),
            "direction {trial}: finite differences {fd}, gradient {an}"
        );
    }
}

fn al_settings(lam: f64) -> AlParams {
    AlSettings {
        fista: FistaSettings {
            lambda: lam,
            tol: 1e-10,
            max_iters: 200_000,
            ..FistaSettings::default()
        },
        viol_tol: 1e-10,
        ..AlSettings::default()
    }
    .check()
    .unwrap()
}

#[test]
fn al_solution_is_feasible_and_matches_the_interior_point_reference() {
    for (seed, c, lam) in [(1u64, 1usize, 1e-3), (2, 2, 1e-2), (3, 1, 1e-4)] {
        let p = problem(30, 3, 5, c, seed);
        let be = relu_backend(&p);
        let al = solver::solve_al(&be, &al_settings(lam), None, &mut Silent).unwrap();
        assert_eq!(al.solution.status, solver::Status::Converged, "seed {seed}");
        assert!(
            al.viol_max <= 1e-4,
            "seed {seed}: violation {}",
            al.viol_max
        );
        let mask = p.mask.doubled();
        let (_, ref_obj, _) = conic::relu_program(&p.x, &p.y, &mask, lam).unwrap();
        let ours = conic::relu_objective(&p.x, &p.y, &mask, &al.solution.weights, lam);
        eprintln!(
            "seed {seed}: AL {ours:.10e} ({} inner its, {} outer, {:.2} s), Clarabel {ref_obj:.10e}, violation {:.1e}",
            al.solution.iterations, al.outer, al.solution.time_s, al.viol_max
        );
        assert!(
            (ours - ref_obj).abs() <= 1e-4 * ref_obj,
            "seed {seed}: AL {ours}, Clarabel {ref_obj}"
        );
        assert!((al.solution.objective - ours).abs() <= 1e-9 * ours);
        // The dual bound P(U) - gap is a lower bound on the optimum (weak duality), here and
        // after a solve stopped early; solved tightly, the gap nearly closes.
        let gap = al.solution.gap.expect("neuron groups have the AL's gap");
        let rel = al.solution.rel_gap.unwrap();
        assert!(
            ours - gap <= ref_obj * (1.0 + 1e-9),
            "seed {seed}: dual {} above the optimum {ref_obj}",
            ours - gap
        );
        assert!(
            rel.abs() <= 1e-4,
            "seed {seed}: rel_gap {rel} at the tight solve"
        );
        let mut early = al_settings(lam).get().clone();
        early.fista.max_iters = 40;
        let short = solver::solve_al(&be, &early.check().unwrap(), None, &mut Silent).unwrap();
        let dual = short.solution.objective - short.solution.gap.unwrap();
        assert!(
            dual <= ref_obj * (1.0 + 1e-9),
            "seed {seed}: early dual {dual} above {ref_obj}"
        );
    }
}

#[test]
fn with_lam_zero_relu_and_gated_programs_reach_the_same_loss_and_decompositions_are_feasible() {
    let p = problem(40, 3, 8, 1, 7);
    let lam = 0.0;
    // Gated program.
    let gated = CpuBackend::<f64>::new(&p.x, &p.y, p.mask.clone(), CpuOptions::default());
    let params = FistaSettings {
        lambda: lam,
        tol: 1e-14,
        max_iters: 100_000,
        ..FistaSettings::default()
    }
    .check()
    .unwrap();
    let gsol = solver::solve(&gated, &params, None, &mut Silent).unwrap();
    assert_eq!(gsol.status, solver::Status::Converged);
    // ReLU program on the same patterns.
    let be = relu_backend(&p);
    let al = solver::solve_al(&be, &al_settings(lam), None, &mut Silent).unwrap();
    eprintln!(
        "lam 0: ReLU loss {:.10e} ({} its, {} outer, {:.2} s), gated {:.10e} ({} its)",
        al.solution.loss,
        al.solution.iterations,
        al.outer,
        al.solution.time_s,
        gsol.loss,
        gsol.iterations
    );
    assert!(al.viol_max <= 1e-4, "violation {}", al.viol_max);
    assert!(
        (al.solution.loss - gsol.loss).abs() <= 1e-4 * gsol.loss,
        "ReLU loss {}, gated loss {}",
        al.solution.loss,
        gsol.loss
    );

    // The approximate decomposition of the gated solution: feasible, same predictions.
    let fista = FistaSettings {
        tol: 1e-16,
        max_iters: 100_000,
        ..FistaSettings::default()
    };
    let dec = decompose::approximate(&gated, &gsol.weights, 1e-10, &fista).unwrap();
    eprintln!("approx decomposition: {dec:?}");
    assert!(dec.constraint_violation <= 1e-6, "{dec:?}");
    let mask2 = p.mask.doubled();
    let g2 = ndarray::concatenate![ndarray::Axis(1), p.g, p.g];
    let before = naive_forward(&p.x, &p.g, &gsol.weights, 1);
    let after = naive_forward(&p.x, &g2, &dec.weights, 1);
    let _ = mask2;
    assert!(rel_diff(after.as_slice().unwrap(), before.as_slice().unwrap()) < 1e-6);
    assert!(dec.norm_relu >= dec.norm_gated * (1.0 - 1e-12));

    // The exact decomposition: feasible, same predictions, and no larger than the approximate.
    let exact = conic::exact_decomposition(&p.x, &p.mask, &gsol.weights, 1).unwrap();
    let viol = decompose::violation_split(&gated, &exact, 1, p.mask.cols(), 3).unwrap();
    assert!(viol <= 1e-6, "exact violation {viol}");
    let after = naive_forward(&p.x, &g2, &exact, 1);
    assert!(rel_diff(after.as_slice().unwrap(), before.as_slice().unwrap()) < 1e-6);
    let exact_norm = decompose::group_norm_sum(&exact, 3);
    assert!(
        exact_norm <= dec.norm_relu * (1.0 + 1e-5),
        "exact {exact_norm} vs approx {}",
        dec.norm_relu
    );
}

fn gpu_relu<T: cvxnn::backend::wgpu::GpuReal>(
    p: &Problem,
    opts: cvxnn::backend::wgpu::GpuOptions,
) -> Option<cvxnn::backend::wgpu::GpuBackend<T>> {
    let ctx = gpu_ctx()?;
    if T::WGSL == "f64" && !ctx.has_f64() {
        eprintln!("SKIPPED f64 GPU test: no SHADER_F64");
        return None;
    }
    Some(cvxnn::backend::wgpu::GpuBackend::new(ctx, &p.x, &p.y, &p.mask.doubled(), opts).unwrap())
}

/// Cone terms, multiplier steps and the penalty gradient of a backend against the CPU f64
/// path. The multipliers are built on each side by the same two steps from zero (uploading
/// them would need the cone layout on the host, which is the backend's business).
fn check_cone_ops<B: Backend>(be: &B, p: &Problem, tol: f64, what: &str) {
    let cpu = relu_backend(p);
    let dims = cpu.dims();
    let half = dims.p / 2;
    let mut rng = Rng::new(9);
    let rand = |rng: &mut Rng| -> Vec<f64> { (0..dims.weights()).map(|_| rng.normal()).collect() };
    let (u, w) = (rand(&mut rng), rand(&mut rng));
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-300);
    let (ub, wb) = (be.upload(&u).unwrap(), be.upload(&w).unwrap());
    let (uc, wc) = (cpu.upload(&u).unwrap(), cpu.upload(&w).unwrap());
    let mut gd = be.cone_zeros().unwrap();
    let mut gc = cpu.cone_zeros().unwrap();
    for (delta, (xd, xc)) in [(1.0, (&ub, &uc)), (0.3, (&wb, &wc))] {
        let td = be.cone_update(xd, half, delta, &mut gd).unwrap();
        let tc = cpu.cone_update(xc, half, delta, &mut gc).unwrap();
        assert!(
            rel(td.viol_sq, tc.viol_sq) < tol,
            "{what}: violation^2 {} vs {}",
            td.viol_sq,
            tc.viol_sq
        );
        assert!(
            rel(td.viol_max, tc.viol_max) < tol,
            "{what}: max violation {} vs {}",
            td.viol_max,
            tc.viol_max
        );
    }
    let delta = 0.7;
    let pd = ConePenalty {
        shift: &gd,
        scale: 1.0 / delta,
        weight: delta,
        neg_from: half,
    };
    let pc = ConePenalty {
        shift: &gc,
        scale: 1.0 / delta,
        weight: delta,
        neg_from: half,
    };
    let mut grad_d = be.zeros(dims.weights()).unwrap();
    let mut grad_c = cpu.zeros(dims.weights()).unwrap();
    let td = be.cone(&ub, half, Some(&pd), Some(&mut grad_d)).unwrap();
    let tc = cpu.cone(&uc, half, Some(&pc), Some(&mut grad_c)).unwrap();
    assert!(tc.penalty > 0.0);
    assert!(
        rel(td.penalty, tc.penalty) < tol,
        "{what}: penalty {} vs {}",
        td.penalty,
        tc.penalty
    );
    let gdiff = rel_diff(&be.download(&grad_d).unwrap(), &grad_c);
    assert!(gdiff < tol, "{what}: penalty gradient differs by {gdiff:e}");
    let step = rand(&mut rng);
    let (pnd, cvd) = be.cone_trial(&ub, &be.upload(&step).unwrap(), &pd).unwrap();
    let (pnc, cvc) = cpu
        .cone_trial(&uc, &cpu.upload(&step).unwrap(), &pc)
        .unwrap();
    assert!(
        rel(pnd, pnc) < tol && rel(cvd, cvc) < tol,
        "{what}: trial ({pnd}, {cvd}) vs ({pnc}, {cvc})"
    );
    let ts = be.cone(&ub, half, None, None).unwrap();
    assert!(
        rel(ts.viol_sq, tc.viol_sq) < tol && ts.penalty == 0.0,
        "{what}: stats pass"
    );
}

#[test]
fn gpu_cone_ops_match_the_cpu_path() {
    use cvxnn::backend::wgpu::GpuOptions;
    let small = GpuOptions {
        max_rows_per_chunk: 64,
        max_gates_per_chunk: 8,
        ..Default::default()
    };
    for (seed, (n, d, p, c)) in [(41u64, (150, 7, 20, 3)), (42, (70, 5000, 3, 1))] {
        let prob = problem(n, d, p, c, seed);
        for opts in [GpuOptions::default(), small] {
            let Some(g32) = gpu_relu::<f32>(&prob, opts) else {
                return;
            };
            check_cone_ops(&g32, &prob, 1e-4, "gpu-f32");
            if let Some(g64) = gpu_relu::<f64>(&prob, opts) {
                check_cone_ops(&g64, &prob, 1e-10, "gpu-f64");
            }
        }
    }
}

/// f32 (the CPU's default for the AL at these tolerances, and GPUs') stops at the objective of
/// the f64 reference to 1e-4 with a violation of the same order.
#[test]
fn f32_al_solves_match_the_cpu_f64_objective() {
    let prob = problem(60, 4, 6, 2, 43);
    let settings = AlSettings {
        fista: FistaSettings {
            lambda: 3e-2,
            tol: 1e-6,
            max_iters: 20_000,
            ..FistaSettings::default()
        },
        viol_tol: 1e-6,
        ..AlSettings::default()
    }
    .check()
    .unwrap();
    let cpu = solver::solve_al(&relu_backend(&prob), &settings, None, &mut Silent).unwrap();
    assert_eq!(cpu.solution.status, solver::Status::Converged);
    let check = |what: &str, al: &solver::AlSolution| {
        let rel = (al.solution.objective - cpu.solution.objective).abs() / cpu.solution.objective;
        eprintln!(
            "AL cpu-f64 {:.8e} ({} its), {what} {:.8e} ({} its), violation {:.1e} / {:.1e}",
            cpu.solution.objective,
            cpu.solution.iterations,
            al.solution.objective,
            al.solution.iterations,
            cpu.viol_max,
            al.viol_max
        );
        assert_eq!(al.solution.status, solver::Status::Converged, "{what}");
        assert!(rel < 1e-4, "{what}: objective differs by {rel:e}");
        assert!(al.viol_max <= 1e-3, "{what}: violation {}", al.viol_max);
    };
    let opts = CpuOptions {
        threads: 2,
        ..Default::default()
    };
    let c32 = CpuBackend::<f32>::new(&prob.x, &prob.y, prob.mask.doubled(), opts);
    check(
        "cpu-f32",
        &solver::solve_al(&c32, &settings, None, &mut Silent).unwrap(),
    );
    let small = cvxnn::backend::wgpu::GpuOptions {
        max_rows_per_chunk: 32,
        max_gates_per_chunk: 4,
        ..Default::default()
    };
    if let Some(g32) = gpu_relu::<f32>(&prob, small) {
        check(
            "gpu-f32",
            &solver::solve_al(&g32, &settings, None, &mut Silent).unwrap(),
        );
    }
}

/// A group-sparse U is lifted by a packed product over its nonzero groups: every entry equals
/// the dense product's bit for bit, and the zero groups' columns are exactly zero.
#[test]
fn sparse_lift_equals_the_dense_one() {
    let p = problem(41, 5, 7, 3, 23);
    for threads in [1, 3] {
        let opts = CpuOptions {
            threads,
            block_rows: 0,
            block_cols: 0,
        };
        let be = CpuBackend::<f64>::new(&p.x, &p.y, p.mask.doubled(), opts);
        let dims = be.dims();
        let mut rng = Rng::new(4);
        let u: Vec<f64> = (0..dims.weights()).map(|_| rng.normal()).collect();
        let kept = |g: usize| g % 3 == 1;
        let sparse: Vec<f64> = u
            .chunks(dims.d)
            .enumerate()
            .flat_map(|(g, w)| w.iter().map(move |&a| if kept(g) { a } else { 0.0 }))
            .collect();
        let lift = |w: &[f64]| {
            let mut z = be.cone_zeros().unwrap();
            // Stale values in z must not survive: the sparse path writes every entry.
            z.iter_mut().for_each(|v| *v = f64::NAN);
            be.lift(&be.upload(w).unwrap(), &mut z).unwrap();
            be.download(&z).unwrap()
        };
        let (dense, packed) = (lift(&u), lift(&sparse));
        let cp = dims.c * dims.p;
        for (k, (a, b)) in dense.iter().zip(&packed).enumerate() {
            let want = if kept(k % cp) { *a } else { 0.0 };
            assert_eq!(want.to_bits(), b.to_bits(), "entry {k}, {threads} threads");
        }
    }
}

/// The lifted operations (products X U^T kept between calls) give the same numbers as the cone
/// passes that recompute them: value, gradient, trial and multiplier step, on one thread with
/// small blocks and on three threads.
#[test]
fn lifted_operations_match_the_cone_passes() {
    let p = problem(41, 5, 7, 3, 23);
    for opts in [
        CpuOptions {
            threads: 1,
            block_rows: 7,
            block_cols: 0,
        },
        CpuOptions {
            threads: 3,
            block_rows: 0,
            block_cols: 0,
        },
    ] {
        let be = CpuBackend::<f64>::new(&p.x, &p.y, p.mask.doubled(), opts);
        let dims = be.dims();
        let mut rng = Rng::new(9);
        let u: Vec<f64> = (0..dims.weights()).map(|_| rng.normal()).collect();
        let step: Vec<f64> = (0..dims.weights()).map(|_| 0.2 * rng.normal()).collect();
        let gamma_h: Vec<f64> = (0..dims.n * dims.c * dims.p)
            .map(|_| rng.normal().max(0.0))
            .collect();
        let gamma = be.upload(&gamma_h).unwrap();
        let delta = 0.4;
        let pen = ConePenalty {
            shift: &gamma,
            scale: 1.0 / delta,
            weight: delta,
            neg_from: dims.p / 2,
        };
        let ub = be.upload(&u).unwrap();
        let mut z = be.cone_zeros().unwrap();
        be.lift(&ub, &mut z).unwrap();
        assert!(
            rel_diff(&be.download(&z).unwrap(), &{
                // Z = X U^T against the gaps: g = -s (2D - 1) Z.
                let gaps = naive_gaps(&p, &u);
                let mut want = vec![0.0; gaps.len()];
                for (k, w) in want.iter_mut().enumerate() {
                    let (j, i) = (k / (dims.c * dims.p), k % dims.p);
                    let o = if p.mask.get(j, i % (dims.p / 2)) {
                        1.0
                    } else {
                        -1.0
                    };
                    let s = if i < dims.p / 2 { 1.0 } else { -1.0 };
                    *w = -gaps[k] * s * o;
                }
                want
            }) < 1e-12
        );

        for data_loss in [true, false] {
            // Gradient and penalty against gradient + cone.
            let mut g = be.zeros(dims.weights()).unwrap();
            let lp = be.lifted_gradient(&z, &pen, data_loss, &mut g).unwrap();
            let mut gp = be.zeros(dims.weights()).unwrap();
            let t = be
                .cone(&ub, pen.neg_from, Some(&pen), Some(&mut gp))
                .unwrap();
            let mut want = be.download(&gp).unwrap();
            if data_loss {
                let (_, full) = augmented(&be, &u, &gamma, delta);
                want = full;
            }
            assert!((lp - t.penalty).abs() <= 1e-12 * t.penalty);
            let got = be.download(&g).unwrap();
            assert!(
                rel_diff(&got, &want) < 1e-12,
                "{opts:?} data {data_loss}: {}",
                rel_diff(&got, &want)
            );

            // The trial from U along `step` against cone_trial and the loss at U + step.
            let sb = be.upload(&step).unwrap();
            let mut zn = be.cone_zeros().unwrap();
            be.lift(&sb, &mut zn).unwrap();
            let tr = be.lifted_trial(&z, &mut zn, &pen, data_loss).unwrap();
            let (pn, cc) = be.cone_trial(&ub, &sb, &pen).unwrap();
            let w: Vec<f64> = u.iter().zip(&step).map(|(a, b)| a + b).collect();
            let wb = be.upload(&w).unwrap();
            let mut zw = be.cone_zeros().unwrap();
            be.lift(&wb, &mut zw).unwrap();
            assert!(rel_diff(&be.download(&zn).unwrap(), &be.download(&zw).unwrap()) < 1e-12);
            let (mut pv, mut pw) = (
                be.zeros(dims.preds()).unwrap(),
                be.zeros(dims.preds()).unwrap(),
            );
            be.forward(&ub, &mut pv).unwrap();
            be.forward(&wb, &mut pw).unwrap();
            let data_curv = be.dist_sq(&pw, &pv).unwrap() / (2 * dims.n * dims.c) as f64;
            let (want_loss, want_curv) = if data_loss {
                (be.loss(&pw).unwrap(), cc + data_curv)
            } else {
                (0.0, cc)
            };
            assert!((tr.penalty - pn).abs() <= 1e-12 * pn);
            assert!((tr.loss - want_loss).abs() <= 1e-12 * want_loss.max(1e-300));
            assert!(
                (tr.curvature - want_curv).abs() <= 1e-10 * want_curv,
                "{} vs {want_curv}",
                tr.curvature
            );
        }

        // The one-pass combination equals a copy and an axpby bit for bit.
        let sb = be.upload(&step).unwrap();
        let mut c1 = be.zeros(dims.weights()).unwrap();
        be.combine(1.3, &ub, -0.3, &sb, &mut c1).unwrap();
        let mut c2 = be.upload(&u).unwrap();
        be.axpby(-0.3, &sb, 1.3, &mut c2).unwrap();
        assert_eq!(be.download(&c1).unwrap(), be.download(&c2).unwrap());

        // Violation and multiplier step against cone / cone_update.
        let t = be.cone(&ub, pen.neg_from, None, None).unwrap();
        let mut g1 = be.upload(&gamma_h).unwrap();
        let l = be
            .lifted_cone(&z, pen.neg_from, Some((delta, &mut g1)))
            .unwrap();
        let mut g2 = be.upload(&gamma_h).unwrap();
        be.cone_update(&ub, pen.neg_from, delta, &mut g2).unwrap();
        assert!((l.viol_sq - t.viol_sq).abs() <= 1e-12 * t.viol_sq);
        assert_eq!(l.viol_max, t.viol_max);
        assert!(rel_diff(&be.download(&g1).unwrap(), &be.download(&g2).unwrap()) < 1e-14);
    }
}
