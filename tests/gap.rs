//! The duality gap: on fresh random problems, for every regularizer that has one, the gap
//! reported at each iterate is >= 0 and bounds that iterate's true suboptimality P(U_k) - P*,
//! with P* from an f64 solve run to a relative gap of 1e-12; the gap rule stops a solve
//! certifiably, and --time-limit ends one with MaxTime.

mod common;

use common::*;
use cvxnn::backend::Backend;
use cvxnn::backend::cpu::CpuOptions;
use cvxnn::regularizer::Regularizer;
use cvxnn::solver::observer::Recorder;
use cvxnn::solver::{FistaSettings, Status, solve};

fn settings(reg: Regularizer, lambda: f64, gap_tol: f64) -> FistaSettings {
    FistaSettings {
        lambda,
        regularizer: reg,
        gap_tol: Some(gap_tol),
        max_iters: 200_000,
        ..FistaSettings::default()
    }
}

#[test]
fn the_gap_bounds_the_suboptimality_of_every_iterate() {
    let regs = [
        (Regularizer::NeuronGl1, 1e-3),
        (Regularizer::L1, 1e-3),
        (Regularizer::FeatureGl1, 1e-3),
        (Regularizer::L2, 1e-2),
    ];
    for (k, &(reg, lam)) in regs.iter().enumerate() {
        for seed in 0..2u64 {
            let prob = problem(60, 5, 8, 2, 100 * k as u64 + seed);
            let be = cpu64(&prob, CpuOptions::default());
            let exact = solve(
                &be,
                &settings(reg, lam, 1e-12).check().unwrap(),
                None,
                &mut Recorder::default(),
            )
            .unwrap();
            assert_eq!(
                exact.status,
                Status::Converged,
                "{reg:?}: {:?}",
                exact.rel_gap
            );
            let p_star = exact.objective;
            // A short run from zero: every iterate's gap is an upper bound on its suboptimality.
            let mut rec = Recorder::default();
            let params = FistaSettings {
                max_iters: 150,
                gap_tol: Some(1e-14),
                ..settings(reg, lam, 1e-14)
            };
            solve(&be, &params.check().unwrap(), None, &mut rec).unwrap();
            assert!(rec.history.len() > 100);
            let p0 = rec.history[0].objective;
            for it in &rec.history {
                let gap = it.gap.unwrap_or_else(|| panic!("{reg:?}: no gap"));
                let sub = it.objective - p_star;
                assert!(gap >= -1e-12 * p0, "{reg:?} it {}: gap {gap}", it.iteration);
                assert!(
                    gap >= sub - 1e-12 * p0,
                    "{reg:?} it {}: gap {gap} < suboptimality {sub}",
                    it.iteration
                );
            }
            // The gap closes: the exact solve's own certificate.
            assert!(exact.rel_gap.unwrap() <= 1e-12);
        }
    }
}

#[test]
fn no_gap_without_a_dual_and_the_subgradient_rule_then_applies() {
    let prob = problem(40, 4, 5, 1, 7);
    let be = cpu64(&prob, CpuOptions::default());
    for (reg, lam) in [(Regularizer::None, 1e-3), (Regularizer::NeuronGl1, 0.0)] {
        let s = FistaSettings {
            tol: 1e-10,
            ..settings(reg, lam, 1e-6)
        };
        let sol = solve(&be, &s.check().unwrap(), None, &mut Recorder::default()).unwrap();
        assert_eq!(sol.gap, None, "{reg:?}");
        assert_eq!(sol.status, Status::Converged);
        assert!(sol.grad_norm_sq <= 1e-10);
    }
}

#[test]
fn a_time_limit_ends_the_solve_with_max_time() {
    let prob = problem(400, 20, 40, 3, 3);
    let be = cpu64(&prob, CpuOptions::default());
    let s = FistaSettings {
        time_limit: Some(0.05),
        ..settings(Regularizer::NeuronGl1, 1e-6, 1e-15)
    };
    let sol = solve(&be, &s.check().unwrap(), None, &mut Recorder::default()).unwrap();
    assert_eq!(sol.status, Status::MaxTime);
    assert!(sol.iterations >= 1 && sol.time_s < 5.0);
    // Products: at least two per iteration (a trial forward and the gradient at U+).
    assert!(
        sol.products >= 2.0 * sol.iterations as f64,
        "{} products",
        sol.products
    );
}

