//! `cvxnn bench uci`: the paper's grid over the UCI collection. Every (data set, lambda,
//! method) is one problem solved on the set's fit rows (its training rows minus the validation
//! rows, see [`crate::data::uci`]) and written as one CSV row as soon as it finishes, so an
//! interrupted run resumes where it stopped. [`profile`] draws the performance profile and the
//! accuracy table from those rows (and from peers' rows in the same format).
//!
//! The objective column is the training objective of the network a method returns, on the fit
//! rows: ||Y - f(X)||^2 / (2 n c) + lam * sum_k ||w1_k|| |w2_k| (the penalty is the group norm
//! sum of the convex weights, which the network's balanced weights give as weight decay). For
//! the gated program it is R-FISTA's objective; for ReLU networks it is evaluated on the network
//! itself, so a cone violation costs in the loss instead of being hidden.

pub mod csv;
pub mod problems;
pub mod profile;

use crate::data::uci;
use crate::decompose;
use crate::device::{Device, Precision};
use crate::error::{Error, Result};
use crate::prepare::{self, Prepared, ProblemConfig};
use crate::solver::{AlSettings, FistaSettings, Status, working_set::WorkingSet};
use crate::solver::{IterInfo, Observer};
use crate::train::{self, ModelKind, TrainPlan};
pub use csv::{HEADER, Row};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// A solver of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// R-FISTA on the gated program.
    Gated,
    /// The augmented Lagrangian on the ReLU program.
    ReluAl,
    /// The gated solve, then the approximate cone decomposition.
    GatedApprox,
    /// The gated solve, then the exact (minimum-norm, interior-point) decomposition.
    GatedExact,
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::Gated,
        Method::ReluAl,
        Method::GatedApprox,
        Method::GatedExact,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Gated => "gated",
            Method::ReluAl => "relu-al",
            Method::GatedApprox => "gated+approx",
            Method::GatedExact => "gated+exact",
        }
    }

    /// The model class the method's objective belongs to: problems are compared within one.
    pub fn model(self) -> &'static str {
        match self {
            Method::Gated => "gated",
            _ => "relu",
        }
    }

    /// Parses a comma-separated list.
    pub fn parse_list(s: &str) -> Result<Vec<Method>> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let m = Method::ALL
                .into_iter()
                .find(|m| m.name() == name)
                .ok_or_else(|| {
                    let names: Vec<_> = Method::ALL.iter().map(|m| m.name()).collect();
                    Error::param(
                        "methods",
                        format!("'{name}' is not one of {}", names.join(", ")),
                    )
                })?;
            if !out.contains(&m) {
                out.push(m);
            }
        }
        if out.is_empty() {
            return Err(Error::param("methods", "no method given"));
        }
        Ok(out)
    }
}

/// The grid and how to run it.
#[derive(Debug, Clone)]
pub struct Grid {
    pub root: PathBuf,
    pub datasets: Vec<String>,
    pub lambdas: Vec<f64>,
    pub gates: usize,
    pub methods: Vec<Method>,
    /// Per solve (R-FISTA and the AL; the exact decomposition is not interruptible).
    pub time_limit: Option<f64>,
    pub max_iters: usize,
    /// The gated solves stop at this relative duality gap; the AL at its default rule.
    pub gap_tol: f64,
    pub jobs: usize,
    /// CPU threads for each solve (0: the cores divided among the jobs).
    pub threads: usize,
    pub precision: Precision,
    pub seed: u64,
    /// Where to write each data set's problem for peers ([`problems`]), if anywhere.
    pub problems_dir: Option<PathBuf>,
}

/// The data sets `spec` names under `root`: `all` (every collection folder, by name), a
/// comma-separated list, or `@FILE` (one name per line, `#` comments). With `max_rows`, sets
/// with more training rows than that are left out (read from each set's description).
pub fn select_datasets(root: &Path, spec: &str, max_rows: Option<usize>) -> Result<Vec<String>> {
    let names: Vec<String> = if spec == "all" {
        let entries = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
        let mut v: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| uci::is_uci_dir(&e.path()))
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        if v.is_empty() {
            return Err(Error::format(root, "holds no UCI collection folder"));
        }
        v
    } else if let Some(file) = spec.strip_prefix('@') {
        let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
        text.lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    } else {
        spec.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    };
    if names.is_empty() {
        return Err(Error::param(
            "datasets",
            format!("'{spec}' names no data set"),
        ));
    }
    let mut kept = Vec::new();
    for name in names {
        let dir = root.join(&name);
        if !uci::is_uci_dir(&dir) {
            return Err(Error::format(
                &dir,
                format!("not a UCI collection folder (no {name}.txt)"),
            ));
        }
        if let Some(max) = max_rows
            && uci::described_rows(&dir)?.is_some_and(|n| n > max)
        {
            continue;
        }
        kept.push(name);
    }
    if let (true, Some(max)) = (kept.is_empty(), max_rows) {
        return Err(Error::param(
            "max_rows",
            format!("{max} leaves none of the data sets"),
        ));
    }
    Ok(kept)
}

