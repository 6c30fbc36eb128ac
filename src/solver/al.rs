//! The augmented Lagrangian method for the cone-constrained ReLU program (Mishkin et al. 2022,
//! Sec. 5; the rules of scnn's solver). Each outer step minimises
//!   f(U) + (delta/2) sum max(g + gamma/delta, 0)^2 + lam R(U)
//! by R-FISTA, warm-started, then moves the multipliers gamma <- max(gamma + delta g, 0).
//!
//! The backend holds the doubled patterns [D, D]: gates i < p/2 carry V, gates i >= p/2 carry
//! -W, so predictions are the gated model's and the W half's constraints are negated
//! (see [`ConeTerms`](crate::backend::ConeTerms)).

use super::executor::{Budget, Ctx, Executor, Iterative};
use super::fista::{FistaParams, FistaSettings, FistaState, Smooth, Start, Workspace, solve_in};
use super::gap::{Gap, certify, neuron_duals};
use super::{IterInfo, Observer, Solution, Status};
use crate::backend::{Backend, ConePenalty, ConeTerms};
use crate::error::{Error, Result};
use crate::regularizer::Regularizer;
use std::time::Instant;

/// Products the final duality gap costs: U's predictions (the lifted path keeps X U per
/// constraint, not them); the gradient at U is the last inner solve's.
const CERTIFICATE_PRODUCTS: f64 = 1.0;

/// Augmented Lagrangian settings (defaults from the paper's solver).
///
/// | name | default | meaning |
/// |---|---|---|
/// | fista | | inner R-FISTA settings; `fista.tol` is the first inner tolerance and the stopping bound on the squared subgradient norm, `fista.max_iters` the budget of inner iterations over the whole solve |
/// | delta0 | 1000 | initial penalty strength, divided by n |
/// | viol_tol | 5e-7 | stop when sum max(g, 0)^2 is at most this ... |
/// | phase_high, phase_low | 1e-2, 1e-3 | initial phase: double delta above, halve it (and the inner tolerance) below |
/// | phase_rounds | 30 | at most this many initial-phase rounds |
/// | tau | 2 | halve the inner tolerance when tau x violation < inner tolerance |
/// | max_outer | 10000 | outer iterations |
#[derive(Debug, Clone)]
pub struct AlSettings {
    pub fista: FistaSettings,
    pub delta0: f64,
    pub viol_tol: f64,
    pub phase_high: f64,
    pub phase_low: f64,
    pub phase_rounds: usize,
    pub tau: f64,
    pub max_outer: usize,
}

impl Default for AlSettings {
    fn default() -> Self {
        AlSettings {
            fista: FistaSettings::default(),
            delta0: 1000.0,
            viol_tol: 5e-7,
            phase_high: 1e-2,
            phase_low: 1e-3,
            phase_rounds: 30,
            tau: 2.0,
            max_outer: 10_000,
        }
    }
}

/// Validated augmented Lagrangian settings; read-only, so the solver never sees a bad value.
#[derive(Debug, Clone)]
pub struct AlParams(AlSettings);

impl AlParams {
    pub fn get(&self) -> &AlSettings {
        &self.0
    }
}

impl AlSettings {
    /// Validates the settings once; errors name the field at fault.
    pub fn check(self) -> Result<AlParams> {
        self.fista.clone().check()?;
        let pos = |v: f64| v > 0.0 && v.is_finite();
        if !pos(self.delta0) {
            return Err(Error::param(
                "delta0",
                format!("{} (must be > 0)", self.delta0),
            ));
        }
        if !pos(self.viol_tol) {
            return Err(Error::param(
                "viol_tol",
                format!("{} (must be > 0)", self.viol_tol),
            ));
        }
        if self.max_outer == 0 {
            return Err(Error::param("max_outer", "0 (must be >= 1)"));
        }
        if !(pos(self.phase_low) && self.phase_low < self.phase_high && self.tau > 0.0) {
            return Err(Error::param(
                "phase_low",
                format!(
                    "phase_low {} and phase_high {} with tau {} (need 0 < low < high, tau > 0)",
                    self.phase_low, self.phase_high, self.tau
                ),
            ));
        }
        Ok(AlParams(self))
    }
}

