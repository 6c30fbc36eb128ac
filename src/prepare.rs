//! A problem made ready to solve: load, split, check and preprocess the data, draw the gates
//! and compute their distinct activation patterns.

use crate::backend::cpu::CpuOptions;
use crate::data::preprocess::{Preprocess, Scaling};
use crate::data::{self, Dataset, LoadOptions};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::gates::{self, Patterns};
use crate::memory::setup_memory_check;
use crate::problem::{Task, TaskChoice};
use ndarray::{Array2, Axis};
use std::path::PathBuf;

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
            scaling: Scaling::Standardize,
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
    check_config(cfg, false)?;
    let (full, bundled_test) = data::load(&cfg.data, &cfg.load)?;
    from_datasets(cfg, full, bundled_test, None)
}

fn check_config(cfg: &ProblemConfig, gates_given: bool) -> Result<()> {
    if !(0.0..1.0).contains(&cfg.test_fraction) {
        return Err(Error::param(
            "test_fraction",
            format!("{} (must be in [0, 1))", cfg.test_fraction),
        ));
    }
    if cfg.gates == 0 && cfg.gates_file.is_none() && !gates_given {
        return Err(Error::param("gates", "0 (need at least one gate)"));
    }
    Ok(())
}

/// [`load_problem`] on data already in memory (the Python binding): `full` is split by
/// `cfg.test_fraction` unless a test set is given (`test`, or a file in `cfg.test_data`);
/// `gates` (d' x p, in the preprocessed space as a `--gates-file`) replaces the drawn gates
/// when given. `cfg.data` is not read.
pub fn from_datasets(
    cfg: &ProblemConfig,
    full: Dataset,
    test: Option<Dataset>,
    gates: Option<Array2<f64>>,
) -> Result<Loaded> {
    check_config(cfg, gates.is_some())?;
    let bundled_test = test;
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
                    "test_fraction",
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
    if cfg.scaling == Scaling::Standardize && train.n() < 2 {
        // One row has no variance: every column would standardize to 0.
        return Err(Error::Data(format!(
            "{}: standardizing the columns needs at least 2 training rows, got n_samples = {}; \
             scale with unitize or none instead",
            train.name,
            train.n()
        )));
    }
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
    if cfg.gates_file.is_none() && gates.is_none() {
        setup_memory_check(x.nrows(), x.ncols(), cfg.gates)?;
    }
    let mut gates = match (gates, &cfg.gates_file) {
        (Some(g), _) => {
            if g.nrows() != x.ncols() || g.ncols() == 0 {
                return Err(Error::shape(
                    "gates",
                    format!("[{}, p] (features after preprocessing x gates)", x.ncols()),
                    format!("{:?}", g.shape()),
                ));
            }
            if g.iter().any(|v| !v.is_finite()) {
                return Err(Error::param("gates", "contain NaN or infinite values"));
            }
            g
        }
        (None, Some(path)) => gates::load_npy(path, x.ncols())?,
        (None, None) => gates::draw(&cfg.gate_kind, train.d(), x.ncols(), cfg.gates, cfg.seed)?,
    };
    if let Some(f) = cfg.gate_active {
        if !cfg.bias {
            return Err(Error::param(
                "gate_bias",
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
