//! Solvers, written once over any [`Backend`](crate::backend::Backend). A solver computes
//! iterates and reports them to an [`Observer`]; it never prints.

pub mod al;
pub mod executor;
pub mod fista;
pub mod fista_settings;
pub mod gap;
pub mod observer;
pub mod smooth;
pub mod working_set;
pub mod workspace;
mod ws_inner;
mod ws_tuning;

pub use al::{AlParams, AlSettings, AlSolution, AlState, solve_al, solve_al_resumable};
pub use fista::{
    DEFAULT_GAP_TOL, FistaParams, FistaSettings, FistaState, Smooth, solve, solve_resumable,
    solve_smooth,
};
pub use observer::{IterInfo, Observer};
pub use working_set::{WorkingSet, WsSummary};

use serde::{Deserialize, Serialize};

/// How a solve ended. Not converging is a status, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// The stopping test held: the relative duality gap, or (scnn's rule) the squared
    /// minimum-norm subgradient norm, reached its tolerance.
    Converged,
    /// The iteration budget ran out first.
    MaxIterations,
    /// The objective grew past 1000x its initial value.
    Diverged,
    /// The observer asked to stop (Ctrl-C); the state was handed to it first.
    Interrupted,
    /// The time limit ran out first.
    MaxTime,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Converged => "Converged",
            Status::MaxIterations => "MaxIterations",
            Status::Diverged => "Diverged",
            Status::Interrupted => "Interrupted",
            Status::MaxTime => "MaxTime",
        })
    }
}

/// The result of a solve: weights (c, p, d) on the host plus what the solver knows of them.
#[derive(Debug, Clone)]
pub struct Solution {
    pub weights: Vec<f64>,
    pub status: Status,
    pub iterations: usize,
    pub objective: f64,
    /// The data loss f(U).
    pub loss: f64,
    /// The cone penalty of the smooth part (0 for the gated program).
    pub cone_penalty: f64,
    /// R(U).
    pub penalty: f64,
    pub grad_norm_sq: f64,
    /// The duality gap P(U) - D(Theta) and gap / P(0) at the final iterate, where defined.
    pub gap: Option<f64>,
    pub rel_gap: Option<f64>,
    /// Work in masked products over all groups (2 n d p c flop each; one over a working set of
    /// c k groups counts k / p).
    pub products: f64,
    /// Step size at the end (useful for warm starts).
    pub step: f64,
    /// R-FISTA's momentum t at the end (1 after a restart), for warm starts that keep it.
    pub momentum: f64,
    /// Line searches that hit the try limit and took the tiny fallback step.
    pub line_search_failures: usize,
    pub time_s: f64,
    /// What the working sets did, for a run that used them.
    pub working_set: Option<WsSummary>,
}
