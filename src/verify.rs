//! `cvxnn verify`: the same problem on the CPU in f64 and on the GPU, compared operation by
//! operation (at U = 0 and at a random point) and solve by solve.
//!
//! Tolerances (relative, max |a - b| / max |b|): GPU f32: operations 1e-4, final objective
//! 1e-4 (or, for solves stopped by the gap, the larger certified gap over the objective, when
//! that is looser), test accuracy within 0.01. GPU f64: operations 1e-9, final objective 1e-8, test accuracy
//! equal. Iteration counts and active-neuron sets are reported, not judged: in f32 a group whose
//! norm is at the threshold may go either way without changing the objective.

use crate::backend::cpu::{CpuBackend, CpuOptions};
use crate::backend::wgpu::{GpuBackend, GpuContext, GpuOptions, GpuReal};
use crate::backend::{Backend, ConePenalty, Dims};
use crate::error::Result;
use crate::rng::Rng;
use crate::solver::{self, AlParams, FistaParams, Solution, Status, observer::StopWhen};
use crate::train::{self, Precision, Prepared, ProblemConfig};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Check {
    pub what: String,
    pub value: f64,
    /// `None`: reported only.
    pub tol: Option<f64>,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.tol.is_none_or(|t| self.value <= t)
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub device: String,
    pub checks: Vec<Check>,
    pub cpu: Solution,
    pub gpu: Solution,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(Check::passed)
    }
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    if scale > 0.0 { diff / scale } else { diff }
}

/// Forward, loss, gradient and prox step of both backends at host point `u`.
fn compare_ops<A: Backend, B: Backend>(
    a: &A,
    b: &B,
    u: &[f64],
    params: &FistaParams,
    label: &str,
    tol: f64,
) -> Result<Vec<Check>> {
    let s = params.get();
    let dims: Dims = a.dims();
    let mut out = Vec::new();
    macro_rules! eval {
        ($be:expr) => {{
            let be = $be;
            let ub = be.upload(u)?;
            let mut pr = be.zeros(dims.preds())?;
            be.forward(&ub, &mut pr)?;
            let loss = be.loss(&pr)?;
            let mut g = be.zeros(dims.weights())?;
            be.gradient(&pr, &mut g)?;
            let mut next = be.zeros(dims.weights())?;
            be.prox_step(s.regularizer, s.lambda, 1.0, &ub, &g, &mut next)?;
            (
                be.download(&pr)?,
                loss,
                be.download(&g)?,
                be.download(&next)?,
            )
        }};
    }
    let (pa, la, ga, na) = eval!(a);
    let (pb, lb, gb, nb) = eval!(b);
    out.push(Check {
        what: format!("forward at {label}"),
        value: rel(&pb, &pa),
        tol: Some(tol),
    });
    out.push(Check {
        what: format!("loss at {label}"),
        value: (la - lb).abs() / la.abs().max(f64::MIN_POSITIVE),
        tol: Some(tol),
    });
    out.push(Check {
        what: format!("gradient at {label}"),
        value: rel(&gb, &ga),
        tol: Some(tol),
    });
    out.push(Check {
        what: format!("prox step at {label}"),
        value: rel(&nb, &na),
        tol: Some(tol),
    });
    Ok(out)
}

/// Polled by the solves (Ctrl-C and SIGTERM in the CLI): true ends them.
pub type Stop<'a> = &'a (dyn Fn() -> bool + Sync);

/// A solve that `stop` ended leaves nothing to compare.
fn stopped(status: &[Status]) -> Result<()> {
    if status.contains(&Status::Interrupted) {
        return Err(crate::Error::Interrupted(
            "verify interrupted during its solves; nothing was compared".into(),
        ));
    }
    Ok(())
}

