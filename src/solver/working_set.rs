//! Working sets and Gap Safe screening over (gate, output) groups: R-FISTA iterates only where
//! the solution lives.
//!
//! The gated program is c group lassos sharing one design, so everything works per output.
//! An outer step forms the full gradient at U (one forward, one adjoint), the duality gap per
//! output from the scaled residual theta_l = a_l R_l, and then:
//! - Gap Safe screening (Ndiaye, Fercoq, Gramfort & Salmon, JMLR 2017): the dual is m-strongly
//!   concave, so ||theta*_l - theta_l|| <= r_l = sqrt(2 G_l / m), and
//!   |a_l| m ||G_{l,i}|| + r_l ||D_i X||_F < lam proves U*_{l,i} = 0 (dropped for good);
//! - priorities (celer): (lam - |a_l| m ||G_{l,i}||) / ||D_i X||_F, the distance of the group's
//!   dual constraint from theta_l; active groups come first;
//! - a working set of the k_l best groups of every output l, k_l at least [`ACTIVE_FACTOR`]
//!   times output l's active count (never dropping an active group; the active groups alone
//!   once none of output l's zero groups breaks ||G_{l,i}|| <= lam), doubled when an outer
//!   step gains less than half of the gap, and at most its count of unscreened groups; past
//!   [`FULL_FRACTION`] of all groups the full problem is solved instead;
//! - R-FISTA on the packed sub-problem ([`Backend::restrict`]), warm-started, until its own
//!   relative gap is [`INNER_FRACTION`] of the outer one or [`INNER_FLOOR`] of the target.
//!
//! The run stops on the full problem's gap. Work is counted in full-product units: a product on
//! a working set of W groups is W / (c p) of one.

use super::executor::{Budget, Ctx, Executor, Iterative};
use super::fista::{FistaParams, FistaSettings, FistaState, Smooth, Start, Workspace, solve_in};
use super::gap::{Gap, certify, neuron_duals};
use super::ws_inner::{WsObs, full_state, gather, scatter};
use super::{IterInfo, Observer, Solution, Status};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::regularizer::Regularizer;
use serde::{Deserialize, Serialize};
use std::time::Instant;

pub use super::ws_tuning::*;

/// Whether a gated solve iterates on working sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum WorkingSet {
    /// Where the rules hold (neuron-gl1, lambda > 0, the gap stopping rule) and lambda >=
    /// 0.015 lambda_max; then exactly as `on`.
    Auto,
    /// Always (an error where the rules do not hold).
    On,
    /// Never: R-FISTA on all groups.
    #[default]
    Off,
}

/// What a working-set run did, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WsSummary {
    /// Outer steps (full gradients).
    pub outer: usize,
    /// Groups in the last working set (c k), and all groups (c p).
    pub size: usize,
    pub groups: usize,
    /// Groups proven zero.
    pub screened: usize,
    /// Whether the run ended on the full problem (the working set grew past half of it).
    pub went_full: bool,
}

/// Whether `s` asks for working sets, or an error where `on` cannot have them.
pub fn use_working_set(s: &FistaSettings) -> Result<bool> {
    let why = if s.regularizer != Regularizer::NeuronGl1 {
        Some(format!(
            "the screening rules are implemented for neuron-gl1 only, not {:?}",
            s.regularizer
        ))
    } else if s.lambda <= 0.0 {
        Some("lambda is 0".to_string())
    } else if s.gap_tol.is_none() {
        Some("working sets stop by the duality gap: use --stop gap".to_string())
    } else {
        None
    };
    match (s.working_set, why) {
        (WorkingSet::Off, _) => Ok(false),
        (WorkingSet::Auto, w) => Ok(w.is_none()),
        (WorkingSet::On, None) => Ok(true),
        (WorkingSet::On, Some(w)) => Err(Error::param(
            "working_set",
            format!("on is not available here: {w}"),
        )),
    }
}

