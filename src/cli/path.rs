//! `cvxnn path`.

use super::ProblemArgs;
use clap::Args;
use cvxnn::Error;
use cvxnn::io::write_atomic;
use cvxnn::path::{self, Point};
use cvxnn::regularizer::Regularizer;
use cvxnn::solver::FistaSettings;
use cvxnn::train;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PathArgs {
    #[command(flatten)]
    problem: ProblemArgs,
    #[command(flatten)]
    device: super::DeviceArgs,
    /// Comma-separated lam values (solved from the largest to the smallest).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, conflicts_with_all = ["lambda_max", "lambda_min", "steps"])]
    lambdas: Option<Vec<f64>>,
    /// Largest lam of a log-spaced sequence (with --steps and --lambda-min or
    /// --lambda-min-ratio), or `auto`: the smallest lam at which the zero network is optimal
    /// (neuron-gl1; one gradient at zero).
    #[arg(long, requires = "steps", allow_hyphen_values = true)]
    lambda_max: Option<LambdaMax>,
    /// Smallest lam of the sequence.
    #[arg(long, allow_hyphen_values = true, conflicts_with = "lambda_min_ratio")]
    lambda_min: Option<f64>,
    /// Smallest lam as a fraction of --lambda-max (for example 1e-3 with --lambda-max auto).
    #[arg(long, allow_hyphen_values = true)]
    lambda_min_ratio: Option<f64>,
    /// Number of lam values.
    #[arg(long, allow_hyphen_values = true)]
    steps: Option<usize>,
    #[arg(long, value_enum, default_value = "neuron-gl1")]
    regularizer: Regularizer,
    /// Squared subgradient norm each solve stops at, with --stop subgradient (giving it alone
    /// selects that rule) [default: 1e-6].
    #[arg(long, allow_hyphen_values = true)]
    tol: Option<f64>,
    /// Stopping rule of each solve (as for train).
    #[arg(long, value_enum)]
    stop: Option<super::StopRule>,
    /// Relative duality gap each solve stops at [default: 1e-2].
    #[arg(long, allow_hyphen_values = true)]
    gap_tol: Option<f64>,
    /// Iteration budget of each solve.
    #[arg(long, allow_hyphen_values = true, default_value_t = FistaSettings::default().max_iters)]
    max_iters: usize,
    /// Working sets with Gap Safe screening in each solve (as for train).
    #[arg(long, value_enum, default_value = "auto")]
    working_set: cvxnn::solver::WorkingSet,
    /// Start every solve from zero instead of the previous solution (to measure warm starts).
    #[arg(long)]
    cold: bool,
    /// Folder for path.csv and one model per lam (created if missing).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    #[command(flatten)]
    output: super::OutputArgs,
}

/// `--lambda-max`: a number or `auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LambdaMax {
    Auto,
    Value(f64),
}

impl std::str::FromStr for LambdaMax {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(LambdaMax::Auto);
        }
        s.parse::<f64>()
            .map(LambdaMax::Value)
            .map_err(|_| format!("'{s}': expected a number or 'auto'"))
    }
}

/// The sequence once lambda_max is known.
fn sequence(a: &PathArgs, max: f64) -> cvxnn::Result<Vec<f64>> {
    let min = match (a.lambda_min, a.lambda_min_ratio) {
        (Some(m), _) => m,
        (None, Some(r)) if r > 0.0 && r <= 1.0 => r * max,
        (None, Some(r)) => {
            return Err(Error::param(
                "--lambda-min-ratio",
                format!("{r} (must be in (0, 1])"),
            ));
        }
        (None, None) => {
            return Err(Error::param(
                "--lambda-min",
                "give --lambda-min or --lambda-min-ratio with --lambda-max",
            ));
        }
    };
    path::order(path::geometric(max, min, a.steps.unwrap_or(0))?)
}

fn plan_files(a: &PathArgs, lambdas: &[f64]) -> cvxnn::Result<()> {
    let mut files = cvxnn::io::FilePlan::default();
    a.problem.inputs(&mut files);
    if let Some(dir) = &a.out_dir {
        for f in ["path.csv", "path.svg", "path.png"] {
            files.output("--out-dir", dir.join(f));
        }
        for &lam in lambdas {
            let model = dir.join(model_name(lam));
            files.output("--out-dir", model.with_extension("json"));
            files.output("--out-dir", model);
        }
    }
    files.check()
}

