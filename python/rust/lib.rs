//! `cvxnn._cvxnn`: the thin binding under the Python estimators. Data comes in as float64
//! arrays, settings as one JSON object (see `config.rs`); what comes back is the model as the
//! safetensors bytes the CLI reads and writes, the solver's weights for warm starts, and a JSON
//! report. Solves run with the GIL released and poll for Ctrl-C.

mod config;
mod observer;

use config::{Config, python_name};
use cvxnn::data::{Dataset, Labels};
use cvxnn::model::Network;
use cvxnn::problem::TaskChoice;
use cvxnn::solver::{Solution, Status};
use cvxnn::train::{self, Fitted, Start};
use ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use observer::{PyObserver, SignalPoll};
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::Path;

/// A library error as the Python exception a scikit-learn user expects; settings errors name
/// the estimator's parameter.
fn to_py(e: cvxnn::Error) -> PyErr {
    match e {
        cvxnn::Error::InvalidParam { flag, msg } => {
            PyValueError::new_err(format!("invalid value for {}: {msg}", python_name(flag)))
        }
        cvxnn::Error::Io { .. } => PyOSError::new_err(e.to_string()),
        cvxnn::Error::Interrupted(m) => PyKeyboardInterrupt::new_err(m),
        cvxnn::Error::Device(_) | cvxnn::Error::NoAdapter(_) => {
            PyRuntimeError::new_err(e.to_string())
        }
        e => PyValueError::new_err(e.to_string()),
    }
}

fn parse_config(json: &str) -> PyResult<Config> {
    serde_json::from_str(json).map_err(|e| PyValueError::new_err(format!("settings: {e}")))
}

fn task_of(task: &str) -> PyResult<TaskChoice> {
    match task {
        "classification" => Ok(TaskChoice::Classification),
        "regression" => Ok(TaskChoice::Regression),
        t => Err(PyValueError::new_err(format!(
            "task '{t}' (expected 'classification' or 'regression')"
        ))),
    }
}

/// The training set: a label column for classification and single-output regression, a
/// target matrix otherwise.
fn dataset(x: &PyReadonlyArray2<f64>, y: &PyReadonlyArray2<f64>) -> PyResult<Dataset> {
    let x = x.as_array().to_owned();
    let y = y.as_array();
    if y.nrows() != x.nrows() {
        return Err(PyValueError::new_err(format!(
            "y has {} rows, X has {}",
            y.nrows(),
            x.nrows()
        )));
    }
    let labels = if y.ncols() == 1 {
        Labels::Column(y.column(0).to_vec())
    } else {
        Labels::Matrix(y.to_owned())
    };
    Ok(Dataset {
        x,
        labels,
        name: "the training data".into(),
    })
}

fn labels_json(labels: Option<&str>) -> PyResult<Option<serde_json::Value>> {
    labels
        .map(|l| serde_json::from_str(l).map_err(|e| PyValueError::new_err(format!("labels: {e}"))))
        .transpose()
}

/// The problem ready to solve and its device: the data checked before any adapter is probed.
fn prepared(
    cfg: &Config,
    problem: &train::ProblemConfig,
    ds: Dataset,
    gates: Option<Array2<f64>>,
) -> cvxnn::Result<(train::Prepared, train::Device, train::Precision)> {
    let loaded = train::from_datasets(problem, ds, None, gates)?;
    let (device, precision) = cfg.device()?;
    let prep = train::with_patterns(loaded, &device)?;
    Ok((prep, device, precision))
}

fn gate_matrix(gates: Option<PyReadonlyArray2<f64>>) -> Option<Array2<f64>> {
    gates.map(|g| g.as_array().to_owned())
}

fn report(fitted: &Fitted, net: &Network, prep: &train::Prepared, device: &str) -> String {
    let sol: &Solution = &fitted.solution;
    serde_json::json!({
        "objective": sol.objective,
        "loss": sol.loss,
        "penalty": sol.penalty,
        "grad_norm_sq": sol.grad_norm_sq,
        "gap": sol.gap,
        "rel_gap": sol.rel_gap,
        "products": sol.products,
        "iterations": sol.iterations,
        "status": sol.status.to_string(),
        "time_s": sol.time_s,
        "working_set": sol.working_set,
        "active_neurons": net.hidden(),
        "gates_drawn": prep.gates.ncols(),
        "gates_kept": prep.patterns.kept.len(),
        "constraint_violation": fitted.violation,
        "outer_iterations": fitted.outer,
        "decomposition": fitted.decomposition,
        "device": device,
    })
    .to_string()
}

