//! R-FISTA: proximal gradient with FISTA momentum, backtracking and forward-tracking line
//! search, and gradient-mapping restarts (Mishkin et al. 2022, Sec. 5 and App. C; the rules of
//! scnn's solver).
//!
//! The model is linear in U, so predictions and the data gradient of the extrapolated point V
//! are the same combination of those of U+ and U: an iteration is one masked forward per
//! line-search trial and one gradient at U+ (which the stopping test needs anyway). With a cone
//! penalty, on backends with lifted operations, the products Z = X U^T play the predictions'
//! part: one product per trial, one adjoint for V, and one for U+ on the iterations that test
//! for the stop (every `CONE_TEST_EVERY`-th).

use super::executor::{Budget, Ctx, Executor, Iterative};
use super::gap::Gap;
use super::smooth::Ops;
use super::{IterInfo, Observer, Solution, Status};
use crate::backend::Backend;
use crate::error::{Error, Result};
use std::time::Instant;

pub use super::fista_settings::{DEFAULT_GAP_TOL, FistaParams, FistaSettings};
pub use super::smooth::Smooth;
pub use super::workspace::{Start, Workspace};

/// The next trial's step is at most this fraction of the step a failed trial implies.
const IMPLIED_MARGIN: f64 = 0.9;
/// At most this many backtracking factors skipped at once (0.8^200 ~ 4e-20).
const MAX_SKIPS: usize = 200;
/// With a cone penalty the stopping test's gradient at U+ is formed on every this-many-th
/// iteration only (and on restarts and logged iterations); see `Fista::step`.
const CONE_TEST_EVERY: usize = 4;

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
    /// The best dual value per output seen so far (the gap certifies against it, so a resumed
    /// run stops where the uninterrupted one did). Absent in older checkpoints.
    pub best_dual: Option<Vec<f64>>,
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
/// The loop is the [`Executor`]'s; this builds the iteration and hands it over.
pub fn solve_in<B: Backend>(
    be: &B,
    params: &FistaParams,
    ws: &mut Workspace<B>,
    start_at: Start<'_>,
    smooth: &Smooth<'_, B>,
    obs: &mut dyn Observer,
) -> Result<Solution> {
    let s = params.get();
    let mut fista = Fista::new(be, s, ws, start_at, smooth);
    let budget = Budget {
        max_iters: s.max_iters,
        time_limit: s.time_limit,
    };
    let status = Executor::new(budget, obs).run(&mut fista)?;
    fista.finish(status)
}

/// One R-FISTA run: the workspace's buffers, the momentum and step, and what the last
/// iteration measured.
struct Fista<'a, B: Backend> {
    ops: Ops<'a, B>,
    s: &'a FistaSettings,
    ws: &'a mut Workspace<B>,
    start_at: Option<Start<'a>>,
    start: Instant,
    eta: f64,
    t: f64,
    failures: usize,
    iterations: usize,
    f_init: f64,
    loss: f64,
    cpen: f64,
    pen: f64,
    gnsq: f64,
    /// Whether `gnsq` (and the gradient in `gu`) belong to the current iterate.
    tested: bool,
    gap: Option<Gap>,
    /// Whether `gap` belongs to the current iterate (it is formed only where wanted).
    gap_fresh: bool,
}

impl<'a, B: Backend> Fista<'a, B> {
    fn new(
        be: &'a B,
        s: &'a FistaSettings,
        ws: &'a mut Workspace<B>,
        start_at: Start<'a>,
        smooth: &'a Smooth<'a, B>,
    ) -> Self {
        let (eta, t, failures, iterations) = match &start_at {
            Start::Resume(st) => (st.eta, st.t, st.failures, st.iteration),
            _ => (s.step0, 1.0f64, 0, 0),
        };
        let dims = be.dims();
        Fista {
            ops: Ops {
                be,
                reg: s.regularizer,
                lam: s.lambda,
                nc2: (2 * dims.n * dims.c) as f64,
                data_loss: smooth.data_loss,
                cone: smooth.cone.as_ref(),
                y_sq: None,
                products: 0,
                best_dual: Vec::new(),
            },
            s,
            ws,
            start_at: Some(start_at),
            start: Instant::now(),
            eta,
            t,
            failures,
            iterations,
            f_init: 0.0,
            loss: 0.0,
            cpen: 0.0,
            pen: 0.0,
            gnsq: 0.0,
            tested: true,
            gap: None,
            gap_fresh: false,
        }
    }

    fn objective(&self) -> f64 {
        self.loss + self.cpen + self.ops.lam * self.pen
    }

