//! R-FISTA: proximal gradient with FISTA momentum, backtracking and forward-tracking line
//! search, and gradient-mapping restarts (Mishkin et al. 2022, Sec. 5 and App. C; the rules of
//! scnn's solver).
//!
//! The model is linear in U, so predictions of the extrapolated point V are the same
//! combination of the predictions of U+ and U: one masked forward per line-search trial and one
//! gradient each for V and U+ (the latter only for the stopping test) make an iteration.

use super::gap::{Gap, duality_gap};
use super::{IterInfo, Observer, Solution, Status};
use crate::backend::{Backend, ConePenalty};
use crate::error::{Error, Result};
use crate::regularizer::Regularizer;
use std::time::Instant;

/// R-FISTA settings as the user gives them (defaults from the paper's solver). `check()` turns
/// them into [`FistaParams`].
///
/// | name | default | meaning | valid |
/// |---|---|---|---|
/// | lambda | 1e-5 | regularization strength | >= 0 |
/// | regularizer | neuron-gl1 | R(U) | |
/// | tol | 1e-6 | stop when squared min-norm subgradient norm <= tol | > 0 |
/// | max_iters | 10000 | iteration budget | >= 1 |
/// | step0 | 10 | initial step size | > 0 |
/// | backtrack | 0.8 | step multiplier on a failed trial | (0, 1) |
/// | max_backtracks | 50 | failed trials before the fallback step | >= 1 |
/// | fallback_step | 1e-8 | step taken when the line search gives up | > 0 |
/// | grow_threshold | 5 | grow the step when the quadratic bound holds this loosely | >= 1 |
/// | grow_factor | 1.25 | step multiplier on growth | >= 1 |
/// | gap_tol | none | stop when the relative duality gap is <= gap_tol instead (where the regularizer has a dual; see [`super::gap`]) | > 0 |
/// | time_limit | none | end with status MaxTime after this many seconds | > 0 |
/// | refresh_every | 50 | form the gradient at V by an explicit product every N iterations (1: always, three products per iteration) | >= 1 |
#[derive(Debug, Clone)]
pub struct FistaSettings {
    pub lambda: f64,
    pub regularizer: Regularizer,
    pub tol: f64,
    pub max_iters: usize,
    pub step0: f64,
    pub backtrack: f64,
    pub max_backtracks: usize,
    pub fallback_step: f64,
    pub grow_threshold: f64,
    pub grow_factor: f64,
    pub gap_tol: Option<f64>,
    pub time_limit: Option<f64>,
    pub refresh_every: usize,
}

impl Default for FistaSettings {
    fn default() -> Self {
        FistaSettings {
            lambda: 1e-5,
            regularizer: Regularizer::NeuronGl1,
            tol: 1e-6,
            max_iters: 10_000,
            step0: 10.0,
            backtrack: 0.8,
            max_backtracks: 50,
            fallback_step: 1e-8,
            grow_threshold: 5.0,
            grow_factor: 1.25,
            gap_tol: None,
            time_limit: None,
            refresh_every: 50,
        }
    }
}

/// Validated settings; fields are read-only so the solver never sees a bad value.
#[derive(Debug, Clone)]
pub struct FistaParams(FistaSettings);

impl FistaParams {
    pub fn get(&self) -> &FistaSettings {
        &self.0
    }

    /// The defaults, which are valid.
    pub fn default_params() -> FistaParams {
        FistaParams(FistaSettings::default())
    }
}

