//! R-FISTA: proximal gradient with FISTA momentum, backtracking and forward-tracking line
//! search, and gradient-mapping restarts (Mishkin et al. 2022, Sec. 5 and App. C; the rules of
//! scnn's solver).
//!
//! The model is linear in U, so predictions and the data gradient of the extrapolated point V
//! are the same combination of those of U+ and U: an iteration is one masked forward per
//! line-search trial and one gradient at U+ (which the stopping test needs anyway). With a cone
//! penalty, on backends with lifted operations, the products Z = X U^T play the predictions'
//! part: one product per trial and one adjoint each for U+ and V.

use super::gap::{Gap, duality_gap};
use super::{IterInfo, Observer, Solution, Status};
use crate::backend::{Backend, ConePenalty};
use crate::error::{Error, Result};
use std::time::Instant;

pub use super::fista_settings::{FistaParams, FistaSettings};
pub use super::workspace::{Start, Workspace};

/// The next trial's step is at most this fraction of the step a failed trial implies.
const IMPLIED_MARGIN: f64 = 0.9;
/// At most this many backtracking factors skipped at once (0.8^200 ~ 4e-20).
const MAX_SKIPS: usize = 200;

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

/// Minimises f(U) + lam R(U) from `init` (zeros when `None`).
pub fn solve<B: Backend>(
    be: &B,
    params: &FistaParams,
    init: Option<&[f64]>,
    obs: &mut dyn Observer,
) -> Result<Solution> {
    solve_smooth(be, params, init, &Smooth::gated(), obs)
}

/// Everything R-FISTA needs to continue a run where it stopped: the iterate U, the
/// extrapolated point V (both on the host), the momentum t, the step, the iteration count and
/// the initial objective (for the divergence test).
#[derive(Debug, Clone, PartialEq)]
pub struct FistaState {
    pub iteration: usize,
    pub t: f64,
    pub eta: f64,
    pub f_init: f64,
    pub failures: usize,
    pub u: Vec<f64>,
    pub v: Vec<f64>,
    /// Z = X U^T of U and of V on the lifted path (there Z of V is a running combination, so a
    /// resumed run needs them to retrace the uninterrupted one bit for bit).
    pub z: Option<[Vec<f64>; 2]>,
    /// The predictions and gradient at V, which the run formed as combinations: a resume that
    /// recomputed them would differ in the last bits, and the iterates would drift apart.
    /// Absent in checkpoints of earlier versions (then recomputed).
    pub at_v: Option<[Vec<f64>; 2]>,
}

fn iterations_at_start(resume: Option<&FistaState>) -> usize {
    resume.map_or(0, |st| st.iteration)
}

/// Minimises smooth(U) + lam R(U) from `init` (zeros when `None`).
pub fn solve_smooth<B: Backend>(
    be: &B,
    params: &FistaParams,
    init: Option<&[f64]>,
    smooth: &Smooth<'_, B>,
    obs: &mut dyn Observer,
) -> Result<Solution> {
    solve_resumable(be, params, init, None, smooth, obs)
}

/// Minimises smooth(U) + lam R(U) from `init`, or continues the run `resume` (whose iteration
/// count carries on: `max_iters` counts from the start of the original run). When the
/// observer asks for checkpoints, the state is handed to it every so many iterations and at
/// the end.
pub fn solve_resumable<B: Backend>(
    be: &B,
    params: &FistaParams,
    init: Option<&[f64]>,
    resume: Option<&FistaState>,
    smooth: &Smooth<'_, B>,
    obs: &mut dyn Observer,
) -> Result<Solution> {
    let start = match (resume, init) {
        (Some(st), _) => Start::Resume(st),
        (None, Some(w)) => Start::Weights(w),
        (None, None) => Start::Zero,
    };
    let mut ws = Workspace::new(be, smooth)?;
    let mut sol = solve_in(be, params, &mut ws, start, smooth, obs)?;
    sol.weights = be.download(&ws.u)?;
    Ok(sol)
}