/// Whether working sets pay on `be` for settings `s` (which [`use_working_set`] accepted):
/// always with `on`; with `auto` when lambda >= [`AUTO_MIN_RATIO`] lambda_max (one product).
pub fn pays<B: Backend>(be: &B, s: &FistaSettings) -> Result<bool> {
    if s.working_set != WorkingSet::Auto {
        return Ok(true);
    }
    let ratio = s.lambda / lambda_max(be)?;
    let yes = ratio >= AUTO_MIN_RATIO;
    log::info!(
        "working sets {}: lambda / lambda_max = {ratio:.3e} (auto uses them from {AUTO_MIN_RATIO})",
        if yes { "on" } else { "off" }
    );
    Ok(yes)
}

/// The gated program by working sets, from `init` or a checkpoint `resume` (whose iterate
/// restarts the outer loop; the iteration count carries on). Checkpoints hold the full
/// problem's state, so they resume with or without working sets.
pub fn solve_ws<B: Backend>(
    be: &B,
    params: &FistaParams,
    init: Option<&[f64]>,
    resume: Option<&FistaState>,
    obs: &mut dyn Observer,
) -> Result<Solution> {
    let s = params.get();
    let dims = be.dims();
    let u = match (resume, init) {
        (Some(st), _) => st.u.clone(),
        (None, Some(w)) => w.to_vec(),
        (None, None) => vec![0.0; dims.weights()],
    };
    if u.len() != dims.weights() {
        return Err(Error::shape(
            "initial weights",
            dims.weights().to_string(),
            u.len().to_string(),
        ));
    }
    let mut run = WsRun::new(be, s, u, resume)?;
    let budget = Budget {
        max_iters: s.max_iters,
        time_limit: s.time_limit,
    };
    let status = Executor::new(budget, obs).run(&mut run)?;
    let screened = run.screened_count();
    let m = run.state;
    Ok(Solution {
        weights: run.u,
        status,
        iterations: run.iterations,
        objective: m.loss + s.lambda * m.pen,
        loss: m.loss,
        cone_penalty: 0.0,
        penalty: m.pen,
        grad_norm_sq: m.gnsq,
        gap: m.gap.map(|g| g.gap),
        rel_gap: m.gap.map(|g| g.rel_gap),
        products: run.products,
        step: run.eta,
        line_search_failures: run.failures,
        momentum: run.t,
        time_s: run.start.elapsed().as_secs_f64(),
        working_set: Some(WsSummary {
            outer: run.outer,
            size: run.ks.iter().sum(),
            groups: dims.c * dims.p,
            screened,
            went_full: run.went_full,
        }),
    })
}

/// The smallest lambda at which U = 0 solves the gated program with neuron groups:
/// max_{l,i} ||X^T D_i Y_l|| / (n c), the largest group norm of the gradient at zero (one
/// adjoint product).
pub fn lambda_max<B: Backend>(be: &B) -> Result<f64> {
    let dims = be.dims();
    let zeros = be.zeros(dims.preds())?;
    let mut grad = be.zeros(be.weights_len())?;
    be.gradient(&zeros, &mut grad)?;
    Ok(be.group_norms(&grad)?.into_iter().fold(0.0, f64::max))
}

/// What an outer step measures at U on the full problem.
#[derive(Debug, Clone, Default)]
struct Measured {
    loss: f64,
    pen: f64,
    gnsq: f64,
    gap: Option<Gap>,
    /// Per output: the dual scale a_l and the gap G_l at the current dual point.
    scale: Vec<f64>,
    out_gap: Vec<f64>,
    grad_norms: Vec<f64>,
    u_norms: Vec<f64>,
}

