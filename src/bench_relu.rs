//! `cvxnn bench --model relu`: the augmented Lagrangian against Clarabel's interior point on
//! small generated problems (time to tolerance, objective gap), and the three ways to a ReLU
//! network on the bundled digits (gated R-FISTA alone, gated + approximate decomposition, AL).

use crate::backend::Dims;
use crate::backend::cpu::{CpuBackend, CpuOptions};
use crate::conic;
use crate::decompose::Method;
use crate::error::Result;
use crate::gates;
use crate::solver::{self, AlSettings, FistaSettings, Solution, observer::Silent};
use crate::train::{self, Device, Precision, ProblemConfig};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct ConicRow {
    pub dims: Dims,
    pub constraints: usize,
    pub clarabel_s: f64,
    pub al_s: f64,
    pub al_iterations: usize,
    pub al_outer: usize,
    /// (AL objective - Clarabel objective) / Clarabel objective.
    pub rel_gap: f64,
    pub al_violation: f64,
    pub al_status: String,
}

/// AL (CPU, f64, tolerances `tol` on both measures) and Clarabel on generated problems with
/// lam `lam`; `dims.p` gates are drawn (duplicate patterns dropped).
pub fn al_vs_clarabel(sizes: &[Dims], lam: f64, tol: f64) -> Result<Vec<ConicRow>> {
    let mut rows = Vec::new();
    for (k, &dims) in sizes.iter().enumerate() {
        let (x, y, _) = crate::bench::generated(dims, 7 + k as u64);
        let pats = gates::unique_patterns(&x, &gates::gaussian(dims.d, dims.p, 8 + k as u64));
        let mask = pats.mask.doubled();
        let (_, ref_obj, clarabel_s) = conic::relu_program(&x, &y, &mask, lam)?;
        let settings = AlSettings {
            fista: FistaSettings {
                lambda: lam,
                tol,
                max_iters: 1_000_000,
                ..FistaSettings::default()
            },
            viol_tol: tol,
            ..AlSettings::default()
        }
        .check()?;
        let be = CpuBackend::<f64>::new(&x, &y, mask.clone(), CpuOptions::default());
        let start = Instant::now();
        let al = solver::solve_al(&be, &settings, None, &mut Silent)?;
        let al_s = start.elapsed().as_secs_f64();
        rows.push(ConicRow {
            dims: Dims {
                p: mask.cols() / 2,
                ..dims
            },
            constraints: mask.cols() * dims.c * dims.n,
            clarabel_s,
            al_s,
            al_iterations: al.solution.iterations,
            al_outer: al.outer,
            rel_gap: (al.solution.objective - ref_obj) / ref_obj,
            al_violation: al.viol_max,
            al_status: al.solution.status.to_string(),
        });
    }
    Ok(rows)
}

#[derive(Debug, Clone)]
pub struct DigitsRow {
    pub method: String,
    pub time_s: f64,
    pub iterations: usize,
    pub train: Option<f64>,
    pub test: Option<f64>,
    pub neurons: usize,
    pub violation: Option<f64>,
}

/// The bundled digits with `gates` gates and lam `lam` on `device`: gated R-FISTA, the same
/// followed by the approximate decomposition, and the AL on the ReLU program.
pub fn digits_three_ways(
    gates: usize,
    lam: f64,
    device: &Device,
    precision: Precision,
) -> Result<Vec<DigitsRow>> {
    let cfg = ProblemConfig {
        gates,
        // scnn's scaling: the table compares with scnn's AL and with earlier runs.
        scaling: crate::data::preprocess::Scaling::Unitize,
        ..ProblemConfig::default()
    };
    let prep = train::prepare_on(&cfg, device)?;
    let fista = FistaSettings {
        lambda: lam,
        ..FistaSettings::default()
    };
    let params = fista.clone().check()?;
    let c = prep.task.outputs();
    let relu_meta = |sol: &Solution, solver: &str| crate::model::ModelMeta {
        model: "relu".into(),
        solver: solver.into(),
        ..train::meta(&prep, &cfg, &params, sol)
    };
    let mut rows = Vec::new();

    let session = train::Session::gated(&prep, device, precision)?;
    let gated = train::solve_on(&session, &params, None, None, &mut Silent)?;
    let net = train::network(&prep, &cfg, &params, &gated);
    let sc = train::score(&net, &prep)?;
    rows.push(DigitsRow {
        method: "gated R-FISTA (gated network)".into(),
        time_s: gated.time_s,
        iterations: gated.iterations,
        train: sc.train,
        test: sc.test,
        neurons: net.hidden(),
        violation: None,
    });

    let dec_settings = FistaSettings {
        tol: 1e-12,
        ..fista.clone()
    };
    let dec = train::decompose_on(
        &prep,
        &session,
        &gated.weights,
        Method::Approx,
        1e-10,
        &dec_settings,
    )?;
    let net = crate::model::Network::from_relu(
        &dec.weights,
        c,
        prep.x.ncols(),
        relu_meta(&gated, "r-fista + approx"),
    );
    let sc = train::score(&net, &prep)?;
    rows.push(DigitsRow {
        method: "gated R-FISTA + approx decomposition".into(),
        time_s: gated.time_s + dec.time_s,
        iterations: gated.iterations + dec.iterations,
        train: sc.train,
        test: sc.test,
        neurons: net.hidden(),
        violation: Some(dec.constraint_violation),
    });

    let settings = AlSettings {
        fista,
        ..AlSettings::default()
    }
    .check()?;
    let al = train::solve_relu(&prep, &settings, device, precision, None, None, &mut Silent)?;
    let net = crate::model::Network::from_relu(
        &al.solution.weights,
        c,
        prep.x.ncols(),
        relu_meta(&al.solution, "augmented-lagrangian"),
    );
    let sc = train::score(&net, &prep)?;
    rows.push(DigitsRow {
        method: format!("augmented Lagrangian ({} outer)", al.outer),
        time_s: al.solution.time_s,
        iterations: al.solution.iterations,
        train: sc.train,
        test: sc.test,
        neurons: net.hidden(),
        violation: Some(al.viol_max),
    });
    Ok(rows)
}