impl FistaSettings {
    pub fn check(self) -> Result<FistaParams> {
        let bad = |flag, msg: String| Err(Error::param(flag, msg));
        if !(self.lambda >= 0.0 && self.lambda.is_finite()) {
            return bad(
                "--lambda",
                format!("{} (must be a finite number >= 0)", self.lambda),
            );
        }
        if !(self.tol > 0.0 && self.tol.is_finite()) {
            return bad("--tol", format!("{} (must be > 0)", self.tol));
        }
        if self.max_iters == 0 {
            return bad("--max-iters", "0 (must be >= 1)".into());
        }
        if !(self.step0 > 0.0 && self.step0.is_finite()) {
            return bad("--step0", format!("{} (must be > 0)", self.step0));
        }
        if !(self.backtrack > 0.0 && self.backtrack < 1.0) {
            return bad(
                "--backtrack",
                format!("{} (must be in (0, 1))", self.backtrack),
            );
        }
        if self.max_backtracks == 0 || self.fallback_step.is_nan() || self.fallback_step <= 0.0 {
            return bad(
                "--max-backtracks",
                "need >= 1 tries and a positive fallback step".into(),
            );
        }
        if !(self.grow_threshold >= 1.0 && self.grow_factor >= 1.0) {
            return bad(
                "--grow-factor",
                "growth threshold and factor must be >= 1".into(),
            );
        }
        if self.refresh_every == 0 {
            return bad("refresh_every", "0 (must be >= 1)".into());
        }
        if let Some(g) = self.gap_tol {
            if !(g > 0.0 && g.is_finite()) {
                return bad("--gap-tol", format!("{g} (must be > 0)"));
            }
        }
        if let Some(t) = self.time_limit {
            if t.is_nan() || t <= 0.0 {
                return bad("--time-limit", format!("{t} (must be > 0 seconds)"));
            }
        }
        Ok(FistaParams(self))
    }
}

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
    let init = resume.map(|st| st.u.as_slice()).or(init);
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

    let mut u = match init {
        Some(w) if w.len() == dims.weights() => be.upload(w)?,
        Some(w) => {
            return Err(Error::shape(
                "initial weights",
                dims.weights().to_string(),
                w.len().to_string(),
            ));
        }
        None => be.zeros(dims.weights())?,
    };
    // Gradient of the smooth part at u (predictions pu) into g, the cone penalty's part formed
    // in the scratch gp. Returns the penalty's value.
    let grad_at = |u: &B::Buf, pu: &B::Buf, g: &mut B::Buf, gp: Option<&mut B::Buf>| {
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
    let mut gp = cone.map(|_| be.zeros(dims.weights())).transpose()?;

    let mut pu = be.zeros(dims.preds())?;
    if data_loss {
        be.forward(&u, &mut pu)?;
        count(1);
    }
    let mut gu = be.zeros(dims.weights())?;
    let mut cpen = grad_at(&u, &pu, &mut gu, gp.as_mut())?;

    let mut loss = if data_loss { be.loss(&pu)? } else { 0.0 };
    let (mut pen, mut gnsq) = be.objective_terms(reg, lam, &u, &gu)?;
    // The gap costs a few reductions (and read-backs on a GPU): it is formed where the stopping
    // rule needs it, on iterations the observer logs, and for the final iterate.
    let want_gap = |k: usize, obs: &dyn Observer| s.gap_tol.is_some() || obs.wants_detail(k);
    let mut gap = if want_gap(iterations_at_start(resume), obs) {
        gap_at(&pu, loss, pen, &gu)?
    } else {
        None
    };
    let mut gap_fresh = want_gap(iterations_at_start(resume), obs);
    let f_init = resume.map_or(loss + cpen + lam * pen, |st| st.f_init);

    // Extrapolated point V, its predictions and gradient; start at U (or the saved V).
    let mut v = be.zeros(dims.weights())?;
    let mut pv = be.zeros(dims.preds())?;
    let mut gv = be.zeros(dims.weights())?;
    match resume {
        Some(st) => {
            v = be.upload(&st.v)?;
            if data_loss {
                be.forward(&v, &mut pv)?;
                count(1);
            }
            grad_at(&v, &pv, &mut gv, gp.as_mut())?;
        }
        None => {
            be.copy(&u, &mut v)?;
            be.copy(&pu, &mut pv)?;
            be.copy(&gu, &mut gv)?;
        }
    }

    let mut u_new = be.zeros(dims.weights())?;
    let mut pu_new = be.zeros(dims.preds())?;
    // The gradient at U. The data gradient is affine in U, so the gradient at the extrapolated
    // point V+ = U+ + m (U+ - U) is (1 + m) grad(U+) - m grad(U): no product of its own (TFOCS's
    // trick). The cone penalty's gradient is not affine: with one, every V gets its product.
    let affine = cone.is_none();
    let mut g_prev = gu;
    // Scratch for U+ - V, U+ - U, then the gradient at U+.
    let mut diff = be.zeros(dims.weights())?;
    // Iterations since the gradient at V was last formed by a product (round-off grows with
    // every combination; `refresh_every` bounds it).
    let mut combined = 0usize;

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
            Some(be.group_norms(u)?.iter().filter(|&&g| g > 0.0).count())
        } else {
            None
        })
    };
    if resume.is_none() {
        let a0 = active(be, &u, obs.wants_detail(0))?;
        obs.observe(&info(0, loss, cpen, pen, gnsq, gap, eta, false, 0, a0));
    }

    // One line-search trial at step eta: U+ = prox(V - eta grad), and
    // (smooth(U+), smooth(U+) - smooth(V) - <grad, U+ - V>, ||U+ - V||^2, penalty(U+)).
    // The data loss is quadratic, so its part of the curvature is ||Yhat(U+) - Yhat(V)||^2 / (2 n c)
    // exactly; computing it that way avoids the cancellation that stalls the textbook test near
    // the optimum. The cone penalty's part is formed per constraint by the backend, likewise.
    let trial = |eta: f64,
                 v: &B::Buf,
                 gv: &B::Buf,
                 pv: &B::Buf,
                 u_new: &mut B::Buf,
                 pu_new: &mut B::Buf,
                 scratch: &mut B::Buf|
     -> Result<(f64, f64, f64, f64)> {
        let (mut f_new, mut curv, sq) = if data_loss {
            let tr = be.trial(reg, lam, eta, v, gv, pv, u_new, pu_new)?;
            count(1);
            (tr.loss, tr.curv_sq / nc2, tr.step_sq)
        } else {
            (0.0, 0.0, be.prox_step(reg, lam, eta, v, gv, u_new)?)
        };
        let mut cp_new = 0.0;
        if let Some(cp) = cone {
            be.copy(u_new, scratch)?;
            be.axpby(-1.0, v, 1.0, scratch)?;
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
            let r = trial(eta, &v, &gv, &pv, &mut u_new, &mut pu_new, &mut diff)?;
            tries += 1;
            if 2.0 * eta * r.1 <= r.2 {
                break r;
            }
            if tries >= s.max_backtracks {
                failures += 1;
                eta = s.fallback_step;
                log::warn!("line search failed after {tries} tries; taking step {eta:e}");
                break trial(eta, &v, &gv, &pv, &mut u_new, &mut pu_new, &mut diff)?;
            }
            eta *= s.backtrack;
        };
        let step_used = eta;
        // Forward tracking: grow the step when the bound held with room to spare.
        if sq > s.grow_threshold * 2.0 * eta * curv {
            eta *= s.grow_factor;
        }

        // Gradient-mapping restart test: <U+ - U, V - U+> > 0.
        be.copy(&u_new, &mut diff)?;
        be.axpby(-1.0, &u, 1.0, &mut diff)?; // diff = U+ - U
        be.axpby(-1.0, &u_new, 1.0, &mut v)?; // v = V - U+ (V is rebuilt below)
        let restart = be.dot(&diff, &v)? > 0.0;

        let mut momentum = 0.0;
        if restart {
            t = 1.0;
            be.copy(&u_new, &mut v)?;
            be.copy(&pu_new, &mut pv)?;
        } else {
            let t_new = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            let m = (t - 1.0) / t_new;
            momentum = m;
            t = t_new;
            // V = U+ + m (U+ - U), and the same for the (linear) predictions.
            be.copy(&u_new, &mut v)?;
            be.axpby(m, &diff, 1.0, &mut v)?;
            be.copy(&pu_new, &mut pv)?;
            be.axpby(-m, &pu, 1.0 + m, &mut pv)?;
        }
        std::mem::swap(&mut u, &mut u_new);
        std::mem::swap(&mut pu, &mut pu_new);
        iterations += 1;

        // Stopping test at U+ (= u now): needs the gradient at U+.
        loss = f_new - cp_new;
        cpen = grad_at(&u, &pu, &mut diff, gp.as_mut())?;
        (pen, gnsq) = be.objective_terms(reg, lam, &u, &diff)?;
        gap_fresh = want_gap(iterations, obs);
        gap = if gap_fresh {
            gap_at(&pu, loss, pen, &diff)?
        } else {
            None
        };

        // Gradient at the new V: free after a restart (V = U+); otherwise the affine
        // combination, or one adjoint product when a refresh is due (or with a cone penalty).
        if restart {
            be.copy(&diff, &mut gv)?;
            combined = 0;
        } else if affine && combined + 1 < s.refresh_every {
            let m = momentum;
            be.copy(&diff, &mut gv)?;
            be.axpby(-m, &g_prev, 1.0 + m, &mut gv)?;
            combined += 1;
        } else {
            grad_at(&v, &pv, &mut gv, gp.as_mut())?;
            combined = 0;
        }
        std::mem::swap(&mut g_prev, &mut diff);

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
            &u,
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
                u: be.download(&u)?,
                v: be.download(&v)?,
            };
            obs.checkpoint(&state)?;
        }
        if stop && status == Status::MaxIterations {
            status = Status::Interrupted;
        }
    }

    if !gap_fresh {
        // g_prev holds the gradient at the final U.
        gap = gap_at(&pu, loss, pen, &g_prev)?;
    }
    Ok(Solution {
        weights: be.download(&u)?,
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
