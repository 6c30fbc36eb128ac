//! R-FISTA against independent references: the closed-form ridge solution, the group-lasso
//! optimality conditions, and honest statuses recomputed from the returned weights.

mod common;

use common::*;
use cvxnn::backend::cpu::CpuOptions;
use cvxnn::regularizer::Regularizer;
use cvxnn::solver::observer::{Recorder, Silent};
use cvxnn::solver::{FistaSettings, Status, solve};
use ndarray::Array2;

/// Solves A w = b by Gaussian elimination with partial pivoting (A small, dense, nonsingular).
fn linsolve(mut a: Array2<f64>, mut b: Vec<f64>) -> Vec<f64> {
    let m = b.len();
    for k in 0..m {
        let piv = (k..m)
            .max_by(|&i, &j| a[[i, k]].abs().total_cmp(&a[[j, k]].abs()))
            .unwrap();
        for j in 0..m {
            a.swap([k, j], [piv, j]);
        }
        b.swap(k, piv);
        for i in k + 1..m {
            let f = a[[i, k]] / a[[k, k]];
            for j in k..m {
                a[[i, j]] -= f * a[[k, j]];
            }
            b[i] -= f * b[k];
        }
    }
    let mut x = vec![0.0; m];
    for k in (0..m).rev() {
        let s: f64 = (k + 1..m).map(|j| a[[k, j]] * x[j]).sum();
        x[k] = (b[k] - s) / a[[k, k]];
    }
    x
}