struct WsRun<'a, B: Backend> {
    be: &'a B,
    s: &'a FistaSettings,
    /// ||D_i X||_F per gate.
    norms: Vec<f64>,
    /// U on the host (c, p, d) and on the device.
    u: Vec<f64>,
    ubuf: B::Buf,
    /// The last inner solve's V (c, p, d; empty before one) and t, which the next may keep.
    v: Vec<f64>,
    t: f64,
    preds: B::Buf,
    grad: B::Buf,
    screened: Vec<bool>,
    /// Gates per output in the working set (0 before the first).
    ks: Vec<usize>,
    iterations: usize,
    eta: f64,
    failures: usize,
    /// Work in full-product units.
    products: f64,
    outer: usize,
    best_dual: Vec<f64>,
    y_sq: f64,
    state: Measured,
    prev_rel_gap: f64,
    inner_status: Option<Status>,
    went_full: bool,
    /// The certificate of the full problem's own solve, once the run went there.
    full_gap: Option<(f64, f64)>,
    start: Instant,
}

/// Gap Safe screening at U (the rule the working sets apply): which (l, i) groups, in (l, i)
/// order, are proven zero at the optimum of the gated program with neuron groups. One forward
/// and one adjoint product.
pub fn safe_screen<B: Backend>(be: &B, s: &FistaSettings, u: &[f64]) -> Result<Vec<bool>> {
    let mut run = WsRun::new(be, s, u.to_vec(), None)?;
    run.measure(false)?;
    Ok(run.screened)
}

impl<'a, B: Backend> WsRun<'a, B> {
    fn new(
        be: &'a B,
        s: &'a FistaSettings,
        u: Vec<f64>,
        resume: Option<&FistaState>,
    ) -> Result<Self> {
        let dims = be.dims();
        let z = be.zeros(dims.preds())?;
        WsRun {
            be,
            s,
            norms: be.design_norms()?,
            ubuf: be.upload(&u)?,
            v: resume
                .filter(|st| st.t > 1.0 && st.v.len() == u.len())
                .map_or_else(Vec::new, |st| st.v.clone()),
            t: resume.map_or(1.0, |st| st.t),
            u,
            preds: z,
            grad: be.zeros(dims.weights())?,
            screened: vec![false; dims.c * dims.p],
            ks: vec![0; dims.c],
            iterations: resume.map_or(0, |st| st.iteration),
            eta: resume.map_or(s.step0, |st| st.eta),
            failures: resume.map_or(0, |st| st.failures),
            products: 0.0,
            outer: 0,
            best_dual: resume
                .and_then(|st| st.best_dual.clone())
                .unwrap_or_default(),
            // ||Y||^2 = 2 n c f(0); the predictions are still zero here.
            y_sq: 0.0,
            state: Measured::default(),
            prev_rel_gap: f64::INFINITY,
            inner_status: None,
            went_full: false,
            full_gap: None,
            start: Instant::now(),
        }
        .with_y_sq()
    }

    fn with_y_sq(mut self) -> Result<Self> {
        let dims = self.be.dims();
        self.y_sq = self.be.loss(&self.preds)? * (2 * dims.n * dims.c) as f64;
        Ok(self)
    }

    /// Gradient, objective and gap per output at U (one full product; a forward first unless
    /// `self.preds` already holds U's predictions).
    fn measure(&mut self, preds_fresh: bool) -> Result<()> {
        let (be, s) = (self.be, self.s);
        let dims = be.dims();
        let m = (dims.n * dims.c) as f64;
        if !preds_fresh {
            be.forward(&self.ubuf, &mut self.preds)?;
            self.products += 1.0;
        }
        be.gradient(&self.preds, &mut self.grad)?;
        self.products += 1.0;
        let loss = be.loss(&self.preds)?;
        let (pen, gnsq) = be.objective_terms(s.regularizer, s.lambda, &self.ubuf, &self.grad)?;
        let terms = be.output_terms(&self.preds)?;
        let grad_norms = be.group_norms(&self.grad)?;
        let u_norms = be.group_norms(&self.ubuf)?;
        let p = dims.p.max(1);
        let starts: Vec<usize> = (0..=dims.c).map(|l| l * p).collect();
        let duals = neuron_duals(&terms, &grad_norms, &starts, s.lambda, m);
        let out_gap: Vec<f64> = (0..dims.c)
            .map(|l| {
                let pen_l: f64 = u_norms[l * p..(l + 1) * p].iter().sum();
                terms[l][0] / (2.0 * m) + s.lambda * pen_l - duals[l].dual
            })
            .collect();
        let dual_values: Vec<f64> = duals.iter().map(|d| d.dual).collect();
        let gap = certify(
            loss + s.lambda * pen,
            &dual_values,
            Some(&mut self.best_dual),
            self.y_sq,
            m,
        );
        self.state = Measured {
            loss,
            pen,
            gnsq,
            gap: Some(gap),
            scale: duals.iter().map(|d| d.scale).collect(),
            out_gap,
            grad_norms,
            u_norms,
        };
        self.screen();
        Ok(())
    }

