//! `cvxnn verify`.

use super::{ProblemArgs, SolverArgs};
use clap::Args;
use cvxnn::backend::wgpu::{AdapterChoice, GpuContext, GpuOptions};
use cvxnn::train::{self, Precision};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    problem: ProblemArgs,
    #[command(flatten)]
    solver: SolverArgs,
    /// GPU adapter (name substring); default: the first adapter, software ones included.
    #[arg(long)]
    adapter: Option<String>,
    /// GPU precision (the CPU side is always f64).
    #[arg(long, value_enum, default_value = "f32")]
    precision: Precision,
    /// gated: R-FISTA on the gated program; relu: the augmented Lagrangian on the ReLU program
    /// (its cone kernels included).
    #[arg(long, value_enum, default_value = "gated")]
    model: super::train::ModelKind,
}

pub fn run(a: VerifyArgs) -> cvxnn::Result<i32> {
    let params = a.solver.params()?;
    let ctx = GpuContext::open(&AdapterChoice {
        name: a.adapter.clone(),
        allow_software: true,
    })?;
    let cfg = a.problem.config()?;
    let prep = train::prepare(&cfg)?;
    println!(
        "verify{}: {} ({} rows, {} features, {} gates kept, {} outputs): cpu-f64 vs gpu-{}",
        if a.model == super::train::ModelKind::Relu {
            " --model relu"
        } else {
            ""
        },
        prep.train.name,
        prep.train.n(),
        prep.x.ncols(),
        prep.patterns.kept.len(),
        prep.task.outputs(),
        a.precision.name()
    );
    let rep = match a.model {
        super::train::ModelKind::Gated => cvxnn::verify::verify(
            &prep,
            &cfg,
            &params,
            ctx,
            GpuOptions::default(),
            a.precision,
        )?,
        super::train::ModelKind::Relu => {
            let settings = cvxnn::solver::AlSettings {
                fista: params.get().clone(),
                ..Default::default()
            };
            cvxnn::verify::verify_relu(&prep, &settings, ctx, GpuOptions::default(), a.precision)?
        }
    };
    println!("device: {}", rep.device);
    println!(
        "{:<34} {:>12} {:>10}  result",
        "check", "value", "tolerance"
    );
    for c in &rep.checks {
        let (tol, res) = match c.tol {
            Some(t) => (format!("{t:.0e}"), if c.passed() { "ok" } else { "FAIL" }),
            None => ("-".into(), "reported"),
        };
        println!("{:<34} {:>12.3e} {:>10}  {res}", c.what, c.value, tol);
    }
    for (name, s) in [("cpu-f64", &rep.cpu), ("gpu", &rep.gpu)] {
        println!(
            "{name:<8} objective {:.10e}  iterations {}  status {}  time {:.2} s",
            s.objective, s.iterations, s.status, s.time_s
        );
    }
    let ok = rep.passed();
    println!(
        "{}",
        if ok {
            "verify: CPU and GPU agree"
        } else {
            "verify: CPU and GPU DISAGREE"
        }
    );
    Ok(if ok { 0 } else { 1 })
}