/// An augmented Lagrangian solve: the last inner solution (its `objective` replaced by the
/// ReLU program's f + lam R, `iterations` by the total of inner iterations) and the constraint
/// state.
#[derive(Debug, Clone)]
pub struct AlSolution {
    pub solution: Solution,
    pub outer: usize,
    pub delta: f64,
    /// sum max(g, 0)^2 and max max(g, 0) at the returned weights.
    pub viol_sq: f64,
    pub viol_max: f64,
}

/// The outer state of an augmented Lagrangian run at the start of one inner solve: with the
/// inner R-FISTA state it is a checkpoint the run continues from exactly.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlState {
    /// Inner iterations before this inner solve.
    pub base: usize,
    /// Outer steps finished.
    pub outer: usize,
    pub delta: f64,
    pub inner_tol: f64,
    /// Initial-phase rounds taken, and whether the phase is still on.
    pub rounds: usize,
    pub initial_phase: bool,
    /// The multipliers, (2, c, p/2, n) flattened as the backend holds them (checkpoints keep
    /// them as a tensor, not in the JSON metadata).
    #[serde(skip)]
    pub gamma: Vec<f64>,
}

/// Passes inner iterations on with the iteration count carried across outer steps, and turns
/// the inner solver's checkpoints into AL checkpoints.
struct Offset<'a, B: Backend> {
    inner: &'a mut dyn Observer,
    base: usize,
    last: usize,
    /// Products of the earlier inner solves, and the start of the whole run.
    products: f64,
    start: Instant,
    be: &'a B,
    gamma: &'a B::Buf,
    outer: AlState,
}

impl<B: Backend> Observer for Offset<'_, B> {
    fn wants_detail(&self, k: usize) -> bool {
        self.inner.wants_detail(self.base + k)
    }
    fn checkpoint_every(&self) -> Option<usize> {
        self.inner.checkpoint_every()
    }
    /// The cadence counts the whole run's inner iterations, not this inner solve's.
    fn checkpoint_due(&self, k: usize) -> bool {
        self.inner.checkpoint_due(self.base + k)
    }
    fn should_stop(&self) -> bool {
        self.inner.should_stop()
    }
    fn checkpoint(&mut self, state: &FistaState) -> Result<()> {
        let mut al = self.outer.clone();
        al.gamma = self.be.download(self.gamma)?;
        self.inner.checkpoint_al(state, &al)
    }
    fn observe(&mut self, info: &IterInfo) {
        // Iteration 0 of an outer step repeats the last one of the previous step.
        if info.iteration == 0 && self.base > 0 {
            return;
        }
        self.last = self.base + info.iteration;
        let mut i = info.clone();
        i.iteration = self.last;
        i.products += self.products;
        i.time_s = self.start.elapsed().as_secs_f64();
        self.inner.observe(&i);
    }
}

/// Minimises the ReLU program on a backend built with doubled patterns (see the module docs).
pub fn solve_al<B: Backend>(
    be: &B,
    settings: &AlParams,
    init: Option<&[f64]>,
    obs: &mut dyn Observer,
) -> Result<AlSolution> {
    solve_al_resumable(be, settings, init, None, obs)
}

/// [`solve_al`], or the continuation of a run from one of its checkpoints (the inner R-FISTA
/// state and the outer state); the iteration count carries on, and the result is the
/// uninterrupted run's. The outer loop runs in an [`Executor`] (one step per inner solve, each
/// in an executor of its own that reports and checkpoints the inner iterations).
pub fn solve_al_resumable<B: Backend>(
    be: &B,
    params: &AlParams,
    init: Option<&[f64]>,
    resume: Option<(&FistaState, &AlState)>,
    obs: &mut dyn Observer,
) -> Result<AlSolution> {
    let settings = params.get();
    let dims = be.dims();
    if !dims.p.is_multiple_of(2) {
        return Err(Error::shape(
            "ReLU program patterns",
            "an even count (V and W halves)",
            dims.p.to_string(),
        ));
    }
    let mut al = Al::new(be, settings, init, resume)?;
    let budget = Budget {
        max_iters: settings.max_outer,
        time_limit: settings.fista.time_limit,
    };
    let status = Executor::new(budget, obs).run(&mut al)?;
    al.finish(status)
}