/// One data set made ready: the problem on its fit rows, the validation rows and the time the
/// activation patterns took (added to every solve's time, as a peer computes its own).
pub struct Loaded {
    pub set: uci::UciSet,
    pub prep: Prepared,
    pub cfg: ProblemConfig,
    pub validation: crate::data::Dataset,
    pub setup_s: f64,
}

/// Loads `name` under `root`, splits off the validation rows and draws `gates` gates.
pub fn load(root: &Path, name: &str, gates: usize, seed: u64, device: &Device) -> Result<Loaded> {
    let set = uci::load_dir(&root.join(name))?;
    let fit = set.train.select(&set.fit_rows());
    let validation = set.train.select(&set.validation_rows());
    let cfg = ProblemConfig {
        data: name.to_string(),
        task: crate::problem::TaskChoice::Classification,
        test_fraction: 0.0,
        gates,
        seed,
        // scnn's scaling, as in the recorded tables and the peers' runs (the collection's
        // features are standardized already).
        scaling: crate::data::preprocess::Scaling::Unitize,
        ..ProblemConfig::default()
    };
    let loaded = prepare::from_datasets(&cfg, fit, Some(set.test.clone()), None)?;
    let t = Instant::now();
    let prep = prepare::with_patterns(loaded, device)?;
    Ok(Loaded {
        set,
        prep,
        cfg,
        validation,
        setup_s: t.elapsed().as_secs_f64(),
    })
}

fn plan(grid: &Grid, lambda: f64, method: Method) -> Result<TrainPlan> {
    let fista = FistaSettings {
        lambda,
        gap_tol: Some(grid.gap_tol),
        time_limit: grid.time_limit,
        max_iters: grid.max_iters,
        working_set: WorkingSet::Auto,
        ..FistaSettings::default()
    }
    .check()?;
    let al = AlSettings {
        fista: fista.get().clone(),
        ..AlSettings::default()
    }
    .check()?;
    Ok(TrainPlan {
        model: if method == Method::ReluAl {
            ModelKind::Relu
        } else {
            ModelKind::Gated
        },
        decompose: match method {
            Method::GatedApprox => Some(decompose::Method::Approx),
            Method::GatedExact => Some(decompose::Method::Exact),
            _ => None,
        },
        rho: decompose::DEFAULT_RHO,
        decompose_tol: decompose::DEFAULT_TOL,
        fista,
        al,
    })
}

/// Solves one problem of the grid and scores it.
pub fn solve(
    l: &Loaded,
    grid: &Grid,
    lambda: f64,
    method: Method,
    device: &Device,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<Row> {
    let plan = plan(grid, lambda, method)?;
    let t = Instant::now();
    let mut trace = Trace {
        stop,
        points: Vec::new(),
        offset: l.setup_s,
    };
    let fitted = train::fit(
        &l.prep,
        &l.cfg,
        &plan,
        device,
        grid.precision,
        train::Start::Cold,
        &mut trace,
    )?;
    let time_s = t.elapsed().as_secs_f64() + l.setup_s;
    let sol = &fitted.solution;
    let mut row = Row {
        dataset: l.set.name.clone(),
        n: l.prep.x.nrows(),
        d: l.set.data.d(),
        classes: l.set.classes,
        lambda,
        method: method.name().into(),
        model: method.model().into(),
        time_s,
        objective: f64::NAN,
        rel_gap: sol.rel_gap,
        violation: fitted.violation,
        iterations: Some(sol.iterations),
        products: Some(sol.products),
        status: sol.status.to_string(),
        ..Row::default()
    };
    let Some(net) = fitted.network else {
        return Ok(row);
    };
    let penalty = match (&fitted.decomposition, method) {
        (Some(dec), _) => dec.norm_relu,
        (None, Method::ReluAl) => decompose::group_norm_sum(&sol.weights, l.prep.x.ncols()),
        (None, _) => sol.penalty,
    };
    let task = &l.prep.task;
    let out = net.forward(&l.prep.train.x)?;
    let (n, c) = l.prep.y.dim();
    let loss = (&out - &l.prep.y).mapv(|v| v * v).sum() / (2.0 * (n * c) as f64);
    row.objective = loss + lambda * penalty;
    // Only the gated solve's iterates are models of the row's class; for the others the end
    // is what counts.
    if method == Method::Gated {
        row.trace = trace.points;
        row.trace.push((time_s, row.objective));
    }
    row.train_accuracy = task.score(&out, &l.prep.train.labels);
    row.val_accuracy = task.score(&net.forward(&l.validation.x)?, &l.validation.labels);
    row.test_accuracy = task.score(&net.forward(&l.set.test.x)?, &l.set.test.labels);
    row.active_neurons = Some(net.hidden());
    Ok(row)
}

/// Records (seconds, objective) whenever the objective has fallen 0.5 % below the last point
/// (at most 400 points), and passes the stop request on.
struct Trace<'a> {
    stop: &'a (dyn Fn() -> bool + Sync),
    points: Vec<(f64, f64)>,
    offset: f64,
}

