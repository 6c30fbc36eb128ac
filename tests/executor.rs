//! The executor that owns every solver loop, seen through the solvers: the time limit, a stop
//! request (what Ctrl-C and SIGTERM raise) and the checkpoint cadence, for R-FISTA and for the
//! augmented Lagrangian (whose cadence counts the whole run's inner iterations).

mod common;

use common::*;
use cvxnn::backend::cpu::{CpuBackend, CpuOptions};
use cvxnn::solver::{
    self, AlParams, AlSettings, AlState, FistaSettings, FistaState, IterInfo, Observer, Status,
    observer::Silent,
};

fn relu_backend(p: &Problem) -> CpuBackend<f64> {
    CpuBackend::new(&p.x, &p.y, p.mask.doubled(), CpuOptions::default())
}

fn al_settings(time_limit: Option<f64>) -> AlParams {
    AlSettings {
        fista: FistaSettings {
            lambda: 1e-3,
            tol: 1e-10,
            max_iters: 200_000,
            time_limit,
            ..FistaSettings::default()
        },
        viol_tol: 1e-10,
        ..AlSettings::default()
    }
    .check()
    .unwrap()
}

/// Keeps every row and every checkpoint; asks to stop once `stop_after` rows were seen.
struct Keeper {
    every: Option<usize>,
    stop_after: usize,
    rows: Vec<IterInfo>,
    states: Vec<FistaState>,
    al: Vec<(FistaState, AlState)>,
}

impl Keeper {
    fn new(every: Option<usize>, stop_after: usize) -> Self {
        Keeper {
            every,
            stop_after,
            rows: vec![],
            states: vec![],
            al: vec![],
        }
    }
}

impl Observer for Keeper {
    fn observe(&mut self, info: &IterInfo) {
        self.rows.push(info.clone());
    }
    fn checkpoint_every(&self) -> Option<usize> {
        self.every
    }
    fn checkpoint(&mut self, st: &FistaState) -> cvxnn::Result<()> {
        self.states.push(st.clone());
        Ok(())
    }
    fn checkpoint_al(&mut self, st: &FistaState, al: &AlState) -> cvxnn::Result<()> {
        self.al.push((st.clone(), al.clone()));
        Ok(())
    }
    fn should_stop(&self) -> bool {
        self.rows.len() >= self.stop_after
    }
}

#[test]
fn a_stop_request_ends_r_fista_interrupted_with_its_state_handed_over() {
    let prob = problem(120, 6, 25, 3, 31);
    let be = cpu64(&prob, CpuOptions::default());
    let params = FistaSettings {
        lambda: 1e-3,
        tol: 1e-14,
        ..Default::default()
    }
    .check()
    .unwrap();
    // No checkpoint cadence: the stop alone hands the state over.
    let mut keep = Keeper::new(None, 11);
    let sol = solver::solve(&be, &params, None, &mut keep).unwrap();
    assert_eq!((sol.status, sol.iterations), (Status::Interrupted, 10));
    let its: Vec<usize> = keep.states.iter().map(|s| s.iteration).collect();
    assert_eq!(its, vec![10]);
    assert!(rel_diff(&keep.states[0].u, &sol.weights) == 0.0);
}

#[test]
fn the_augmented_lagrangian_stops_at_its_time_limit() {
    let p = problem(60, 4, 10, 2, 5);
    let be = relu_backend(&p);
    let full = solver::solve_al(&be, &al_settings(None), None, &mut Silent).unwrap();
    assert_eq!(full.solution.status, Status::Converged);
    let limit = full.solution.time_s / 4.0;
    let al = solver::solve_al(&be, &al_settings(Some(limit)), None, &mut Silent).unwrap();
    assert_eq!(al.solution.status, Status::MaxTime);
    assert!(al.solution.iterations < full.solution.iterations);
    // One inner iteration past the limit at most, plus scheduling noise.
    assert!(
        al.solution.time_s < limit + 0.5,
        "{} s against a limit of {limit} s",
        al.solution.time_s
    );
}