/// Trains one network. Returns (model bytes, the solve's weights for a warm start, JSON report).
#[pyfunction]
#[pyo3(signature = (x, y, task, settings, labels=None, gates=None, warm=None, log=None))]
#[allow(clippy::too_many_arguments)]
fn fit<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    task: &str,
    settings: &str,
    labels: Option<&str>,
    gates: Option<PyReadonlyArray2<'py, f64>>,
    warm: Option<PyReadonlyArray1<'py, f64>>,
    log: Option<Py<PyAny>>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyArray1<f64>>, String)> {
    let cfg = parse_config(settings)?;
    let labels = labels_json(labels)?;
    let problem = cfg.problem(task_of(task)?).map_err(to_py)?;
    let plan = cfg.plan().map_err(to_py)?;
    let ds = dataset(&x, &y)?;
    let gates = gate_matrix(gates);
    let warm: Option<Vec<f64>> = warm.map(|w| w.as_array().to_vec());
    let mut obs = PyObserver::new(log, cfg.log_every);
    let out = py.detach(|| -> cvxnn::Result<_> {
        let (prep, device, precision) = prepared(&cfg, &problem, ds, gates)?;
        let start = match &warm {
            Some(w) if w.len() == expected_len(&prep, &plan) => Start::Warm(w),
            _ => Start::Cold,
        };
        let fitted = train::fit(&prep, &problem, &plan, &device, precision, start, &mut obs)?;
        let described = device.describe(precision);
        Ok((fitted, prep, described))
    });
    obs.raise_pending()?;
    let (fitted, prep, described) = out.map_err(to_py)?;
    let Some(mut net) = fitted.network.clone() else {
        let sol = &fitted.solution;
        return Err(if sol.status == Status::Interrupted {
            PyKeyboardInterrupt::new_err("the solve was interrupted; the estimator is not fitted")
        } else {
            PyValueError::new_err(format!(
                "the solve diverged: objective {} at iteration {} (status {}); try a smaller step0 or rescale the data",
                sol.objective, sol.iterations, sol.status
            ))
        });
    };
    net.meta.labels = labels;
    net.meta.data = "python".into();
    let bytes = net.to_bytes(Path::new("<model>")).map_err(to_py)?;
    let text = report(&fitted, &net, &prep, &described);
    let weights = fitted.solution.weights.clone().into_pyarray(py);
    Ok((PyBytes::new(py, &bytes), weights, text))
}

/// The length of the weights a solve of `plan` on `prep` starts from.
fn expected_len(prep: &train::Prepared, plan: &train::TrainPlan) -> usize {
    let per = prep.task.outputs() * prep.patterns.kept.len() * prep.x.ncols();
    match plan.model {
        train::ModelKind::Relu => 2 * per,
        train::ModelKind::Gated => per,
    }
}

fn network(model: &[u8]) -> PyResult<Network> {
    Network::from_bytes(model, Path::new("<model>")).map_err(to_py)
}

/// The network's outputs (n x c) for raw inputs.
#[pyfunction]
fn forward<'py>(
    py: Python<'py>,
    model: &[u8],
    x: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let net = network(model)?;
    let x = x.as_array().to_owned();
    let out = py.detach(|| net.forward(&x)).map_err(to_py)?;
    Ok(out.into_pyarray(py))
}

/// The model's metadata (JSON) and weights as arrays.
#[pyfunction]
fn inspect<'py>(py: Python<'py>, model: &[u8]) -> PyResult<(String, Bound<'py, PyDict>)> {
    let net = network(model)?;
    let d = PyDict::new(py);
    d.set_item("gates", net.gates.clone().into_pyarray(py))?;
    d.set_item("gate_bias", net.gate_bias.clone().into_pyarray(py))?;
    d.set_item("w1", net.w1.clone().into_pyarray(py))?;
    d.set_item("b1", net.b1.clone().into_pyarray(py))?;
    d.set_item("w2", net.w2.clone().into_pyarray(py))?;
    let meta = serde_json::to_string(&net.meta).expect("metadata serializes");
    Ok((meta, d))
}

