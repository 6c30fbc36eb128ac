//! The CLI's solver observer: iteration table, progress bar on a terminal, JSON-lines metrics.

use cvxnn::io::write_atomic;
use cvxnn::solver::{IterInfo, Observer, Solution};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

pub struct CliObserver {
    quiet: bool,
    to_stderr: bool,
    every: usize,
    /// Whether the last row seen was logged.
    last_logged: bool,
    bar: Option<ProgressBar>,
    metrics_path: Option<PathBuf>,
    metrics: String,
    last: Option<IterInfo>,
    /// Checkpoint file, interval and the run's fingerprint.
    checkpoint: Option<(PathBuf, usize, serde_json::Value)>,
    /// Where an interrupted run saves its state when no --checkpoint was given.
    interrupt_file: Option<(PathBuf, serde_json::Value)>,
    /// The checkpoint file written last.
    pub saved: Option<PathBuf>,
    /// --plot: the file, and (iteration, seconds, objective, squared subgradient norm) per iteration.
    plot: Option<(PathBuf, Vec<[f64; 4]>)>,
}

impl CliObserver {
    pub fn new(
        quiet: bool,
        json: bool,
        every: usize,
        max_iters: usize,
        metrics: Option<PathBuf>,
    ) -> cvxnn::Result<Self> {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(max_iters as u64);
            b.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} iters  {msg}  ETA {eta}")
                    .expect("static template"),
            );
            b
        });
        Ok(CliObserver {
            quiet,
            to_stderr: json,
            every,
            last_logged: false,
            bar,
            metrics_path: metrics,
            metrics: String::new(),
            last: None,
            checkpoint: None,
            interrupt_file: None,
            saved: None,
            plot: None,
        })
    }

    /// Saves the solver state to `path` every `every` iterations and at the end.
    pub fn set_checkpoints(&mut self, path: PathBuf, every: usize, fp: serde_json::Value) {
        self.checkpoint = Some((path, every, fp));
    }

    /// Where to save the state on Ctrl-C when there is no --checkpoint file.
    pub fn set_interrupt_file(&mut self, path: PathBuf, fp: serde_json::Value) {
        self.interrupt_file = Some((path, fp));
    }

    /// Records every iteration and draws the trace to `path` (.png or .svg) in `finish`.
    pub fn set_plot(&mut self, path: PathBuf) {
        self.plot = Some((path, Vec::new()));
    }

    pub fn line(&self, s: &str) {
        if self.quiet {
            return;
        }
        match (&self.bar, self.to_stderr) {
            (Some(b), _) => b.println(s),
            (None, true) => eprintln!("{s}"),
            (None, false) => outln!("{s}"),
        }
    }

    pub fn header(&self) {
        self.line(&format!(
            "{:>7} {:>15} {:>12} {:>12} {:>10} {:>10} {:>7} {:>8} {:>9} {:>7}",
            "iter",
            "objective",
            "loss",
            "grad_sq",
            "rel_gap",
            "step",
            "active",
            "products",
            "time_s",
            "ws"
        ));
    }

    fn log(&mut self, i: &IterInfo) {
        let active = i
            .active
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into());
        let rel_gap = i
            .rel_gap
            .map(|g| format!("{g:.3e}"))
            .unwrap_or_else(|| "-".into());
        // Working-set runs: the set's size in groups, outer rows (the full problem's gap) marked *.
        let ws = match (i.working_set, i.outer) {
            (Some(w), Some(_)) => format!("{w}*"),
            (Some(w), None) => w.to_string(),
            _ => "-".into(),
        };
        self.line(&format!(
            "{:>7} {:>15.8e} {:>12.5e} {:>12.4e} {:>10} {:>10.3e} {:>7} {:>8.1} {:>9.2} {:>7}",
            i.iteration,
            i.objective,
            i.loss,
            i.grad_norm_sq,
            rel_gap,
            i.step,
            active,
            i.products,
            i.time_s,
            ws
        ));
        if self.metrics_path.is_some() {
            let rec = serde_json::json!({
                "iteration": i.iteration, "objective": i.objective, "loss": i.loss,
                "penalty": i.penalty, "grad_norm_sq": i.grad_norm_sq, "step": i.step,
                "gap": i.gap, "rel_gap": i.rel_gap, "products": i.products,
                "active_neurons": i.active, "restarted": i.restarted,
                "line_search_tries": i.line_search_tries, "time_s": i.time_s,
                "outer": i.outer, "working_set": i.working_set, "screened": i.screened,
            });
            self.metrics.push_str(&rec.to_string());
            self.metrics.push('\n');
        }
    }

    /// Logs the last iteration if the table skipped it (files are written by `write_files`).
    pub fn finish(&mut self, sol: &Solution) -> cvxnn::Result<()> {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if let Some(last) = self.last.take()
            && !self.last_logged
        {
            self.log(&last);
        }
        if sol.line_search_failures > 0 {
            log::warn!(
                "{} line searches hit the try limit and took the fallback step",
                sol.line_search_failures
            );
        }
        Ok(())
    }

    /// Writes the side outputs (--metrics-out, --plot). Called after the model is saved, so
    /// that a failing side output never loses the model.
    pub fn write_files(&self) -> cvxnn::Result<()> {
        if let Some(p) = &self.metrics_path {
            write_atomic(p, self.metrics.as_bytes())?;
        }
        if let Some((path, trace)) = &self.plot {
            let chart = trace_chart(trace);
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
            {
                write_atomic(path, cvxnn::plot::svg(&chart).as_bytes())?;
            } else {
                write_atomic(path, &cvxnn::plot::png(&chart)?)?;
            }
        }
        Ok(())
    }
}

