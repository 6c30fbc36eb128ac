//! The operations the solvers need, behind one trait so that R-FISTA is written once and runs on
//! any device. Weights U (c, p, d) and predictions (n, c) live in device buffers (`Buf`); only
//! scalars and small vectors cross to the host.
//!
//! Notation (Mishkin et al. 2022, eq. 4): prediction Yhat_l = sum_i D_i X U_{l,i}, loss
//! f(U) = ||Yhat - Y||_F^2 / (2 n c).

pub mod cpu;
pub mod wgpu;

use crate::error::{Error, Result};
use crate::regularizer::Regularizer;

fn unsupported(op: &str) -> Error {
    Error::Device(format!("this backend has no lifted operation {op}"))
}

/// Problem sizes: n rows, d features (after preprocessing), p gates (after dropping duplicate
/// patterns), c outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub n: usize,
    pub d: usize,
    pub p: usize,
    pub c: usize,
}

impl Dims {
    pub fn weights(&self) -> usize {
        self.c * self.p * self.d
    }
    pub fn preds(&self) -> usize {
        self.n * self.c
    }
    /// Flop count of one masked forward or one gradient: 2 n d p c.
    pub fn product_flops(&self) -> f64 {
        2.0 * (self.n * self.d) as f64 * (self.p * self.c) as f64
    }
}

/// Scalars of one line-search trial, returned together (one read-back on a GPU).
#[derive(Debug, Clone, Copy)]
pub struct Trial {
    /// ||U+ - V||^2
    pub step_sq: f64,
    /// ||Yhat(U+) - Yhat(V)||^2
    pub curv_sq: f64,
    /// f(U+)
    pub loss: f64,
}

/// The cone-constraint terms of the ReLU program at weights U, from one pass over the rows.
///
/// Constraint (j, l, i) reads s_i (2 D_ji - 1) x_j . U_{l,i} >= 0, with s_i = -1 for gates
/// i >= `neg_from` (the W half, stored negated so that predictions stay sum_i D_i X U_{l,i}) and
/// +1 below. Its gap is g = -s_i (2 D_ji - 1) x_j . U_{l,i}: feasible when g <= 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ConeTerms {
    /// (weight / 2) sum max(g + a * shift, 0)^2 (0 when no penalty was asked for).
    pub penalty: f64,
    /// sum max(g, 0)^2: the squared constraint violation.
    pub viol_sq: f64,
    /// max max(g, 0): the largest violation.
    pub viol_max: f64,
}

/// What a lifted line-search trial returns: the trial point's data loss (0 without one) and
/// cone penalty, and the smooth part's curvature between V and the trial point,
/// smooth(U+) - smooth(V) - <grad smooth(V), U+ - V>, formed from X (U+ - V) so nothing cancels.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LiftedTrial {
    pub loss: f64,
    pub penalty: f64,
    pub curvature: f64,
}

/// A shifted quadratic penalty on the cone gaps: (weight / 2) sum max(g + scale * shift, 0)^2
/// with `shift` one number per constraint, laid out (n, c p) row-major. The augmented
/// Lagrangian uses shift = multipliers, scale = 1 / delta, weight = delta; the approximate
/// cone decomposition uses shift = targets, scale = 1, weight = 1 / (n c).
pub struct ConePenalty<'a, Buf> {
    pub shift: &'a Buf,
    pub scale: f64,
    pub weight: f64,
    pub neg_from: usize,
}

pub trait Backend {
    type Buf;

    fn dims(&self) -> Dims;
    /// Human-readable device and precision, e.g. "cpu-f64 (2 threads)".
    fn describe(&self) -> String;

    fn zeros(&self, len: usize) -> Result<Self::Buf>;
    fn upload(&self, host: &[f64]) -> Result<Self::Buf>;
    fn download(&self, buf: &Self::Buf) -> Result<Vec<f64>>;
    fn copy(&self, src: &Self::Buf, dst: &mut Self::Buf) -> Result<()>;
    /// y <- a x + b y
    fn axpby(&self, a: f64, x: &Self::Buf, b: f64, y: &mut Self::Buf) -> Result<()>;
    /// out <- a x + b y in one pass (the momentum combinations; on the CPU's lifted path they
    /// run over the n x c p products, where a copy and an axpby were two passes more).
    fn combine(
        &self,
        a: f64,
        x: &Self::Buf,
        b: f64,
        y: &Self::Buf,
        out: &mut Self::Buf,
    ) -> Result<()> {
        self.copy(x, out)?;
        self.axpby(b, y, a, out)
    }
    fn dot(&self, x: &Self::Buf, y: &Self::Buf) -> Result<f64>;
    /// ||x - y||^2, without cancellation (the line search's curvature term).
    fn dist_sq(&self, x: &Self::Buf, y: &Self::Buf) -> Result<f64>;

