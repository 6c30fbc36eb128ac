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
    /// The GPU side: gpu or auto (any adapter, software ones included). The CPU side is
    /// always there; `cpu` is refused, as there would be nothing to compare.
    #[arg(long, value_enum, default_value = "gpu")]
    device: cvxnn::train::DeviceChoice,
    /// GPU adapter (name substring); default: the first adapter, software ones included.
    #[arg(long)]
    adapter: Option<String>,
    #[command(flatten)]
    kernels: super::KernelArgs,
    /// CPU worker threads of the reference side (0: all cores).
    #[arg(long, allow_hyphen_values = true, default_value_t = 0)]
    threads: usize,
    #[command(flatten)]
    output: super::OutputArgs,
    /// GPU precision (the CPU side is always f64).
    #[arg(long, value_enum, default_value = "f32")]
    precision: Precision,
    /// gated: R-FISTA on the gated program; relu: the augmented Lagrangian on the ReLU program
    /// (its cone kernels included).
    #[arg(long, value_enum, default_value = "gated")]
    model: cvxnn::train::ModelKind,
}

pub fn run(a: VerifyArgs) -> cvxnn::Result<i32> {
    let params = a.solver.params()?;
    if a.device == cvxnn::train::DeviceChoice::Cpu {
        return Err(cvxnn::Error::param(
            "--device",
            "verify compares the CPU with a GPU: use --device gpu (the CPU side is always run)",
        ));
    }
    let gpu_opts = GpuOptions {
        kernels: a.kernels.kernels,
        ..Default::default()
    };
    let cfg = a.problem.config()?;
    let loaded = train::load_problem(&cfg)?;
    let ctx = GpuContext::open(&AdapterChoice {
        name: a.adapter.clone(),
        allow_software: true,
    })?;
    let prep = train::with_patterns(
        loaded,
        &train::Device::Cpu(cvxnn::backend::cpu::CpuOptions {
            threads: a.threads,
            block_rows: 0,
            block_cols: 0,
        }),
    )?;
    let quiet = a.output.quiet || a.output.json;
    macro_rules! say {
        ($($t:tt)*) => { if !quiet { outln!($($t)*) } };
    }
    say!(
        "verify{}: {} ({} rows, {} features, {} gates kept, {} outputs): cpu-f64 vs gpu-{}",
        if a.model == cvxnn::train::ModelKind::Relu {
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
        cvxnn::train::ModelKind::Gated => cvxnn::verify::verify(
            &prep,
            &cfg,
            &params,
            ctx,
            gpu_opts,
            a.precision,
            &super::signals::interrupted,
        )?,
        cvxnn::train::ModelKind::Relu => {
            let settings = cvxnn::solver::AlSettings {
                fista: params.get().clone(),
                ..Default::default()
            }
            .check()?;
            cvxnn::verify::verify_relu(
                &prep,
                &settings,
                ctx,
                gpu_opts,
                a.precision,
                &super::signals::interrupted,
            )?
        }
    };
    say!("device: {}", rep.device);
    say!(
        "{:<34} {:>12} {:>10}  result",
        "check",
        "value",
        "tolerance"
    );
    for c in &rep.checks {
        let (tol, res) = match c.tol {
            Some(t) => (format!("{t:.0e}"), if c.passed() { "ok" } else { "FAIL" }),
            None => ("-".into(), "reported"),
        };
        say!("{:<34} {:>12.3e} {:>10}  {res}", c.what, c.value, tol);
    }
    for (name, s) in [("cpu-f64", &rep.cpu), ("gpu", &rep.gpu)] {
        say!(
            "{name:<8} objective {:.10e}  iterations {}  status {}  time {:.2} s",
            s.objective,
            s.iterations,
            s.status,
            s.time_s
        );
    }
    let ok = rep.passed();
    if a.output.json {
        let checks: Vec<_> = rep
            .checks
            .iter()
            .map(|c| serde_json::json!({"check": c.what, "value": c.value, "tol": c.tol, "passed": c.passed()}))
            .collect();
        outln!(
            "{}",
            serde_json::json!({
                "device": rep.device, "checks": checks, "agree": ok,
                "cpu_objective": rep.cpu.objective, "gpu_objective": rep.gpu.objective,
            })
        );
        return Ok(if ok { 0 } else { 1 });
    }
    say!(
        "{}",
        if ok {
            "verify: CPU and GPU agree"
        } else {
            "verify: CPU and GPU DISAGREE"
        }
    );
    Ok(if ok { 0 } else { 1 })
}
