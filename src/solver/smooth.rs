//! The smooth part of the objective R-FISTA minimises, and the masked operations a solve runs
//! on it (gradient, line-search trial, duality gap), with the count of products they launch.

use super::gap::{Gap, duality_gap};
use crate::backend::{Backend, ConePenalty};
use crate::error::Result;
use crate::regularizer::Regularizer;

/// The smooth part of the objective R-FISTA minimises: the data loss f(U) (when `data_loss`)
/// plus, optionally, a shifted quadratic penalty on the cone gaps (the augmented Lagrangian's
/// term, or the approximate decomposition's whole objective).
pub struct Smooth<'a, B: Backend> {
    pub data_loss: bool,
    pub cone: Option<ConePenalty<'a, B::Buf>>,
}

impl<B: Backend> Smooth<'_, B> {
    /// The gated program: f(U) alone.
    pub fn gated() -> Self {
        Smooth {
            data_loss: true,
            cone: None,
        }
    }
}

/// The masked operations of one solve, with the count of products they launch.
pub(super) struct Ops<'a, B: Backend> {
    pub(super) be: &'a B,
    pub(super) reg: Regularizer,
    pub(super) lam: f64,
    /// 2 n c: the loss's normaliser.
    pub(super) nc2: f64,
    pub(super) data_loss: bool,
    pub(super) cone: Option<&'a ConePenalty<'a, B::Buf>>,
    /// ||Y||^2 where the gap is defined (the gated program: data loss, no cone penalty).
    pub(super) y_sq: Option<f64>,
    /// Masked products (forward or adjoint over all groups), counted as they are launched.
    pub(super) products: u64,
    /// The best dual value seen per output in this solve (see [`duality_gap`]).
    pub(super) best_dual: Vec<f64>,
}

impl<B: Backend> Ops<'_, B> {
    /// Gradient of the smooth part at u (predictions pu, or products z on the lifted path) into
    /// g, the cone penalty's part formed in the scratch gp. Returns the penalty's value.
    pub(super) fn grad_at(
        &mut self,
        u: &B::Buf,
        pu: &B::Buf,
        z: Option<&B::Buf>,
        g: &mut B::Buf,
        gp: Option<&mut B::Buf>,
    ) -> Result<f64> {
        let be = self.be;
        if let (Some(z), Some(cp)) = (z, self.cone) {
            self.products += 1;
            return be.lifted_gradient(z, cp, self.data_loss, g);
        }
        if self.data_loss {
            be.gradient(pu, g)?;
            self.products += 1;
        }
        match (self.cone, gp) {
            (Some(cp), Some(gp)) => {
                let t = be.cone(u, cp.neg_from, Some(cp), Some(gp))?;
                if self.data_loss {
                    be.axpby(1.0, gp, 1.0, g)?;
                } else {
                    be.copy(gp, g)?;
                }
                Ok(t.penalty)
            }
            _ => Ok(0.0),
        }
    }

    /// One line-search trial at step eta: U+ = prox(V - eta grad), and
    /// (smooth(U+), smooth(U+) - smooth(V) - <grad, U+ - V>, ||U+ - V||^2, penalty(U+)).
    /// The data loss is quadratic, so its part of the curvature is
    /// ||Yhat(U+) - Yhat(V)||^2 / (2 n c) exactly; computing it that way avoids the
    /// cancellation that stalls the textbook test near the optimum. The cone penalty's part is
    /// formed per constraint by the backend, likewise. On the lifted path both parts come from
    /// Z of U+ - V, and Z of U+ = Z of V + Z of the step.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn trial(
        &mut self,
        eta: f64,
        v: &B::Buf,
        gv: &B::Buf,
        pv: &B::Buf,
        u_new: &mut B::Buf,
        pu_new: &mut B::Buf,
        scratch: &mut B::Buf,
        z: Option<&mut [B::Buf; 3]>,
    ) -> Result<(f64, f64, f64, f64)> {
        let (be, reg, lam) = (self.be, self.reg, self.lam);
        if let (Some([_, zv, zn]), Some(cp)) = (z, self.cone) {
            let sq = be.prox_step(reg, lam, eta, v, gv, u_new)?;
            be.combine(1.0, u_new, -1.0, v, scratch)?;
            be.lift(scratch, zn)?;
            self.products += 1;
            let t = be.lifted_trial(zv, zn, cp, self.data_loss)?;
            return Ok((t.loss + t.penalty, t.curvature, sq, t.penalty));
        }
        let (mut f_new, mut curv, sq) = if self.data_loss {
            let tr = be.trial(reg, lam, eta, v, gv, pv, u_new, pu_new)?;
            self.products += 1;
            (tr.loss, tr.curv_sq / self.nc2, tr.step_sq)
        } else {
            (0.0, 0.0, be.prox_step(reg, lam, eta, v, gv, u_new)?)
        };
        let mut cp_new = 0.0;
        if let Some(cp) = self.cone {
            be.combine(1.0, u_new, -1.0, v, scratch)?;
            let (pn, cv) = be.cone_trial(v, scratch, cp)?;
            cp_new = pn;
            curv += cv;
            f_new += pn;
        }
        Ok((f_new, curv, sq, cp_new))
    }

    /// The duality gap at U (predictions pu, gradient g), where the program has one, with the
    /// best dual value seen in this solve.
    pub(super) fn gap_at(
        &mut self,
        pu: &B::Buf,
        loss: f64,
        pen: f64,
        g: &B::Buf,
    ) -> Result<Option<Gap>> {
        match self.y_sq {
            Some(y_sq) => duality_gap(
                self.be,
                self.reg,
                self.lam,
                y_sq,
                pu,
                loss,
                pen,
                g,
                Some(&mut self.best_dual),
            ),
            None => Ok(None),
        }
    }
}