fn run_gpu<T: GpuReal>(
    prep: &Prepared,
    cfg: &ProblemConfig,
    params: &FistaParams,
    ctx: Arc<GpuContext>,
    gpu_opts: GpuOptions,
    tols: (f64, f64, f64),
    stop: Stop,
) -> Result<Report> {
    let (op_tol, obj_tol, acc_tol) = tols;
    let cpu = CpuBackend::<f64>::new(
        &prep.x,
        &prep.y,
        prep.patterns.mask.clone(),
        CpuOptions::default(),
    );
    let gpu = GpuBackend::<T>::new(ctx.clone(), &prep.x, &prep.y, &prep.patterns.mask, gpu_opts)?;
    let dims = cpu.dims();
    let mut checks = compare_ops(
        &cpu,
        &gpu,
        &vec![0.0; dims.weights()],
        params,
        "U = 0",
        op_tol,
    )?;
    let mut rng = Rng::new(cfg.seed ^ 0xC0FFEE);
    let random: Vec<f64> = (0..dims.weights()).map(|_| rng.normal()).collect();
    checks.extend(compare_ops(
        &cpu, &gpu, &random, params, "random U", op_tol,
    )?);

    let sc = solver::solve(&cpu, params, None, &mut StopWhen(stop))?;
    let sg = solver::solve(&gpu, params, None, &mut StopWhen(stop))?;
    stopped(&[sc.status, sg.status])?;
    // Two solves certified by duality gaps G both lie in [P*, P* + G]: where the stop is a loose
    // gap (the default 1e-2 on well-fitted data allows a large part of the objective) they may
    // differ by up to the larger gap without either being wrong.
    let certified = match (sc.gap, sg.gap, params.get().gap_tol) {
        (Some(a), Some(b), Some(_)) => a.max(b).max(0.0) / sc.objective,
        _ => 0.0,
    };
    checks.push(Check {
        what: "final objective".into(),
        value: (sc.objective - sg.objective).abs() / sc.objective,
        tol: Some(obj_tol.max(certified)),
    });
    let net = |s: &Solution| train::network(prep, cfg, params, s);
    let (nc, ng) = (net(&sc), net(&sg));
    let (ac, ag) = (train::score(&nc, prep)?, train::score(&ng, prep)?);
    if let (Some(a), Some(b)) = (ac.test.or(ac.train), ag.test.or(ag.train)) {
        let what = if prep.task.is_classification() {
            "test accuracy |cpu - gpu|"
        } else {
            "test mse |cpu - gpu| / cpu"
        };
        let v = if prep.task.is_classification() {
            (a - b).abs()
        } else {
            (a - b).abs() / a.max(f64::MIN_POSITIVE)
        };
        checks.push(Check {
            what: what.into(),
            value: v,
            tol: Some(acc_tol),
        });
    }
    let active = |s: &Solution| -> Vec<bool> {
        s.weights
            .chunks(dims.d)
            .map(|g| g.iter().any(|&v| v != 0.0))
            .collect()
    };
    let (xa, xb) = (active(&sc), active(&sg));
    let differ = xa.iter().zip(&xb).filter(|(a, b)| a != b).count();
    checks.push(Check {
        what: "active neurons differing".into(),
        value: differ as f64,
        tol: None,
    });
    checks.push(Check {
        what: "iterations |cpu - gpu|".into(),
        value: (sc.iterations as f64 - sg.iterations as f64).abs(),
        tol: None,
    });
    Ok(Report {
        device: gpu.describe(),
        checks,
        cpu: sc,
        gpu: sg,
    })
}

/// The cone operations of the ReLU program on both backends (doubled patterns) at host point
/// `u`, with multipliers made by one step at `w` on each side.
fn compare_cone_ops<A: Backend, B: Backend>(
    a: &A,
    b: &B,
    u: &[f64],
    w: &[f64],
    tol: f64,
) -> Result<Vec<Check>> {
    let half = a.dims().p / 2;
    let delta = 0.5;
    macro_rules! eval {
        ($be:expr) => {{
            let be = $be;
            let (ub, wb) = (be.upload(u)?, be.upload(w)?);
            let mut gamma = be.cone_zeros()?;
            let step = be.cone_update(&wb, half, 1.0, &mut gamma)?;
            let pen = ConePenalty {
                shift: &gamma,
                scale: 1.0 / delta,
                weight: delta,
                neg_from: half,
            };
            let mut g = be.zeros(u.len())?;
            let t = be.cone(&ub, half, Some(&pen), Some(&mut g))?;
            let (pn, curv) = be.cone_trial(&ub, &wb, &pen)?;
            (
                step.viol_sq,
                t.penalty,
                t.viol_max,
                be.download(&g)?,
                pn,
                curv,
            )
        }};
    }
    let ra = eval!(a);
    let rb = eval!(b);
    let r = |x: f64, y: f64| (x - y).abs() / x.abs().max(f64::MIN_POSITIVE);
    let check = |what: &str, value: f64| Check {
        what: what.into(),
        value,
        tol: Some(tol),
    };
    Ok(vec![
        check("violation^2 (multiplier step)", r(ra.0, rb.0)),
        check("cone penalty", r(ra.1, rb.1)),
        check("max violation", r(ra.2, rb.2)),
        check("cone penalty gradient", rel(&rb.3, &ra.3)),
        check("trial penalty", r(ra.4, rb.4)),
        check("trial curvature", r(ra.5, rb.5)),
    ])
}

