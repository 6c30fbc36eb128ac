//! The training pipeline shared by the CLI and the tests: load, split, preprocess, draw gates,
//! compute patterns, solve on the chosen backend, build the network and score it.

use crate::backend::Backend;
use crate::backend::cpu::{CpuBackend, CpuOptions};
use crate::backend::wgpu::{AdapterChoice, GpuBackend, GpuContext, GpuOptions};
use crate::data::preprocess::{Preprocess, Scaling};
use crate::data::{self, Dataset, LoadOptions};
use crate::decompose::{self, Decomposition, Method};
use crate::error::{Error, Result};
use crate::gates::{self, Patterns};
use crate::mask::BitMask;
use crate::model::{ModelMeta, Network};
use crate::problem::{Task, TaskChoice};
use crate::solver::{
    self, AlSettings, AlSolution, AlState, FistaParams, FistaSettings, FistaState, Observer,
    Solution,
};
use ndarray::{Array2, Axis};
use std::path::PathBuf;
use std::sync::Arc;

use crate::memory::setup_memory_check;
pub use crate::memory::{MemoryPlan, gated_memory, host_budget, relu_memory};

/// Where to solve, as the user asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceChoice {
    /// A hardware GPU if there is one, else the CPU path (the fallback is logged).
    Auto,
    Cpu,
    /// A GPU adapter, software ones (lavapipe) included.
    Gpu,
}

/// A resolved device: the CPU, or an open GPU context.
#[derive(Clone)]
pub enum Device {
    Cpu(CpuOptions),
    Gpu(Arc<GpuContext>, GpuOptions),
}

impl Device {
    pub fn resolve(choice: DeviceChoice, adapter: Option<&str>, cpu: CpuOptions) -> Result<Device> {
        let named = AdapterChoice {
            name: adapter.map(str::to_string),
            allow_software: adapter.is_some(),
        };
        match choice {
            DeviceChoice::Cpu => Ok(Device::Cpu(cpu)),
            DeviceChoice::Gpu => Ok(Device::Gpu(
                GpuContext::open(&AdapterChoice {
                    allow_software: true,
                    ..named
                })?,
                GpuOptions::default(),
            )),
            DeviceChoice::Auto => match GpuContext::open(&named) {
                Ok(ctx) => Ok(Device::Gpu(ctx, GpuOptions::default())),
                Err(e) => {
                    log::info!("{e}; using the CPU path");
                    Ok(Device::Cpu(cpu))
                }
            },
        }
    }

    pub fn is_gpu(&self) -> bool {
        matches!(self, Device::Gpu(..))
    }

    pub fn describe(&self, precision: Precision) -> String {
        match self {
            Device::Cpu(_) => format!("cpu-{}", precision.name()),
            Device::Gpu(ctx, _) => format!("gpu-{} on {}", precision.name(), ctx.describe()),
        }
    }

