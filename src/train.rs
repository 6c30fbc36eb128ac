//! The training pipeline shared by the CLI and the tests: the solves on a run's [`Session`]
//! (gated R-FISTA, the ReLU program's augmented Lagrangian, the cone decompositions), the
//! network they give, its metadata and its scores. Problem setup lives in [`crate::prepare`],
//! devices in [`crate::device`]; both are re-exported here.

use crate::backend::Backend;
use crate::backend::cpu::{CpuBackend, CpuOptions};
use crate::data;
use crate::decompose::{self, Decomposition, Method};
use crate::error::Result;
use crate::model::{ModelMeta, Network};
use crate::solver::{
    self, AlParams, AlSolution, AlState, FistaParams, FistaSettings, FistaState, Observer,
    Solution, Status,
};
use ndarray::Array2;

pub use crate::device::{Device, DeviceChoice, Precision};
pub use crate::memory::{MemoryPlan, gated_memory, host_budget, relu_memory};
pub use crate::prepare::{
    Loaded, Prepared, ProblemConfig, from_datasets, load_problem, prepare, prepare_on,
    with_patterns,
};
pub use crate::session::{Job, Session, on_backend};

struct Gated<'a> {
    params: &'a FistaParams,
    init: Option<&'a [f64]>,
    resume: Option<&'a FistaState>,
    obs: &'a mut dyn Observer,
}

impl Job for Gated<'_> {
    type Out = Solution;
    fn run<B: Backend>(self, be: &B) -> Result<Solution> {
        let s = self.params.get();
        if solver::working_set::use_working_set(s)? && solver::working_set::pays(be, s)? {
            return solver::working_set::solve_ws(
                be,
                self.params,
                self.init,
                self.resume,
                self.obs,
            );
        }
        let smooth = solver::Smooth::gated();
        solver::solve_resumable(be, self.params, self.init, self.resume, &smooth, self.obs)
    }
}

struct Relu<'a> {
    settings: &'a AlParams,
    init: Option<&'a [f64]>,
    resume: Option<(&'a FistaState, &'a AlState)>,
    obs: &'a mut dyn Observer,
}

impl Job for Relu<'_> {
    type Out = AlSolution;
    fn run<B: Backend>(self, be: &B) -> Result<AlSolution> {
        solver::solve_al_resumable(be, self.settings, self.init, self.resume, self.obs)
    }
}

struct Approx<'a> {
    u: &'a [f64],
    rho: f64,
    fista: &'a FistaSettings,
}

impl Job for Approx<'_> {
    type Out = Decomposition;
    fn run<B: Backend>(self, be: &B) -> Result<Decomposition> {
        decompose::approximate(be, self.u, self.rho, self.fista)
    }
}

/// Solves the gated ReLU program, continuing the run `resume` when given (a session of its
/// own; see [`solve_on`] to reuse one).
pub fn solve_resumable(
    prep: &Prepared,
    params: &FistaParams,
    device: &Device,
    precision: Precision,
    init: Option<&[f64]>,
    resume: Option<&FistaState>,
    obs: &mut dyn Observer,
) -> Result<Solution> {
    solve_on(
        &Session::gated(prep, device, precision)?,
        params,
        init,
        resume,
        obs,
    )
}

/// Solves the gated ReLU program on a session built by [`Session::gated`].
pub fn solve_on(
    session: &Session,
    params: &FistaParams,
    init: Option<&[f64]>,
    resume: Option<&FistaState>,
    obs: &mut dyn Observer,
) -> Result<Solution> {
    session.run(Gated {
        params,
        init,
        resume,
        obs,
    })
}

/// What a checkpoint must match to be resumed: the data, the gates and the problem settings.
pub fn fingerprint(
    prep: &Prepared,
    cfg: &ProblemConfig,
    params: &FistaParams,
) -> serde_json::Value {
    let s = params.get();
    // Content, not paths: the same file through another path resumes, a changed one does not.
    let hash = |a: &Array2<f64>| format!("{:016x}", data::content_hash(a.iter().copied()));
    serde_json::json!({
        "data_hash": hash(&prep.x),
        "targets_hash": hash(&prep.y),
        "gates_hash": hash(&prep.gates),
        "rows": prep.x.nrows(),
        "features": prep.x.ncols(),
        "outputs": prep.task.outputs(),
        "gates_drawn": prep.gates.ncols(),
        "gates_kept": prep.patterns.kept.len(),
        "gate_kind": format!("{:?}", cfg.gate_kind),
        "gate_active": cfg.gate_active,
        "seed": cfg.seed,
        "scaling": format!("{:?}", cfg.scaling),
        "bias": cfg.bias,
        "lambda": s.lambda,
        "regularizer": format!("{:?}", s.regularizer),
    })
}

