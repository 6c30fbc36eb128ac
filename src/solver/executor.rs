//! The one loop every iterative solver runs in (argmin's executor is the model). A solver only
//! prepares its first iterate and computes the next one; the executor owns the iteration
//! budget, the time limit, the stop request (Ctrl-C and SIGTERM reach it through the
//! observer), the reports and their detail cadence, the checkpoint cadence and the order of
//! the termination tests. R-FISTA, the augmented Lagrangian's outer loop (whose inner R-FISTA
//! solves run in executors of their own) and the approximate decomposition all run here.

use super::{IterInfo, Observer, Status};
use crate::error::Result;
use std::time::Instant;

/// What a run may spend.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Iterations, counted from the start of the original run: a resumed run carries its count.
    pub max_iters: usize,
    /// Seconds from the executor's start; the run ends with [`Status::MaxTime`] past it.
    pub time_limit: Option<f64>,
}

/// What a solver gets for one step: the observer (a solver that runs inner solves passes it
/// on), whether the observer wants this step's details, and the time left to the run.
pub struct Ctx<'a> {
    pub obs: &'a mut dyn Observer,
    pub detail: bool,
    pub time_left: Option<f64>,
}

/// A solver as the executor drives it.
pub trait Iterative {
    /// Iterations done so far (non-zero when the run continues a checkpoint).
    fn iteration(&self) -> usize;
    /// Prepares the first iterate. Returns its report, or `None` when there is no new row to
    /// show (a resumed run, whose first iterate the interrupted run reported).
    fn init(&mut self, cx: Ctx<'_>) -> Result<Option<IterInfo>>;
    /// Computes the next iterate; returns its report, or `None` for a step whose inner solves
    /// reported their own iterations.
    fn next(&mut self, cx: Ctx<'_>) -> Result<Option<IterInfo>>;
    /// The solver's own verdict on its current iterate (converged, diverged, its own budget
    /// spent, an inner solve stopped), or `None` to go on.
    fn terminate(&self) -> Option<Status>;
    /// Fills the details of a report (read-backs the solver makes only when asked).
    fn annotate(&mut self, _info: &mut IterInfo) -> Result<()> {
        Ok(())
    }
    /// Hands the state to the observer as a checkpoint (nothing for a solver whose inner
    /// solves checkpoint).
    fn checkpoint(&mut self, _obs: &mut dyn Observer) -> Result<()> {
        Ok(())
    }
}

/// Runs solvers within a budget, reporting to one observer.
pub struct Executor<'o> {
    budget: Budget,
    obs: &'o mut dyn Observer,
    start: Instant,
}

impl<'o> Executor<'o> {
    /// The clock starts now.
    pub fn new(budget: Budget, obs: &'o mut dyn Observer) -> Self {
        Executor {
            budget,
            obs,
            start: Instant::now(),
        }
    }

    fn time_left(&self) -> Option<f64> {
        self.budget
            .time_limit
            .map(|t| (t - self.start.elapsed().as_secs_f64()).max(0.0))
    }

    /// The context of the step that produces iteration `k`.
    fn ctx(&mut self, k: usize) -> Ctx<'_> {
        Ctx {
            detail: self.obs.wants_detail(k),
            time_left: self.time_left(),
            obs: &mut *self.obs,
        }
    }