/// Writes the model as `cvxnn train` does (atomically; the metadata also to NAME.json).
#[pyfunction]
fn save(model: &[u8], path: std::path::PathBuf) -> PyResult<()> {
    if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(PyValueError::new_err(format!(
            "{}: the model file name must end in .safetensors",
            path.display()
        )));
    }
    network(model)?.save(&path).map_err(to_py)
}

/// Reads and checks a model file; returns its bytes.
#[pyfunction]
fn load<'py>(py: Python<'py>, path: std::path::PathBuf) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = std::fs::read(&path).map_err(|e| to_py(cvxnn::Error::io(&path, e)))?;
    Network::from_bytes(&bytes, &path).map_err(to_py)?;
    Ok(PyBytes::new(py, &bytes))
}

/// A regularization path (gated networks): one JSON row and one model per lambda solved,
/// largest lambda first, each solve warm-started from the previous one when `warm`.
#[pyfunction]
#[pyo3(signature = (x, y, task, settings, lambdas, warm=true, labels=None, gates=None))]
#[allow(clippy::too_many_arguments)]
fn path<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    task: &str,
    settings: &str,
    lambdas: Vec<f64>,
    warm: bool,
    labels: Option<&str>,
    gates: Option<PyReadonlyArray2<'py, f64>>,
) -> PyResult<Vec<(String, Bound<'py, PyBytes>)>> {
    let cfg = parse_config(settings)?;
    let labels = labels_json(labels)?;
    let problem = cfg.problem(task_of(task)?).map_err(to_py)?;
    let base = cfg.fista().map_err(to_py)?;
    base.clone().check().map_err(to_py)?;
    let lambdas = cvxnn::path::order(lambdas).map_err(to_py)?;
    let ds = dataset(&x, &y)?;
    let gates = gate_matrix(gates);
    let poll = SignalPoll::default();
    let stop = || poll.interrupted();
    let rows = py.detach(|| -> cvxnn::Result<Vec<(String, Vec<u8>)>> {
        let (prep, device, precision) = prepared(&cfg, &problem, ds, gates)?;
        let mut rows = Vec::new();
        cvxnn::path::run(
            &prep,
            &problem,
            &base,
            &lambdas,
            warm,
            &device,
            precision,
            &stop,
            |point, sol, net| {
                let mut net = net.clone();
                net.meta.labels = labels.clone();
                net.meta.data = "python".into();
                let mut row = serde_json::to_value(point).expect("point serializes");
                row["products"] = sol.products.into();
                row["gap"] = sol.gap.into();
                row["rel_gap"] = sol.rel_gap.into();
                rows.push((row.to_string(), net.to_bytes(Path::new("<model>"))?));
                Ok(())
            },
        )?;
        Ok(rows)
    });
    poll.raise_pending()?;
    Ok(rows
        .map_err(to_py)?
        .into_iter()
        .map(|(row, bytes)| (row, PyBytes::new(py, &bytes)))
        .collect())
}

/// The library's defaults under the estimators' parameter names (JSON).
#[pyfunction]
fn defaults() -> String {
    config::defaults().to_string()
}

/// The GPU adapters wgpu sees (software ones included): name, backend, type, f64 support.
#[pyfunction]
fn devices(py: Python<'_>) -> Vec<(String, String, String, bool)> {
    py.detach(cvxnn::backend::wgpu::list_adapters)
        .into_iter()
        .map(|a| (a.name, a.backend, a.device_type, a.f64))
        .collect()
}

#[pymodule]
fn _cvxnn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(forward, m)?)?;
    m.add_function(wrap_pyfunction!(inspect, m)?)?;
    m.add_function(wrap_pyfunction!(save, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(path, m)?)?;
    m.add_function(wrap_pyfunction!(defaults, m)?)?;
    m.add_function(wrap_pyfunction!(devices, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