    /// The stopping test: the relative gap where asked for and defined, else scnn's rule (on
    /// the iterations that formed the subgradient).
    fn converged(&self) -> bool {
        self.tested
            && match (self.s.gap_tol, self.gap) {
                (Some(tol), Some(g)) => g.rel_gap <= tol,
                _ => self.gnsq <= self.s.tol,
            }
    }

    fn info(&self, step: f64, restarted: bool, tries: usize) -> IterInfo {
        IterInfo {
            iteration: self.iterations,
            gap: self.gap.map(|g| g.gap),
            rel_gap: self.gap.map(|g| g.rel_gap),
            products: self.ops.products as f64,
            objective: self.objective(),
            loss: self.loss,
            penalty: self.pen,
            grad_norm_sq: self.gnsq,
            step,
            restarted,
            line_search_tries: tries,
            active: None,
            time_s: self.start.elapsed().as_secs_f64(),
            outer: None,
            working_set: None,
            screened: None,
        }
    }

    /// Uploads the start, forms the predictions, gradient and objective at U and sets V = U
    /// (or restores the checkpoint's V and what was formed at it).
    fn setup(&mut self, detail: bool) -> Result<Start<'a>> {
        let start_at = self.start_at.take().unwrap_or(Start::Warm);
        let resume = match start_at {
            Start::Resume(st) => Some(st),
            _ => None,
        };
        let be = self.ops.be;
        let dims = be.dims();
        if let Some(st) = resume
            && st.v.len() != st.u.len()
        {
            return Err(Error::shape(
                "checkpoint V",
                st.u.len().to_string(),
                st.v.len().to_string(),
            ));
        }
        if let Some(b) = resume.and_then(|st| st.best_dual.as_ref()) {
            self.ops.best_dual = b.clone();
        }
        // The gap certifies the gated program only (no cone penalty); ||Y||^2 from the loss at 0.
        if self.ops.data_loss && self.ops.cone.is_none() {
            let z = be.zeros(dims.preds())?;
            self.ops.y_sq = Some(be.loss(&z)? * self.ops.nc2);
        }
        let init = match start_at {
            Start::Weights(w) => Some(w),
            Start::Resume(st) => Some(st.u.as_slice()),
            Start::Zero | Start::Warm => None,
        };
        if let Some(w) = init {
            if w.len() != be.weights_len() {
                return Err(Error::shape(
                    "initial weights",
                    be.weights_len().to_string(),
                    w.len().to_string(),
                ));
            }
            self.ws.u = be.upload(w)?;
        }
        let ops = &mut self.ops;
        let Workspace {
            u,
            pu,
            gu,
            v,
            pv,
            gv,
            gp,
            z,
            ..
        } = &mut *self.ws;
        if ops.data_loss {
            be.forward(u, pu)?;
            ops.products += 1;
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
                    ops.products += 1;
                }
            }
        }
        self.cpen = ops.grad_at(u, pu, z.as_ref().map(|z| &z[0]), gu, gp.as_mut())?;
        self.loss = if ops.data_loss { be.loss(pu)? } else { 0.0 };
        (self.pen, self.gnsq) = be.objective_terms(ops.reg, ops.lam, u, gu)?;
        // The gap costs a few reductions (and read-backs on a GPU): it is formed where the
        // stopping rule needs it, on iterations the observer logs, and for the final iterate.
        self.gap_fresh = self.s.gap_tol.is_some() || detail;
        self.gap = if self.gap_fresh {
            ops.gap_at(pu, self.loss, self.pen, gu)?
        } else {
            None
        };
        self.f_init = resume.map_or(self.loss + self.cpen + ops.lam * self.pen, |st| st.f_init);

        // Extrapolated point V, its predictions and gradient; start at U (or the saved V).
        if let Some(st) = resume {
            *v = be.upload(&st.v)?;
            if let Some([p, g]) = &st.at_v
                && (p.len() != dims.preds() || g.len() != be.weights_len())
            {
                return Err(Error::shape(
                    "checkpoint p_v, g_v",
                    format!("{} and {}", dims.preds(), be.weights_len()),
                    format!("{} and {}", p.len(), g.len()),
                ));
            }
        }
        match resume {
            Some(st) if st.at_v.is_some() && (z.is_none() || saved_z.is_some()) => {
                let [p, g] = st.at_v.as_ref().expect("checked");
                *pv = be.upload(p)?;
                *gv = be.upload(g)?;
            }
            Some(_) => {
                if ops.data_loss {
                    be.forward(v, pv)?;
                    ops.products += 1;
                }
                if let (Some([_, zv, _]), None) = (z.as_mut(), saved_z) {
                    be.lift(v, zv)?;
                    ops.products += 1;
                }
                ops.grad_at(v, pv, z.as_ref().map(|z| &z[1]), gv, gp.as_mut())?;
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
        if let Some(st) = resume {
            // The uninterrupted run went on from this iterate, so a resumed one must not stop
            // on a test the other did not make there (see `step`).
            self.tested = ops.cone.is_none() || detail || st.iteration % CONE_TEST_EVERY == 0;
        }
        Ok(start_at)
    }

    /// One iteration: the line search from V, the restart test, the new V and the gradient
    /// at U+ (for the stopping test) and at the new V. Returns (step used, restarted, trials).
    fn step(&mut self, detail: bool) -> Result<(f64, bool, usize)> {
        let s = self.s;
        let ops = &mut self.ops;
        let be = ops.be;
        let Workspace {
            u,
            pu,
            gu: g_prev,
            v,
            pv,
            gv,
            u_new,
            pu_new,
            diff,
            gp,
            z,
        } = &mut *self.ws;
        // diff: scratch for U+ - V, U+ - U, then the gradient at U+; g_prev holds the gradient
        // at U.
        let mut eta = self.eta;
        // Line search from V: shrink eta until the quadratic upper bound
        // F(U+) <= F(V) + <grad, U+ - V> + ||U+ - V||^2 / (2 eta) holds (F the smooth part).
        let mut tries = 0;
        let (f_new, curv, sq, cp_new) = loop {
            let r = ops.trial(eta, v, gv, pv, u_new, pu_new, diff, z.as_mut())?;
            tries += 1;
            if 2.0 * eta * r.1 <= r.2 {
                break r;
            }
            if tries >= s.max_backtracks {
                self.failures += 1;
                eta = s.fallback_step;
                log::warn!("line search failed after {tries} tries; taking step {eta:e}");
                break ops.trial(eta, v, gv, pv, u_new, pu_new, diff, z.as_mut())?;
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
        self.eta = eta;

        // Gradient-mapping restart test: <U+ - U, V - U+> > 0.
        be.combine(1.0, u_new, -1.0, u, diff)?; // diff = U+ - U
        be.axpby(-1.0, u_new, 1.0, v)?; // v = V - U+ (V is rebuilt below)
        let restart = be.dot(diff, v)? > 0.0;

        let mut momentum = 0.0;
        if restart {
            self.t = 1.0;
            be.copy(u_new, v)?;
            if let Some([_, zv, zn]) = z.as_mut() {
                be.copy(zn, zv)?;
            } else {
                be.copy(pu_new, pv)?;
            }
        } else {
            let t = self.t;
            let t_new = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            let m = (t - 1.0) / t_new;
            momentum = m;
            self.t = t_new;
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
        self.iterations += 1;

        // Stopping test at U+ (= u now): needs the gradient at U+, which without a cone penalty
        // also gives the next V's gradient. With one, V gets a product of its own, and the
        // test's is formed only on every CONE_TEST_EVERY-th iteration, on restarts (V = U+
        // then) and on iterations the observer logs: the iterates are the same, the stop comes
        // at most CONE_TEST_EVERY - 1 iterations later, and most iterations cost one adjoint
        // less. On the others the trial's penalty at U+ stands in and `gnsq` is the last one
        // formed.
        self.loss = f_new - cp_new;
        self.tested = ops.cone.is_none()
            || restart
            || detail
            || self.iterations.is_multiple_of(CONE_TEST_EVERY);
        if self.tested {
            self.cpen = ops.grad_at(u, pu, z.as_ref().map(|z| &z[0]), diff, gp.as_mut())?;
            (self.pen, self.gnsq) = be.objective_terms(ops.reg, ops.lam, u, diff)?;
        } else {
            self.cpen = cp_new;
            self.pen = be.penalty(ops.reg, u)?;
        }
        self.gap_fresh = self.tested && (s.gap_tol.is_some() || detail);
        self.gap = if self.gap_fresh {
            ops.gap_at(pu, self.loss, self.pen, diff)?
        } else {
            None
        };

        // The gradient at the new V. The data gradient is affine in U, so at
        // V+ = U+ + m (U+ - U) it is (1 + m) grad(U+) - m grad(U): no product of its own
        // (TFOCS's trick); after a restart V = U+. The cone penalty's gradient is not affine:
        // with one, every V gets its product. On the lifted path Z of V is such a combination
        // too. Round-off grows with every combination: every `refresh_every`-th iteration forms
        // them by products instead, keyed on the iteration count (which a checkpoint keeps, so
        // a resumed run refreshes where the uninterrupted one did).
        let refresh = self.iterations.is_multiple_of(s.refresh_every);
        if restart {
            be.copy(diff, gv)?;
        } else if ops.cone.is_none() && !refresh {
            let m = momentum;
            be.combine(1.0 + m, diff, -m, g_prev, gv)?;
        } else {
            if let (Some([zu, zv, _]), true) = (z.as_mut(), refresh) {
                // Both at once: Z of the trial point is Z of V plus Z of the step, so a fresh Z
                // of V next to a drifted Z of U would start a drift that grows linearly and,
                // compounded over refreshes, geometrically.
                be.lift(u, zu)?;
                be.lift(v, zv)?;
                ops.products += 2;
            }
            ops.grad_at(v, pv, z.as_ref().map(|z| &z[1]), gv, gp.as_mut())?;
        }
        std::mem::swap(g_prev, diff);
        Ok((step_used, restart, tries))
    }

    /// The solution at the end of the run (the gap formed if the last iteration did not).
    fn finish(mut self, status: Status) -> Result<Solution> {
        if !self.tested {
            // A run that ended between stopping tests: the subgradient at the final U.
            let ops = &mut self.ops;
            let Workspace {
                u, pu, gu, gp, z, ..
            } = &mut *self.ws;
            self.cpen = ops.grad_at(u, pu, z.as_ref().map(|z| &z[0]), gu, gp.as_mut())?;
            (self.pen, self.gnsq) = ops.be.objective_terms(ops.reg, ops.lam, u, gu)?;
            self.tested = true;
        }
        if !self.gap_fresh {
            // gu holds the gradient at the final U.
            let ws = &*self.ws;
            self.gap = self.ops.gap_at(&ws.pu, self.loss, self.pen, &ws.gu)?;
        }
        Ok(Solution {
            weights: Vec::new(),
            status,
            iterations: self.iterations,
            objective: self.objective(),
            loss: self.loss,
            cone_penalty: self.cpen,
            penalty: self.pen,
            grad_norm_sq: self.gnsq,
            momentum: self.t,
            gap: self.gap.map(|g| g.gap),
            rel_gap: self.gap.map(|g| g.rel_gap),
            products: self.ops.products as f64,
            step: self.eta,
            line_search_failures: self.failures,
            time_s: self.start.elapsed().as_secs_f64(),
            working_set: None,
        })
    }
}

impl<B: Backend> Iterative for Fista<'_, B> {
    fn iteration(&self) -> usize {
        self.iterations
    }

    fn init(&mut self, cx: Ctx<'_>) -> Result<Option<IterInfo>> {
        let start_at = self.setup(cx.detail)?;
        // A resumed run's first iterate is the interrupted run's last row.
        Ok((!matches!(start_at, Start::Resume(_))).then(|| self.info(self.eta, false, 0)))
    }

    fn next(&mut self, cx: Ctx<'_>) -> Result<Option<IterInfo>> {
        let (step, restarted, tries) = self.step(cx.detail)?;
        Ok(Some(self.info(step, restarted, tries)))
    }

    fn terminate(&self) -> Option<Status> {
        let objective = self.objective();
        if self.converged() {
            Some(Status::Converged)
        } else if !objective.is_finite() || (self.f_init > 0.0 && objective > 1000.0 * self.f_init)
        {
            Some(Status::Diverged)
        } else {
            None
        }
    }

    fn annotate(&mut self, info: &mut IterInfo) -> Result<()> {
        info.active = Some(self.ops.be.active_groups(&self.ws.u)?);
        Ok(())
    }

    fn checkpoint(&mut self, obs: &mut dyn Observer) -> Result<()> {
        let be = self.ops.be;
        let ws = &*self.ws;
        let state = FistaState {
            iteration: self.iterations,
            t: self.t,
            eta: self.eta,
            f_init: self.f_init,
            failures: self.failures,
            u: be.download(&ws.u)?,
            v: be.download(&ws.v)?,
            z: match ws.z.as_ref() {
                Some([zu, zv, _]) => Some([be.download(zu)?, be.download(zv)?]),
                None => None,
            },
            at_v: Some([be.download(&ws.pv)?, be.download(&ws.gv)?]),
            best_dual: (!self.ops.best_dual.is_empty()).then(|| self.ops.best_dual.clone()),
        };
        obs.checkpoint(&state)
    }
}
