//! Regularization paths: the gated program solved for a decreasing sequence of lam, each solve
//! warm-started from the previous solution and step size (or cold, from zero, for comparison).

use crate::error::{Error, Result};
use crate::solver::{FistaSettings, Solution, Status, observer::StopWhen};
use crate::train::{self, Device, Precision, Prepared, ProblemConfig};

/// `steps` values from `max` down to `min`, evenly spaced in log scale.
/// The longest path `geometric` builds.
pub const MAX_STEPS: usize = 10_000;

pub fn geometric(max: f64, min: f64, steps: usize) -> Result<Vec<f64>> {
    if !(max > 0.0 && min > 0.0 && max.is_finite() && min <= max) {
        return Err(Error::param(
            "lambda_range",
            format!("{max} / {min} (need 0 < min <= max)"),
        ));
    }
    if steps == 0 || (steps == 1 && min != max) {
        return Err(Error::param(
            "steps",
            format!("{steps} (need >= 2, or 1 with min = max)"),
        ));
    }
    if steps > MAX_STEPS {
        return Err(Error::param(
            "steps",
            format!("{steps} (at most {MAX_STEPS}: every step is a full solve)"),
        ));
    }
    if steps == 1 {
        return Ok(vec![max]);
    }
    let (a, b) = (max.ln(), min.ln());
    Ok((0..steps)
        .map(|k| (a + (b - a) * k as f64 / (steps - 1) as f64).exp())
        .collect())
}

/// Sorts the values from largest to smallest (warm starts go from sparse to dense solutions)
/// and checks them.
pub fn order(mut lambdas: Vec<f64>) -> Result<Vec<f64>> {
    if lambdas.is_empty() {
        return Err(Error::param("lambdas", "no values given"));
    }
    if let Some(bad) = lambdas.iter().find(|l| !(**l >= 0.0 && l.is_finite())) {
        return Err(Error::param(
            "lambdas",
            format!("{bad} (each must be >= 0)"),
        ));
    }
    lambdas.sort_by(|a, b| b.total_cmp(a));
    lambdas.dedup();
    Ok(lambdas)
}

struct LambdaMax;

impl crate::session::Job for LambdaMax {
    type Out = f64;
    fn run<B: crate::backend::Backend>(self, be: &B) -> Result<f64> {
        crate::solver::working_set::lambda_max(be)
    }
}

/// The smallest lam at which U = 0 is optimal (`--lambda-max auto`): one gradient at zero, for
/// the neuron group lasso (the penalty the rule is derived for).
pub fn lambda_max(
    prep: &Prepared,
    regularizer: crate::regularizer::Regularizer,
    device: &Device,
    precision: Precision,
) -> Result<f64> {
    if regularizer != crate::regularizer::Regularizer::NeuronGl1 {
        return Err(Error::param(
            "lambda_max",
            format!(
                "auto is derived for the neuron-gl1 regularizer, not {regularizer:?}; give a number"
            ),
        ));
    }
    let lmax = train::Session::gated(prep, device, precision)?.run(LambdaMax)?;
    if !(lmax > 0.0 && lmax.is_finite()) {
        return Err(Error::Data(format!(
            "lambda_max is {lmax}: the targets are orthogonal to every gated feature (all-zero targets?)"
        )));
    }
    Ok(lmax)
}

/// One solve of the path.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Point {
    pub lambda: f64,
    pub objective: f64,
    pub train: Option<f64>,
    pub test: Option<f64>,
    pub active_neurons: usize,
    /// Preprocessed feature columns with a nonzero weight.
    pub active_features: usize,
    pub iterations: usize,
    pub time_s: f64,
    pub status: String,
    /// Work of the solve in full masked products (a working-set product counts its share).
    pub products: f64,
}

impl Point {
    pub const CSV_HEADER: &'static str = "lam,objective,train_accuracy,test_accuracy,active_neurons,active_features,iterations,time_s,status,products";

    pub fn csv_row(&self) -> String {
        let f = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x}"));
        format!(
            "{:e},{:e},{},{},{},{},{},{:.4},{},{:.1}",
            self.lambda,
            self.objective,
            f(self.train),
            f(self.test),
            self.active_neurons,
            self.active_features,
            self.iterations,
            self.time_s,
            self.status,
            self.products
        )
    }
}

/// Solves the path; `each(point, solution, network)` is called after every solve (to save
/// models and rows as they come).
#[allow(clippy::too_many_arguments)]
pub fn run(
    prep: &Prepared,
    cfg: &ProblemConfig,
    base: &FistaSettings,
    lambdas: &[f64],
    warm: bool,
    device: &Device,
    precision: Precision,
    stop: &(dyn Fn() -> bool + Sync),
    mut each: impl FnMut(&Point, &Solution, &crate::model::Network) -> Result<()>,
) -> Result<Vec<Point>> {
    let d = prep.x.ncols();
    // X, Y and the patterns go to the device once for the whole path.
    let session = train::Session::gated(prep, device, precision)?;
    let mut prev: Option<Solution> = None;
    let mut points = Vec::with_capacity(lambdas.len());
    for &lam in lambdas {
        let (init, step0) = match (&prev, warm) {
            (Some(s), true) => (Some(s.weights.as_slice()), s.step),
            _ => (None, base.step0),
        };
        let params = FistaSettings {
            lambda: lam,
            step0,
            ..base.clone()
        }
        .check()?;
        let sol = train::solve_on(&session, &params, init, None, &mut StopWhen(stop))?;
        if sol.status == Status::Interrupted {
            // An unfinished solve is not a point of the path.
            break;
        }
        let net = train::network(prep, cfg, &params, &sol);
        let scores = train::score(&net, prep)?;
        let mut features = vec![false; d];
        for g in sol.weights.chunks(d.max(1)) {
            for (f, &v) in features.iter_mut().zip(g) {
                *f |= v != 0.0;
            }
        }
        let point = Point {
            lambda: lam,
            objective: sol.objective,
            train: scores.train,
            test: scores.test,
            active_neurons: net.hidden(),
            active_features: features.iter().filter(|&&f| f).count(),
            iterations: sol.iterations,
            time_s: sol.time_s,
            status: sol.status.to_string(),
            products: sol.products,
        };
        each(&point, &sol, &net)?;
        points.push(point);
        prev = Some(sol);
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometric_and_order() {
        let v = geometric(1e-2, 1e-5, 4).unwrap();
        let want = [1e-2, 1e-3, 1e-4, 1e-5];
        assert!(v.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12 * b));
        assert!(geometric(1e-5, 1e-2, 3).is_err());
        assert!(geometric(1e-2, 1e-5, 1).is_err());
        assert_eq!(
            order(vec![1e-4, 1e-2, 1e-3, 1e-2]).unwrap(),
            vec![1e-2, 1e-3, 1e-4]
        );
        assert!(order(vec![]).is_err());
        assert!(
            order(vec![1.0, -1.0])
                .unwrap_err()
                .to_string()
                .contains("-1")
        );
    }
}