/// One augmented Lagrangian run: the multipliers and penalty state, and one workspace for
/// every inner solve (the iterate stays on the device between outer steps and nothing is
/// allocated after the first; the pass scratch comes from the backend's pool).
struct Al<'a, B: Backend> {
    be: &'a B,
    settings: &'a AlSettings,
    ws: Workspace<B>,
    gamma: B::Buf,
    neg_from: usize,
    first: Option<Start<'a>>,
    start: Instant,
    products: f64,
    inner_tol: f64,
    step: f64,
    /// Inner iterations so far.
    total: usize,
    outer: usize,
    delta: f64,
    rounds: usize,
    initial_phase: bool,
    /// The last inner solve, its cone terms, and the verdict on them.
    last: Option<(Solution, ConeTerms)>,
    verdict: Option<Status>,
}

impl<'a, B: Backend> Al<'a, B> {
    fn new(
        be: &'a B,
        settings: &'a AlSettings,
        init: Option<&'a [f64]>,
        resume: Option<(&'a FistaState, &'a AlState)>,
    ) -> Result<Self> {
        let dims = be.dims();
        let neg_from = dims.p / 2;
        let fs = &settings.fista;
        let gamma = be.cone_zeros()?;
        let shape = ConePenalty {
            shift: &gamma,
            scale: 1.0,
            weight: 1.0,
            neg_from,
        };
        let ws = Workspace::new(
            be,
            &Smooth {
                data_loss: true,
                cone: Some(shape),
            },
        )?;
        let mut al = Al {
            be,
            settings,
            ws,
            gamma,
            neg_from,
            first: Some(match init {
                Some(w) => Start::Weights(w),
                None => Start::Zero,
            }),
            start: Instant::now(),
            products: 0.0,
            inner_tol: fs.tol,
            step: fs.step0,
            total: 0,
            outer: 0,
            delta: settings.delta0 / dims.n as f64,
            rounds: 0,
            initial_phase: true,
            last: None,
            verdict: None,
        };
        if let Some((st, s)) = resume {
            if s.gamma.len() != dims.c * dims.p * dims.n {
                return Err(Error::shape(
                    "checkpoint multipliers",
                    (dims.c * dims.p * dims.n).to_string(),
                    s.gamma.len().to_string(),
                ));
            }
            if s.outer >= settings.max_outer {
                // The executor would take no step, and there would be no solve to return.
                return Err(Error::param(
                    "max_outer",
                    format!(
                        "{} (the checkpoint is past it: {} outer steps done)",
                        settings.max_outer, s.outer
                    ),
                ));
            }
            al.gamma = be.upload(&s.gamma)?;
            (al.total, al.outer, al.delta, al.inner_tol) = (s.base, s.outer, s.delta, s.inner_tol);
            (al.rounds, al.initial_phase) = (s.rounds, s.initial_phase);
            al.first = Some(Start::Resume(st));
        }
        Ok(al)
    }

    /// The outer state at the start of the next inner solve (a checkpoint's, with the
    /// multipliers left out: the inner observer downloads them when it saves).
    fn outer_state(&self) -> AlState {
        AlState {
            base: self.total,
            outer: self.outer,
            delta: self.delta,
            inner_tol: self.inner_tol,
            rounds: self.rounds,
            initial_phase: self.initial_phase,
            gamma: Vec::new(),
        }
    }

