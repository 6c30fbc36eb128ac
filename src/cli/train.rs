//! `cvxnn train`.

use super::ProblemArgs;
use super::progress::CliObserver;
use clap::Args;
use cvxnn::Error;
use cvxnn::io::check_writable;
use cvxnn::train;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    problem: ProblemArgs,
    #[command(flatten)]
    solver: super::SolverArgs,
    #[command(flatten)]
    device: super::DeviceArgs,
    /// Where to save the model (.safetensors; the metadata also goes to the same name with .json).
    #[arg(long, default_value = "cvxnn-model.safetensors")]
    out: PathBuf,
    /// Do not save the model.
    #[arg(long, conflicts_with = "out")]
    no_save: bool,
    /// Write one JSON line per logged iteration to this file.
    #[arg(long)]
    metrics_out: Option<PathBuf>,
    /// Print the iteration table every N iterations.
    #[arg(long, default_value_t = 100)]
    log_every: usize,
    /// Print the final summary as one JSON object on stdout (the table goes to stderr).
    #[arg(long)]
    json: bool,
    /// Print nothing but errors (and the --json summary).
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: TrainArgs) -> cvxnn::Result<i32> {
    // Every check that can fail on user input happens before any work or any output file.
    let params = a.solver.params()?;
    let save = !a.no_save;
    if save {
        if a.out.extension().and_then(|e| e.to_str()) != Some("safetensors") {
            return Err(Error::param(
                "--out",
                format!(
                    "{}: the model file name must end in .safetensors",
                    a.out.display()
                ),
            ));
        }
        check_writable(&a.out, "--out")?;
    }
    if let Some(m) = &a.metrics_out {
        check_writable(m, "--metrics-out")?;
    }
    if a.log_every == 0 {
        return Err(Error::param("--log-every", "0 (must be >= 1)"));
    }
    let device = a.device.resolve()?;
    let precision = a.device.precision.unwrap_or(device.default_precision());
    let cfg = a.problem.config();
    let prep = train::prepare_on(&cfg, &device)?;
    let dims_note = format!(
        "data {}: {} train rows{}, {} features -> {} after preprocessing; {}; gates: {} drawn, {} kept ({} all-zero and {} duplicate patterns dropped)",
        prep.train.name,
        prep.train.n(),
        prep.test
            .as_ref()
            .map(|t| format!(", {} test rows", t.n()))
            .unwrap_or_default(),
        prep.train.d(),
        prep.x.ncols(),
        match &prep.task {
            cvxnn::problem::Task::Classification { classes } =>
                format!("{} classes, {} outputs", classes.len(), prep.task.outputs()),
            cvxnn::problem::Task::Regression { outputs } =>
                format!("regression, {outputs} outputs"),
        },
        prep.gates.ncols(),
        prep.patterns.kept.len(),
        prep.patterns.dropped_zero,
        prep.patterns.dropped_duplicate,
    );
    let mut obs = CliObserver::new(
        a.quiet,
        a.json,
        a.log_every,
        a.solver.max_iters,
        a.metrics_out.clone(),
    )?;
    obs.line(&dims_note);
    obs.line(&format!(
        "solver: R-FISTA on {}, lambda {:e}, {:?}, tol {:e}, max-iters {}",
        device.describe(precision),
        a.solver.lambda,
        a.solver.regularizer,
        a.solver.tol,
        a.solver.max_iters
    ));
    obs.header();
    let sol = train::solve(&prep, &params, &device, precision, None, &mut obs)?;
    obs.finish(&sol)?;

    let net = train::network(&prep, &cfg, &params, &sol);
    let scores = train::score(&net, &prep)?;
    if save {
        net.save(&a.out)?;
    }
    let classify = prep.task.is_classification();
    let (acc_tr, acc_te, mse_tr, mse_te) = if classify {
        (scores.train, scores.test, None, None)
    } else {
        (None, None, scores.train, scores.test)
    };
    if a.json {
        let summary = serde_json::json!({
            "objective": sol.objective,
            "loss": sol.loss,
            "penalty": sol.penalty,
            "lambda": a.solver.lambda,
            "grad_norm_sq": sol.grad_norm_sq,
            "iterations": sol.iterations,
            "status": sol.status.to_string(),
            "train_accuracy": acc_tr,
            "test_accuracy": acc_te,
            "train_mse": mse_tr,
            "test_mse": mse_te,
            "active_neurons": net.hidden(),
            "gates": prep.patterns.kept.len(),
            "gates_drawn": prep.gates.ncols(),
            "time_s": sol.time_s,
            "model": if save { Some(a.out.display().to_string()) } else { None },
        });
        println!("{summary}");
    } else if !a.quiet {
        let fmt = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into());
        println!("status          {}", sol.status);
        println!("iterations      {}", sol.iterations);
        println!(
            "objective       {:.8e}  (loss {:.6e} + lambda * penalty {:.6e})",
            sol.objective, sol.loss, sol.penalty
        );
        println!(
            "grad_norm_sq    {:.3e}  (tol {:.1e})",
            sol.grad_norm_sq, a.solver.tol
        );
        if classify {
            println!("train accuracy  {}", fmt(acc_tr));
            println!("test accuracy   {}", fmt(acc_te));
        } else {
            println!("train mse       {}", fmt(mse_tr));
            println!("test mse        {}", fmt(mse_te));
        }
        println!(
            "active neurons  {} (of {} = outputs x gates)",
            net.hidden(),
            prep.task.outputs() * prep.patterns.kept.len()
        );
        println!("time            {:.2} s", sol.time_s);
        if save {
            println!(
                "model           {} (+ {})",
                a.out.display(),
                a.out.with_extension("json").display()
            );
        }
    }
    Ok(0)
}