impl CliObserver {
    /// Writes a checkpoint to --checkpoint, or (on Ctrl-C) to the interrupt file.
    fn save(
        &mut self,
        state: &cvxnn::solver::FistaState,
        al: Option<&cvxnn::solver::AlState>,
    ) -> cvxnn::Result<()> {
        let target = match (&self.checkpoint, &self.interrupt_file) {
            (Some((path, _, fp)), _) => Some((path.clone(), fp)),
            (None, Some((path, fp))) => Some((path.clone(), fp)),
            _ => None,
        };
        if let Some((path, fp)) = target {
            cvxnn::checkpoint::save(&path, state, al, fp)?;
            self.saved = Some(path);
        }
        Ok(())
    }
}

impl Observer for CliObserver {
    fn wants_detail(&self, k: usize) -> bool {
        k.is_multiple_of(self.every)
    }

    fn solve_finished(&mut self, sol: &cvxnn::solver::Solution) -> cvxnn::Result<()> {
        self.finish(sol)
    }

    fn checkpoint_every(&self) -> Option<usize> {
        self.checkpoint.as_ref().map(|c| c.1)
    }

    fn checkpoint(&mut self, state: &cvxnn::solver::FistaState) -> cvxnn::Result<()> {
        self.save(state, None)
    }

    fn checkpoint_al(
        &mut self,
        state: &cvxnn::solver::FistaState,
        al: &cvxnn::solver::AlState,
    ) -> cvxnn::Result<()> {
        self.save(state, Some(al))
    }

    fn should_stop(&self) -> bool {
        super::signals::interrupted()
    }

    fn observe(&mut self, info: &IterInfo) {
        if let Some(b) = &self.bar {
            b.set_position(info.iteration as u64);
            b.set_message(format!(
                "obj {:.6e}  grad_sq {:.2e}  step {:.2e}{}",
                info.objective,
                info.grad_norm_sq,
                info.step,
                info.active
                    .map(|a| format!("  active {a}"))
                    .unwrap_or_default()
            ));
        }
        // Outer rows of a working-set run carry the full problem's gap: always shown.
        self.last_logged = info.iteration.is_multiple_of(self.every) || info.outer.is_some();
        if self.last_logged {
            self.log(info);
        }
        if let Some((_, trace)) = &mut self.plot {
            trace.push([
                info.iteration as f64,
                info.time_s,
                info.objective,
                info.grad_norm_sq.sqrt(),
            ]);
        }
        self.last = Some(info.clone());
    }
}

/// Objective and minimum-norm subgradient norm against iterations (top) and seconds (bottom).
fn trace_chart(trace: &[[f64; 4]]) -> cvxnn::plot::Chart {
    use cvxnn::plot::{Chart, Panel, Series};
    let col = |k: usize| trace.iter().map(|r| r[k]).collect::<Vec<f64>>();
    let panel = |title: &str, x: usize, x_label: &str, y: usize, y_label: &str| Panel {
        title: title.into(),
        x_label: x_label.into(),
        y_label: y_label.into(),
        log_x: false,
        log_y: true,
        series: vec![Series {
            name: y_label.into(),
            xs: col(x),
            ys: col(y),
            dashed: false,
        }],
    };
    Chart {
        columns: 2,
        panels: vec![
            panel("objective", 0, "iteration", 2, "objective"),
            panel("optimality", 0, "iteration", 3, "subgradient norm"),
            panel("objective", 1, "seconds", 2, "objective"),
            panel("optimality", 1, "seconds", 3, "subgradient norm"),
        ],
    }
}