    /// Runs `solver` until its own verdict, the budget, the time limit or a stop request ends
    /// it, and returns how it ended. The solver keeps the final iterate.
    pub fn run<S: Iterative + ?Sized>(&mut self, solver: &mut S) -> Result<Status> {
        let k = solver.iteration();
        let detail = self.obs.wants_detail(k);
        let first = solver.init(self.ctx(k))?;
        let mut status = solver.terminate();
        if let Some(mut info) = first {
            if detail {
                solver.annotate(&mut info)?;
            }
            self.obs.observe(&info);
        }
        while status.is_none() && solver.iteration() < self.budget.max_iters {
            let detail = self.obs.wants_detail(solver.iteration() + 1);
            let report = solver.next(self.ctx(solver.iteration() + 1))?;
            let k = solver.iteration();
            status = solver
                .terminate()
                .or_else(|| (self.time_left() == Some(0.0)).then_some(Status::MaxTime));
            let last = status.is_some() || k >= self.budget.max_iters;
            if let Some(mut info) = report {
                if detail || last {
                    solver.annotate(&mut info)?;
                }
                self.obs.observe(&info);
            }
            let stop = self.obs.should_stop();
            let due = self.obs.checkpoint_every().is_some() && (last || self.obs.checkpoint_due(k));
            if due || stop {
                solver.checkpoint(&mut *self.obs)?;
            }
            if stop && status.is_none() {
                status = Some(Status::Interrupted);
            }
        }
        Ok(status.unwrap_or(Status::MaxIterations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Halves x each step; converged below `tol`; sleeps `nap` per step.
    struct Halver {
        k: usize,
        x: f64,
        tol: f64,
        nap: std::time::Duration,
    }

    impl Iterative for Halver {
        fn iteration(&self) -> usize {
            self.k
        }
        fn init(&mut self, _: Ctx<'_>) -> Result<Option<IterInfo>> {
            Ok((self.k == 0).then(|| self.info()))
        }
        fn next(&mut self, _: Ctx<'_>) -> Result<Option<IterInfo>> {
            std::thread::sleep(self.nap);
            self.x /= 2.0;
            self.k += 1;
            Ok(Some(self.info()))
        }
        fn terminate(&self) -> Option<Status> {
            (self.x <= self.tol).then_some(Status::Converged)
        }
        fn annotate(&mut self, info: &mut IterInfo) -> Result<()> {
            info.active = Some(self.k);
            Ok(())
        }
        fn checkpoint(&mut self, obs: &mut dyn Observer) -> Result<()> {
            obs.observe(&IterInfo {
                restarted: true,
                ..self.info()
            });
            Ok(())
        }
    }

    impl Halver {
        fn new(tol: f64) -> Self {
            Halver {
                k: 0,
                x: 1.0,
                tol,
                nap: std::time::Duration::ZERO,
            }
        }
        fn info(&self) -> IterInfo {
            IterInfo {
                iteration: self.k,
                objective: self.x,
                loss: self.x,
                penalty: 0.0,
                grad_norm_sq: 0.0,
                gap: None,
                rel_gap: None,
                products: 0.0,
                step: 1.0,
                restarted: false,
                line_search_tries: 0,
                active: None,
                time_s: 0.0,
                outer: None,
                working_set: None,
                screened: None,
            }
        }
    }

    /// Records reports (checkpoints marked `restarted`), asks details every `every`
    /// iterations, checkpoints every `ck`, and asks to stop after `stop_at` reports.
    struct Log {
        rows: Vec<IterInfo>,
        every: usize,
        ck: Option<usize>,
        stop_at: usize,
    }

    impl Observer for Log {
        fn wants_detail(&self, k: usize) -> bool {
            k.is_multiple_of(self.every)
        }
        fn observe(&mut self, info: &IterInfo) {
            self.rows.push(info.clone());
        }
        fn checkpoint_every(&self) -> Option<usize> {
            self.ck
        }
        fn should_stop(&self) -> bool {
            self.rows.iter().filter(|r| !r.restarted).count() >= self.stop_at
        }
    }

    fn log(every: usize, ck: Option<usize>, stop_at: usize) -> Log {
        Log {
            rows: vec![],
            every,
            ck,
            stop_at,
        }
    }

    fn run(s: &mut Halver, budget: Budget, obs: &mut Log) -> Status {
        Executor::new(budget, obs).run(s).unwrap()
    }

    const ITERS: Budget = Budget {
        max_iters: 100,
        time_limit: None,
    };

    #[test]
    fn the_solver_verdict_ends_the_run_and_the_last_report_has_its_details() {
        let mut obs = log(3, None, usize::MAX);
        let mut s = Halver::new(1.0 / 32.0);
        assert_eq!(run(&mut s, ITERS, &mut obs), Status::Converged);
        assert_eq!(s.k, 5);
        let ks: Vec<usize> = obs.rows.iter().map(|r| r.iteration).collect();
        assert_eq!(ks, vec![0, 1, 2, 3, 4, 5]);
        let detailed: Vec<usize> = obs.rows.iter().filter_map(|r| r.active).collect();
        assert_eq!(detailed, vec![0, 3, 5], "every 3rd and the last");
    }

    #[test]
    fn the_budget_counts_from_the_start_of_the_original_run() {
        let mut obs = log(1, None, usize::MAX);
        let mut s = Halver::new(0.0);
        assert_eq!(
            run(
                &mut s,
                Budget {
                    max_iters: 7,
                    ..ITERS
                },
                &mut obs
            ),
            Status::MaxIterations
        );
        assert_eq!((s.k, obs.rows.len()), (7, 8));
        // A continued run reports no new first row and stops at the same total.
        let mut obs = log(1, None, usize::MAX);
        let mut s = Halver {
            k: 4,
            ..Halver::new(0.0)
        };
        run(
            &mut s,
            Budget {
                max_iters: 7,
                ..ITERS
            },
            &mut obs,
        );
        let ks: Vec<usize> = obs.rows.iter().map(|r| r.iteration).collect();
        assert_eq!(ks, vec![5, 6, 7]);
    }

    #[test]
    fn checkpoints_come_every_n_iterations_and_at_the_end() {
        let mut obs = log(100, Some(4), usize::MAX);
        let mut s = Halver::new(0.0);
        run(
            &mut s,
            Budget {
                max_iters: 10,
                ..ITERS
            },
            &mut obs,
        );
        let ck: Vec<usize> = obs
            .rows
            .iter()
            .filter(|r| r.restarted)
            .map(|r| r.iteration)
            .collect();
        assert_eq!(ck, vec![4, 8, 10]);
    }

    #[test]
    fn a_stop_request_checkpoints_and_ends_interrupted() {
        // Without a checkpoint cadence the stop still hands the state over.
        let mut obs = log(100, None, 4);
        let mut s = Halver::new(0.0);
        assert_eq!(run(&mut s, ITERS, &mut obs), Status::Interrupted);
        assert_eq!(s.k, 3, "iteration 0 plus three steps make four reports");
        let ck: Vec<usize> = obs
            .rows
            .iter()
            .filter(|r| r.restarted)
            .map(|r| r.iteration)
            .collect();
        assert_eq!(ck, vec![3]);
    }

    #[test]
    fn the_time_limit_ends_the_run_with_max_time() {
        let mut obs = log(100, None, usize::MAX);
        let mut s = Halver {
            nap: std::time::Duration::from_millis(20),
            ..Halver::new(0.0)
        };
        let budget = Budget {
            max_iters: 1000,
            time_limit: Some(0.1),
        };
        let t = Instant::now();
        assert_eq!(run(&mut s, budget, &mut obs), Status::MaxTime);
        assert!(s.k >= 4 && s.k < 1000, "{} steps", s.k);
        assert!(t.elapsed().as_secs_f64() < 5.0);
    }
}
