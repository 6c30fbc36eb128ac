//! Command-line interface: one module per subcommand.

/// `println!` that survives a closed or full stdout (`| head -1`, `> /dev/full`): the rest of the
/// output is dropped and the run goes on, so its files are still written.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::stdout_line(format_args!($($arg)*))
    };
}

mod bench;
mod bench_uci;
mod data;
mod devices;
mod path;
mod predict;
mod progress;
pub mod signals;
mod train;
mod verify;

use clap::{Args, Parser, Subcommand};
use cvxnn::backend::cpu::CpuOptions;
use cvxnn::data::preprocess::Scaling;
use cvxnn::data::{LabelColumn, LoadOptions};
use cvxnn::gates::GateKind;
use cvxnn::problem::TaskChoice;
use cvxnn::regularizer::Regularizer;
use cvxnn::solver::{FistaParams, FistaSettings, WorkingSet};
use cvxnn::train::{Device, DeviceChoice, Precision, ProblemConfig};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "cvxnn",
    version,
    about = "Two-layer ReLU networks trained by convex optimization"
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a two-layer network by convex optimization and save it: a gated ReLU network
    /// (R-FISTA, the default) or a standard ReLU network (--model relu: augmented Lagrangian;
    /// or --decompose after a gated solve).
    Train(train::TrainArgs),
    /// Run a saved model on data: print accuracy / MSE, optionally write predictions to CSV.
    Predict(predict::PredictArgs),
    /// Time the masked forward and gradient against a plain GEMM of the same size.
    Bench(bench::BenchArgs),
    /// List the GPU adapters wgpu finds, with backend, type and limits.
    Devices,
    /// Solve the same problem on the CPU (f64) and the GPU and compare; exit 1 on disagreement.
    Verify(verify::VerifyArgs),
    /// Solve a regularization path (largest lam first, warm starts); write path.csv and models.
    Path(path::PathArgs),
    /// Data sets: `data fetch mnist|fashion-mnist|cifar10 --dir DIR`.
    Data(data::DataArgs),
}

/// R-FISTA flags shared by the commands that solve.
#[derive(Args, Debug, Clone)]
pub struct SolverArgs {
    /// Regularization strength lam (>= 0).
    #[arg(long = "lambda", allow_hyphen_values = true, default_value_t = FistaSettings::default().lambda)]
    pub lambda: f64,
    /// Regularizer R(U).
    #[arg(long, value_enum, default_value = "neuron-gl1")]
    pub regularizer: Regularizer,
    /// Stopping rule: gap (the relative duality gap <= --gap-tol, a certificate of
    /// suboptimality) or subgradient (scnn's: squared minimum-norm subgradient norm <= --tol)
    /// [default: gap; subgradient when --tol is given without --gap-tol].
    #[arg(long, value_enum)]
    pub stop: Option<StopRule>,
    /// Relative duality gap (P(U) - D(Theta)) / P(0) to stop at [default: 1e-2].
    #[arg(long, allow_hyphen_values = true)]
    pub gap_tol: Option<f64>,
    /// Squared minimum-norm subgradient norm to stop at, with --stop subgradient (giving it
    /// alone selects that rule) [default: 1e-6].
    #[arg(long, allow_hyphen_values = true)]
    pub tol: Option<f64>,
    /// End the solve with status MaxTime after this many seconds.
    #[arg(long, allow_hyphen_values = true)]
    pub time_limit: Option<f64>,
    /// Iteration budget.
    #[arg(long, allow_hyphen_values = true, default_value_t = FistaSettings::default().max_iters)]
    pub max_iters: usize,
    /// Initial R-FISTA step size.
    #[arg(long, allow_hyphen_values = true, default_value_t = FistaSettings::default().step0)]
    pub step0: f64,
    /// Working sets with Gap Safe screening over (gate, output) groups: auto uses them where
    /// the rules hold (neuron-gl1, lambda > 0, the gap stopping rule) and lambda >= 0.015
    /// lambda_max, on requires them, off iterates on all groups.
    #[arg(long, value_enum, default_value = "auto")]
    pub working_set: WorkingSet,
}

pub use cvxnn::solver::DEFAULT_GAP_TOL;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StopRule {
    Gap,
    Subgradient,
}

/// The gap tolerance a command stops on, or None for scnn's subgradient rule: the gap unless
/// the rule is named subgradient, or --tol is given without --gap-tol (so that commands written
/// for scnn's rule keep their meaning).
pub fn gap_tol(stop: Option<StopRule>, gap_tol: Option<f64>, tol: Option<f64>) -> Option<f64> {
    match (stop, gap_tol, tol) {
        (Some(StopRule::Subgradient), _, _) | (None, None, Some(_)) => None,
        (_, g, _) => Some(g.unwrap_or(DEFAULT_GAP_TOL)),
    }
}

