//! What a solver reports each iteration, and the trait that receives it.

/// One iteration's state. `active` is filled only on iterations the observer asked details for.
#[derive(Debug, Clone)]
pub struct IterInfo {
    pub iteration: usize,
    pub objective: f64,
    pub loss: f64,
    pub penalty: f64,
    pub grad_norm_sq: f64,
    /// Duality gap and gap / P(0), where the program and regularizer have one.
    pub gap: Option<f64>,
    pub rel_gap: Option<f64>,
    /// Work so far in this solve, in masked products over all groups (a product over a working
    /// set of c k groups counts k / p).
    pub products: f64,
    pub step: f64,
    pub restarted: bool,
    pub line_search_tries: usize,
    pub active: Option<usize>,
    pub time_s: f64,
    /// Working-set runs: the outer step this row ends (outer rows carry the full problem's
    /// gap; inner rows the sub-problem's), the working set's size in groups, and the groups
    /// screened so far.
    pub outer: Option<usize>,
    pub working_set: Option<usize>,
    pub screened: Option<usize>,
}

pub trait Observer {
    /// Whether iteration `k` wants `active` computed (a small read-back of the group norms).
    fn wants_detail(&self, _k: usize) -> bool {
        false
    }
    fn observe(&mut self, info: &IterInfo);
    /// Every how many iterations R-FISTA should hand its state to `checkpoint` (and at the end).
    fn checkpoint_every(&self) -> Option<usize> {
        None
    }
    /// Whether the state after iteration `k` is due for `checkpoint` (every `checkpoint_every`
    /// iterations of the whole run; the end of a solve is always due when checkpoints are on).
    fn checkpoint_due(&self, k: usize) -> bool {
        self.checkpoint_every()
            .is_some_and(|e| k.is_multiple_of(e.max(1)))
    }
    fn checkpoint(&mut self, _state: &super::fista::FistaState) -> crate::error::Result<()> {
        Ok(())
    }
    /// The augmented Lagrangian's checkpoints: the inner R-FISTA state and the outer state.
    fn checkpoint_al(
        &mut self,
        _state: &super::fista::FistaState,
        _al: &super::al::AlState,
    ) -> crate::error::Result<()> {
        Ok(())
    }
    /// Called once by [`crate::train::fit`] when its main solve has ended, before any
    /// decomposition starts (the CLI closes its iteration table here).
    fn solve_finished(&mut self, _sol: &super::Solution) -> crate::error::Result<()> {
        Ok(())
    }
    /// Polled after every iteration: true stops the solve with status `Interrupted`, after its
    /// state went to `checkpoint`.
    fn should_stop(&self) -> bool {
        false
    }
}

/// Keeps every iteration (tests, plots).
#[derive(Default)]
pub struct Recorder {
    pub history: Vec<IterInfo>,
}

impl Observer for Recorder {
    fn observe(&mut self, info: &IterInfo) {
        self.history.push(info.clone());
    }
}

/// Ignores everything.
pub struct Silent;

impl Observer for Silent {
    fn observe(&mut self, _: &IterInfo) {}
}

/// Ignores every iteration but stops the solve when `0()` turns true (a path or a bench that
/// Ctrl-C should end).
pub struct StopWhen<'a>(pub &'a (dyn Fn() -> bool + Sync));

impl Observer for StopWhen<'_> {
    fn observe(&mut self, _: &IterInfo) {}
    fn should_stop(&self) -> bool {
        (self.0)()
    }
}