#[test]
fn two_product_iterates_equal_three_product_ones() {
    // A large first step and one try make line searches give up (fallback steps); restarts
    // happen on their own. refresh_every 1 forms the gradient at V by a product every time.
    let prob = problem(80, 6, 10, 2, 11);
    let be = cpu64(&prob, CpuOptions::default());
    let run = |refresh_every| {
        let s = FistaSettings {
            lambda: 1e-4,
            tol: 1e-300,
            max_iters: 300,
            step0: 1e4,
            max_backtracks: 1,
            refresh_every,
            ..FistaSettings::default()
        };
        let mut rec = Recorder::default();
        let sol = solve(&be, &s.check().unwrap(), None, &mut rec).unwrap();
        (sol, rec.history)
    };
    let (three, h3) = run(1);
    let (two, h2) = run(50);
    assert_eq!(two.iterations, 300);
    assert!(
        two.line_search_failures > 0,
        "no line-search failure in the run"
    );
    assert!(h2.iter().any(|i| i.restarted), "no restart in the run");
    assert_eq!(h2.len(), h3.len());
    for (a, b) in h2.iter().zip(&h3) {
        assert_eq!(a.restarted, b.restarted, "iteration {}", a.iteration);
        assert!(
            (a.objective - b.objective).abs() <= 1e-10 * b.objective.abs(),
            "iteration {}",
            a.iteration
        );
    }
    assert!(rel_diff(&two.weights, &three.weights) <= 1e-10);
    // Fewer products: the three-product run launches one more per iteration without a restart.
    assert!(
        two.products < three.products,
        "{} vs {}",
        two.products,
        three.products
    );
    let per_iter = two.products / two.iterations as f64;
    eprintln!(
        "products per iteration: two {per_iter:.2}, three {:.2}",
        three.products / 300.0
    );
}

/// The dual point scaled per output, computed here by plain loops: the backend's gap equals it,
/// it is never looser than one scale for all outputs, and along a solve the dual value the gap
/// certifies against (objective - gap: the best seen) never decreases.
#[test]
fn the_dual_point_is_scaled_per_output_and_the_best_one_is_kept() {
    use cvxnn::solver::gap::duality_gap;
    let (lam, c, d) = (2e-3, 3, 5);
    let prob = problem(70, d, 9, c, 41);
    let be = cpu64(&prob, CpuOptions::default());
    let mut rec = Recorder::default();
    let params = FistaSettings {
        max_iters: 40,
        gap_tol: Some(1e-14),
        ..settings(Regularizer::NeuronGl1, lam, 1e-14)
    };
    let sol = solve(&be, &params.check().unwrap(), None, &mut rec).unwrap();
    let duals: Vec<f64> = rec
        .history
        .iter()
        .map(|it| it.objective - it.gap.unwrap())
        .collect();
    assert!(
        duals.windows(2).all(|w| w[1] >= w[0] - 1e-15),
        "the kept dual fell: {duals:?}"
    );

    let u = &sol.weights;
    let (n, p) = (prob.x.nrows(), prob.g.ncols());
    let m = (n * c) as f64;
    let r = &prob.y - &naive_forward(&prob.x, &prob.g, u, c);
    let grad = naive_gradient(&prob.x, &prob.g, &prob.y, u);
    let gnorm = |l: usize, i: usize| {
        let g = &grad[(l * p + i) * d..(l * p + i + 1) * d];
        g.iter().map(|v| v * v).sum::<f64>().sqrt()
    };
    // The dual value of a R_l at its best feasible a, for bound k on R*(G_l).
    let dual_of = |r_sq: f64, r_y: f64, k: f64| {
        let a = (r_y / (m * r_sq)).clamp(-lam / (m * k), lam / (m * k));
        a * r_y - 0.5 * m * a * a * r_sq
    };
    let col = |l: usize| {
        let (mut r_sq, mut r_y) = (0.0, 0.0);
        for j in 0..n {
            r_sq += r[[j, l]] * r[[j, l]];
            r_y += r[[j, l]] * prob.y[[j, l]];
        }
        (r_sq, r_y)
    };
    let per_output: f64 = (0..c)
        .map(|l| {
            let k = (0..p).map(|i| gnorm(l, i)).fold(0.0, f64::max);
            let (r_sq, r_y) = col(l);
            dual_of(r_sq, r_y, k)
        })
        .sum();
    let k_all = (0..c)
        .flat_map(|l| (0..p).map(move |i| (l, i)))
        .map(|(l, i)| gnorm(l, i))
        .fold(0.0, f64::max);
    let (r_sq, r_y) = (0..c)
        .map(col)
        .fold((0.0, 0.0), |s, t| (s.0 + t.0, s.1 + t.1));
    let global = dual_of(r_sq, r_y, k_all);

    let ub = be.upload(u).unwrap();
    let mut pr = be.zeros(be.dims().preds()).unwrap();
    be.forward(&ub, &mut pr).unwrap();
    let mut g = be.zeros(be.dims().weights()).unwrap();
    be.gradient(&pr, &mut g).unwrap();
    let y_sq: f64 = prob.y.iter().map(|v| v * v).sum();
    let loss = naive_loss(&prob.x, &prob.g, &prob.y, u);
    let pen = Regularizer::NeuronGl1.value(u, d);
    let gap = duality_gap(
        &be,
        Regularizer::NeuronGl1,
        lam,
        y_sq,
        &pr,
        loss,
        pen,
        &g,
        None,
    )
    .unwrap()
    .unwrap();
    assert!(
        (gap.dual - per_output).abs() <= 1e-12 * per_output.abs().max(1e-300),
        "backend dual {} vs plain loops {per_output}",
        gap.dual
    );
    assert!(per_output >= global, "{per_output} < {global}");
    eprintln!("dual per output {per_output:.6e}, one scale {global:.6e}");
}