fn run_gpu_relu<T: GpuReal>(
    prep: &Prepared,
    settings: &AlParams,
    ctx: Arc<GpuContext>,
    gpu_opts: GpuOptions,
    tols: (f64, f64, f64),
    stop: Stop,
) -> Result<Report> {
    let (op_tol, obj_tol, acc_tol) = tols;
    let mask = prep.patterns.mask.doubled();
    let cpu = CpuBackend::<f64>::new(&prep.x, &prep.y, mask.clone(), CpuOptions::default());
    let gpu = GpuBackend::<T>::new(ctx, &prep.x, &prep.y, &mask, gpu_opts)?;
    let dims = cpu.dims();
    let mut rng = Rng::new(0xC0FFEE);
    let mut random = || -> Vec<f64> { (0..dims.weights()).map(|_| rng.normal()).collect() };
    let (u, w) = (random(), random());
    let mut checks = compare_cone_ops(&cpu, &gpu, &u, &w, op_tol)?;
    let sc = solver::solve_al(&cpu, settings, None, &mut StopWhen(stop))?;
    let sg = solver::solve_al(&gpu, settings, None, &mut StopWhen(stop))?;
    stopped(&[sc.solution.status, sg.solution.status])?;
    checks.push(Check {
        what: "final objective".into(),
        value: (sc.solution.objective - sg.solution.objective).abs() / sc.solution.objective,
        tol: Some(obj_tol),
    });
    let c = prep.task.outputs();
    let net = |s: &Solution| {
        let meta = crate::model::ModelMeta {
            model: "relu".into(),
            ..train::meta(
                prep,
                &ProblemConfig::default(),
                &FistaParams::default_params(),
                s,
            )
        };
        crate::model::Network::from_relu(&s.weights, c, prep.x.ncols(), meta)
    };
    let (ac, ag) = (
        train::score(&net(&sc.solution), prep)?,
        train::score(&net(&sg.solution), prep)?,
    );
    if let (Some(a), Some(b)) = (ac.test.or(ac.train), ag.test.or(ag.train)) {
        let v = if prep.task.is_classification() {
            (a - b).abs()
        } else {
            (a - b).abs() / a.max(f64::MIN_POSITIVE)
        };
        checks.push(Check {
            what: "test score |cpu - gpu|".into(),
            value: v,
            tol: Some(acc_tol),
        });
    }
    for (name, s) in [("cpu", &sc), ("gpu", &sg)] {
        checks.push(Check {
            what: format!("max violation ({name})"),
            value: s.viol_max,
            tol: None,
        });
    }
    checks.push(Check {
        what: "iterations |cpu - gpu|".into(),
        value: (sc.solution.iterations as f64 - sg.solution.iterations as f64).abs(),
        tol: None,
    });
    Ok(Report {
        device: gpu.describe(),
        checks,
        cpu: sc.solution,
        gpu: sg.solution,
    })
}

/// The ReLU program (augmented Lagrangian) solved and compared like [`verify`].
pub fn verify_relu(
    prep: &Prepared,
    settings: &AlParams,
    ctx: Arc<GpuContext>,
    gpu_opts: GpuOptions,
    precision: Precision,
    stop: Stop,
) -> Result<Report> {
    match precision {
        Precision::F32 => {
            run_gpu_relu::<f32>(prep, settings, ctx, gpu_opts, (1e-4, 1e-4, 0.01), stop)
        }
        Precision::F64 => {
            run_gpu_relu::<f64>(prep, settings, ctx, gpu_opts, (1e-9, 1e-8, 0.0), stop)
        }
    }
}

/// Solves and compares; `precision` is the GPU's (the CPU side is always f64).
pub fn verify(
    prep: &Prepared,
    cfg: &ProblemConfig,
    params: &FistaParams,
    ctx: Arc<GpuContext>,
    gpu_opts: GpuOptions,
    precision: Precision,
    stop: Stop,
) -> Result<Report> {
    let (f32_tols, f64_tols) = ((1e-4, 1e-4, 0.01), (1e-9, 1e-8, 0.0));
    match precision {
        Precision::F32 => run_gpu::<f32>(prep, cfg, params, ctx, gpu_opts, f32_tols, stop),
        Precision::F64 => run_gpu::<f64>(prep, cfg, params, ctx, gpu_opts, f64_tols, stop),
    }
}