    /// Moves delta (initial phase) or the multipliers after an inner solve that did not end
    /// the run.
    fn update(&mut self, viol_sq: f64) -> Result<()> {
        let settings = self.settings;
        // Initial phase: find a delta whose unconstrained-multiplier solution violates the
        // constraints moderately, before trusting the multiplier updates.
        if self.initial_phase && self.rounds < settings.phase_rounds {
            self.rounds += 1;
            if viol_sq > settings.phase_high {
                self.delta *= 2.0;
                return Ok(());
            }
            if viol_sq < settings.phase_low {
                self.delta /= 2.0;
                self.inner_tol /= 2.0;
                return Ok(());
            }
        }
        self.initial_phase = false;
        // The raw gap, not its positive part: a satisfied constraint (g < 0) lowers its
        // multiplier toward 0, which complementary slackness needs at the solution.
        let (be, neg_from, delta) = (self.be, self.neg_from, self.delta);
        match self.ws.z_u() {
            Some(z) => be.lifted_cone(z, neg_from, Some((delta, &mut self.gamma)))?,
            None => be.cone_update(self.ws.u(), neg_from, delta, &mut self.gamma)?,
        };
        if settings.tau * viol_sq < self.inner_tol {
            self.inner_tol /= 2.0;
        }
        Ok(())
    }

    /// The duality gap at the returned weights (neuron groups only; [`CERTIFICATE_PRODUCTS`],
    /// once). With the multipliers gamma' = max(gamma + delta g, 0) >= 0 that the last inner
    /// solve's penalty implies, the Lagrangian dual of the cone program is the gated one's with
    /// the constraint ||A_g^T Theta + K_g^T mu||* <= lam; Theta = a R and mu = a m gamma'
    /// (a >= 0) make A^T Theta + K^T mu = -a m G, G the gradient of the AL's smooth part at U,
    /// which the last inner solve's stopping test left in the workspace: the gated program's
    /// scaling on G (gap.rs). The dual value bounds the optimum from below whatever U is; the
    /// primal is taken at U, which may violate the constraints a little, so the gap may fall
    /// below 0 by about what that violation buys.
    fn certificate(&self, primal: f64) -> Result<Option<Gap>> {
        let (be, fs) = (self.be, &self.settings.fista);
        if fs.regularizer != Regularizer::NeuronGl1 || fs.lambda <= 0.0 {
            return Ok(None);
        }
        let m = (be.dims().n * be.dims().c) as f64;
        let mut preds = be.zeros(be.dims().preds())?;
        let y_sq = be.loss(&preds)? * 2.0 * m;
        be.forward(self.ws.u(), &mut preds)?;
        let norms = be.group_norms(&self.ws.gu)?;
        let terms = be.output_terms(&preds)?;
        // mu = a m gamma' must stay >= 0: a negative scale is replaced by Theta = 0 (dual 0).
        let duals: Vec<f64> = neuron_duals(&terms, &norms, &be.output_starts(), fs.lambda, m)
            .iter()
            .map(|d| if d.scale >= 0.0 { d.dual } else { 0.0 })
            .collect();
        Ok(Some(certify(primal, &duals, None, y_sq, m)))
    }

    fn finish(mut self, status: Status) -> Result<AlSolution> {
        let (mut sol, terms) = self
            .last
            .take()
            .expect("the executor runs at least one outer step");
        sol.status = status;
        sol.iterations = self.total;
        sol.products = self.products;
        sol.weights = self.be.download(self.ws.u())?;
        sol.objective = sol.loss + self.settings.fista.lambda * sol.penalty;
        // An interrupted run ends now, without the certificate's products.
        let certified = match status {
            Status::Interrupted => None,
            _ => self.certificate(sol.objective)?,
        };
        if let Some(g) = certified {
            (sol.gap, sol.rel_gap) = (Some(g.gap), Some(g.rel_gap));
            sol.products += CERTIFICATE_PRODUCTS;
        }
        sol.time_s = self.start.elapsed().as_secs_f64();
        Ok(AlSolution {
            solution: sol,
            outer: self.outer,
            delta: self.delta,
            viol_sq: terms.viol_sq,
            viol_max: terms.viol_max,
        })
    }
}

