//! `cvxnn bench uci` (the grid over the UCI collection) and `cvxnn bench profile` (profiles
//! and the accuracy table from result CSVs, cvxnn's and peers').

use clap::{Args, Subcommand};
use cvxnn::Error;
use cvxnn::bench_uci::{self, Grid, Method, Row, profile};
use cvxnn::io::{FilePlan, write_atomic};
use cvxnn::train::Precision;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// The paper's grid over the UCI collection: one CSV row per (data set, lambda, method),
    /// appended as each finishes (a rerun skips what is done), then the performance profile
    /// and the accuracy table.
    Uci(UciArgs),
    /// Draws the performance profile and the accuracy table from result CSVs of `bench uci`
    /// and of the peers (benches/peers/uci_peers.sh), together.
    Profile(ProfileArgs),
}

#[derive(Args, Debug)]
pub struct UciArgs {
    /// The collection's folder (one folder per data set; default: $CVXNN_UCI_DIR).
    #[arg(long)]
    root: Option<PathBuf>,
    /// all, a comma-separated list of data set names, or @FILE with one name per line.
    #[arg(long, default_value = "all")]
    datasets: String,
    /// Leave out data sets whose data file has more rows than this.
    #[arg(long)]
    max_rows: Option<usize>,
    /// Regularization strengths (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        default_value = "1e-5,1e-4,1e-3,1e-2,5e-2,1e-1"
    )]
    lambdas: Vec<f64>,
    /// Gates drawn per data set (the same gates for every lambda and method).
    #[arg(long, default_value_t = 500)]
    gates: usize,
    /// Methods (comma-separated): gated (R-FISTA on the gated program), relu-al (augmented
    /// Lagrangian on the ReLU program), gated+approx and gated+exact (the gated solve, then a
    /// cone decomposition into a ReLU network).
    #[arg(long, default_value = "gated,relu-al")]
    methods: String,
    /// Seconds per solve (R-FISTA and the AL; an exact decomposition runs to its end).
    #[arg(long, allow_hyphen_values = true)]
    time_limit: Option<f64>,
    /// Iteration budget per solve.
    #[arg(long, default_value_t = 10_000)]
    max_iters: usize,
    /// Relative duality gap the gated solves stop at (tighter than train's default: the profile
    /// reads the time to each tolerance off the objective's trace, so the solve must get there).
    #[arg(long, allow_hyphen_values = true, default_value_t = 1e-6)]
    gap_tol: f64,
    /// Problems solved at once (each with the cores divided among them).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// CPU threads per solve (0: the cores divided among the jobs).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    #[arg(long, value_enum, default_value = "f64")]
    precision: Precision,
    /// Seed of the gates.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where results.csv, the profile and the accuracy table go (created if missing).
    #[arg(long)]
    out_dir: PathBuf,
    /// Also write each data set's problem (data, targets, gates as .npy) here, for the peers.
    #[arg(long)]
    problems_out: Option<PathBuf>,
    #[command(flatten)]
    draw: DrawArgs,
}

#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// Result CSVs in `bench uci`'s format.
    #[arg(required = true)]
    csv: Vec<PathBuf>,
    /// Where the profile and the accuracy table go.
    #[arg(long)]
    out_dir: PathBuf,
    #[command(flatten)]
    draw: DrawArgs,
}

#[derive(Args, Debug)]
pub struct DrawArgs {
    /// Relative objective tolerances of the profile's panels.
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        default_value = "1,0.5,0.1"
    )]
    tolerances: Vec<f64>,
}

pub fn run(cmd: BenchCommand) -> cvxnn::Result<i32> {
    match cmd {
        BenchCommand::Uci(a) => run_uci(a),
        BenchCommand::Profile(a) => {
            let mut rows = Vec::new();
            let mut plan = FilePlan::default();
            for p in &a.csv {
                plan.input("CSV", p);
            }
            plan.output("--out-dir", a.out_dir.join("profile.png"));
            prepare_out_dir(&a.out_dir)?;
            plan.check()?;
            for p in &a.csv {
                rows.extend(bench_uci::csv::read(p)?);
            }
            draw(&rows, &a.out_dir, &a.draw.tolerances)?;
            Ok(0)
        }
    }
}

fn prepare_out_dir(dir: &Path) -> cvxnn::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

fn check_tolerances(t: &[f64]) -> cvxnn::Result<()> {
    if t.is_empty() || t.iter().any(|&v| !(v >= 0.0 && v.is_finite())) {
        return Err(Error::param(
            "--tolerances",
            format!("{t:?} (need at least one finite value >= 0)"),
        ));
    }
    Ok(())
}

