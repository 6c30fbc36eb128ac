//! The working sets' plumbing: the observer an inner solve reports through, and the moves
//! between the full problem's (c, p, d) weights and a packed sub-problem's.

use super::fista::FistaState;
use super::{IterInfo, Observer};
use crate::error::Result;
use std::time::Instant;

pub(super) fn full_state(
    iteration: usize,
    t: f64,
    eta: f64,
    failures: usize,
    u: Vec<f64>,
    v: Vec<f64>,
    best_dual: &[f64],
) -> FistaState {
    FistaState {
        iteration,
        t,
        eta,
        f_init: 0.0,
        failures,
        u,
        v,
        z: None,
        at_v: None,
        best_dual: (!best_dual.is_empty()).then(|| best_dual.to_vec()),
    }
}

/// Passes the inner solve's iterations on with the whole run's count, work and working-set
/// sizes, and turns its checkpoints into the full problem's.
pub(super) struct WsObs<'a> {
    pub(super) inner: &'a mut dyn Observer,
    pub(super) base: usize,
    /// Work before this inner solve, and one inner product's share of a full one.
    pub(super) products: f64,
    pub(super) unit: f64,
    pub(super) start: Instant,
    /// The working set (None: the full problem).
    pub(super) gates: Option<&'a [Vec<usize>]>,
    pub(super) dims: crate::backend::Dims,
    /// The full problem's best duals (the sub-problem's do not bound the full optimum).
    pub(super) best_dual: &'a [f64],
    /// (groups in the working set, groups screened).
    pub(super) sizes: (usize, usize),
}

impl Observer for WsObs<'_> {
    fn wants_detail(&self, k: usize) -> bool {
        self.inner.wants_detail(self.base + k)
    }
    fn checkpoint_every(&self) -> Option<usize> {
        self.inner.checkpoint_every()
    }
    fn checkpoint_due(&self, k: usize) -> bool {
        self.inner.checkpoint_due(self.base + k)
    }
    fn should_stop(&self) -> bool {
        self.inner.should_stop()
    }
    fn checkpoint(&mut self, st: &FistaState) -> Result<()> {
        let (u, v) = match self.gates {
            Some(g) => {
                let (p, d) = (self.dims.p, self.dims.d);
                let mut u = vec![0.0; self.dims.weights()];
                let mut v = vec![0.0; self.dims.weights()];
                scatter(&st.u, g, p, d, &mut u);
                scatter(&st.v, g, p, d, &mut v);
                (u, v)
            }
            None => (st.u.clone(), st.v.clone()),
        };
        let full = full_state(
            self.base + st.iteration,
            st.t,
            st.eta,
            st.failures,
            u,
            v,
            self.best_dual,
        );
        self.inner.checkpoint(&full)
    }
    fn observe(&mut self, info: &IterInfo) {
        // Iteration 0 repeats the outer row just reported.
        if info.iteration == 0 {
            return;
        }
        let mut i = info.clone();
        i.iteration = self.base + info.iteration;
        i.products = self.products + info.products * self.unit;
        i.time_s = self.start.elapsed().as_secs_f64();
        // The inner gap is the sub-problem's; the outer rows carry the full one.
        i.working_set = Some(self.sizes.0);
        i.screened = Some(self.sizes.1);
        self.inner.observe(&i);
    }
}

/// U_W (output after output, k_l groups each) from U (c, p, d).
pub(super) fn gather(u: &[f64], gates: &[Vec<usize>], p: usize, d: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(gates.iter().map(Vec::len).sum::<usize>() * d);
    for (l, g) in gates.iter().enumerate() {
        for &i in g {
            out.extend_from_slice(&u[(l * p + i) * d..(l * p + i + 1) * d]);
        }
    }
    out
}

/// Writes U_W into its groups of U (c, p, d); the other groups are left alone.
pub(super) fn scatter(uw: &[f64], gates: &[Vec<usize>], p: usize, d: usize, u: &mut [f64]) {
    let pairs = gates
        .iter()
        .enumerate()
        .flat_map(|(l, g)| g.iter().map(move |&i| l * p + i));
    for (j, g) in pairs.enumerate() {
        u[g * d..(g + 1) * d].copy_from_slice(&uw[j * d..(j + 1) * d]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_scatter_round_trip() {
        let (p, d) = (4, 2);
        let u: Vec<f64> = (0..2 * p * d).map(|v| v as f64).collect();
        let gates = vec![vec![1, 3], vec![2]];
        let uw = gather(&u, &gates, p, d);
        assert_eq!(uw, vec![2.0, 3.0, 6.0, 7.0, 12.0, 13.0]);
        let mut back = vec![0.0; u.len()];
        scatter(&uw, &gates, p, d, &mut back);
        for (g, chunk) in back.chunks(d).enumerate() {
            let kept = [1, 3, 6].contains(&g);
            assert_eq!(
                chunk,
                if kept {
                    &u[g * d..(g + 1) * d]
                } else {
                    &[0.0, 0.0][..]
                }
            );
        }
    }
}
