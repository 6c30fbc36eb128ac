//! Cone decompositions: gated weights U become ReLU weights (V, W) with V - W = U, so the ReLU
//! network makes the gated network's predictions on the training rows (Mishkin et al. 2022,
//! Sec. 4). `approximate` solves a penalty problem with R-FISTA on any backend; the exact,
//! minimum-norm one is an SOCP per neuron ([`crate::conic::exact_decomposition`]).

use crate::backend::{Backend, ConePenalty};
use crate::error::{Error, Result};
use crate::solver::{FistaSettings, Smooth, Status, observer::Silent, solve_smooth};
use serde::Serialize;
use std::time::Instant;

/// The approximate decomposition's defaults: its group-norm weight rho, and its R-FISTA
/// tolerance (squared subgradient norm; its objective is scaled by 1 / (n c) like the loss).
pub const DEFAULT_RHO: f64 = 1e-10;
pub const DEFAULT_TOL: f64 = 1e-12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// R-FISTA on the squared violation plus rho times the group norms (any size, any device).
    Approx,
    /// The minimum-norm decomposition, one interior-point SOCP per neuron (Clarabel; small n x d).
    Exact,
}

/// A decomposition in the ReLU layout (c, 2p, d): V in gates [0, p), -W in gates [p, 2p).
#[derive(Debug, Clone, Serialize)]
pub struct Decomposition {
    #[serde(skip)]
    pub weights: Vec<f64>,
    pub method: Method,
    /// Largest constraint violation left, max over (l, i, j) of max(-(2 D_ji - 1) x_j . w, 0)
    /// for w = V_{l,i} and W_{l,i}.
    pub constraint_violation: f64,
    /// sum ||U_{l,i}|| and sum (||V_{l,i}|| + ||W_{l,i}||).
    pub norm_gated: f64,
    pub norm_relu: f64,
    /// R-FISTA iterations (approx) and its status.
    pub iterations: usize,
    pub status: Option<Status>,
    pub time_s: f64,
}

pub fn group_norm_sum(u: &[f64], d: usize) -> f64 {
    u.chunks(d.max(1))
        .map(|g| g.iter().map(|v| v * v).sum::<f64>().sqrt())
        .sum()
}

/// Splits gated weights into the ReLU layout given W (c, p, d): V = U + W, stored -W.
pub fn relu_layout(u: &[f64], w: &[f64], c: usize, p: usize, d: usize) -> Vec<f64> {
    let mut out = vec![0.0; 2 * u.len()];
    for l in 0..c {
        for i in 0..p {
            let src = (l * p + i) * d;
            let v0 = (l * 2 * p + i) * d;
            let w0 = (l * 2 * p + p + i) * d;
            for k in 0..d {
                out[v0 + k] = u[src + k] + w[src + k];
                out[w0 + k] = -w[src + k];
            }
        }
    }
    out
}

/// The approximate decomposition on `be` (built on the gated patterns, any targets): with
/// t = max(-(2 D_i - I) X U_{l,i}, 0), W minimises
/// ||(t - (2 D_i - I) X W_{l,i})_+||^2 / (2 n c) + rho sum ||W_{l,i}||, all (l, i) at once
/// (the problem separates). Any W with zero penalty makes both V = U + W and W feasible.
pub fn approximate<B: Backend>(
    be: &B,
    u: &[f64],
    rho: f64,
    fista: &FistaSettings,
) -> Result<Decomposition> {
    if !(rho >= 0.0 && rho.is_finite()) {
        return Err(Error::param("rho", format!("{rho} (must be >= 0)")));
    }
    let start = Instant::now();
    let dims = be.dims();
    let p = dims.p;
    let ub = be.upload(u)?;
    let mut t = be.cone_zeros()?;
    // max(0 + 1 * gap(U), 0): the targets.
    let before = be.cone_update(&ub, p, 1.0, &mut t)?;
    let (w, iterations, status) = if before.viol_max == 0.0 {
        (vec![0.0; u.len()], 0, None)
    } else {
        let params = FistaSettings {
            lambda: rho,
            regularizer: crate::regularizer::Regularizer::NeuronGl1,
            ..fista.clone()
        }
        .check()?;
        let smooth = Smooth {
            data_loss: false,
            cone: Some(ConePenalty {
                shift: &t,
                scale: 1.0,
                weight: 1.0 / (dims.n * dims.c) as f64,
                neg_from: p,
            }),
        };
        let sol = solve_smooth(be, &params, None, &smooth, &mut Silent)?;
        (sol.weights, sol.iterations, Some(sol.status))
    };
    let weights = relu_layout(u, &w, dims.c, p, dims.d);
    let vw = violation_split(be, &weights, dims.c, p, dims.d)?;
    Ok(Decomposition {
        norm_gated: group_norm_sum(u, dims.d),
        norm_relu: group_norm_sum(&weights, dims.d),
        weights,
        method: Method::Approx,
        constraint_violation: vw,
        iterations,
        status,
        time_s: start.elapsed().as_secs_f64(),
    })
}

/// Largest violation of ReLU-layout weights, measured on a backend with the gated patterns.
pub fn violation_split<B: Backend>(
    be: &B,
    relu: &[f64],
    c: usize,
    p: usize,
    d: usize,
) -> Result<f64> {
    let mut v = Vec::with_capacity(c * p * d);
    let mut w = Vec::with_capacity(c * p * d);
    for l in 0..c {
        v.extend_from_slice(&relu[(l * 2 * p) * d..(l * 2 * p + p) * d]);
        // The stored half is -W; its constraint is on W.
        w.extend(
            relu[(l * 2 * p + p) * d..(l * 2 * p + 2 * p) * d]
                .iter()
                .map(|a| -a),
        );
    }
    let tv = be.cone(&be.upload(&v)?, p, None, None)?;
    let tw = be.cone(&be.upload(&w)?, p, None, None)?;
    Ok(tv.viol_max.max(tw.viol_max))
}