impl Observer for Trace<'_> {
    fn observe(&mut self, i: &IterInfo) {
        let fell = self
            .points
            .last()
            .is_none_or(|&(_, f)| i.objective < f * (1.0 - 5e-3));
        if fell && i.objective.is_finite() && self.points.len() < 400 {
            self.points.push((i.time_s + self.offset, i.objective));
        }
    }
    fn should_stop(&self) -> bool {
        (self.stop)()
    }
}

/// What [`run`] did.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    pub solved: usize,
    pub skipped: usize,
    pub failed: usize,
    pub interrupted: bool,
}

/// Runs the grid, appending rows to `out` (created with its header when missing; a file with
/// another header is refused) and skipping the problems `out` already holds. `report` sees each
/// row, or the error of a problem that failed (also written, with status `Error`).
pub fn run(
    grid: &Grid,
    out: &Path,
    stop: &(dyn Fn() -> bool + Sync),
    report: &(dyn Fn(&Row, Option<&Error>) + Sync),
) -> Result<RunSummary> {
    // Opening drops a row a killed run left half-written, which is then redone.
    let (appender, rows) = csv::Appender::open(out)?;
    let done = csv::done_keys(&rows);
    let writer = Mutex::new(appender);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = grid.jobs.max(1);
    let threads = if grid.threads > 0 {
        grid.threads
    } else {
        (cores / jobs).max(1)
    };
    let device = Device::Cpu(crate::backend::cpu::CpuOptions {
        threads,
        ..Default::default()
    });
    let mut summary = RunSummary::default();
    for name in &grid.datasets {
        let tasks: Vec<(f64, Method)> = grid
            .lambdas
            .iter()
            .flat_map(|&lam| grid.methods.iter().map(move |&m| (lam, m)))
            .filter(|&(lam, m)| !done.contains(&csv::key(name, lam, m.name())))
            .collect();
        summary.skipped += grid.lambdas.len() * grid.methods.len() - tasks.len();
        if tasks.is_empty() {
            continue;
        }
        if stop() {
            summary.interrupted = true;
            break;
        }
        let loaded = match load(&grid.root, name, grid.gates, grid.seed, &device) {
            Ok(l) => l,
            Err(e) => {
                for &(lambda, m) in &tasks {
                    let row = Row::failed(name, lambda, m);
                    writer.lock().expect("writer").append(&row)?;
                    report(&row, Some(&e));
                    summary.failed += 1;
                }
                continue;
            }
        };
        if let Some(dir) = &grid.problems_dir {
            problems::write(dir, &loaded)?;
        }
        let next = AtomicUsize::new(0);
        let tally = Mutex::new((0usize, 0usize, None::<Error>));
        std::thread::scope(|s| {
            for _ in 0..jobs.min(tasks.len()) {
                s.spawn(|| {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= tasks.len() || stop() {
                            break;
                        }
                        let (lambda, m) = tasks[k];
                        let (row, err) = match solve(&loaded, grid, lambda, m, &device, stop) {
                            Ok(r) => (r, None),
                            Err(e) => (
                                Row {
                                    n: loaded.prep.x.nrows(),
                                    d: loaded.set.data.d(),
                                    classes: loaded.set.classes,
                                    ..Row::failed(name, lambda, m)
                                },
                                Some(e),
                            ),
                        };
                        // An interrupted solve is not a result: it is run again on resume.
                        let keep = row.status != Status::Interrupted.to_string();
                        let mut t = tally.lock().expect("tally");
                        if keep {
                            if let Err(e) = writer.lock().expect("writer").append(&row) {
                                t.2.get_or_insert(e);
                                break;
                            }
                            report(&row, err.as_ref());
                            if err.is_some() { t.1 += 1 } else { t.0 += 1 }
                        }
                    }
                });
            }
        });
        let (ok, bad, write_err) = tally.into_inner().expect("tally");
        if let Some(e) = write_err {
            return Err(e);
        }
        summary.solved += ok;
        summary.failed += bad;
        if stop() {
            summary.interrupted = true;
            break;
        }
    }
    Ok(summary)
}