/// The subgradient tolerance: --tol, or the library's default.
pub fn subgradient_tol(tol: Option<f64>) -> f64 {
    tol.unwrap_or(FistaSettings::default().tol)
}

impl SolverArgs {
    pub fn gap_tol(&self) -> Option<f64> {
        gap_tol(self.stop, self.gap_tol, self.tol)
    }

    pub fn tol(&self) -> f64 {
        subgradient_tol(self.tol)
    }

    pub fn params(&self) -> cvxnn::Result<FistaParams> {
        FistaSettings {
            lambda: self.lambda,
            regularizer: self.regularizer,
            tol: self.tol(),
            gap_tol: self.gap_tol(),
            time_limit: self.time_limit,
            max_iters: self.max_iters,
            step0: self.step0,
            working_set: self.working_set,
            ..Default::default()
        }
        .check()
    }
}

/// Data flags shared by the commands that read a data set.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Training data: a bundled set by name (digits), or a CSV (.csv, .csv.gz), NPY (.npy), NPZ
    /// (.npz with arrays X and y) file, an IDX images file, a folder of MNIST IDX files or
    /// CIFAR-10 batches, a UCI collection folder, or uci:NAME under $CVXNN_UCI_DIR.
    #[arg(long, default_value = "digits")]
    data: String,
    /// Test data in the same formats (default: a seeded split of --data, or the t10k files of an
    /// IDX folder).
    #[arg(long)]
    test_data: Option<String>,
    /// Label column of CSV / 2-D NPY data: 0-based index, negative from the end, or a header name.
    #[arg(long, default_value = "-1", allow_hyphen_values = true)]
    label_column: LabelColumn,
    /// Task: auto treats integer labels as classes and other values as regression targets.
    #[arg(long, value_enum, default_value = "auto")]
    task: TaskChoice,
    /// Fraction of rows held out for testing when there is no --test-data (0 trains on all rows).
    #[arg(long, allow_hyphen_values = true, default_value_t = 0.2)]
    test_fraction: f64,
}

/// Preprocessing and gate flags.
#[derive(Args, Debug, Clone)]
pub struct ProblemArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Number of random Gaussian gate vectors to draw.
    #[arg(long, allow_hyphen_values = true, default_value_t = ProblemConfig::default().gates)]
    gates: usize,
    /// Read gates from a .npy file (float32 or float64, shape d x p, d counting the --bias column).
    #[arg(long, conflicts_with = "gates")]
    gates_file: Option<PathBuf>,
    /// How gates are drawn: dense (every feature), feature-sparse (--gate-order features each),
    /// conv (one --patch x --patch filter at a random position of an --image C,H,W, the same in
    /// every channel).
    #[arg(long, value_enum, default_value = "dense")]
    gate_type: GateType,
    /// Features per feature-sparse gate.
    #[arg(long, allow_hyphen_values = true, default_value_t = 10)]
    gate_order: usize,
    /// Image shape C,H,W of conv gates (features laid out channel-major, e.g. 3,32,32 for
    /// CIFAR-10, 1,28,28 for MNIST).
    #[arg(long)]
    image: Option<ImageShape>,
    /// Patch side of conv gates.
    #[arg(long, allow_hyphen_values = true, default_value_t = 3)]
    patch: usize,
    /// Gate offsets: none, or quantile (each gate active on --gate-active of the training rows;
    /// needs --bias, whose ones column carries the offsets).
    #[arg(long, value_enum, default_value = "none")]
    gate_bias: GateBias,
    /// Fraction of training rows each gate is active on, with --gate-bias quantile [default: 0.5].
    #[arg(long, allow_hyphen_values = true)]
    gate_active: Option<f64>,
    /// Column scaling, fitted on the training rows: standardize (zero mean, unit variance),
    /// unitize (divide by the L2 norm: scnn's default) or none.
    #[arg(long, value_enum, default_value = "standardize")]
    scaling: Scaling,
    /// Same as --scaling standardize (kept for older commands).
    #[arg(long, conflicts_with_all = ["no_unitize", "scaling"])]
    standardize: bool,
    /// Same as --scaling none (kept for older commands).
    #[arg(long, conflicts_with = "scaling")]
    no_unitize: bool,
    /// Append a ones column (first-layer bias).
    #[arg(long)]
    bias: bool,
    /// Seed for the gates and the train/test split.
    #[arg(long, allow_hyphen_values = true, default_value_t = 0)]
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GateBias {
    None,
    Quantile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GateType {
    Dense,
    FeatureSparse,
    Conv,
}

/// `C,H,W`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageShape(usize, usize, usize);

impl std::str::FromStr for ImageShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let v: Vec<usize> = s
            .split(',')
            .map(|t| t.trim().parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("'{s}': expected C,H,W (three positive integers)"))?;
        match v[..] {
            [c, h, w] if c > 0 && h > 0 && w > 0 => Ok(ImageShape(c, h, w)),
            _ => Err(format!("'{s}': expected C,H,W (three positive integers)")),
        }
    }
}