#[test]
fn the_augmented_lagrangian_checkpoints_on_the_run_cadence_and_resumes_exactly() {
    let p = problem(40, 3, 6, 1, 3);
    let be = relu_backend(&p);
    let settings = al_settings(None);
    let full = solver::solve_al(&be, &settings, None, &mut Silent).unwrap();
    assert_eq!(full.solution.status, Status::Converged);
    let total = full.solution.iterations;
    assert!(
        full.outer >= 3 && total > 100,
        "{} outer, {total} inner",
        full.outer
    );

    // Checkpoints every 50 inner iterations of the whole run, and at the end of every outer
    // step (each inner solve's end).
    let mut keep = Keeper::new(Some(50), usize::MAX);
    let again = solver::solve_al(&be, &settings, None, &mut keep).unwrap();
    assert_eq!(
        again.solution.weights, full.solution.weights,
        "observing changes nothing"
    );
    let at: Vec<usize> = keep
        .al
        .iter()
        .map(|(st, al)| al.base + st.iteration)
        .collect();
    for k in (50..=total).step_by(50) {
        assert!(
            at.contains(&k),
            "no checkpoint at inner iteration {k}: {at:?}"
        );
    }
    let mut steps: Vec<usize> = keep.al.iter().map(|(_, al)| al.outer).collect();
    steps.dedup();
    assert_eq!(
        steps,
        (0..full.outer).collect::<Vec<_>>(),
        "every outer step hands its end over"
    );
    assert_eq!(*at.last().unwrap(), total);
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "{at:?}");

    // A stop request mid-run: Interrupted, the state handed over; resuming from it ends
    // exactly like the uninterrupted run.
    let mut stop = Keeper::new(None, total / 2);
    let part = solver::solve_al(&be, &settings, None, &mut stop).unwrap();
    assert_eq!(part.solution.status, Status::Interrupted);
    let (st, al) = stop.al.last().expect("a stop hands the state over");
    assert_eq!(al.base + st.iteration, part.solution.iterations);
    let resumed =
        solver::solve_al_resumable(&be, &settings, None, Some((st, al)), &mut Silent).unwrap();
    assert_eq!(resumed.solution.status, Status::Converged);
    assert_eq!(resumed.solution.iterations, total);
    assert_eq!(resumed.outer, full.outer);
    assert_eq!(resumed.solution.weights, full.solution.weights);
}

#[test]
fn a_resumed_run_stops_by_the_gap_where_the_uninterrupted_one_did() {
    let prob = problem(120, 6, 25, 3, 32);
    let be = cpu64(&prob, CpuOptions::default());
    let settings = |max_iters| {
        FistaSettings {
            lambda: 1e-3,
            gap_tol: Some(1e-6),
            max_iters,
            ..Default::default()
        }
        .check()
        .unwrap()
    };
    let full = solver::solve(&be, &settings(100_000), None, &mut Silent).unwrap();
    assert_eq!(full.status, Status::Converged);
    assert!(full.iterations > 60, "{} iterations", full.iterations);
    let mut keep = Keeper::new(Some(25), usize::MAX);
    solver::solve(&be, &settings(50), None, &mut keep).unwrap();
    let st = keep.states.last().unwrap();
    assert_eq!(st.iteration, 50);
    assert_eq!(
        st.best_dual.as_ref().map(Vec::len),
        Some(3),
        "one per output"
    );
    let resumed = solver::solve_resumable(
        &be,
        &settings(100_000),
        None,
        Some(st),
        &solver::Smooth::gated(),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(
        (resumed.status, resumed.iterations),
        (full.status, full.iterations)
    );
    assert_eq!(resumed.rel_gap, full.rel_gap);
    assert!(rel_diff(&resumed.weights, &full.weights) < 1e-12);
}
