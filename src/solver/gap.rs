//! The duality gap of the gated program, a certificate of suboptimality that costs no product.
//!
//! With m = n c, residual R = Y - Yhat(U) and A the design [D_1 X ... D_p X] per output,
//! P(U) = ||R||^2 / (2m) + lam R(U) and, for a norm regularizer R with dual norm R*,
//! D(Theta) = <Theta, Y> - (m/2) ||Theta||^2 subject to R*(A^T Theta) <= lam.
//! The dual point is the residual scaled: Theta = a R. Since the gradient at U is
//! G = -A^T R / m, feasibility is |a| m R*(G) <= lam, and the best such a maximises the concave
//! quadratic D(a R) = a <R, Y> - (m/2) a^2 ||R||^2 on that interval (celer's rescaling, with the
//! unconstrained maximiser clipped). Ridge (lam/2 ||U||^2) has the unconstrained dual
//! D(Theta) = <Theta, Y> - (m/2)||Theta||^2 - ||A^T Theta||^2 / (2 lam), maximised over a alone.
//! Weak duality gives G = P(U) - D(Theta) >= P(U) - P* >= 0. No regularizer (or lam = 0) has no
//! bounded dual feasible set to scale into: the gap is not defined there.
//!
//! Everything comes from quantities the solver holds: ||R||^2 (the loss), ||Yhat||^2 (a dot of the
//! predictions), ||Y||^2 (once), and R*(G) from the gradient at U that the stopping test
//! computes anyway. Scalars are accumulated in f64.

use crate::backend::Backend;
use crate::error::Result;
use crate::regularizer::{Regularizer, column_sumsq};

/// The certificate at one iterate: the primal objective, the dual value and their gap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gap {
    pub primal: f64,
    pub dual: f64,
    /// P(U) - D(Theta); may fall a rounding error below 0.
    pub gap: f64,
    /// gap / P(0), P(0) = ||Y||^2 / (2m): free of the data's scale, of lam and of n c.
    pub rel_gap: f64,
}

/// The dual norm R*(G) of the gradient: the largest value of R*(A^T Theta) constraint terms.
fn dual_norm<B: Backend>(be: &B, reg: Regularizer, grad: &B::Buf) -> Result<f64> {
    let d = be.dims().d.max(1);
    Ok(match reg {
        // Groups of d weights (one neuron): the largest group's Euclidean norm.
        Regularizer::NeuronGl1 => be.group_norms(grad)?.into_iter().fold(0.0, f64::max),
        // Entries: the largest magnitude.
        Regularizer::L1 => be.download(grad)?.iter().fold(0.0, |m, v| m.max(v.abs())),
        // Feature columns across every group: the largest column norm.
        Regularizer::FeatureGl1 => column_sumsq(&be.download(grad)?, d)
            .into_iter()
            .fold(0.0, f64::max)
            .sqrt(),
        Regularizer::L2 | Regularizer::None => f64::NAN,
    })
}

/// The gap at U from its predictions `preds`, its data loss `loss` (= ||R||^2 / (2m)), its
/// penalty value `pen` (= R(U)) and its gradient `grad`; `y_sq` is ||Y||^2. None where the
/// regularizer has no dual to scale into (none, or lam = 0).
#[allow(clippy::too_many_arguments)]
pub fn duality_gap<B: Backend>(
    be: &B,
    reg: Regularizer,
    lam: f64,
    y_sq: f64,
    preds: &B::Buf,
    loss: f64,
    pen: f64,
    grad: &B::Buf,
) -> Result<Option<Gap>> {
    if reg == Regularizer::None || lam <= 0.0 {
        return Ok(None);
    }
    let dims = be.dims();
    let m = (dims.n * dims.c) as f64;
    let r_sq = 2.0 * m * loss;
    let yhat_sq = be.dot(preds, preds)?;
    // <R, Y> = (||Y||^2 + ||R||^2 - ||Yhat||^2) / 2, from R = Y - Yhat.
    let r_y = 0.5 * (y_sq + r_sq - yhat_sq);
    let primal = loss + lam * pen;
    let dual = if reg == Regularizer::L2 {
        let g_sq = be.dot(grad, grad)?;
        let denom = m * r_sq + m * m * g_sq / lam;
        if denom > 0.0 {
            let a = r_y / denom;
            a * r_y - 0.5 * m * a * a * r_sq - a * a * m * m * g_sq / (2.0 * lam)
        } else {
            0.0
        }
    } else {
        let k = dual_norm(be, reg, grad)?;
        let bound = if k > 0.0 {
            lam / (m * k)
        } else {
            f64::INFINITY
        };
        let a = if r_sq > 0.0 {
            (r_y / (m * r_sq)).clamp(-bound, bound)
        } else {
            0.0
        };
        a * r_y - 0.5 * m * a * a * r_sq
    };
    let p0 = y_sq / (2.0 * m);
    let gap = primal - dual;
    Ok(Some(Gap {
        primal,
        dual,
        gap,
        rel_gap: if p0 > 0.0 { gap / p0 } else { gap },
    }))
}
