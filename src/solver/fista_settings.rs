//! R-FISTA's settings and their validation.

use crate::error::{Error, Result};
use crate::regularizer::Regularizer;

/// The relative duality gap the CLI stops at when none is given (chosen by measurement: see
/// BENCHMARKS.md). [`FistaSettings::default`] keeps `gap_tol: None` (scnn's subgradient rule),
/// so library code states the rule it stops by.
pub const DEFAULT_GAP_TOL: f64 = 1e-2;

/// R-FISTA settings as the user gives them (defaults from the paper's solver). `check()` turns
/// them into [`FistaParams`].
///
/// | name | default | meaning | valid |
/// |---|---|---|---|
/// | lambda | 1e-4 | regularization strength | >= 0 |
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
/// | working_set | off | iterate on working sets with Gap Safe screening (see [`super::working_set`]) | |
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
    pub working_set: super::working_set::WorkingSet,
}

impl Default for FistaSettings {
    fn default() -> Self {
        FistaSettings {
            lambda: 1e-4,
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
            working_set: super::working_set::WorkingSet::Off,
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

    /// Settings a solver derived from validated ones (checked in debug builds).
    pub(crate) fn derived(s: FistaSettings) -> FistaParams {
        debug_assert!(s.clone().check().is_ok(), "derived settings {s:?}");
        FistaParams(s)
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
                "lambda",
                format!("{} (must be a finite number >= 0)", self.lambda),
            );
        }
        if !(self.tol > 0.0 && self.tol.is_finite()) {
            return bad("tol", format!("{} (must be > 0)", self.tol));
        }
        if self.max_iters == 0 {
            return bad("max_iters", "0 (must be >= 1)".into());
        }
        if !(self.step0 > 0.0 && self.step0.is_finite()) {
            return bad("step0", format!("{} (must be > 0)", self.step0));
        }
        if !(self.backtrack > 0.0 && self.backtrack < 1.0) {
            return bad(
                "backtrack",
                format!("{} (must be in (0, 1))", self.backtrack),
            );
        }
        if self.max_backtracks == 0 {
            return bad("max_backtracks", "0 (must be >= 1)".into());
        }
        if !(self.fallback_step > 0.0 && self.fallback_step.is_finite()) {
            return bad(
                "fallback_step",
                format!("{} (must be > 0)", self.fallback_step),
            );
        }
        if !(self.grow_threshold >= 1.0 && self.grow_threshold.is_finite()) {
            return bad(
                "grow_threshold",
                format!("{} (must be >= 1)", self.grow_threshold),
            );
        }
        if !(self.grow_factor >= 1.0 && self.grow_factor.is_finite()) {
            return bad(
                "grow_factor",
                format!("{} (must be >= 1)", self.grow_factor),
            );
        }
        if self.refresh_every == 0 {
            return bad("refresh_every", "0 (must be >= 1)".into());
        }
        if let Some(g) = self.gap_tol
            && !(g > 0.0 && g.is_finite())
        {
            return bad("gap_tol", format!("{g} (must be > 0)"));
        }
        if let Some(t) = self.time_limit
            && (t.is_nan() || t <= 0.0)
        {
            return bad("time_limit", format!("{t} (must be > 0 seconds)"));
        }
        Ok(FistaParams(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each bad setting is named by its field (the CLI maps fields to flags where it has them).
    #[test]
    fn errors_name_the_field() {
        type Spoil = fn(&mut FistaSettings);
        let cases: [(&str, Spoil); 8] = [
            ("lambda", |s| s.lambda = -1.0),
            ("backtrack", |s| s.backtrack = 1.5),
            ("max_backtracks", |s| s.max_backtracks = 0),
            ("fallback_step", |s| s.fallback_step = f64::NAN),
            ("grow_threshold", |s| s.grow_threshold = 0.5),
            ("grow_factor", |s| s.grow_factor = 0.9),
            ("refresh_every", |s| s.refresh_every = 0),
            ("time_limit", |s| s.time_limit = Some(0.0)),
        ];
        for (field, spoil) in cases {
            let mut s = FistaSettings::default();
            spoil(&mut s);
            match s.check() {
                Err(Error::InvalidParam { flag, .. }) => assert_eq!(flag, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