    /// preds <- sum_i D_i X U_{l,i} for every output l (masked product fused with the sum over gates).
    fn forward(&self, u: &Self::Buf, preds: &mut Self::Buf) -> Result<()>;
    /// ||preds - Y||_F^2 / (2 n c)
    fn loss(&self, preds: &Self::Buf) -> Result<f64>;
    /// grad_{l,i} <- X^T D_i (preds - Y)_l / (n c): the adjoint of `forward` applied to the residual.
    fn gradient(&self, preds: &Self::Buf, grad: &mut Self::Buf) -> Result<()>;

    /// out <- prox_{eta lam R}(v - eta grad); returns ||out - v||^2.
    fn prox_step(
        &self,
        reg: Regularizer,
        lam: f64,
        eta: f64,
        v: &Self::Buf,
        grad: &Self::Buf,
        out: &mut Self::Buf,
    ) -> Result<f64>;
    /// R(u)
    fn penalty(&self, reg: Regularizer, u: &Self::Buf) -> Result<f64>;
    /// Squared norm of the minimum-norm subgradient of f + lam R at u, given grad = grad f(u).
    fn subgrad_norm_sq(
        &self,
        reg: Regularizer,
        lam: f64,
        u: &Self::Buf,
        grad: &Self::Buf,
    ) -> Result<f64>;
    /// Per output l, with R = Y - preds: [||R_l||^2, <R_l, Y_l>], accumulated in f64 (the duality
    /// gap's dual point is scaled per output).
    fn output_terms(&self, preds: &Self::Buf) -> Result<Vec<[f64; 2]>>;
    /// The packed sub-problem in which output l keeps only the gates `gates[l]` (a non-empty
    /// increasing list, k_l gates): X and Y are shared, weights are laid out output after
    /// output (k_l groups of d each; [`Backend::output_starts`]), `dims().p` is the largest k_l,
    /// and its masked products cost sum k_l / (c p) of this backend's. Working sets solve on
    /// it; its cone operations are refused.
    fn restrict(&self, _gates: &[Vec<usize>]) -> Result<Self>
    where
        Self: Sized,
    {
        Err(unsupported("restrict"))
    }
    /// The first group of each output in the weight layout, c + 1 entries (l p here; a packed
    /// sub-problem's output l holds groups starts[l] .. starts[l + 1]).
    fn output_starts(&self) -> Vec<usize> {
        let Dims { p, c, .. } = self.dims();
        (0..=c).map(|l| l * p).collect()
    }
    /// Entries of a weight-shaped vector: groups x d.
    fn weights_len(&self) -> usize {
        self.output_starts().last().copied().unwrap_or(0) * self.dims().d
    }
    /// Per gate i, ||D_i X||_F: a bound on the spectral norm ||D_i X||_2 that Gap Safe screening
    /// multiplies the dual ball's radius by.
    fn design_norms(&self) -> Result<Vec<f64>> {
        Err(unsupported("design_norms"))
    }
    /// ||U_{l,i}||_2 for every (l, i), in (l, i) order.
    fn group_norms(&self, u: &Self::Buf) -> Result<Vec<f64>>;
    /// How many groups U_{l,i} are nonzero.
    fn active_groups(&self, u: &Self::Buf) -> Result<usize> {
        Ok(self.group_norms(u)?.iter().filter(|&&g| g > 0.0).count())
    }

    /// A zero vector with one entry per cone constraint, laid out (n, c p): multipliers and
    /// penalty shifts.
    fn cone_zeros(&self) -> Result<Self::Buf>;
    /// Cone terms at u; with `pen`, also the penalty and, when `grad` is given,
    /// grad <- its gradient: -weight sum_j s_i (2 D_ji - 1) max(g + a shift, 0)_j x_j.
    fn cone(
        &self,
        u: &Self::Buf,
        neg_from: usize,
        pen: Option<&ConePenalty<'_, Self::Buf>>,
        grad: Option<&mut Self::Buf>,
    ) -> Result<ConeTerms>;
    /// For a line-search trial from v to v + step: (penalty at v + step, its curvature
    /// penalty(v + step) - penalty(v) - <grad penalty(v), step>), the curvature formed per
    /// constraint from X step so that nothing cancels (f32 line searches stall otherwise).
    fn cone_trial(
        &self,
        v: &Self::Buf,
        step: &Self::Buf,
        pen: &ConePenalty<'_, Self::Buf>,
    ) -> Result<(f64, f64)>;
    /// Multiplier step gamma <- max(gamma + delta g(u), 0) (gamma laid out like a penalty
    /// shift); returns the violation at u.
    fn cone_update(
        &self,
        u: &Self::Buf,
        neg_from: usize,
        delta: f64,
        gamma: &mut Self::Buf,
    ) -> Result<ConeTerms>;