impl ProblemArgs {
    fn gate_kind(&self) -> cvxnn::Result<GateKind> {
        Ok(match self.gate_type {
            GateType::Dense => GateKind::Dense,
            GateType::FeatureSparse => GateKind::FeatureSparse {
                order: self.gate_order,
            },
            GateType::Conv => {
                let ImageShape(channels, height, width) = self.image.ok_or_else(|| {
                    cvxnn::Error::param("--image", "--gate-type conv needs --image C,H,W")
                })?;
                GateKind::Conv {
                    channels,
                    height,
                    width,
                    patch: self.patch,
                }
            }
        })
    }

    /// Registers the files this problem reads.
    fn inputs(&self, files: &mut cvxnn::io::FilePlan) {
        files.input("--data", &self.data.data);
        if let Some(t) = &self.data.test_data {
            files.input("--test-data", t);
        }
        if let Some(g) = &self.gates_file {
            files.input("--gates-file", g);
        }
    }

    fn config(&self) -> cvxnn::Result<ProblemConfig> {
        if self.gate_active.is_some() && self.gate_bias != GateBias::Quantile {
            return Err(cvxnn::Error::param(
                "--gate-active",
                "sets the quantile offsets: use it with --gate-bias quantile (and --bias)",
            ));
        }
        let scaling = if self.standardize {
            Scaling::Standardize
        } else if self.no_unitize {
            Scaling::None
        } else {
            self.scaling
        };
        Ok(ProblemConfig {
            data: self.data.data.clone(),
            test_data: self.data.test_data.clone(),
            load: LoadOptions {
                label_column: self.data.label_column.clone(),
                features_only_if: None,
            },
            task: self.data.task,
            test_fraction: self.data.test_fraction,
            gates: self.gates,
            gates_file: self.gates_file.clone(),
            scaling,
            bias: self.bias,
            seed: self.seed,
            gate_kind: self.gate_kind()?,
            gate_active: (self.gate_bias == GateBias::Quantile)
                .then_some(self.gate_active.unwrap_or(0.5)),
        })
    }
}

/// How a command reports: the flags every command that prints results shares.
#[derive(Args, Debug, Clone, Default)]
pub struct OutputArgs {
    /// Print results as JSON on stdout (progress goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors (and the --json output).
    #[arg(long)]
    pub quiet: bool,
}

/// Where and in which precision to solve.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// auto: a hardware GPU if there is one, else the CPU (logged); gpu: any adapter, software
    /// ones such as lavapipe included; cpu: the CPU path.
    #[arg(long, value_enum, default_value = "auto")]
    device: DeviceChoice,
    /// Use the GPU adapter whose name contains this (case-insensitive); see `cvxnn devices`.
    #[arg(long)]
    adapter: Option<String>,
    /// Floating-point precision [default: f32 on a GPU; on the CPU f32 for a gated solve that
    /// stops on a relative duality gap >= 1e-4 and for the AL with --tol and --viol-tol >= 1e-8,
    /// else f64].
    #[arg(long, value_enum)]
    precision: Option<Precision>,
    /// CPU worker threads (0: all cores).
    #[arg(long, allow_hyphen_values = true, default_value_t = 0)]
    threads: usize,
    #[command(flatten)]
    kernels: KernelArgs,
}

/// The GPU kernel family.
#[derive(Args, Debug, Clone, Copy)]
pub struct KernelArgs {
    /// GPU kernels for the masked products: auto picks cpu-style (register-blocked, no
    /// workgroup memory) on CPU adapters such as lavapipe and gpu-style (workgroup-memory tiles)
    /// on GPUs; name one to force it (tests, benchmarks).
    #[arg(long, value_enum, default_value = "auto")]
    pub kernels: cvxnn::backend::wgpu::KernelChoice,
}

impl KernelArgs {
    /// Refuses a named family where no GPU runs.
    pub fn check(&self, device: DeviceChoice) -> cvxnn::Result<()> {
        if device == DeviceChoice::Cpu && self.kernels != cvxnn::backend::wgpu::KernelChoice::Auto {
            return Err(cvxnn::Error::param(
                "--kernels",
                "chooses GPU kernels; it has no meaning with --device cpu",
            ));
        }
        Ok(())
    }
}