/// Per-group norms of a (c, p, d) vector.
fn group_norms(u: &[f64], d: usize) -> Vec<f64> {
    u.chunks(d)
        .map(|g| g.iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect()
}

#[test]
fn ridge_matches_closed_form_of_expanded_design() {
    for (seed, (n, d, p, c)) in [
        (1u64, (60, 4, 6, 2)),
        (2, (45, 3, 9, 1)),
        (3, (80, 5, 5, 3)),
    ] {
        let prob = problem(n, d, p, c, seed);
        let p = prob.g.ncols();
        let lam = 1e-3;
        let dm = d_matrix(&prob.x, &prob.g);
        // Expanded design A = [D_1 X, ..., D_p X], columns ordered (i, j) like U_{l,i,j}.
        let mut a = Array2::<f64>::zeros((n, p * d));
        for r in 0..n {
            for i in 0..p {
                for j in 0..d {
                    a[[r, i * d + j]] = dm[[r, i]] * prob.x[[r, j]];
                }
            }
        }
        let nc = (n * c) as f64;
        let mut h = a.t().dot(&a) / nc;
        for k in 0..p * d {
            h[[k, k]] += lam;
        }
        let mut want = Vec::new();
        for l in 0..c {
            let rhs = a.t().dot(&prob.y.column(l)) / nc;
            want.extend(linsolve(h.clone(), rhs.to_vec()));
        }
        let params = FistaSettings {
            lambda: lam,
            regularizer: Regularizer::L2,
            tol: 1e-20,
            max_iters: 50_000,
            ..Default::default()
        }
        .check()
        .unwrap();
        let sol = solve(
            &cpu64(&prob, CpuOptions::default()),
            &params,
            None,
            &mut Silent,
        )
        .unwrap();
        assert_eq!(
            sol.status,
            Status::Converged,
            "seed {seed}: {} iterations",
            sol.iterations
        );
        let e = rel_diff(&sol.weights, &want);
        assert!(e < 1e-6, "seed {seed}: ridge solution rel diff {e:e}");
    }
}

#[test]
fn group_lasso_solution_satisfies_optimality_conditions() {
    let prob = problem(120, 6, 30, 3, 7);
    let d = 6;
    let zero = vec![0.0; 3 * prob.g.ncols() * d];
    let g0 = naive_gradient(&prob.x, &prob.g, &prob.y, &zero);
    let lam = 0.3 * group_norms(&g0, d).iter().fold(0.0f64, |m, &v| m.max(v));
    let tol = 1e-14;
    let params = FistaSettings {
        lambda: lam,
        tol,
        max_iters: 100_000,
        ..Default::default()
    }
    .check()
    .unwrap();
    let sol = solve(
        &cpu64(&prob, CpuOptions::default()),
        &params,
        None,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(sol.status, Status::Converged);
    let grad = naive_gradient(&prob.x, &prob.g, &prob.y, &sol.weights);
    let (mut active, mut inactive) = (0, 0);
    for (ug, gg) in sol.weights.chunks(d).zip(grad.chunks(d)) {
        let un = ug.iter().map(|v| v * v).sum::<f64>().sqrt();
        if un > 0.0 {
            active += 1;
            let r: f64 = ug
                .iter()
                .zip(gg)
                .map(|(u, g)| (g + lam * u / un).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(r <= tol.sqrt() * 1.01, "active group residual {r:e}");
        } else {
            inactive += 1;
            let gn = gg.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!(
                gn <= lam + tol.sqrt(),
                "inactive group gradient {gn:e} > lam {lam:e}"
            );
        }
    }
    assert!(
        active > 0 && inactive > 0,
        "lam should leave both kinds: {active} active, {inactive} inactive"
    );
}

#[test]
fn status_is_honest() {
    let prob = problem(90, 5, 20, 2, 11);
    let d = 5;
    let be = cpu64(&prob, CpuOptions::default());
    let lam = 1e-3;
    let reg = Regularizer::NeuronGl1;
    let zero_obj = naive_loss(
        &prob.x,
        &prob.g,
        &prob.y,
        &vec![0.0; 2 * prob.g.ncols() * d],
    );

    let params = FistaSettings {
        lambda: lam,
        ..Default::default()
    }
    .check()
    .unwrap();
    let mut rec = Recorder::default();
    let sol = solve(&be, &params, None, &mut rec).unwrap();
    assert_eq!(sol.status, Status::Converged);
    // Recompute everything from the returned weights alone.
    let grad = naive_gradient(&prob.x, &prob.g, &prob.y, &sol.weights);
    let gnsq = reg.min_norm_subgrad_sq(&sol.weights, &grad, d, lam);
    assert!(
        gnsq <= 1e-6,
        "claimed Converged but subgradient norm^2 is {gnsq:e}"
    );
    assert!((gnsq - sol.grad_norm_sq).abs() <= 1e-10 * gnsq.max(1e-12));
    let obj =
        naive_loss(&prob.x, &prob.g, &prob.y, &sol.weights) + lam * reg.value(&sol.weights, d);
    assert!(
        (obj - sol.objective).abs() <= 1e-10 * obj,
        "objective {obj} vs reported {}",
        sol.objective
    );
    assert!(group_norms(&sol.weights, d).iter().any(|&v| v > 0.0));
    assert!(
        sol.objective < zero_obj,
        "{} !< zero model {zero_obj}",
        sol.objective
    );
    assert_eq!(rec.history.len(), sol.iterations + 1);
    assert_eq!(rec.history[0].iteration, 0);
    assert!((rec.history[0].objective - zero_obj).abs() < 1e-12);

    let params = FistaSettings {
        lambda: lam,
        max_iters: 2,
        ..Default::default()
    }
    .check()
    .unwrap();
    let sol = solve(&be, &params, None, &mut Silent).unwrap();
    assert_eq!((sol.status, sol.iterations), (Status::MaxIterations, 2));
    let grad = naive_gradient(&prob.x, &prob.g, &prob.y, &sol.weights);
    assert!(reg.min_norm_subgrad_sq(&sol.weights, &grad, d, lam) > 1e-6);
}

#[test]
fn warm_start_from_solution_converges_at_once() {
    let prob = problem(70, 4, 12, 2, 13);
    let be = cpu64(&prob, CpuOptions::default());
    let params = FistaSettings {
        lambda: 1e-3,
        tol: 1e-10,
        ..Default::default()
    }
    .check()
    .unwrap();
    let sol = solve(&be, &params, None, &mut Silent).unwrap();
    let again = solve(&be, &params, Some(&sol.weights), &mut Silent).unwrap();
    assert_eq!((again.status, again.iterations), (Status::Converged, 0));
}

#[test]
fn f32_and_f64_reach_the_same_objective() {
    for seed in [21u64, 22] {
        let prob = problem(150, 8, 25, 3, seed);
        let params = FistaSettings {
            lambda: 1e-3,
            tol: 1e-8,
            ..Default::default()
        }
        .check()
        .unwrap();
        let a = solve(
            &cpu64(&prob, CpuOptions::default()),
            &params,
            None,
            &mut Silent,
        )
        .unwrap();
        let b = solve(
            &cpu32(&prob, CpuOptions::default()),
            &params,
            None,
            &mut Silent,
        )
        .unwrap();
        let rel = (a.objective - b.objective).abs() / a.objective;
        assert!(
            rel < 1e-4,
            "seed {seed}: f64 {} vs f32 {} ({:?})",
            a.objective,
            b.objective,
            b.status
        );
    }
}

#[test]
fn invalid_settings_are_rejected_with_the_field_named() {
    for (s, flag) in [
        (
            FistaSettings {
                lambda: -1.0,
                ..Default::default()
            },
            "lambda",
        ),
        (
            FistaSettings {
                lambda: f64::NAN,
                ..Default::default()
            },
            "lambda",
        ),
        (
            FistaSettings {
                tol: 0.0,
                ..Default::default()
            },
            "tol",
        ),
        (
            FistaSettings {
                max_iters: 0,
                ..Default::default()
            },
            "max_iters",
        ),
    ] {
        let e = s.check().unwrap_err().to_string();
        assert!(e.contains(flag), "{e}");
    }
}

#[test]
fn lasso_solution_satisfies_coordinatewise_kkt() {
    // L1: at the solution, g_j = -lam sign(u_j) where u_j != 0 and |g_j| <= lam where u_j = 0,
    // checked on a gradient recomputed by plain loops; a larger lam zeroes more entries.
    let prob = problem(80, 5, 12, 2, 21);
    let be = cpu64(&prob, CpuOptions::default());
    let mut zeros_at = vec![];
    for lam in [1e-3, 1e-2] {
        let params = FistaSettings {
            lambda: lam,
            regularizer: Regularizer::L1,
            tol: 1e-16,
            max_iters: 100_000,
            ..Default::default()
        }
        .check()
        .unwrap();
        let sol = solve(&be, &params, None, &mut Silent).unwrap();
        assert_eq!(sol.status, Status::Converged, "lam {lam}");
        let grad = naive_gradient(&prob.x, &prob.g, &prob.y, &sol.weights);
        let mut zeros = 0;
        for (&u, &g) in sol.weights.iter().zip(&grad) {
            if u != 0.0 {
                assert!(
                    (g + lam * u.signum()).abs() <= 1e-7,
                    "lam {lam}: u {u}, g {g}"
                );
            } else {
                zeros += 1;
                assert!(
                    g.abs() <= lam + 1e-7,
                    "lam {lam}: zero entry with |g| {}",
                    g.abs()
                );
            }
        }
        zeros_at.push(zeros);
    }
    assert!(zeros_at[0] > 0 && zeros_at[1] > zeros_at[0], "{zeros_at:?}");
}

#[test]
fn feature_group_lasso_solution_satisfies_columnwise_kkt() {
    // feature-gl1: for each feature column j of the weights (all c p groups), at the solution
    // g_j = -lam u_j / ||u_j|| where u_j != 0 and ||g_j|| <= lam where u_j = 0, on a gradient
    // recomputed by plain loops; a larger lam prunes more features.
    let prob = problem(80, 8, 10, 2, 23);
    let d = 8;
    let be = cpu64(&prob, CpuOptions::default());
    let mut pruned = vec![];
    // Above lam_max = max_j ||g_j(0)|| every feature is pruned; take fractions of it.
    let g0 = naive_gradient(
        &prob.x,
        &prob.g,
        &prob.y,
        &vec![0.0; 2 * prob.g.ncols() * d],
    );
    let lam_max = (0..d)
        .map(|j| g0.chunks(d).map(|g| g[j] * g[j]).sum::<f64>().sqrt())
        .fold(0.0, f64::max);
    for lam in [0.3 * lam_max, 0.95 * lam_max] {
        let params = FistaSettings {
            lambda: lam,
            regularizer: Regularizer::FeatureGl1,
            tol: 1e-16,
            max_iters: 100_000,
            ..Default::default()
        }
        .check()
        .unwrap();
        let sol = solve(&be, &params, None, &mut Silent).unwrap();
        assert_eq!(sol.status, Status::Converged, "lam {lam}");
        let grad = naive_gradient(&prob.x, &prob.g, &prob.y, &sol.weights);
        let col = |v: &[f64], j: usize| -> Vec<f64> { v.chunks(d).map(|g| g[j]).collect() };
        let mut zero_cols = 0;
        for j in 0..d {
            let (u, g) = (col(&sol.weights, j), col(&grad, j));
            let un = u.iter().map(|a| a * a).sum::<f64>().sqrt();
            let gn = g.iter().map(|a| a * a).sum::<f64>().sqrt();
            if un > 0.0 {
                let r: f64 = u
                    .iter()
                    .zip(&g)
                    .map(|(a, b)| (b + lam * a / un).powi(2))
                    .sum::<f64>()
                    .sqrt();
                assert!(r <= 1e-7, "lam {lam}, feature {j}: residual {r}");
            } else {
                zero_cols += 1;
                assert!(
                    gn <= lam + 1e-7,
                    "lam {lam}, pruned feature {j}: ||g|| {gn}"
                );
            }
        }
        pruned.push(zero_cols);
    }
    eprintln!("pruned {pruned:?}");
    assert!(pruned[1] > pruned[0] && pruned[1] < d, "{pruned:?}");
}

/// Keeps the checkpoints R-FISTA hands out.
struct Keeper {
    every: usize,
    states: Vec<cvxnn::solver::FistaState>,
}

impl cvxnn::solver::Observer for Keeper {
    fn observe(&mut self, _: &cvxnn::solver::IterInfo) {}
    fn checkpoint_every(&self) -> Option<usize> {
        Some(self.every)
    }
    fn checkpoint(&mut self, st: &cvxnn::solver::FistaState) -> cvxnn::Result<()> {
        self.states.push(st.clone());
        Ok(())
    }
}

#[test]
fn interrupted_and_resumed_run_ends_like_the_uninterrupted_one() {
    use cvxnn::solver::{Smooth, solve_resumable};
    let prob = problem(120, 6, 25, 3, 31);
    let be = cpu64(&prob, CpuOptions::default());
    let settings = |max_iters| {
        FistaSettings {
            lambda: 1e-3,
            tol: 1e-12,
            max_iters,
            ..Default::default()
        }
        .check()
        .unwrap()
    };
    let full = solve(&be, &settings(100_000), None, &mut Silent).unwrap();
    assert_eq!(full.status, Status::Converged);
    assert!(
        full.iterations > 60,
        "{} iterations: too few to interrupt",
        full.iterations
    );

    // "Interrupted" after 50 iterations: the budget runs out, the last state is handed over.
    let mut keep = Keeper {
        every: 20,
        states: vec![],
    };
    let part = solve(&be, &settings(50), None, &mut keep).unwrap();
    assert_eq!((part.status, part.iterations), (Status::MaxIterations, 50));
    let its: Vec<usize> = keep.states.iter().map(|s| s.iteration).collect();
    assert_eq!(its, vec![20, 40, 50]);
    let resumed = solve_resumable(
        &be,
        &settings(100_000),
        None,
        keep.states.last(),
        &Smooth::gated(),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(resumed.status, Status::Converged);
    assert_eq!(resumed.iterations, full.iterations, "the count carries on");
    assert!((resumed.objective - full.objective).abs() <= 1e-12 * full.objective);
    assert!(rel_diff(&resumed.weights, &full.weights) < 1e-8);
    // max_iters counts from the start of the original run.
    let capped = solve_resumable(
        &be,
        &settings(55),
        None,
        keep.states.last(),
        &Smooth::gated(),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(
        (capped.status, capped.iterations),
        (Status::MaxIterations, 55)
    );
}

/// A failed line-search trial implies the step at which its quadratic bound would hold; the
/// search jumps there instead of walking down by factors of 0.8 (from a step 10^4 too large,
/// that walk took about 40 trials).
#[test]
fn first_line_search_jumps_to_the_implied_step() {
    let prob = problem(200, 10, 60, 2, 17);
    let be = cpu64(&prob, CpuOptions::default());
    let s = FistaSettings {
        lambda: 1e-4,
        max_iters: 5,
        step0: 1e4,
        ..FistaSettings::default()
    };
    let mut rec = Recorder::default();
    solve(&be, &s.check().unwrap(), None, &mut rec).unwrap();
    let first = &rec.history[1];
    assert!(
        first.line_search_tries <= 3,
        "{} tries, step {:e}",
        first.line_search_tries,
        first.step
    );
    assert!(first.step < 1e3, "step {:e} was accepted", first.step);
}