/// Solves the gated ReLU program on `device` in the given precision.
pub fn solve(
    prep: &Prepared,
    params: &FistaParams,
    device: &Device,
    precision: Precision,
    init: Option<&[f64]>,
    obs: &mut dyn Observer,
) -> Result<Solution> {
    solve_resumable(prep, params, device, precision, init, None, obs)
}

/// Solves the gated ReLU program on the CPU in the given precision.
pub fn solve_cpu(
    prep: &Prepared,
    params: &FistaParams,
    precision: Precision,
    opts: CpuOptions,
    init: Option<&[f64]>,
    obs: &mut dyn Observer,
) -> Result<Solution> {
    solve(prep, params, &Device::Cpu(opts), precision, init, obs)
}

/// Solves the cone-constrained ReLU program by the augmented Lagrangian method. Weights are
/// in the ReLU layout (c, 2p, d) of [`solver::al`].
pub fn solve_relu(
    prep: &Prepared,
    settings: &AlParams,
    device: &Device,
    precision: Precision,
    init: Option<&[f64]>,
    resume: Option<(&FistaState, &AlState)>,
    obs: &mut dyn Observer,
) -> Result<AlSolution> {
    Session::relu(prep, device, precision)?.run(Relu {
        settings,
        init,
        resume,
        obs,
    })
}

/// Decomposes gated weights `u` (c, p, d) into the ReLU layout (the approximate
/// decomposition on a session of its own; see [`decompose_on`] to reuse one).
pub fn decompose(
    prep: &Prepared,
    u: &[f64],
    method: Method,
    rho: f64,
    fista: &FistaSettings,
    device: &Device,
    precision: Precision,
) -> Result<Decomposition> {
    match method {
        Method::Approx => decompose_on(
            prep,
            &Session::gated(prep, device, precision)?,
            u,
            method,
            rho,
            fista,
        ),
        Method::Exact => decompose_exact(prep, u),
    }
}

/// [`decompose`] on the gated session of the solve (the approximate decomposition runs on
/// it; the exact one on the host).
pub fn decompose_on(
    prep: &Prepared,
    session: &Session,
    u: &[f64],
    method: Method,
    rho: f64,
    fista: &FistaSettings,
) -> Result<Decomposition> {
    match method {
        Method::Approx => session.run(Approx { u, rho, fista }),
        Method::Exact => decompose_exact(prep, u),
    }
}

/// The minimum-norm exact decomposition by the interior point (small problems).
fn decompose_exact(prep: &Prepared, u: &[f64]) -> Result<Decomposition> {
    let c = prep.task.outputs();
    let start = std::time::Instant::now();
    let mask = &prep.patterns.mask;
    let weights = crate::conic::exact_decomposition(&prep.x, mask, u, c)?;
    let d = prep.x.ncols();
    let cpu = CpuBackend::<f64>::new(&prep.x, &prep.y, mask.clone(), CpuOptions::default());
    let viol = decompose::violation_split(&cpu, &weights, c, mask.cols(), d)?;
    Ok(Decomposition {
        norm_gated: decompose::group_norm_sum(u, d),
        norm_relu: decompose::group_norm_sum(&weights, d),
        weights,
        method: Method::Exact,
        constraint_violation: viol,
        iterations: 0,
        status: None,
        time_s: start.elapsed().as_secs_f64(),
    })
}

/// Which network a training run produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelKind {
    /// Gated ReLU network (gates fixed at the drawn vectors): the unconstrained convex program.
    Gated,
    /// Standard ReLU network: the cone-constrained convex program.
    Relu,
}

/// What one training run does after the problem is prepared: the gated solve (then, when
/// `decompose` is set, a cone decomposition into a ReLU network) or, for `ModelKind::Relu`,
/// the augmented Lagrangian on the cone-constrained program.
#[derive(Debug, Clone)]
pub struct TrainPlan {
    pub model: ModelKind,
    pub decompose: Option<Method>,
    /// Group-norm weight and R-FISTA tolerance of the approximate decomposition.
    pub rho: f64,
    pub decompose_tol: f64,
    /// The gated solve's settings, and the augmented Lagrangian's (`al.fista` is its inner
    /// solve) for `ModelKind::Relu`.
    pub fista: FistaParams,
    pub al: AlParams,
}

/// A finished training run. `network` is `None` when the solve was interrupted or diverged
/// (no model worth keeping; `solution.status` and `solution.objective` say which).
pub struct Fitted {
    pub solution: Solution,
    pub network: Option<Network>,
    /// Largest cone-constraint violation left (ReLU networks).
    pub violation: Option<f64>,
    /// Augmented Lagrangian outer steps.
    pub outer: Option<usize>,
    pub decomposition: Option<Decomposition>,
}

/// Where a training run's solve starts.
#[derive(Clone, Copy, Default)]
pub enum Start<'a> {
    /// From zero.
    #[default]
    Cold,
    /// From these weights (in the layout of the solve: gated (c, p, d') or ReLU (c, 2p, d')).
    Warm(&'a [f64]),
    /// Continuing a saved run: the R-FISTA state, and the AL's outer state for ReLU runs.
    Resume(&'a FistaState, Option<&'a AlState>),
}