impl DeviceArgs {
    fn resolve(&self) -> cvxnn::Result<Device> {
        if self.adapter.is_some() && self.device == DeviceChoice::Cpu {
            return Err(cvxnn::Error::param(
                "--adapter",
                "names a GPU adapter; it has no meaning with --device cpu",
            ));
        }
        self.kernels.check(self.device)?;
        let choice = if self.adapter.is_some() && self.device == DeviceChoice::Auto {
            DeviceChoice::Gpu
        } else {
            self.device
        };
        Ok(Device::resolve(
            choice,
            self.adapter.as_deref(),
            CpuOptions {
                threads: self.threads,
                block_rows: 0,
                block_cols: 0,
            },
        )?
        .with_kernels(self.kernels.kernels))
    }
}

static STDOUT_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes one line to stdout; see `outln!`. A broken pipe is the reader's choice and is not
/// reported; any other failure is, once, on stderr.
pub fn stdout_line(args: std::fmt::Arguments) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{args}").and_then(|()| out.flush()) {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("warning: stdout: {e}; the rest of the output is dropped");
        }
    }
}

/// Prints a command-line error as one line (help and version go out whole) and returns the
/// exit code: 0 for --help / --version, 2 for a usage error.
pub fn report_usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            2
        } else {
            0
        };
    }
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or("invalid arguments").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // clap's tip ("a similar argument exists: '--lambda'") is worth keeping on the same line.
    let tip = text
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("tip: "))
        .map(|t| format!("; {t}"))
        .unwrap_or_default();
    eprintln!("error: {first}{tip} (see --help)");
    2
}

pub fn run(cli: Cli) -> cvxnn::Result<i32> {
    signals::install();
    match cli.cmd {
        Command::Train(a) => train::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Devices => devices::run(),
        Command::Verify(a) => verify::run(a),
        Command::Path(a) => path::run(a),
        Command::Data(a) => data::run(a),
    }
}

/// The flag of a library setting's field (solver, problem and data settings), for those the
/// CLI exposes.
pub fn flag_of(field: &str) -> Option<&'static str> {
    Some(match field {
        "lambda" => "--lambda",
        "tol" => "--tol",
        "max_iters" => "--max-iters",
        "step0" => "--step0",
        "gap_tol" => "--gap-tol",
        "time_limit" => "--time-limit",
        "working_set" => "--working-set",
        "delta0" => "--delta0",
        "viol_tol" => "--viol-tol",
        "n" => "--n",
        "resume" => "--resume",
        "decompose" => "--decompose",
        "model" => "--model relu",
        "label_column" => "--label-column",
        "rho" => "--rho",
        "dataset" => "data fetch NAME",
        "gate_order" => "--gate-order",
        "patch" => "--patch",
        "gate_active" => "--gate-active",
        "gate_bias" => "--gate-bias",
        "gates" => "--gates",
        "lambda_range" => "--lambda-max/--lambda-min",
        "lambda_max" => "--lambda-max",
        "steps" => "--steps",
        "lambdas" => "--lambdas",
        "test_fraction" => "--test-fraction",
        "task" => "--task",
        "data" => "--data",
        "datasets" => "--datasets",
        "methods" => "--methods",
        "max_rows" => "--max-rows",
        _ => return None,
    })
}

/// The library names the settings' fields in its errors; the user typed flags.
pub fn with_flag_names(e: cvxnn::Error) -> cvxnn::Error {
    match e {
        cvxnn::Error::InvalidParam { flag, msg } => cvxnn::Error::InvalidParam {
            flag: flag_of(flag).unwrap_or(flag),
            msg,
        },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gap by default; scnn's rule when asked for by name or by giving --tol alone.
    #[test]
    fn the_stopping_rule_follows_the_flags_given() {
        let g = Some(3e-4);
        let t = Some(1e-8);
        let cases = [
            ((None, None, None), Some(DEFAULT_GAP_TOL)),
            ((None, None, t), None),
            ((None, g, None), g),
            ((None, g, t), g),
            ((Some(StopRule::Subgradient), g, None), None),
            ((Some(StopRule::Subgradient), None, None), None),
            ((Some(StopRule::Gap), None, t), Some(DEFAULT_GAP_TOL)),
            ((Some(StopRule::Gap), g, t), g),
        ];
        for ((stop, gap, tol), want) in cases {
            assert_eq!(gap_tol(stop, gap, tol), want, "{stop:?} {gap:?} {tol:?}");
        }
        assert_eq!(subgradient_tol(None), FistaSettings::default().tol);
        assert_eq!(subgradient_tol(t), 1e-8);
    }
}
