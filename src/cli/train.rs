//! `cvxnn train`.

use super::ProblemArgs;
use super::progress::CliObserver;
use clap::Args;
use cvxnn::Error;
use cvxnn::decompose::Method;
use cvxnn::io::check_writable;
use cvxnn::solver::{AlSettings, Solution};
use cvxnn::train;
use std::path::PathBuf;

/// Which network to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelKind {
    /// Gated ReLU network (gates fixed at the drawn vectors): the unconstrained convex program.
    Gated,
    /// Standard ReLU network: the cone-constrained convex program.
    Relu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SolverKind {
    /// R-FISTA on the gated program (default for --model gated).
    RFista,
    /// Augmented Lagrangian with R-FISTA inner solves on the ReLU program (default for --model relu).
    Al,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    problem: ProblemArgs,
    #[command(flatten)]
    solver: super::SolverArgs,
    #[command(flatten)]
    device: super::DeviceArgs,
    /// gated: a gated ReLU network; relu: a standard ReLU network through the cone-constrained
    /// program (up to 2 x outputs x gates neurons).
    #[arg(long, value_enum, default_value = "gated")]
    model: ModelKind,
    /// Solver (default: r-fista for --model gated, al for --model relu).
    #[arg(long = "solver", value_enum)]
    solver_kind: Option<SolverKind>,
    /// After a gated solve, turn the solution into a standard ReLU network by a cone
    /// decomposition: approx (R-FISTA, any size) or exact (minimum-norm, interior point, small
    /// problems). The saved model is then a ReLU network.
    #[arg(long, value_enum)]
    decompose: Option<Method>,
    /// Group-norm weight of the approximate decomposition (>= 0).
    #[arg(long, allow_hyphen_values = true, default_value_t = 1e-10)]
    rho: f64,
    /// Tolerance of the approximate decomposition's R-FISTA (squared subgradient norm; its
    /// objective is scaled by 1 / (n c) like the loss, so it needs a tighter value than --tol).
    #[arg(long, allow_hyphen_values = true, default_value_t = 1e-12)]
    decompose_tol: f64,
    /// Augmented Lagrangian: initial penalty strength, divided by the number of rows (> 0).
    #[arg(long, allow_hyphen_values = true, default_value_t = AlSettings::default().delta0)]
    delta0: f64,
    /// Augmented Lagrangian: stop when the squared constraint violation is <= this (and the
    /// squared subgradient norm <= --tol).
    #[arg(long, allow_hyphen_values = true, default_value_t = AlSettings::default().viol_tol)]
    viol_tol: f64,
    /// Save the solver state (weights, momentum, step, iteration; for --model relu also the
    /// multipliers and penalty state) to this file every --checkpoint-every iterations and at
    /// the end, atomically.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Checkpoint interval in iterations.
    #[arg(long, default_value_t = 100)]
    checkpoint_every: usize,
    /// Continue the run saved in this checkpoint (same data, gates and settings; --max-iters
    /// counts from the start of the original run).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Where to save the model (.safetensors; the metadata also goes to the same name with .json).
    #[arg(long, default_value = "cvxnn-model.safetensors")]
    out: PathBuf,
    /// Do not save the model.
    #[arg(long, conflicts_with = "out")]
    no_save: bool,
    /// Write one JSON line per logged iteration to this file.
    #[arg(long)]
    metrics_out: Option<PathBuf>,
    /// Draw the objective and the minimum-norm subgradient norm against iterations and
    /// seconds to this file (.png, or .svg by extension), every iteration recorded.
    #[arg(long)]
    plot: Option<PathBuf>,
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

/// Where Ctrl-C saves the state of a run without --checkpoint: beside the model file.
fn interrupt_path(out: &std::path::Path) -> PathBuf {
    out.with_extension("checkpoint.safetensors")
}

pub fn run(a: TrainArgs) -> cvxnn::Result<i32> {
    // Every check that can fail on user input happens before any work or any output file.
    let params = a.solver.params()?;
    let solver_kind = a.solver_kind.unwrap_or(match a.model {
        ModelKind::Gated => SolverKind::RFista,
        ModelKind::Relu => SolverKind::Al,
    });
    match (a.model, solver_kind) {
        (ModelKind::Gated, SolverKind::Al) => {
            return Err(Error::param(
                "--solver",
                "al solves the ReLU program: use it with --model relu",
            ));
        }
        (ModelKind::Relu, SolverKind::RFista) => {
            return Err(Error::param(
                "--solver",
                "r-fista solves the gated program; for a ReLU network use --model relu (al) or --model gated --decompose approx|exact",
            ));
        }
        _ => {}
    }
    if a.decompose.is_some() && a.model == ModelKind::Relu {
        return Err(Error::param(
            "--decompose",
            "decomposes a gated solution; --model relu already trains a ReLU network",
        ));
    }
    if a.checkpoint_every == 0 {
        return Err(Error::param("--checkpoint-every", "0 (must be >= 1)"));
    }
    if let Some(c) = &a.checkpoint {
        check_writable(c, "--checkpoint")?;
    }
    if !(a.rho >= 0.0 && a.rho.is_finite()) {
        return Err(Error::param("--rho", format!("{} (must be >= 0)", a.rho)));
    }
    let al_settings = AlSettings {
        fista: params.get().clone(),
        delta0: a.delta0,
        viol_tol: a.viol_tol,
        ..AlSettings::default()
    };
    al_settings.check()?;
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
    if let Some(p) = &a.plot {
        let ext = p
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if !matches!(ext.as_deref(), Some("png" | "svg")) {
            return Err(Error::param(
                "--plot",
                format!("{}: the file name must end in .png or .svg", p.display()),
            ));
        }
        check_writable(p, "--plot")?;
    }
    if a.log_every == 0 {
        return Err(Error::param("--log-every", "0 (must be >= 1)"));
    }
    let device = a.device.resolve()?;
    let precision = a.device.precision.unwrap_or(device.default_precision());
    let cfg = a.problem.config()?;
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
    if a.decompose == Some(Method::Exact) {
        cvxnn::conic::check_exact_size(prep.x.nrows(), prep.x.ncols())?;
    }
    let mut obs = CliObserver::new(
        a.quiet,
        a.json,
        a.log_every,
        a.solver.max_iters,
        a.metrics_out.clone(),
    )?;
    if let Some(p) = &a.plot {
        obs.set_plot(p.clone());
    }
    obs.line(&dims_note);
    let relu = a.model == ModelKind::Relu;
    obs.line(&format!(
        "solver: {} on {}, lambda {:e}, {:?}, tol {:e}, max-iters {}",
        if relu {
            "augmented Lagrangian (R-FISTA inner)"
        } else {
            "R-FISTA"
        },
        device.describe(precision),
        a.solver.lambda,
        a.solver.regularizer,
        a.solver.tol,
        a.solver.max_iters
    ));
    let plan = if relu {
        train::relu_memory(&prep, &device, precision)
    } else {
        train::gated_memory(&prep, &device, precision)
    };
    obs.line(&plan.describe());
    plan.check()?;
    // The run's identity, checked on --resume; the AL's own settings count for ReLU runs.
    let mut fp = train::fingerprint(&prep, &cfg, &params);
    if relu {
        fp["model"] = "relu".into();
        fp["delta0"] = a.delta0.into();
        fp["viol_tol"] = a.viol_tol.into();
    }
    let resume = match &a.resume {
        Some(path) => {
            let (st, al) = cvxnn::checkpoint::load(path, &fp)?;
            if al.is_some() != relu {
                return Err(Error::param(
                    "--resume",
                    format!(
                        "{}: a checkpoint of a {} run",
                        path.display(),
                        if relu { "gated" } else { "ReLU (AL)" }
                    ),
                ));
            }
            let at = al
                .as_ref()
                .map_or(st.iteration, |al| al.base + st.iteration);
            obs.line(&format!("resuming {} at iteration {at}", path.display()));
            Some((st, al))
        }
        None => None,
    };
    match &a.checkpoint {
        Some(path) => obs.set_checkpoints(path.clone(), a.checkpoint_every, fp),
        None => obs.set_interrupt_file(interrupt_path(&a.out), fp),
    }
    obs.header();
    let interrupted = |obs: &CliObserver, iterations: usize| {
        let at = obs
            .saved
            .as_ref()
            .map_or("<nowhere>".to_string(), |p| p.display().to_string());
        eprintln!(
            "interrupted at iteration {iterations}; state saved to {at}; continue with --resume {at} (no model was saved)"
        );
        Ok(130)
    };
    let mut violation: Option<f64> = None;
    let mut outer: Option<usize> = None;
    let mut decomposition = None;
    let (sol, net): (Solution, _) = if relu {
        let al_resume = resume
            .as_ref()
            .and_then(|(st, al)| al.as_ref().map(|al| (st, al)));
        let al = train::solve_relu(
            &prep,
            &al_settings,
            &device,
            precision,
            None,
            al_resume,
            &mut obs,
        )?;
        obs.finish(&al.solution)?;
        if al.solution.status == cvxnn::solver::Status::Interrupted {
            return interrupted(&obs, al.solution.iterations);
        }
        violation = Some(al.viol_max);
        outer = Some(al.outer);
        let mut meta = train::meta(&prep, &cfg, &params, &al.solution);
        meta.model = "relu".into();
        meta.format = "cvxnn-relu".into();
        meta.solver = "augmented-lagrangian".into();
        let net = cvxnn::model::Network::from_relu(
            &al.solution.weights,
            prep.task.outputs(),
            prep.x.ncols(),
            meta,
        );
        (al.solution, net)
    } else {
        let sol = train::solve_resumable(
            &prep,
            &params,
            &device,
            precision,
            None,
            resume.as_ref().map(|(st, _)| st),
            &mut obs,
        )?;
        obs.finish(&sol)?;
        if sol.status == cvxnn::solver::Status::Interrupted {
            return interrupted(&obs, sol.iterations);
        }
        match a.decompose {
            None => {
                let net = train::network(&prep, &cfg, &params, &sol);
                (sol, net)
            }
            Some(method) => {
                let dec = train::decompose(
                    &prep,
                    &sol.weights,
                    method,
                    a.rho,
                    &cvxnn::solver::FistaSettings {
                        tol: a.decompose_tol,
                        ..params.get().clone()
                    },
                    &device,
                    precision,
                )?;
                obs.line(&format!(
                    "decomposition ({method:?}): violation left {:.2e}, group norms {:.4e} -> {:.4e} ({:.2}x), {:.2} s",
                    dec.constraint_violation,
                    dec.norm_gated,
                    dec.norm_relu,
                    dec.norm_relu / dec.norm_gated.max(f64::MIN_POSITIVE),
                    dec.time_s
                ));
                violation = Some(dec.constraint_violation);
                let mut meta = train::meta(&prep, &cfg, &params, &sol);
                meta.model = "relu".into();
                meta.format = "cvxnn-relu".into();
                meta.solver = format!("r-fista + {method:?} decomposition").to_lowercase();
                let net = cvxnn::model::Network::from_relu(
                    &dec.weights,
                    prep.task.outputs(),
                    prep.x.ncols(),
                    meta,
                );
                decomposition = Some(dec);
                (sol, net)
            }
        }
    };
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
            "network": if net.is_relu() { "relu" } else { "gated" },
            "constraint_violation": violation,
            "outer_iterations": outer,
            "decomposition": decomposition,
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
            "active neurons  {} (of {} = {}outputs x gates)",
            net.hidden(),
            (1 + usize::from(net.is_relu())) * prep.task.outputs() * prep.patterns.kept.len(),
            if net.is_relu() { "2 x " } else { "" }
        );
        if let Some(v) = violation {
            println!("max violation   {v:.3e}  (max over constraints of (-(2 D_i - I) X w)_+)");
        }
        if let Some(o) = outer {
            println!("outer steps     {o}");
        }
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
