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
    /// Largest lam of a log-spaced sequence (with --lambda-min and --steps).
    #[arg(long, requires_all = ["lambda_min", "steps"], allow_hyphen_values = true)]
    lambda_max: Option<f64>,
    /// Smallest lam of the sequence.
    #[arg(long, allow_hyphen_values = true)]
    lambda_min: Option<f64>,
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

pub fn run(a: PathArgs) -> cvxnn::Result<i32> {
    let lambdas = match (&a.lambdas, a.lambda_max) {
        (Some(v), _) => path::order(v.clone())?,
        (None, Some(max)) => path::order(path::geometric(
            max,
            a.lambda_min.unwrap_or(max),
            a.steps.unwrap_or(0),
        )?)?,
        (None, None) => {
            return Err(Error::param(
                "--lambdas",
                "give --lambdas a,b,... or --lambda-max, --lambda-min and --steps",
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
    let mut files = cvxnn::io::FilePlan::default();
    a.problem.inputs(&mut files);
    if let Some(dir) = &a.out_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::param(
                "--out-dir",
                format!("{}: cannot create ({e})", dir.display()),
            )
        })?;
        for f in ["path.csv", "path.svg", "path.png"] {
            files.output("--out-dir", dir.join(f));
        }
        for &lam in &lambdas {
            let model = dir.join(model_name(lam));
            files.output("--out-dir", model.with_extension("json"));
            files.output("--out-dir", model);
        }
    }
    files.check()?;
    let loaded = train::load_problem(&cfg)?;
    let device = a.device.resolve()?;
    let precision = a.device.precision.unwrap_or(device.default_precision());
    let prep = train::with_patterns(loaded, &device)?;
    let (quiet, json) = (a.output.quiet, a.output.json);
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