    /// The precision used when the user names none: f64 on the CPU (the reference), f32 on GPUs.
    pub fn default_precision(&self) -> Precision {
        if self.is_gpu() {
            Precision::F32
        } else {
            Precision::F64
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    F32,
    F64,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

/// What to train on and how to set the problem up.
#[derive(Debug, Clone)]
pub struct ProblemConfig {
    pub data: String,
    pub test_data: Option<String>,
    pub load: LoadOptions,
    pub task: TaskChoice,
    pub test_fraction: f64,
    pub gates: usize,
    pub gates_file: Option<PathBuf>,
    pub gate_kind: gates::GateKind,
    /// Offsets making each gate active on this fraction of the training rows (needs `bias`).
    pub gate_active: Option<f64>,
    pub scaling: Scaling,
    pub bias: bool,
    pub seed: u64,
}

impl Default for ProblemConfig {
    fn default() -> Self {
        ProblemConfig {
            data: "digits".into(),
            test_data: None,
            load: LoadOptions::default(),
            task: TaskChoice::Auto,
            test_fraction: 0.2,
            gates: 200,
            gates_file: None,
            gate_kind: gates::GateKind::Dense,
            gate_active: None,
            scaling: Scaling::Unitize,
            bias: false,
            seed: 0,
        }
    }
}

/// A problem ready to solve.
pub struct Prepared {
    pub train: Dataset,
    pub test: Option<Dataset>,
    pub task: Task,
    pub pre: Preprocess,
    /// Preprocessed training features (n x d') and targets (n x c).
    pub x: Array2<f64>,
    pub y: Array2<f64>,
    /// All gates drawn (d' x P) and the distinct patterns they give.
    pub gates: Array2<f64>,
    pub patterns: Patterns,
}

impl Prepared {
    /// The kept gates (d' x p), in the order of the weight groups.
    pub fn kept_gates(&self) -> Array2<f64> {
        self.gates.select(Axis(1), &self.patterns.kept)
    }
}

/// Prepares the problem with activation patterns computed on the host (f64).
pub fn prepare(cfg: &ProblemConfig) -> Result<Prepared> {
    prepare_on(cfg, &Device::Cpu(CpuOptions::default()))
}

/// Prepares the problem; on a GPU device the activation patterns X G > 0 are computed there (in
/// f32 they can differ from the host's only where x . g is within rounding of 0).
pub fn prepare_on(cfg: &ProblemConfig, device: &Device) -> Result<Prepared> {
    with_patterns(load_problem(cfg)?, device)
}

/// A problem loaded, checked and preprocessed, with its gates drawn: everything that can fail
/// on user input, done before any device is opened.
pub struct Loaded {
    pub train: Dataset,
    pub test: Option<Dataset>,
    pub task: Task,
    pub pre: Preprocess,
    pub x: Array2<f64>,
    pub y: Array2<f64>,
    pub gates: Array2<f64>,
}

/// Loads, splits, checks and preprocesses the data and draws (or reads) the gates.
pub fn load_problem(cfg: &ProblemConfig) -> Result<Loaded> {
    if !(0.0..1.0).contains(&cfg.test_fraction) {
        return Err(Error::param(
            "--test-fraction",
            format!("{} (must be in [0, 1))", cfg.test_fraction),
        ));
    }
    if cfg.gates == 0 && cfg.gates_file.is_none() {
        return Err(Error::param("--gates", "0 (need at least one gate)"));
    }
    let (full, bundled_test) = data::load(&cfg.data, &cfg.load)?;
    full.validate()?;
    let (train, test) = match (&cfg.test_data, bundled_test) {
        (Some(spec), _) => {
            let (t, _) = data::load(spec, &cfg.load)?;
            (full, Some(t))
        }
        (None, Some(t)) => (full, Some(t)),
        (None, None) => {
            let n = full.n();
            let n_test = (cfg.test_fraction * n as f64).round() as usize;
            if n_test >= n {
                return Err(Error::param(
                    "--test-fraction",
                    format!(
                        "{} holds out all {n} rows of {}, leaving none to train on",
                        cfg.test_fraction, full.name
                    ),
                ));
            }
            data::split(&full, cfg.test_fraction, cfg.seed)
        }
    };
    if let Some(t) = &test {
        t.validate()?;
        if t.d() != train.d() {
            return Err(Error::shape(
                format!("test data {}", t.name),
                format!("{} features (as the training data)", train.d()),
                format!("{} features", t.d()),
            ));
        }
    }
    let task = Task::resolve(cfg.task, &train)?;
    let y = task.targets(&train)?;
    let pre = Preprocess::fit(&train.x, cfg.scaling, cfg.bias);
    let x = pre.apply(&train.x);
    let bad_col = (0..pre.scale.len()).find(|&j| {
        !(pre.scale[j].is_finite() && pre.shift[j].is_finite())
            || x.column(j).iter().any(|v| !v.is_finite())
    });
    if let Some(j) = bad_col {
        return Err(Error::Data(format!(
            "{}: column {} is too large to {:?} in f64 (its norm or variance overflows); rescale the data",
            train.name,
            j + 1,
            cfg.scaling
        )));
    }
    if cfg.gates_file.is_none() {
        setup_memory_check(x.nrows(), x.ncols(), cfg.gates)?;
    }
    let mut gates = match &cfg.gates_file {
        Some(path) => gates::load_npy(path, x.ncols())?,
        None => gates::draw(&cfg.gate_kind, train.d(), x.ncols(), cfg.gates, cfg.seed)?,
    };
    if let Some(f) = cfg.gate_active {
        if !cfg.bias {
            return Err(Error::param(
                "--gate-bias",
                "quantile offsets need --bias (the ones column carries them)",
            ));
        }
        gates::quantile_offsets(&x, &mut gates, x.ncols() - 1, f)?;
    }
    Ok(Loaded {
        train,
        test,
        task,
        pre,
        x,
        y,
        gates,
    })
}

/// Computes the distinct activation patterns of a loaded problem (on the GPU for a GPU device).
pub fn with_patterns(l: Loaded, device: &Device) -> Result<Prepared> {
    let Loaded {
        train,
        test,
        task,
        pre,
        x,
        y,
        gates,
    } = l;
    let patterns = match device {
        Device::Gpu(..) if x.ncols() > crate::backend::wgpu::MAX_STEPS => {
            gates::unique_patterns(&x, &gates)
        }
        Device::Cpu(_) => gates::unique_patterns(&x, &gates),
        Device::Gpu(ctx, _) => gates::dedup(if ctx.has_f64() {
            crate::backend::wgpu::device_patterns::<f64>(ctx, &x, &gates)?
        } else {
            crate::backend::wgpu::device_patterns::<f32>(ctx, &x, &gates)?
        }),
    };
    if patterns.kept.is_empty() {
        return Err(Error::Data(
            "every gate has an all-zero activation pattern on the training rows (no row has x . g > 0 for any gate: all-zero gates, or gates pointing away from all the data)".into(),
        ));
    }
    Ok(Prepared {
        train,
        test,
        task,
        pre,
        x,
        y,
        gates,
        patterns,
    })
}

/// Work that runs on whichever backend the device and precision pick (the solvers are
/// generic; this is where the one choice is made).
pub trait Job {
    type Out;
    fn run<B: Backend>(self, be: &B) -> Result<Self::Out>;
}

/// Builds the backend for (x, y, mask) on `device` in `precision` and runs `job` on it.
pub fn on_backend<J: Job>(
    x: &Array2<f64>,
    y: &Array2<f64>,
    mask: &BitMask,
    device: &Device,
    precision: Precision,
    job: J,
) -> Result<J::Out> {
    match (device, precision) {
        (Device::Cpu(o), Precision::F64) => {
            job.run(&CpuBackend::<f64>::new(x, y, mask.clone(), *o))
        }
        (Device::Cpu(o), Precision::F32) => {
            job.run(&CpuBackend::<f32>::new(x, y, mask.clone(), *o))
        }
        (Device::Gpu(ctx, o), Precision::F32) => {
            job.run(&GpuBackend::<f32>::new(ctx.clone(), x, y, mask, *o)?)
        }
        (Device::Gpu(ctx, o), Precision::F64) => {
            job.run(&GpuBackend::<f64>::new(ctx.clone(), x, y, mask, *o)?)
        }
    }
}

struct Gated<'a> {
    params: &'a FistaParams,
    init: Option<&'a [f64]>,
    resume: Option<&'a FistaState>,
    obs: &'a mut dyn Observer,
}

impl Job for Gated<'_> {
    type Out = Solution;
    fn run<B: Backend>(self, be: &B) -> Result<Solution> {
        let smooth = solver::Smooth::gated();
        solver::solve_resumable(be, self.params, self.init, self.resume, &smooth, self.obs)
    }
}

struct Relu<'a> {
    settings: &'a AlSettings,
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

/// Solves the gated ReLU program, continuing the run `resume` when given.
pub fn solve_resumable(
    prep: &Prepared,
    params: &FistaParams,
    device: &Device,
    precision: Precision,
    init: Option<&[f64]>,
    resume: Option<&FistaState>,
    obs: &mut dyn Observer,
) -> Result<Solution> {
    gated_memory(prep, device, precision).check()?;
    let job = Gated {
        params,
        init,
        resume,
        obs,
    };
    on_backend(
        &prep.x,
        &prep.y,
        &prep.patterns.mask,
        device,
        precision,
        job,
    )
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
    settings: &AlSettings,
    device: &Device,
    precision: Precision,
    init: Option<&[f64]>,
    resume: Option<(&FistaState, &AlState)>,
    obs: &mut dyn Observer,
) -> Result<AlSolution> {
    let plan = relu_memory(prep, device, precision);
    plan.check()?;
    log::info!("{}", plan.describe());
    let mask = prep.patterns.mask.doubled();
    let job = Relu {
        settings,
        init,
        resume,
        obs,
    };
    on_backend(&prep.x, &prep.y, &mask, device, precision, job)
}

/// Decomposes gated weights `u` (c, p, d) into the ReLU layout.
pub fn decompose(
    prep: &Prepared,
    u: &[f64],
    method: Method,
    rho: f64,
    fista: &FistaSettings,
    device: &Device,
    precision: Precision,
) -> Result<Decomposition> {
    let c = prep.task.outputs();
    match method {
        Method::Approx => {
            let job = Approx { u, rho, fista };
            on_backend(
                &prep.x,
                &prep.y,
                &prep.patterns.mask,
                device,
                precision,
                job,
            )
        }
        Method::Exact => {
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
                method,
                constraint_violation: viol,
                iterations: 0,
                status: None,
                time_s: start.elapsed().as_secs_f64(),
            })
        }
    }
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
    }
}