    /// Whether the lifted operations below are implemented. With them a cone-penalised solve
    /// keeps the products Z = X U^T of U, V and the trial point, and an iteration costs one
    /// product per line-search trial and one adjoint per gradient (three, against nine through
    /// `cone` and `cone_trial`).
    fn lifted(&self) -> bool {
        false
    }
    /// z <- X U^T for every group: (n, c p) row-major, column l p + i (a penalty shift's layout).
    fn lift(&self, _u: &Self::Buf, _z: &mut Self::Buf) -> Result<()> {
        Err(unsupported("lift"))
    }
    /// A line-search trial from V (products `zv`) along a step whose products are in `z`:
    /// z <- zv + z, the trial point's products; the data loss counts when `data_loss`.
    fn lifted_trial(
        &self,
        _zv: &Self::Buf,
        _z: &mut Self::Buf,
        _pen: &ConePenalty<'_, Self::Buf>,
        _data_loss: bool,
    ) -> Result<LiftedTrial> {
        Err(unsupported("lifted_trial"))
    }
    /// grad <- the gradient of the smooth part (data loss when `data_loss`, plus the penalty) at
    /// the point with products z, by one adjoint product; returns the cone penalty there.
    fn lifted_gradient(
        &self,
        _z: &Self::Buf,
        _pen: &ConePenalty<'_, Self::Buf>,
        _data_loss: bool,
        _grad: &mut Self::Buf,
    ) -> Result<f64> {
        Err(unsupported("lifted_gradient"))
    }
    /// The violation at the point with products z; with `update` = (delta, gamma), also the
    /// multiplier step gamma <- max(gamma + delta g, 0).
    fn lifted_cone(
        &self,
        _z: &Self::Buf,
        _neg_from: usize,
        _update: Option<(f64, &mut Self::Buf)>,
    ) -> Result<ConeTerms> {
        Err(unsupported("lifted_cone"))
    }

    /// One line-search trial from V: out <- prox_{eta lam R}(v - eta grad) and
    /// pout <- forward(out). Backends that can fuse the read-backs override this.
    #[allow(clippy::too_many_arguments)]
    fn trial(
        &self,
        reg: Regularizer,
        lam: f64,
        eta: f64,
        v: &Self::Buf,
        grad: &Self::Buf,
        pv: &Self::Buf,
        out: &mut Self::Buf,
        pout: &mut Self::Buf,
    ) -> Result<Trial> {
        let step_sq = self.prox_step(reg, lam, eta, v, grad, out)?;
        self.forward(out, pout)?;
        Ok(Trial {
            step_sq,
            curv_sq: self.dist_sq(pout, pv)?,
            loss: self.loss(pout)?,
        })
    }

    /// R(u) and the squared minimum-norm subgradient norm of f + lam R at u, together.
    fn objective_terms(
        &self,
        reg: Regularizer,
        lam: f64,
        u: &Self::Buf,
        grad: &Self::Buf,
    ) -> Result<(f64, f64)> {
        Ok((
            self.penalty(reg, u)?,
            self.subgrad_norm_sq(reg, lam, u, grad)?,
        ))
    }
}

/// Checks a working set's gate lists for [`Backend::restrict`]: one non-empty increasing list
/// per output, each gate below p. Returns the packed layout's output starts (c + 1 entries).
pub fn check_restriction(dims: Dims, gates: &[Vec<usize>]) -> Result<Vec<usize>> {
    let bad = |what: String| Err(Error::Device(format!("bad working set: {what}")));
    if gates.len() != dims.c {
        return bad(format!("{} gate lists for {} outputs", gates.len(), dims.c));
    }
    if gates
        .iter()
        .any(|g| g.is_empty() || g.windows(2).any(|w| w[0] >= w[1]) || g[g.len() - 1] >= dims.p)
    {
        return bad(format!(
            "each output needs a non-empty increasing list of gates below {}",
            dims.p
        ));
    }
    let mut starts = vec![0];
    for g in gates {
        starts.push(starts.last().unwrap() + g.len());
    }
    Ok(starts)
}

/// [`Backend::output_terms`] from host values of the predictions and targets, (n, c) row-major.
pub fn output_terms(
    preds: impl IntoIterator<Item = f64>,
    y: impl IntoIterator<Item = f64>,
    c: usize,
) -> Vec<[f64; 2]> {
    let mut out = vec![[0.0; 2]; c];
    for (k, (p, y)) in preds.into_iter().zip(y).enumerate() {
        let r = y - p;
        let o = &mut out[k % c.max(1)];
        o[0] += r * r;
        o[1] += r * y;
    }
    out
}