/// The solve itself, in the buffers of `ws` (which holds the final iterate afterwards); the
/// returned solution's `weights` are left empty, for the caller to download when it needs them.
pub fn solve_in<B: Backend>(
    be: &B,
    params: &FistaParams,
    ws: &mut Workspace<B>,
    start_at: Start<'_>,
    smooth: &Smooth<'_, B>,
    obs: &mut dyn Observer,
) -> Result<Solution> {
    let resume = match start_at {
        Start::Resume(st) => Some(st),
        _ => None,
    };
    if let Some(st) = resume {
        if st.v.len() != st.u.len() {
            return Err(Error::shape(
                "checkpoint V",
                st.u.len().to_string(),
                st.v.len().to_string(),
            ));
        }
    }
    let s = params.get();
    let (reg, lam) = (s.regularizer, s.lambda);
    let dims = be.dims();
    let start = Instant::now();
    let nc2 = (2 * dims.n * dims.c) as f64;
    let data_loss = smooth.data_loss;
    let cone = smooth.cone.as_ref();
    // Masked products (forward or adjoint over all groups), counted as they are launched.
    let products = std::cell::Cell::new(0u64);
    let count = |k: u64| products.set(products.get() + k);
    // The gap certifies the gated program only (no cone penalty); ||Y||^2 from the loss at 0.
    let y_sq = if data_loss && cone.is_none() {
        let z = be.zeros(dims.preds())?;
        Some(be.loss(&z)? * nc2)
    } else {
        None
    };
    let gap_at = |pu: &B::Buf, loss: f64, pen: f64, g: &B::Buf| -> Result<Option<Gap>> {
        match y_sq {
            Some(y_sq) => duality_gap(be, reg, lam, y_sq, pu, loss, pen, g),
            None => Ok(None),
        }
    };
    // The stopping test: the relative gap where asked for and defined, else scnn's rule.
    let converged = |gap: Option<Gap>, gnsq: f64| match (s.gap_tol, gap) {
        (Some(tol), Some(g)) => g.rel_gap <= tol,
        _ => gnsq <= s.tol,
    };

    let init = match start_at {
        Start::Weights(w) => Some(w),
        Start::Resume(st) => Some(st.u.as_slice()),
        Start::Zero | Start::Warm => None,
    };
    if let Some(w) = init {
        if w.len() != dims.weights() {
            return Err(Error::shape(
                "initial weights",
                dims.weights().to_string(),
                w.len().to_string(),
            ));
        }
        ws.u = be.upload(w)?;
    }
    let Workspace {
        u,
        pu,
        gu,
        v,
        pv,
        gv,
        u_new,
        pu_new,
        diff,
        gp,
        z,
    } = ws;
    // Gradient of the smooth part at u (predictions pu, or products z on the lifted path) into
    // g, the cone penalty's part formed in the scratch gp. Returns the penalty's value.
    let grad_at =
        |u: &B::Buf, pu: &B::Buf, z: Option<&B::Buf>, g: &mut B::Buf, gp: Option<&mut B::Buf>| {
            if let (Some(z), Some(cp)) = (z, cone) {
                count(1);
                return be.lifted_gradient(z, cp, data_loss, g);
            }
            if data_loss {
                be.gradient(pu, g)?;
                count(1);
            }
            match (cone, gp) {
                (Some(cp), Some(gp)) => {
                    let t = be.cone(u, cp.neg_from, Some(cp), Some(gp))?;
                    if data_loss {
                        be.axpby(1.0, gp, 1.0, g)?;
                    } else {
                        be.copy(gp, g)?;
                    }
                    Ok::<f64, Error>(t.penalty)
                }
                _ => Ok(0.0),
            }
        };
    if data_loss {
        be.forward(u, pu)?;
        count(1);
    }
    let saved_z = resume.and_then(|st| st.z.as_ref());
    let cons = dims.n * dims.c * dims.p;
    if let Some(z) = z.as_mut() {
        match saved_z {
            Some([zu, zv]) if zu.len() == cons && zv.len() == cons => {
                z[0] = be.upload(zu)?;
                z[1] = be.upload(zv)?;
            }
            Some([zu, _]) => {
                return Err(Error::shape(
                    "checkpoint z_u, z_v",
                    cons.to_string(),
                    zu.len().to_string(),
                ));
            }
            None => {
                be.lift(u, &mut z[0])?;
                count(1);
            }
        }
    }
    let mut cpen = grad_at(u, pu, z.as_ref().map(|z| &z[0]), gu, gp.as_mut())?;

    let mut loss = if data_loss { be.loss(pu)? } else { 0.0 };
    let (mut pen, mut gnsq) = be.objective_terms(reg, lam, u, gu)?;
    // The gap costs a few reductions (and read-backs on a GPU): it is formed where the stopping
    // rule needs it, on iterations the observer logs, and for the final iterate.
    let want_gap = |k: usize, obs: &dyn Observer| s.gap_tol.is_some() || obs.wants_detail(k);
    let mut gap = if want_gap(iterations_at_start(resume), obs) {
        gap_at(pu, loss, pen, gu)?
    } else {
        None
    };
    let mut gap_fresh = want_gap(iterations_at_start(resume), obs);
    let f_init = resume.map_or(loss + cpen + lam * pen, |st| st.f_init);

    // Extrapolated point V, its predictions and gradient; start at U (or the saved V).
    if let Some(st) = resume {
        *v = be.upload(&st.v)?;
        if let Some([p, g]) = &st.at_v {
            if p.len() != dims.preds() || g.len() != dims.weights() {
                return Err(Error::shape(
                    "checkpoint p_v, g_v",
                    format!("{} and {}", dims.preds(), dims.weights()),
                    format!("{} and {}", p.len(), g.len()),
                ));
            }
        }
    }
    match resume {
        Some(st) if st.at_v.is_some() && (z.is_none() || saved_z.is_some()) => {
            let [p, g] = st.at_v.as_ref().expect("checked");
            *pv = be.upload(p)?;
            *gv = be.upload(g)?;
        }
        Some(_) => {
            if data_loss {
                be.forward(v, pv)?;
                count(1);
            }
            if let (Some([_, zv, _]), None) = (z.as_mut(), saved_z) {
                be.lift(v, zv)?;
                count(1);
            }
            grad_at(v, pv, z.as_ref().map(|z| &z[1]), gv, gp.as_mut())?;
        }
        None => {
            be.copy(u, v)?;
            be.copy(pu, pv)?;
            be.copy(gu, gv)?;
            if let Some([zu, zv, _]) = z.as_mut() {
                be.copy(zu, zv)?;
            }
        }
    }

    // The gradient at U. The data gradient is affine in U, so the gradient at the extrapolated
    // point V+ = U+ + m (U+ - U) is (1 + m) grad(U+) - m grad(U): no product of its own (TFOCS's
    // trick). The cone penalty's gradient is not affine: with one, every V gets its product.
    // On the lifted path Z of V is such a combination too, refreshed by its own product every
    // `refresh_every` iterations.
    let affine = cone.is_none();
    let g_prev = gu;
    // diff: scratch for U+ - V, U+ - U, then the gradient at U+.
    // Round-off grows with every combination: every `refresh_every`-th iteration forms them by
    // products instead, keyed on the iteration count (which a checkpoint keeps, so a resumed
    // run refreshes where the uninterrupted one did).

    let (mut eta, mut t, mut failures, mut iterations) = match resume {
        Some(st) => (st.eta, st.t, st.failures, st.iteration),
        None => (s.step0, 1.0f64, 0, 0),
    };

    let info = |k: usize,
                loss: f64,
                cpen: f64,
                pen: f64,
                gnsq: f64,
                gap: Option<Gap>,
                eta: f64,
                restarted,
                tries,
                active| IterInfo {
        iteration: k,
        gap: gap.map(|g| g.gap),
        rel_gap: gap.map(|g| g.rel_gap),
        products: products.get(),
        objective: loss + cpen + lam * pen,
        loss,
        penalty: pen,
        grad_norm_sq: gnsq,
        step: eta,
        restarted,
        line_search_tries: tries,
        active,
        time_s: start.elapsed().as_secs_f64(),
    };
    let active = |be: &B, u: &B::Buf, want: bool| -> Result<Option<usize>> {
        Ok(if want {
            Some(be.active_groups(u)?)
        } else {
            None
        })
    };
    if resume.is_none() {
        let a0 = active(be, u, obs.wants_detail(0))?;
        obs.observe(&info(0, loss, cpen, pen, gnsq, gap, eta, false, 0, a0));
    }

    // One line-search trial at step eta: U+ = prox(V - eta grad), and
    // (smooth(U+), smooth(U+) - smooth(V) - <grad, U+ - V>, ||U+ - V||^2, penalty(U+)).
    // The data loss is quadratic, so its part of the curvature is ||Yhat(U+) - Yhat(V)||^2 / (2 n c)
    // exactly; computing it that way avoids the cancellation that stalls the textbook test near
    // the optimum. The cone penalty's part is formed per constraint by the backend, likewise.
    // On the lifted path both parts come from Z of U+ - V, and Z of U+ = Z of V + Z of the step.
    let trial = |eta: f64,
                 v: &B::Buf,
                 gv: &B::Buf,
                 pv: &B::Buf,
                 u_new: &mut B::Buf,
                 pu_new: &mut B::Buf,
                 scratch: &mut B::Buf,
                 z: Option<&mut [B::Buf; 3]>|
     -> Result<(f64, f64, f64, f64)> {
        if let (Some([_, zv, zn]), Some(cp)) = (z, cone) {
            let sq = be.prox_step(reg, lam, eta, v, gv, u_new)?;
            be.combine(1.0, u_new, -1.0, v, scratch)?;
            be.lift(scratch, zn)?;
            count(1);
            let t = be.lifted_trial(zv, zn, cp, data_loss)?;
            return Ok((t.loss + t.penalty, t.curvature, sq, t.penalty));
        }
        let (mut f_new, mut curv, sq) = if data_loss {
            let tr = be.trial(reg, lam, eta, v, gv, pv, u_new, pu_new)?;
            count(1);
            (tr.loss, tr.curv_sq / nc2, tr.step_sq)
        } else {
            (0.0, 0.0, be.prox_step(reg, lam, eta, v, gv, u_new)?)
        };
        let mut cp_new = 0.0;
        if let Some(cp) = cone {
            be.combine(1.0, u_new, -1.0, v, scratch)?;
            let (pn, cv) = be.cone_trial(v, scratch, cp)?;
            cp_new = pn;
            curv += cv;
            f_new += pn;
        }
        Ok((f_new, curv, sq, cp_new))
    };

    let mut status = if converged(gap, gnsq) {
        Status::Converged
    } else {
        Status::MaxIterations
    };
    while status == Status::MaxIterations && iterations < s.max_iters {
        // Line search from V: shrink eta until the quadratic upper bound
        // F(U+) <= F(V) + <grad, U+ - V> + ||U+ - V||^2 / (2 eta) holds (F the smooth part).
        let mut tries = 0;
        let (f_new, curv, sq, cp_new) = loop {
            let r = trial(eta, v, gv, pv, u_new, pu_new, diff, z.as_mut())?;
            tries += 1;
            if 2.0 * eta * r.1 <= r.2 {
                break r;
            }
            if tries >= s.max_backtracks {
                failures += 1;
                eta = s.fallback_step;
                log::warn!("line search failed after {tries} tries; taking step {eta:e}");
                break trial(eta, v, gv, pv, u_new, pu_new, diff, z.as_mut())?;
            }
            // The bound fails by a known amount: along this trial's direction the quadratic
            // model holds up to the step ||U+ - V||^2 / (2 curv). Skip the backtracking
            // factors that would still be above it (with a margin) without trying them (from
            // --step0 10 the first MNIST iteration took 5 extra products). The step stays on
            // the walk's lattice, step0 x 0.8^a x 1.25^b: taking the implied step itself made
            // it a function of round-off, and runs on two devices drifted apart.
            let target = IMPLIED_MARGIN * r.2 / (2.0 * r.1);
            eta *= s.backtrack;
            let mut skips = 0;
            while target.is_finite() && eta > target && skips < MAX_SKIPS {
                eta *= s.backtrack;
                skips += 1;
            }
        };
        let step_used = eta;
        // Forward tracking: grow the step when the bound held with room to spare.
        if sq > s.grow_threshold * 2.0 * eta * curv {
            eta *= s.grow_factor;
        }

        // Gradient-mapping restart test: <U+ - U, V - U+> > 0.
        be.combine(1.0, u_new, -1.0, u, diff)?; // diff = U+ - U
        be.axpby(-1.0, u_new, 1.0, v)?; // v = V - U+ (V is rebuilt below)
        let restart = be.dot(diff, v)? > 0.0;

        let mut momentum = 0.0;
        if restart {
            t = 1.0;
            be.copy(u_new, v)?;
            if let Some([_, zv, zn]) = z.as_mut() {
                be.copy(zn, zv)?;
            } else {
                be.copy(pu_new, pv)?;
            }
        } else {
            let t_new = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            let m = (t - 1.0) / t_new;
            momentum = m;
            t = t_new;
            // V = U+ + m (U+ - U), and the same for the (linear) predictions or products.
            be.combine(1.0, u_new, m, diff, v)?;
            if let Some([zu, zv, zn]) = z.as_mut() {
                be.combine(1.0 + m, zn, -m, zu, zv)?;
            } else {
                be.combine(1.0 + m, pu_new, -m, pu, pv)?;
            }
        }
        std::mem::swap(u, u_new);
        std::mem::swap(pu, pu_new);
        if let Some([zu, _, zn]) = z.as_mut() {
            std::mem::swap(zu, zn);
        }
        iterations += 1;

        // Stopping test at U+ (= u now): needs the gradient at U+.
        loss = f_new - cp_new;
        cpen = grad_at(u, pu, z.as_ref().map(|z| &z[0]), diff, gp.as_mut())?;
        (pen, gnsq) = be.objective_terms(reg, lam, u, diff)?;
        gap_fresh = want_gap(iterations, obs);
        gap = if gap_fresh {
            gap_at(pu, loss, pen, diff)?
        } else {
            None
        };

        // Gradient at the new V: free after a restart (V = U+); otherwise the affine
        // combination, or one adjoint product when a refresh is due (or with a cone penalty).
        let refresh = iterations % s.refresh_every == 0;
        if restart {
            be.copy(diff, gv)?;
        } else if affine && !refresh {
            let m = momentum;
            be.combine(1.0 + m, diff, -m, g_prev, gv)?;
        } else {
            if let (Some([zu, zv, _]), true) = (z.as_mut(), refresh) {
                // Both at once: Z of the trial point is Z of V plus Z of the step, so a fresh Z
                // of V next to a drifted Z of U would start a drift that grows linearly and,
                // compounded over refreshes, geometrically.
                be.lift(u, zu)?;
                be.lift(v, zv)?;
                count(2);
            }
            grad_at(v, pv, z.as_ref().map(|z| &z[1]), gv, gp.as_mut())?;
        }
        std::mem::swap(g_prev, diff);

        let objective = loss + cpen + lam * pen;
        if converged(gap, gnsq) {
            status = Status::Converged;
        } else if !objective.is_finite() || (f_init > 0.0 && objective > 1000.0 * f_init) {
            status = Status::Diverged;
        } else if s
            .time_limit
            .is_some_and(|t| start.elapsed().as_secs_f64() >= t)
        {
            status = Status::MaxTime;
        }
        let a = active(
            be,
            u,
            obs.wants_detail(iterations) || status != Status::MaxIterations,
        )?;
        obs.observe(&info(
            iterations, loss, cpen, pen, gnsq, gap, step_used, restart, tries, a,
        ));
        let stop = obs.should_stop();
        let due = obs.checkpoint_every().is_some_and(|every| {
            status != Status::MaxIterations
                || iterations >= s.max_iters
                || iterations % every.max(1) == 0
        });
        if due || stop {
            let state = FistaState {
                iteration: iterations,
                t,
                eta,
                f_init,
                failures,
                u: be.download(u)?,
                v: be.download(v)?,
                z: match z.as_ref() {
                    Some([zu, zv, _]) => Some([be.download(zu)?, be.download(zv)?]),
                    None => None,
                },
                at_v: Some([be.download(pv)?, be.download(gv)?]),
            };
            obs.checkpoint(&state)?;
        }
        if stop && status == Status::MaxIterations {
            status = Status::Interrupted;
        }
    }

    if !gap_fresh {
        // g_prev holds the gradient at the final U.
        gap = gap_at(pu, loss, pen, g_prev)?;
    }
    Ok(Solution {
        weights: Vec::new(),
        status,
        iterations,
        objective: loss + cpen + lam * pen,
        loss,
        cone_penalty: cpen,
        penalty: pen,
        grad_norm_sq: gnsq,
        gap: gap.map(|g| g.gap),
        rel_gap: gap.map(|g| g.rel_gap),
        products: products.get(),
        step: eta,
        line_search_failures: failures,
        time_s: start.elapsed().as_secs_f64(),
    })
}
