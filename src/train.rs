//! The training pipeline shared by the CLI and the tests: load, split, preprocess, draw gates,
//! compute patterns, solve on the chosen backend, build the network and score it.

use crate::backend::cpu::{CpuBackend, CpuOptions};
use crate::backend::wgpu::{AdapterChoice, GpuBackend, GpuContext, GpuOptions};
use crate::data::preprocess::{Preprocess, Scaling};
use crate::data::{self, Dataset, LoadOptions};
use crate::error::{Error, Result};
use crate::gates::{self, Patterns};
use crate::model::{ModelMeta, Network};
use crate::problem::{Task, TaskChoice};
use crate::solver::{self, FistaParams, Observer, Solution};
use ndarray::{Array2, Axis};
use std::path::PathBuf;
use std::sync::Arc;

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
                    log::warn!("{e}; using the CPU path");
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
        (None, None) => data::split(&full, cfg.test_fraction, cfg.seed),
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
    let gates = match &cfg.gates_file {
        Some(path) => gates::load_npy(path, x.ncols())?,
        None => gates::gaussian(x.ncols(), cfg.gates, cfg.seed),
    };
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
            "every gate has an all-zero activation pattern on the training rows".into(),
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

/// Solves the gated ReLU program on `device` in the given precision.
pub fn solve(
    prep: &Prepared,
    params: &FistaParams,
    device: &Device,
    precision: Precision,
    init: Option<&[f64]>,
    obs: &mut dyn Observer,
) -> Result<Solution> {
    match device {
        Device::Cpu(opts) => solve_cpu(prep, params, precision, *opts, init, obs),
        Device::Gpu(ctx, opts) => {
            let m = &prep.patterns.mask;
            match precision {
                Precision::F32 => solver::solve(
                    &GpuBackend::<f32>::new(ctx.clone(), &prep.x, &prep.y, m, *opts)?,
                    params,
                    init,
                    obs,
                ),
                Precision::F64 => solver::solve(
                    &GpuBackend::<f64>::new(ctx.clone(), &prep.x, &prep.y, m, *opts)?,
                    params,
                    init,
                    obs,
                ),
            }
        }
    }
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
    let mask = prep.patterns.mask.clone();
    match precision {
        Precision::F64 => solver::solve(
            &CpuBackend::<f64>::new(&prep.x, &prep.y, mask, opts),
            params,
            init,
            obs,
        ),
        Precision::F32 => solver::solve(
            &CpuBackend::<f32>::new(&prep.x, &prep.y, mask, opts),
            params,
            init,
            obs,
        ),
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