/// Runs `plan` on a prepared problem: the one training pipeline of the CLI's `train` and the
/// Python estimators. `obs.solve_finished` sees the solve's result before any decomposition.
pub fn fit(
    prep: &Prepared,
    cfg: &ProblemConfig,
    plan: &TrainPlan,
    device: &Device,
    precision: Precision,
    start: Start,
    obs: &mut dyn Observer,
) -> Result<Fitted> {
    let init = match start {
        Start::Warm(w) => Some(w),
        _ => None,
    };
    let unusable = |s: &Solution| s.status == Status::Interrupted || !s.objective.is_finite();
    let c = prep.task.outputs();
    let relu_meta = |sol: &Solution, solver: String| {
        let mut meta = meta(prep, cfg, &plan.fista, sol);
        meta.model = "relu".into();
        meta.format = "cvxnn-relu".into();
        meta.solver = solver;
        meta
    };
    let done = |solution, network| Fitted {
        solution,
        network,
        violation: None,
        outer: None,
        decomposition: None,
    };
    if plan.model == ModelKind::Relu {
        let al_resume = match start {
            Start::Resume(st, Some(al)) => Some((st, al)),
            _ => None,
        };
        let al = solve_relu(prep, &plan.al, device, precision, init, al_resume, obs)?;
        obs.solve_finished(&al.solution)?;
        if unusable(&al.solution) {
            return Ok(done(al.solution, None));
        }
        let meta = relu_meta(&al.solution, "augmented-lagrangian".into());
        let net = Network::from_relu(&al.solution.weights, c, prep.x.ncols(), meta);
        return Ok(Fitted {
            violation: Some(al.viol_max),
            outer: Some(al.outer),
            ..done(al.solution, Some(net))
        });
    }
    // One backend for the solve and the approximate decomposition.
    let session = Session::gated(prep, device, precision)?;
    let resume = match start {
        Start::Resume(st, _) => Some(st),
        _ => None,
    };
    let sol = solve_on(&session, &plan.fista, init, resume, obs)?;
    obs.solve_finished(&sol)?;
    if unusable(&sol) {
        return Ok(done(sol, None));
    }
    let Some(method) = plan.decompose else {
        let net = network(prep, cfg, &plan.fista, &sol);
        return Ok(done(sol, Some(net)));
    };
    let fista = FistaSettings {
        tol: plan.decompose_tol,
        ..plan.fista.get().clone()
    };
    let dec = decompose_on(prep, &session, &sol.weights, method, plan.rho, &fista)?;
    let solver = format!("r-fista + {method:?} decomposition").to_lowercase();
    let net = Network::from_relu(&dec.weights, c, prep.x.ncols(), relu_meta(&sol, solver));
    Ok(Fitted {
        violation: Some(dec.constraint_violation),
        decomposition: Some(dec),
        ..done(sol, Some(net))
    })
}

/// Scores of a trained network: accuracy for classification, mean squared error for regression.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    pub train: Option<f64>,
    pub test: Option<f64>,
}

pub fn score(net: &Network, prep: &Prepared) -> Result<Scores> {
    let train = prep
        .task
        .score(&net.forward(&prep.train.x)?, &prep.train.labels);
    let test = match &prep.test {
        Some(t) => prep.task.score(&net.forward(&t.x)?, &t.labels),
        None => None,
    };
    Ok(Scores { train, test })
}

/// The gated network of a finished solve, with its metadata.
pub fn network(
    prep: &Prepared,
    cfg: &ProblemConfig,
    params: &FistaParams,
    sol: &Solution,
) -> Network {
    Network::from_convex(
        &sol.weights,
        &prep.kept_gates(),
        prep.task.outputs(),
        meta(prep, cfg, params, sol),
    )
}

/// Network metadata for a finished solve.
pub fn meta(
    prep: &Prepared,
    cfg: &ProblemConfig,
    params: &FistaParams,
    sol: &Solution,
) -> ModelMeta {
    let s = params.get();
    ModelMeta {
        format: "cvxnn-gated-relu".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        model: "gated-relu".into(),
        task: prep.task.clone(),
        features: prep.train.d(),
        preprocess: prep.pre.clone(),
        lambda: s.lambda,
        regularizer: format!("{:?}", s.regularizer),
        solver: "r-fista".into(),
        status: sol.status.to_string(),
        objective: sol.objective,
        loss: sol.loss,
        penalty: sol.penalty,
        grad_norm_sq: sol.grad_norm_sq,
        iterations: sol.iterations,
        gates_drawn: prep.gates.ncols(),
        gates_kept: prep.patterns.kept.len(),
        seed: cfg.seed,
        data: prep.train.name.clone(),
        labels: None,
    }
}