    /// Gap Safe screening of the zero groups at the current dual point.
    fn screen(&mut self) {
        let dims = self.be.dims();
        let (m, lam) = ((dims.n * dims.c) as f64, self.s.lambda);
        for l in 0..dims.c {
            let radius = (2.0 * self.state.out_gap[l].max(0.0) / m).sqrt();
            for i in 0..dims.p {
                let g = l * dims.p + i;
                if !self.screened[g]
                    && self.state.u_norms[g] == 0.0
                    && self.dual_norm(l, g) + radius * self.norms[i] < lam
                {
                    self.screened[g] = true;
                }
            }
        }
    }

    /// ||X^T D_i theta_l|| at the current dual point, for group g = (l, i).
    fn dual_norm(&self, l: usize, g: usize) -> f64 {
        let m = (self.be.dims().n * self.be.dims().c) as f64;
        self.state.scale[l].abs() * m * self.state.grad_norms[g]
    }

    fn screened_count(&self) -> usize {
        self.screened.iter().filter(|&&x| x).count()
    }

    fn rel_gap(&self) -> f64 {
        self.state.gap.map_or(f64::INFINITY, |g| g.rel_gap)
    }

    /// The next working set: k_l gates for output l, active ones first, then by priority.
    fn choose(&mut self) -> Vec<Vec<usize>> {
        let dims = self.be.dims();
        let (lam, p) = (self.s.lambda, dims.p);
        let stalled = self.rel_gap() > 0.5 * self.prev_rel_gap;
        let st = &self.state;
        for l in 0..dims.c {
            let group = |i: usize| l * p + i;
            let active = (0..p).filter(|&i| st.u_norms[group(i)] > 0.0).count();
            // Screened groups never need a place.
            let open = (0..p).filter(|&i| !self.screened[group(i)]).count();
            let prev = self.ks[l];
            // Settled: no zero group breaks its optimality condition ||G_{l,i}|| <= lam at U,
            // so the active groups are the solution's; a margin would only cost products.
            let settled = prev > 0
                && (0..p).all(|i| {
                    let g = group(i);
                    st.u_norms[g] > 0.0 || self.screened[g] || st.grad_norms[g] <= lam
                });
            let want = if settled {
                active
            } else {
                (ACTIVE_FACTOR * active as f64).ceil() as usize
            };
            let mut k = want.max(INITIAL_GATES);
            if prev > 0 && stalled {
                k = k.max(2 * prev);
            }
            self.ks[l] = k.min(open).max(active).clamp(1, p);
        }
        (0..dims.c)
            .map(|l| {
                let prio = |i: usize| {
                    let g = l * p + i;
                    if self.state.u_norms[g] > 0.0 {
                        f64::NEG_INFINITY
                    } else if self.screened[g] {
                        f64::INFINITY
                    } else {
                        let n = self.norms[i].max(f64::MIN_POSITIVE);
                        (lam - self.dual_norm(l, g)) / n
                    }
                };
                let mut order: Vec<usize> = (0..p).collect();
                order.sort_by(|&a, &b| prio(a).total_cmp(&prio(b)).then(a.cmp(&b)));
                let mut g: Vec<usize> = order[..self.ks[l]].to_vec();
                g.sort_unstable();
                g
            })
            .collect()
    }