/// Writes profile.{png,svg,md} and accuracy.{md,csv} into `dir` and prints the headline.
fn draw(rows: &[Row], dir: &Path, tols: &[f64]) -> cvxnn::Result<()> {
    check_tolerances(tols)?;
    if !rows.iter().any(Row::usable) {
        return Err(Error::Data(
            "no finished problem in the results to draw a profile from".into(),
        ));
    }
    let chart = profile::chart(rows, tols);
    write_atomic(
        &dir.join("profile.svg"),
        cvxnn::plot::svg(&chart).as_bytes(),
    )?;
    write_atomic(&dir.join("profile.png"), &cvxnn::plot::png(&chart)?)?;
    let tol = tols.iter().copied().fold(f64::INFINITY, f64::min);
    let headline = profile::headline(rows, tol, &[1.0, 10.0]);
    write_atomic(&dir.join("profile.md"), headline.as_bytes())?;
    let (md, csv) = profile::accuracy_table(rows);
    write_atomic(&dir.join("accuracy.md"), md.as_bytes())?;
    write_atomic(&dir.join("accuracy.csv"), csv.as_bytes())?;
    outln!("{headline}");
    eprintln!(
        "wrote {} (profile.png, profile.svg, profile.md, accuracy.md, accuracy.csv)",
        dir.display()
    );
    Ok(())
}

fn run_uci(a: UciArgs) -> cvxnn::Result<i32> {
    let root = match &a.root {
        Some(r) => r.clone(),
        None => std::env::var_os(cvxnn::data::uci::ROOT_VAR)
            .map(PathBuf::from)
            .ok_or_else(|| {
                Error::param(
                    "--root",
                    format!("not given and {} is not set", cvxnn::data::uci::ROOT_VAR),
                )
            })?,
    };
    if !root.is_dir() {
        return Err(Error::format(&root, "not a folder (--root)"));
    }
    if a.lambdas.is_empty() || a.lambdas.iter().any(|&l| !(l >= 0.0 && l.is_finite())) {
        return Err(Error::param(
            "--lambdas",
            format!("{:?} (need finite values >= 0)", a.lambdas),
        ));
    }
    if a.gates == 0 || a.jobs == 0 || a.max_iters == 0 {
        return Err(Error::param("--gates/--jobs/--max-iters", "must be >= 1"));
    }
    if a.time_limit.is_some_and(|t| !(t > 0.0 && t.is_finite()))
        || a.gap_tol.is_nan()
        || a.gap_tol <= 0.0
    {
        return Err(Error::param("--time-limit/--gap-tol", "must be > 0"));
    }
    check_tolerances(&a.draw.tolerances)?;
    let methods = Method::parse_list(&a.methods)?;
    let datasets = bench_uci::select_datasets(&root, &a.datasets, a.max_rows)?;
    prepare_out_dir(&a.out_dir)?;
    let out = a.out_dir.join("results.csv");
    let mut plan = FilePlan::default();
    plan.output("--out-dir", &out)
        .output("--out-dir", a.out_dir.join("profile.png"));
    plan.check()?;
    let grid = Grid {
        root,
        datasets,
        lambdas: a.lambdas.clone(),
        gates: a.gates,
        methods,
        time_limit: a.time_limit,
        max_iters: a.max_iters,
        gap_tol: a.gap_tol,
        jobs: a.jobs,
        threads: a.threads,
        precision: a.precision,
        seed: a.seed,
        problems_dir: a.problems_out.clone(),
    };
    let total = grid.datasets.len() * grid.lambdas.len() * grid.methods.len();
    eprintln!(
        "bench uci: {} data sets x {} lambdas x {} methods = {total} problems, {} gates; results in {}",
        grid.datasets.len(),
        grid.lambdas.len(),
        grid.methods.len(),
        grid.gates,
        out.display()
    );
    let report = |r: &Row, e: Option<&Error>| match e {
        Some(e) => eprintln!(
            "{:<28} lam {:<7e} {:<13} error: {e}",
            r.dataset, r.lambda, r.method
        ),
        None => eprintln!(
            "{:<28} lam {:<7e} {:<13} {:>8.2} s  objective {:.6e}  test {}  {}",
            r.dataset,
            r.lambda,
            r.method,
            r.time_s,
            r.objective,
            r.test_accuracy.map_or("-".into(), |v| format!("{v:.3}")),
            r.status
        ),
    };
    let summary = bench_uci::run(&grid, &out, &super::signals::interrupted, &report)?;
    eprintln!(
        "bench uci: {} solved, {} failed, {} already in the file",
        summary.solved, summary.failed, summary.skipped
    );
    let rows = bench_uci::csv::read(&out)?;
    if rows.iter().any(Row::usable) {
        draw(&rows, &a.out_dir, &a.draw.tolerances)?;
    }
    if summary.interrupted {
        return Err(Error::Interrupted(format!(
            "bench uci interrupted; {} holds the finished problems and a rerun continues",
            out.display()
        )));
    }
    Ok(0)
}
