//! The estimators' settings as Python sends them (one JSON object, Python names), turned into
//! the library's problem, plan and device. Defaults live in the library; `defaults()` hands
//! them to Python, whose signatures a test checks against them.

use clap::ValueEnum;
use cvxnn::backend::cpu::CpuOptions;
use cvxnn::data::preprocess::Scaling;
use cvxnn::decompose::{self, Method};
use cvxnn::gates::GateKind;
use cvxnn::problem::TaskChoice;
use cvxnn::regularizer::Regularizer;
use cvxnn::solver::{AlSettings, DEFAULT_GAP_TOL, FistaSettings, WorkingSet};
use cvxnn::train::{Device, DeviceChoice, ModelKind, Precision, ProblemConfig, TrainPlan};
use cvxnn::{Error, Result};
use serde::Deserialize;

/// Every setting an estimator passes; unknown names are refused, so a typo in the Python
/// layer fails loudly instead of falling back to a default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub lam: f64,
    pub n_gates: usize,
    pub gate_type: String,
    pub gate_order: usize,
    pub regularizer: String,
    pub preprocessing: String,
    pub fit_bias: bool,
    pub stop: String,
    pub gap_tol: f64,
    pub tol: f64,
    pub max_iter: usize,
    pub time_limit: Option<f64>,
    pub step0: f64,
    pub working_set: String,
    pub device: String,
    pub adapter: Option<String>,
    pub precision: Option<String>,
    pub threads: usize,
    pub random_state: u64,
    pub model: String,
    pub decompose: Option<String>,
    pub rho: f64,
    pub decompose_tol: f64,
    pub delta0: f64,
    pub viol_tol: f64,
    pub log_every: usize,
}

/// The library's defaults under the estimators' names (what `cvxnn train` uses).
pub fn defaults() -> serde_json::Value {
    let f = FistaSettings::default();
    let al = AlSettings::default();
    let p = ProblemConfig::default();
    serde_json::json!({
        "lam": f.lambda,
        "n_gates": p.gates,
        "gate_type": "dense",
        "gate_order": 10,
        "regularizer": "neuron-gl1",
        "preprocessing": serde_json::to_value(p.scaling).expect("a unit variant"),
        "fit_bias": p.bias,
        "stop": "gap",
        "gap_tol": DEFAULT_GAP_TOL,
        "tol": f.tol,
        "max_iter": f.max_iters,
        "time_limit": null,
        "step0": f.step0,
        "working_set": "auto",
        "device": "auto",
        "precision": null,
        "random_state": p.seed,
        "rho": decompose::DEFAULT_RHO,
        "decompose_tol": decompose::DEFAULT_TOL,
        "delta0": al.delta0,
        "viol_tol": al.viol_tol,
    })
}

/// The Python name of a library settings field (errors name what the user typed).
pub fn python_name(field: &str) -> &str {
    match field {
        "lambda" => "lam",
        "max_iters" => "max_iter",
        "gates" => "n_gates",
        "seed" => "random_state",
        "scaling" => "preprocessing",
        "bias" => "fit_bias",
        other => other,
    }
}

/// One of a clap value enum's names, as the CLI spells them.
fn choice<T: ValueEnum>(field: &'static str, value: &str) -> Result<T> {
    T::from_str(value, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| format!("'{}'", p.get_name())))
            .collect();
        Error::param(
            field,
            format!("'{value}' (expected one of {})", names.join(", ")),
        )
    })
}

impl Config {
    pub fn problem(&self, task: TaskChoice) -> Result<ProblemConfig> {
        let gate_kind = match self.gate_type.as_str() {
            "dense" => GateKind::Dense,
            "feature-sparse" => GateKind::FeatureSparse {
                order: self.gate_order,
            },
            other => {
                return Err(Error::param(
                    "gate_type",
                    format!("'{other}' (expected 'dense' or 'feature-sparse')"),
                ));
            }
        };
        Ok(ProblemConfig {
            data: "python".into(),
            test_fraction: 0.0,
            task,
            gates: self.n_gates,
            gate_kind,
            scaling: choice::<Scaling>("preprocessing", &self.preprocessing)?,
            bias: self.fit_bias,
            seed: self.random_state,
            ..ProblemConfig::default()
        })
    }

    pub fn fista(&self) -> Result<FistaSettings> {
        let gap_tol = match self.stop.as_str() {
            "gap" => Some(self.gap_tol),
            "subgradient" => None,
            other => {
                return Err(Error::param(
                    "stop",
                    format!("'{other}' (expected 'gap' or 'subgradient')"),
                ));
            }
        };
        Ok(FistaSettings {
            lambda: self.lam,
            regularizer: choice::<Regularizer>("regularizer", &self.regularizer)?,
            tol: self.tol,
            gap_tol,
            time_limit: self.time_limit,
            max_iters: self.max_iter,
            step0: self.step0,
            working_set: choice::<WorkingSet>("working_set", &self.working_set)?,
            ..FistaSettings::default()
        })
    }

    pub fn plan(&self) -> Result<TrainPlan> {
        let model = choice::<ModelKind>("model", &self.model)?;
        let decompose = match &self.decompose {
            Some(m) => Some(choice::<Method>("decompose", m)?),
            None => None,
        };
        if !(self.rho >= 0.0 && self.rho.is_finite()) {
            return Err(Error::param("rho", format!("{} (must be >= 0)", self.rho)));
        }
        if !(self.decompose_tol > 0.0 && self.decompose_tol.is_finite()) {
            return Err(Error::param(
                "decompose_tol",
                format!("{} (must be > 0)", self.decompose_tol),
            ));
        }
        if self.log_every == 0 {
            return Err(Error::param("log_every", "0 (must be >= 1)"));
        }
        let fista = self.fista()?;
        let al = AlSettings {
            fista: fista.clone(),
            delta0: self.delta0,
            viol_tol: self.viol_tol,
            ..AlSettings::default()
        }
        .check()?;
        Ok(TrainPlan {
            model,
            decompose,
            rho: self.rho,
            decompose_tol: self.decompose_tol,
            fista: fista.check()?,
            al,
        })
    }

    /// Opens the device (a GPU adapter is probed only here, after the settings are checked).
    pub fn device(&self) -> Result<(Device, Precision)> {
        let which = choice::<DeviceChoice>("device", &self.device)?;
        let precision = match &self.precision {
            Some(p) => Some(choice::<Precision>("precision", p)?),
            None => None,
        };
        let cpu = CpuOptions {
            threads: self.threads,
            block_rows: 0,
            block_cols: 0,
        };
        let device = Device::resolve(which, self.adapter.as_deref(), cpu)?;
        let gap_stop = cvxnn::device::gap_stop(
            self.model == "gated" && self.decompose.is_none(),
            choice::<Regularizer>("regularizer", &self.regularizer)?,
            self.lam,
            (self.stop == "gap").then_some(self.gap_tol),
        );
        let f32_suffices = if self.model == "relu" {
            cvxnn::device::f32_meets_al(self.tol, self.viol_tol)
        } else {
            cvxnn::device::f32_meets_gap(gap_stop)
        };
        let precision = precision.unwrap_or(device.default_precision(f32_suffices));
        Ok((device, precision))
    }
}