pub fn run(a: PathArgs) -> cvxnn::Result<i32> {
    // Known before any work unless lambda_max is `auto` (then after one gradient).
    let given = match (&a.lambdas, a.lambda_max) {
        (Some(v), _) => Some(path::order(v.clone())?),
        (None, Some(LambdaMax::Value(max))) => Some(sequence(&a, max)?),
        (None, Some(LambdaMax::Auto)) => {
            if a.lambda_min.is_none() && a.lambda_min_ratio.is_none() {
                return Err(Error::param(
                    "--lambda-min",
                    "give --lambda-min or --lambda-min-ratio with --lambda-max",
                ));
            }
            None
        }
        (None, None) => {
            return Err(Error::param(
                "--lambdas",
                "give --lambdas a,b,... or --lambda-max (a number or auto), --steps and --lambda-min or --lambda-min-ratio",
            ));
        }
    };
    let base = FistaSettings {
        regularizer: a.regularizer,
        tol: super::subgradient_tol(a.tol),
        max_iters: a.max_iters,
        gap_tol: super::gap_tol(a.stop, a.gap_tol, a.tol),
        working_set: a.working_set,
        ..FistaSettings::default()
    };
    base.clone().check()?;
    let cfg = a.problem.config()?;
    if let Some(dir) = &a.out_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::param(
                "--out-dir",
                format!("{}: cannot create ({e})", dir.display()),
            )
        })?;
    }
    plan_files(&a, given.as_deref().unwrap_or(&[]))?;
    let loaded = train::load_problem(&cfg)?;
    let device = a.device.resolve()?;
    // A lam = 0 in the list stops on the subgradient rule: then f64 for the whole path.
    let lam_min = given
        .as_deref()
        .map_or(1.0, |l| l.iter().copied().fold(f64::INFINITY, f64::min));
    let gap_stop = cvxnn::device::gap_stop(true, a.regularizer, lam_min, base.gap_tol);
    let precision = a
        .device
        .precision
        .unwrap_or(device.default_precision(cvxnn::device::f32_meets_gap(gap_stop)));
    let prep = train::with_patterns(loaded, &device)?;
    let (quiet, json) = (a.output.quiet, a.output.json);
    let lambdas = match given {
        Some(l) => l,
        None => {
            let max = path::lambda_max(&prep, a.regularizer, &device, precision)?;
            if !quiet {
                eprintln!("path: lambda_max = {max:.6e} (the zero network is optimal above it)");
            }
            let l = sequence(&a, max)?;
            plan_files(&a, &l)?;
            l
        }
    };
    if !quiet {
        eprintln!(
            "path: {} lam values on {} ({} starts), {} gates kept, data {}",
            lambdas.len(),
            device.describe(precision),
            if a.cold { "cold" } else { "warm" },
            prep.patterns.kept.len(),
            prep.train.name
        );
    }
    if !quiet && !json {
        outln!("{}", Point::CSV_HEADER);
    }
    let mut csv = format!("{}\n", Point::CSV_HEADER);
    let points = path::run(
        &prep,
        &cfg,
        &base,
        &lambdas,
        !a.cold,
        &device,
        precision,
        &super::signals::interrupted,
        |pt: &Point, _, net: &cvxnn::model::Network| {
            if json {
                outln!("{}", serde_json::to_string(pt).expect("a point serializes"));
            } else if !quiet {
                outln!("{}", pt.csv_row());
            }
            csv.push_str(&pt.csv_row());
            csv.push('\n');
            if let Some(dir) = &a.out_dir {
                net.save(&dir.join(model_name(pt.lambda)))?;
                // Rewritten after every solve, so an interrupted path keeps what it finished.
                write_atomic(&dir.join("path.csv"), csv.as_bytes())?;
            }
            Ok(())
        },
    )?;
    if let Some(dir) = &a.out_dir {
        let chart = path_chart(&points);
        write_atomic(&dir.join("path.svg"), cvxnn::plot::svg(&chart).as_bytes())?;
        write_atomic(&dir.join("path.png"), &cvxnn::plot::png(&chart)?)?;
    }
    if super::signals::interrupted() {
        return Err(Error::Interrupted(format!(
            "path interrupted after {} of {} lam values{}",
            points.len(),
            lambdas.len(),
            a.out_dir
                .as_ref()
                .map(|d| format!("; {} holds them", d.join("path.csv").display()))
                .unwrap_or_default()
        )));
    }
    let total: f64 = points.iter().map(|p| p.time_s).sum();
    let iters: usize = points.iter().map(|p| p.iterations).sum();
    if !quiet {
        eprintln!("path: {iters} iterations, {total:.2} s of solves");
    }
    Ok(0)
}

/// The model file of one lam (5 significant digits).
fn model_name(lambda: f64) -> String {
    format!("model-lam-{lambda:.4e}.safetensors")
}

/// Accuracy (or MSE) and active neurons against lam, log axis.
fn path_chart(points: &[Point]) -> cvxnn::plot::Chart {
    use cvxnn::plot::{Chart, Panel, Series};
    let xs: Vec<f64> = points.iter().map(|p| p.lambda).collect();
    let series = |name: &str, f: &dyn Fn(&Point) -> Option<f64>| Series {
        name: name.into(),
        xs: xs.clone(),
        ys: points.iter().map(|p| f(p).unwrap_or(f64::NAN)).collect(),
        dashed: false,
    };
    Chart {
        columns: 2,
        panels: vec![
            Panel {
                title: "score".into(),
                x_label: "lambda".into(),
                y_label: "accuracy (classification) / MSE".into(),
                log_x: true,
                log_y: false,
                series: vec![series("train", &|p| p.train), series("test", &|p| p.test)],
            },
            Panel {
                title: "sparsity".into(),
                x_label: "lambda".into(),
                y_label: "count".into(),
                log_x: true,
                log_y: false,
                series: vec![
                    series("active neurons", &|p| Some(p.active_neurons as f64)),
                    series("active features", &|p| Some(p.active_features as f64)),
                ],
            },
        ],
    }
}