    /// Solves the sub-problem on `gates` (or the full problem, `None`) from U to `tol`, and
    /// takes its iterate, step and counts.
    fn inner(
        &mut self,
        gates: Option<&[Vec<usize>]>,
        tol: f64,
        keep_momentum: bool,
        cx: Ctx<'_>,
    ) -> Result<()> {
        let be = self.be;
        let dims = be.dims();
        let settings = FistaSettings {
            gap_tol: Some(tol),
            step0: self.eta,
            max_iters: self.s.max_iters.saturating_sub(self.iterations).max(1),
            time_limit: cx.time_left.map(|t| t.max(1e-3)),
            working_set: WorkingSet::Off,
            ..self.s.clone()
        };
        let params = FistaParams::derived(settings);
        let smooth = Smooth::gated();
        let size = gates.map_or(dims.c * dims.p, |g| g.iter().map(Vec::len).sum());
        let mut obs = WsObs {
            inner: cx.obs,
            base: self.iterations,
            products: self.products,
            unit: size as f64 / (dims.c * dims.p).max(1) as f64,
            start: self.start,
            gates,
            dims,
            best_dual: &self.best_dual,
            sizes: (size, self.screened_count()),
        };
        let (p, d) = (dims.p, dims.d);
        let sol = match gates {
            Some(gates) => {
                let sub = be.restrict(gates)?;
                let uw = gather(&self.u, gates, p, d);
                let carried = keep_momentum
                    .then(|| self.carried(|v| gather(v, gates, p, d), &uw))
                    .flatten();
                let start = carried.as_ref().map_or(Start::Weights(&uw), Start::Resume);
                let mut ws = Workspace::new(&sub, &smooth)?;
                let sol = solve_in(&sub, &params, &mut ws, start, &smooth, &mut obs)?;
                let uw = sub.download(ws.u())?;
                let vw = sub.download(&ws.v)?;
                // The groups outside W are zero: the sub-problem's predictions are U's.
                sub.copy(&ws.pu, &mut self.preds)?;
                self.u.iter_mut().for_each(|v| *v = 0.0);
                scatter(&uw, gates, p, d, &mut self.u);
                self.v = vec![0.0; self.u.len()];
                scatter(&vw, gates, p, d, &mut self.v);
                sol
            }
            None => {
                let carried = keep_momentum
                    .then(|| self.carried(|v| v.to_vec(), &self.u))
                    .flatten();
                let start = carried
                    .as_ref()
                    .map_or(Start::Weights(&self.u), Start::Resume);
                let mut ws = Workspace::new(be, &smooth)?;
                let sol = solve_in(be, &params, &mut ws, start, &smooth, &mut obs)?;
                self.u = be.download(ws.u())?;
                self.v = be.download(&ws.v)?;
                be.copy(&ws.pu, &mut self.preds)?;
                self.full_gap = sol.gap.zip(sol.rel_gap);
                sol
            }
        };
        self.t = sol.momentum;
        self.ubuf = be.upload(&self.u)?;
        self.products += sol.products * obs.unit;
        self.iterations += sol.iterations;
        self.failures += sol.line_search_failures;
        self.eta = sol.step;
        self.inner_status = Some(sol.status);
        Ok(())
    }

    /// The start of an inner solve that keeps the last one's momentum: U (`u`, already on the
    /// sub-problem's groups), V moved there by `restrict` (groups new to the set are zero in
    /// both) and t. None where there is none to keep (the first solve, or a restart just now).
    fn carried(&self, restrict: impl Fn(&[f64]) -> Vec<f64>, u: &[f64]) -> Option<FistaState> {
        if self.t <= 1.0 || self.v.len() != self.u.len() {
            return None;
        }
        let mut st = full_state(0, self.t, self.eta, 0, u.to_vec(), restrict(&self.v), &[]);
        st.f_init = self.state.loss + self.s.lambda * self.state.pen;
        Some(st)
    }

