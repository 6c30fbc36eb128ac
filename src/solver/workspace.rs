//! The device buffers of an R-FISTA solve, and where a solve starts.

use super::fista::{FistaState, Smooth};
use crate::backend::Backend;
use crate::error::Result;

/// The device buffers of one solve. The augmented Lagrangian keeps one across its inner solves,
/// so an outer step allocates nothing and the iterate stays on the device.
pub struct Workspace<B: Backend> {
    pub(super) u: B::Buf,
    pub(super) pu: B::Buf,
    pub(super) gu: B::Buf,
    pub(super) v: B::Buf,
    pub(super) pv: B::Buf,
    pub(super) gv: B::Buf,
    pub(super) u_new: B::Buf,
    pub(super) pu_new: B::Buf,
    pub(super) diff: B::Buf,
    /// The cone penalty's gradient (cone path without lifted operations).
    pub(super) gp: Option<B::Buf>,
    /// Z of U, V and the trial point (lifted path).
    pub(super) z: Option<[B::Buf; 3]>,
}

impl<B: Backend> Workspace<B> {
    /// Zeroed buffers for solving `smooth` on `be`.
    pub fn new(be: &B, smooth: &Smooth<'_, B>) -> Result<Self> {
        let dims = be.dims();
        let (w, pr) = (be.weights_len(), dims.preds());
        // The kept products are three more numbers per constraint: the AL's memory plan counts
        // them; the approximate decomposition (no data loss) promises any size, and keeps the
        // blocked passes that hold none.
        let lifted = smooth.cone.is_some() && smooth.data_loss && be.lifted();
        let z = if lifted {
            let cons = dims.n * dims.c * dims.p;
            Some([be.zeros(cons)?, be.zeros(cons)?, be.zeros(cons)?])
        } else {
            None
        };
        Ok(Workspace {
            u: be.zeros(w)?,
            pu: be.zeros(pr)?,
            gu: be.zeros(w)?,
            v: be.zeros(w)?,
            pv: be.zeros(pr)?,
            gv: be.zeros(w)?,
            u_new: be.zeros(w)?,
            pu_new: be.zeros(pr)?,
            diff: be.zeros(w)?,
            gp: (smooth.cone.is_some() && !lifted)
                .then(|| be.zeros(w))
                .transpose()?,
            z,
        })
    }

    /// The current iterate.
    pub fn u(&self) -> &B::Buf {
        &self.u
    }

    /// Z = X U^T of the current iterate (lifted path only).
    pub fn z_u(&self) -> Option<&B::Buf> {
        self.z.as_ref().map(|z| &z[0])
    }
}

/// Where a solve starts.
pub enum Start<'a> {
    /// U = 0 (the workspace must be fresh).
    Zero,
    /// U = these weights.
    Weights(&'a [f64]),
    /// Continue a checkpointed run.
    Resume(&'a FistaState),
    /// U = the workspace's iterate (the previous solve's last one), V = U, t = 1.
    Warm,
}