impl<B: Backend> Iterative for Al<'_, B> {
    fn iteration(&self) -> usize {
        self.outer
    }

    fn init(&mut self, _: Ctx<'_>) -> Result<Option<IterInfo>> {
        // The first inner solve reports the first iterate.
        Ok(None)
    }

    /// One outer step: the inner solve, warm-started, then (unless the run ends here) the
    /// penalty or multiplier update.
    fn next(&mut self, cx: Ctx<'_>) -> Result<Option<IterInfo>> {
        let (be, settings) = (self.be, self.settings);
        let fs = &settings.fista;
        let params = FistaSettings {
            tol: self.inner_tol,
            max_iters: fs.max_iters - self.total,
            step0: self.step,
            // The inner solves test the subgradient against their own tolerance; the time limit
            // is the whole run's.
            gap_tol: None,
            time_limit: cx.time_left.map(|t| t.max(1e-9)),
            ..fs.clone()
        };
        // Derived from validated settings: a positive tolerance, step and time, and a budget
        // of at least one iteration (a spent budget ended the run at the last step).
        let params = FistaParams::derived(params);
        let pen = ConePenalty {
            shift: &self.gamma,
            scale: 1.0 / self.delta,
            weight: self.delta,
            neg_from: self.neg_from,
        };
        let smooth = Smooth {
            data_loss: true,
            cone: Some(pen),
        };
        let mut off = Offset {
            inner: cx.obs,
            base: self.total,
            last: self.total,
            products: self.products,
            start: self.start,
            be,
            gamma: &self.gamma,
            outer: self.outer_state(),
        };
        let start_at = self.first.take().unwrap_or(Start::Warm);
        let sol = solve_in(be, &params, &mut self.ws, start_at, &smooth, &mut off)?;
        self.total += sol.iterations;
        self.products += sol.products;
        self.outer += 1;
        self.step = sol.step;
        let terms = match self.ws.z_u() {
            Some(z) => be.lifted_cone(z, self.neg_from, None)?,
            None => be.cone(self.ws.u(), self.neg_from, None, None)?,
        };
        log::debug!(
            "AL outer {}: delta {:.3e}, inner {} its (tol {:.1e}), violation^2 {:.3e}, subgrad^2 {:.3e}",
            self.outer,
            self.delta,
            sol.iterations,
            self.inner_tol,
            terms.viol_sq,
            sol.grad_norm_sq
        );
        self.verdict = if matches!(
            sol.status,
            Status::Diverged | Status::Interrupted | Status::MaxTime
        ) {
            Some(sol.status)
        } else if terms.viol_sq <= settings.viol_tol && sol.grad_norm_sq <= fs.tol {
            Some(Status::Converged)
        } else if self.outer >= settings.max_outer || self.total >= fs.max_iters {
            Some(Status::MaxIterations)
        } else {
            None
        };
        let viol_sq = terms.viol_sq;
        self.last = Some((sol, terms));
        if self.verdict.is_none() {
            self.update(viol_sq)?;
        }
        Ok(None)
    }

    fn terminate(&self) -> Option<Status> {
        self.verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each bad setting is named by its field, the inner solver's too.
    #[test]
    fn errors_name_the_field() {
        type Spoil = fn(&mut AlSettings);
        let cases: [(&str, Spoil); 5] = [
            ("delta0", |s| s.delta0 = 0.0),
            ("viol_tol", |s| s.viol_tol = f64::INFINITY),
            ("max_outer", |s| s.max_outer = 0),
            ("phase_low", |s| s.phase_low = s.phase_high),
            ("step0", |s| s.fista.step0 = -1.0),
        ];
        for (field, spoil) in cases {
            let mut s = AlSettings::default();
            spoil(&mut s);
            match s.check() {
                Err(Error::InvalidParam { flag, .. }) => assert_eq!(flag, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(AlSettings::default().check().is_ok());
    }
}