    fn info(&self) -> IterInfo {
        let m = &self.state;
        IterInfo {
            iteration: self.iterations,
            objective: m.loss + self.s.lambda * m.pen,
            loss: m.loss,
            penalty: m.pen,
            grad_norm_sq: m.gnsq,
            gap: m.gap.map(|g| g.gap),
            rel_gap: m.gap.map(|g| g.rel_gap),
            products: self.products,
            step: self.eta,
            restarted: false,
            line_search_tries: 0,
            active: Some(m.u_norms.iter().filter(|&&v| v > 0.0).count()),
            time_s: self.start.elapsed().as_secs_f64(),
            outer: Some(self.outer),
            working_set: Some(self.ks.iter().sum()),
            screened: Some(self.screened_count()),
        }
    }

    /// The full problem's state at U as R-FISTA checkpoints it, with the last inner V and t.
    fn state(&self) -> FistaState {
        let carry = self.t > 1.0 && self.v.len() == self.u.len();
        full_state(
            self.iterations,
            if carry { self.t } else { 1.0 },
            self.eta,
            self.failures,
            self.u.clone(),
            if carry { &self.v } else { &self.u }.clone(),
            &self.best_dual,
        )
    }
}

impl<B: Backend> Iterative for WsRun<'_, B> {
    fn iteration(&self) -> usize {
        self.iterations
    }

    fn init(&mut self, _cx: Ctx<'_>) -> Result<Option<IterInfo>> {
        self.measure(false)?;
        Ok(Some(self.info()))
    }

    fn next(&mut self, cx: Ctx<'_>) -> Result<Option<IterInfo>> {
        let dims = self.be.dims();
        let before: usize = self.ks.iter().sum();
        let gates = self.choose();
        // Momentum carries over only while the set stays about the same: after a growth
        // step the old V points the wrong way (measured on the digits: 1.5x the products).
        let keep_momentum =
            self.ks.iter().sum::<usize>() as f64 <= KEEP_MOMENTUM_GROWTH * before as f64;
        let tol = self.s.gap_tol.expect("working sets run on the gap rule");
        self.prev_rel_gap = self.rel_gap();
        let size: usize = self.ks.iter().sum();
        if size as f64 > FULL_FRACTION * (dims.c * dims.p) as f64 {
            // A packed copy of most groups costs nearly the full problem: finish there.
            self.went_full = true;
            self.ks = vec![dims.p; dims.c];
            self.inner(None, tol, keep_momentum, cx)?;
        } else {
            let inner_tol = (INNER_FRACTION * self.prev_rel_gap).max(INNER_FLOOR * tol);
            self.inner(Some(&gates), inner_tol, keep_momentum, cx)?;
        }
        self.outer += 1;
        self.measure(true)?;
        // The full problem's own solve certifies with the best dual of all its iterations.
        if let (Some((gap, rel_gap)), Some(g)) = (self.full_gap, self.state.gap.as_mut())
            && rel_gap < g.rel_gap
        {
            g.dual += g.gap - gap;
            (g.gap, g.rel_gap) = (gap, rel_gap);
        }
        Ok(Some(self.info()))
    }

    fn terminate(&self) -> Option<Status> {
        let tol = self.s.gap_tol.unwrap_or(0.0);
        if self.rel_gap() <= tol {
            return Some(Status::Converged);
        }
        match self.inner_status {
            Some(s @ (Status::Interrupted | Status::Diverged | Status::MaxTime)) => Some(s),
            // The full problem's own solve ended short of its gap: its verdict stands.
            Some(s) if self.went_full => Some(s),
            _ => None,
        }
    }

    fn checkpoint(&mut self, obs: &mut dyn Observer) -> Result<()> {
        obs.checkpoint(&self.state())
    }
}
