//! `cvxnn train`.

use super::ProblemArgs;
use super::progress::CliObserver;
use clap::Args;
use cvxnn::Error;
use cvxnn::decompose::Method;
use cvxnn::io::FilePlan;
use cvxnn::solver::{AlSettings, Solution};
use cvxnn::train::{self, ModelKind};
use std::path::PathBuf;

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
    #[arg(long, allow_hyphen_values = true, default_value_t = cvxnn::decompose::DEFAULT_RHO)]
    rho: f64,
    /// Tolerance of the approximate decomposition's R-FISTA (squared subgradient norm; its
    /// objective is scaled by 1 / (n c) like the loss, so it needs a tighter value than --tol).
    #[arg(long, allow_hyphen_values = true, default_value_t = cvxnn::decompose::DEFAULT_TOL)]
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
    #[arg(long, allow_hyphen_values = true, default_value_t = 100)]
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
    #[arg(long, allow_hyphen_values = true, default_value_t = 100)]
    log_every: usize,
    #[command(flatten)]
    output: super::OutputArgs,
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
    if !(a.rho >= 0.0 && a.rho.is_finite()) {
        return Err(Error::param("--rho", format!("{} (must be >= 0)", a.rho)));
    }
    let al_settings = AlSettings {
        fista: params.get().clone(),
        delta0: a.delta0,
        viol_tol: a.viol_tol,
        ..AlSettings::default()
    }
    .check()?;
    let save = !a.no_save;
    if save && a.out.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(Error::param(
            "--out",
            format!(
                "{}: the model file name must end in .safetensors",
                a.out.display()
            ),
        ));
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
    }
    if a.log_every == 0 {
        return Err(Error::param("--log-every", "0 (must be >= 1)"));
    }
    if a.decompose.is_some() && !(a.decompose_tol > 0.0 && a.decompose_tol.is_finite()) {
        return Err(Error::param(
            "--decompose-tol",
            format!("{} (must be > 0)", a.decompose_tol),
        ));
    }
    let cfg = a.problem.config()?;
    // Every file read and written, checked before any work: no output may replace an input.
    let mut files = FilePlan::default();
    a.problem.inputs(&mut files);
    if let Some(r) = &a.resume {
        files.input("--resume", r);
    }
    if save {
        files.output("--out", &a.out);
        files.output("--out", a.out.with_extension("json"));
    }
    for (flag, p) in [
        ("--metrics-out", &a.metrics_out),
        ("--plot", &a.plot),
        ("--checkpoint", &a.checkpoint),
    ] {
        if let Some(p) = p {
            files.output(flag, p);
        }
    }
    // Saving on into the checkpoint a run resumed from is how checkpoints are meant to be used.
    files.may_update("--checkpoint", "--resume");
    files.check()?;
    // The data is read and checked before any GPU adapter is probed.
    let loaded = train::load_problem(&cfg)?;
    let device = a.device.resolve()?;
    let gap_stop = cvxnn::device::gap_stop(
        a.model == ModelKind::Gated && a.decompose.is_none(),
        a.solver.regularizer,
        a.solver.lambda,
        a.solver.gap_tol(),
    );
    let f32_suffices = match a.model {
        ModelKind::Gated => cvxnn::device::f32_meets_gap(gap_stop),
        ModelKind::Relu => {
            let al = al_settings.get();
            cvxnn::device::f32_meets_al(al.fista.tol, al.viol_tol)
        }
    };
    let precision = a
        .device
        .precision
        .unwrap_or(device.default_precision(f32_suffices));
    let prep = train::with_patterns(loaded, &device)?;
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
        a.output.quiet,
        a.output.json,
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
        "solver: {} on {}, lambda {:e}, {:?}, stop {}, max-iters {}",
        if relu {
            "augmented Lagrangian (R-FISTA inner)"
        } else {
            "R-FISTA"
        },
        device.describe(precision),
        a.solver.lambda,
        a.solver.regularizer,
        match (relu, a.solver.gap_tol()) {
            (true, _) => format!(
                "grad_sq <= {:e} and violation^2 <= {:e}",
                a.solver.tol(),
                a.viol_tol
            ),
            (false, Some(g)) => format!("rel_gap <= {g:e}"),
            (false, None) => format!("grad_sq <= {:e}", a.solver.tol()),
        },
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
                .map_or(Some(st.iteration), |al| al.base.checked_add(st.iteration))
                .filter(|&at| at <= a.solver.max_iters)
                .ok_or_else(|| {
                    Error::param(
                        "--resume",
                        format!(
                            "{}: saved at iteration {}, beyond --max-iters {}",
                            path.display(),
                            st.iteration,
                            a.solver.max_iters
                        ),
                    )
                })?;
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
        obs.write_files()?;
        Err(Error::Interrupted(format!(
            "interrupted at iteration {iterations}; state saved to {at}; continue with --resume {at} (no model was saved)"
        )))
    };
    // A solve that ran off to inf / NaN has no model worth saving (its metadata would not load).
    let diverged = |obs: &CliObserver, sol: &Solution| {
        obs.write_files()?;
        Err(Error::Diverged(format!(
            "objective {} at iteration {} (status {}); no model saved; try a smaller --step0 or rescale the data",
            sol.objective, sol.iterations, sol.status
        )))
    };
    let plan = train::TrainPlan {
        model: a.model,
        decompose: a.decompose,
        rho: a.rho,
        decompose_tol: a.decompose_tol,
        fista: params.clone(),
        al: al_settings,
    };
    let start = match &resume {
        Some((st, al)) => train::Start::Resume(st, al.as_ref()),
        None => train::Start::Cold,
    };
    let fitted = train::fit(&prep, &cfg, &plan, &device, precision, start, &mut obs)?;
    let train::Fitted {
        solution: sol,
        network,
        violation,
        outer,
        decomposition,
    } = fitted;
    let Some(net) = network else {
        return if sol.status == cvxnn::solver::Status::Interrupted {
            interrupted(&obs, sol.iterations)
        } else {
            diverged(&obs, &sol)
        };
    };
    if let (Some(dec), Some(method)) = (&decomposition, a.decompose) {
        obs.line(&format!(
            "decomposition ({method:?}): violation left {:.2e}, group norms {:.4e} -> {:.4e} ({:.2}x), {:.2} s",
            dec.constraint_violation,
            dec.norm_gated,
            dec.norm_relu,
            dec.norm_relu / dec.norm_gated.max(f64::MIN_POSITIVE),
            dec.time_s
        ));
    }
    let scores = train::score(&net, &prep)?;
    if save {
        net.save(&a.out)?;
    }
    // After the model: a failing side output is reported, the model is kept.
    obs.write_files().map_err(|e| {
        Error::Data(format!(
            "{e} ({})",
            if save {
                format!("the model was saved to {}", a.out.display())
            } else {
                "--no-save: no model".to_string()
            }
        ))
    })?;
    let classify = prep.task.is_classification();
    let (acc_tr, acc_te, mse_tr, mse_te) = if classify {
        (scores.train, scores.test, None, None)
    } else {
        (None, None, scores.train, scores.test)
    };
    if a.output.json {
        let summary = serde_json::json!({
            "objective": sol.objective,
            "loss": sol.loss,
            "penalty": sol.penalty,
            "lambda": a.solver.lambda,
            "grad_norm_sq": sol.grad_norm_sq,
            "gap": sol.gap,
            "rel_gap": sol.rel_gap,
            "products": sol.products,
            "working_set": sol.working_set,
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
        outln!("{summary}");
    } else if !a.output.quiet {
        let fmt = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into());
        outln!("status          {}", sol.status);
        outln!("iterations      {}", sol.iterations);
        outln!(
            "objective       {:.8e}  (loss {:.6e} + lambda * penalty {:.6e})",
            sol.objective,
            sol.loss,
            sol.penalty
        );
        // The tolerance is shown beside the quantity the stopping rule tested.
        let gap_rule = a
            .solver
            .gap_tol()
            .filter(|_| sol.rel_gap.is_some() && !relu);
        match gap_rule {
            Some(_) => outln!("grad_norm_sq    {:.3e}", sol.grad_norm_sq),
            None => outln!(
                "grad_norm_sq    {:.3e}  (tol {:.1e})",
                sol.grad_norm_sq,
                a.solver.tol()
            ),
        }
        if let (Some(g), Some(r)) = (sol.gap, sol.rel_gap) {
            match gap_rule {
                Some(t) => outln!("duality gap     {g:.3e}  (relative {r:.3e}, tol {t:.1e})"),
                None => outln!("duality gap     {g:.3e}  (relative {r:.3e})"),
            }
        }
        outln!(
            "products        {:.1} ({:.2} per iteration)",
            sol.products,
            sol.products / sol.iterations.max(1) as f64
        );
        if let Some(w) = sol.working_set {
            outln!(
                "working set     {} of {} groups at the end, {} screened, {} outer steps{}",
                w.size,
                w.groups,
                w.screened,
                w.outer,
                if w.went_full {
                    " (ended on the full problem)"
                } else {
                    ""
                }
            );
        }
        if classify {
            outln!("train accuracy  {}", fmt(acc_tr));
            outln!("test accuracy   {}", fmt(acc_te));
        } else {
            outln!("train mse       {}", fmt(mse_tr));
            outln!("test mse        {}", fmt(mse_te));
        }
        outln!(
            "active neurons  {} (of {} = {}outputs x gates)",
            net.hidden(),
            (1 + usize::from(net.is_relu())) * prep.task.outputs() * prep.patterns.kept.len(),
            if net.is_relu() { "2 x " } else { "" }
        );
        if let Some(v) = violation {
            outln!("max violation   {v:.3e}  (max over constraints of (-(2 D_i - I) X w)_+)");
        }
        if let Some(o) = outer {
            outln!("outer steps     {o}");
        }
        outln!("time            {:.2} s", sol.time_s);
        if save {
            outln!(
                "model           {} (+ {})",
                a.out.display(),
                a.out.with_extension("json").display()
            );
        }
    }
    Ok(0)
}
