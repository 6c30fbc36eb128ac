//! Second-order cone programs solved by Clarabel (an open interior-point solver): the exact,
//! minimum-norm cone decomposition, and the whole ReLU program on small problems as the
//! independent reference the augmented Lagrangian solver is tested and benchmarked against.
//!
//! Clarabel solves min x'Px/2 + q'x subject to Ax + s = b, s in a product of cones.
//! Weights use the ReLU layout of [`crate::solver::al`]: (c, 2p, d) with V in gates [0, p) and
//! -W in gates [p, 2p), on doubled patterns [D, D].

use crate::error::{Error, Result};
use crate::mask::BitMask;
use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettings, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
    SupportedConeT::{NonnegativeConeT, SecondOrderConeT, ZeroConeT},
};
use ndarray::Array2;
use std::time::Instant;

/// Largest n x d the exact decomposition accepts: each (l, i) is an SOCP with 2n dense rows of
/// d entries; above this the interior-point solves take minutes per group on one core.
pub const EXACT_MAX_ND: usize = 200_000;

/// Largest problem (2 c p d weights, n c residuals, 2 c p n constraints) the reference solve of
/// the whole ReLU program accepts.
pub const REFERENCE_MAX_CONSTRAINTS: usize = 200_000;

/// The size limit of [`exact_decomposition`], checked before any solve starts.
pub fn check_exact_size(n: usize, d: usize) -> Result<()> {
    if n * d > EXACT_MAX_ND {
        return Err(Error::param(
            "decompose",
            format!(
                "exact needs n x d <= {EXACT_MAX_ND} (one interior-point solve per neuron); this problem has {n} x {d} = {}; use --decompose approx",
                n * d
            ),
        ));
    }
    Ok(())
}

/// A conic program assembled row block by row block.
struct Socp {
    vars: usize,
    rows: usize,
    ai: Vec<usize>,
    aj: Vec<usize>,
    av: Vec<f64>,
    b: Vec<f64>,
    cones: Vec<SupportedConeT<f64>>,
}

impl Socp {
    fn new(vars: usize) -> Self {
        Socp {
            vars,
            rows: 0,
            ai: vec![],
            aj: vec![],
            av: vec![],
            b: vec![],
            cones: vec![],
        }
    }

    /// Appends rows (entries (col, value) of A, and b) in one cone.
    fn block(&mut self, cone: SupportedConeT<f64>, rows: Vec<(Vec<(usize, f64)>, f64)>) {
        for (entries, b) in rows {
            for (j, v) in entries {
                if v != 0.0 {
                    self.ai.push(self.rows);
                    self.aj.push(j);
                    self.av.push(v);
                }
            }
            self.b.push(b);
            self.rows += 1;
        }
        self.cones.push(cone);
    }

    /// Solves with P = diag(pdiag) (upper triangular as Clarabel wants) and q.
    fn solve(self, pdiag: &[(usize, f64)], q: &[f64]) -> Result<(Vec<f64>, SolverStatus)> {
        let (pi, pv): (Vec<usize>, Vec<f64>) = pdiag.iter().copied().unzip();
        let p = CscMatrix::new_from_triplets(self.vars, self.vars, pi.clone(), pi, pv);
        let a = CscMatrix::new_from_triplets(self.rows, self.vars, self.ai, self.aj, self.av);
        let settings = DefaultSettings {
            verbose: false,
            max_iter: 500,
            ..DefaultSettings::default()
        };
        let mut solver = DefaultSolver::new(&p, q, &a, &self.b, &self.cones, settings)
            .map_err(|e| Error::Data(format!("conic solver setup: {e:?}")))?;
        solver.solve();
        let status = solver.solution.status;
        match status {
            SolverStatus::Solved | SolverStatus::AlmostSolved => {
                Ok((solver.solution.x.clone(), status))
            }
            s => Err(Error::Data(format!(
                "the conic solver stopped with status {s:?}"
            ))),
        }
    }
}

/// s_i (2 D_ji - 1) for gate i of `p2` doubled gates.
fn orient(mask: &BitMask, j: usize, i: usize, p2: usize) -> f64 {
    let on = mask.get(j, i);
    if on == (i < p2 / 2) { 1.0 } else { -1.0 }
}

/// The ReLU program solved by Clarabel: weights (c, 2p, d) in the ReLU layout and
/// f + lam sum ||U_{l,i}|| at them, and the seconds it took. `mask` holds the doubled patterns.
pub fn relu_program(
    x: &Array2<f64>,
    y: &Array2<f64>,
    mask: &BitMask,
    lam: f64,
) -> Result<(Vec<f64>, f64, f64)> {
    let start = Instant::now();
    let (n, d) = x.dim();
    let (c, p2) = (y.ncols(), mask.cols());
    let cons = c * p2 * n;
    if cons > REFERENCE_MAX_CONSTRAINTS {
        return Err(Error::param(
            "model",
            format!(
                "{cons} cone constraints; the interior-point reference takes at most {REFERENCE_MAX_CONSTRAINTS}"
            ),
        ));
    }
    let nw = c * p2 * d;
    let (r0, t0) = (nw, nw + n * c); // residual and epigraph variables
    let mut prob = Socp::new(t0 + c * p2);
    let wcol = |l: usize, i: usize, k: usize| (l * p2 + i) * d + k;
    // r_{j,l} = sum_i D_ji x_j . U_{l,i} - y_{j,l}
    let mut rows = Vec::with_capacity(n * c);
    for j in 0..n {
        for l in 0..c {
            let mut e = vec![(r0 + j * c + l, 1.0)];
            for i in 0..p2 {
                if mask.get(j, i) {
                    e.extend((0..d).map(|k| (wcol(l, i, k), -x[[j, k]])));
                }
            }
            rows.push((e, -y[[j, l]]));
        }
    }
    prob.block(ZeroConeT(n * c), rows);
    // s_i (2 D_ji - 1) x_j . U_{l,i} >= 0
    let mut rows = Vec::with_capacity(cons);
    for l in 0..c {
        for i in 0..p2 {
            for j in 0..n {
                let so = orient(mask, j, i, p2);
                rows.push((
                    (0..d).map(|k| (wcol(l, i, k), -so * x[[j, k]])).collect(),
                    0.0,
                ));
            }
        }
    }
    prob.block(NonnegativeConeT(cons), rows);
    // ||U_{l,i}|| <= t_{l,i}
    for g in 0..c * p2 {
        let mut rows = vec![(vec![(t0 + g, -1.0)], 0.0)];
        rows.extend((0..d).map(|k| (vec![(g * d + k, -1.0)], 0.0)));
        prob.block(SecondOrderConeT(d + 1), rows);
    }
    let scale = 1.0 / (n * c) as f64;
    let pdiag: Vec<(usize, f64)> = (0..n * c).map(|k| (r0 + k, scale)).collect();
    let mut q = vec![0.0; prob.vars];
    q[t0..].iter_mut().for_each(|v| *v = lam);
    let (sol, _) = prob.solve(&pdiag, &q)?;
    let u = sol[..nw].to_vec();
    let obj = relu_objective(x, y, mask, &u, lam);
    Ok((u, obj, start.elapsed().as_secs_f64()))
}

/// f(U) + lam sum ||U_{l,i}|| for weights on `mask`'s gates, in f64 (a plain loop).
pub fn relu_objective(
    x: &Array2<f64>,
    y: &Array2<f64>,
    mask: &BitMask,
    u: &[f64],
    lam: f64,
) -> f64 {
    let (n, d) = x.dim();
    let (c, p) = (y.ncols(), mask.cols());
    let mut sq = 0.0;
    for j in 0..n {
        for l in 0..c {
            let mut pred = 0.0;
            mask.for_each_set(j, |i| {
                let g = &u[(l * p + i) * d..(l * p + i + 1) * d];
                pred += (0..d).map(|k| x[[j, k]] * g[k]).sum::<f64>();
            });
            sq += (pred - y[[j, l]]).powi(2);
        }
    }
    let reg: f64 = u
        .chunks(d)
        .map(|g| g.iter().map(|v| v * v).sum::<f64>().sqrt())
        .sum();
    sq / (2 * n * c) as f64 + lam * reg
}

/// The minimum-norm cone decomposition of gated weights `u` (c, p, d) on patterns `mask`
/// (not doubled): for each (l, i), W minimising ||U + W|| + ||W|| subject to
/// (2 D_i - I) X (U + W) >= 0 and (2 D_i - I) X W >= 0, so that V = U + W. Returns the ReLU
/// layout (c, 2p, d).
pub fn exact_decomposition(
    x: &Array2<f64>,
    mask: &BitMask,
    u: &[f64],
    c: usize,
) -> Result<Vec<f64>> {
    let (n, d) = x.dim();
    let p = mask.cols();
    check_exact_size(n, d)?;
    // One SOCP per nonzero group, spread over the cores.
    let groups: Vec<(usize, usize)> = (0..c)
        .flat_map(|l| (0..p).map(move |i| (l, i)))
        .filter(|&(l, i)| {
            u[(l * p + i) * d..(l * p + i + 1) * d]
                .iter()
                .any(|&v| v != 0.0)
        })
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(groups.len())
        .max(1);
    let per = groups.len().div_ceil(threads);
    type Split = ((usize, usize), Vec<f64>);
    let solved: Vec<Result<Vec<Split>>> = std::thread::scope(|sc| {
        let handles: Vec<_> = groups
            .chunks(per.max(1))
            .map(|chunk| {
                sc.spawn(move || {
                    chunk
                        .iter()
                        .map(|&(l, i)| {
                            let ug = &u[(l * p + i) * d..(l * p + i + 1) * d];
                            Ok(((l, i), min_norm_split(x, mask, i, ug)?))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("decomposition worker panicked"))
            .collect()
    });
    let mut out = vec![0.0; 2 * c * p * d];
    for part in solved {
        for ((l, i), w) in part? {
            let ug = &u[(l * p + i) * d..(l * p + i + 1) * d];
            let v0 = (l * 2 * p + i) * d;
            let w0 = (l * 2 * p + p + i) * d;
            for k in 0..d {
                out[v0 + k] = ug[k] + w[k];
                out[w0 + k] = -w[k];
            }
        }
    }
    Ok(out)
}

/// W minimising ||u + W|| + ||W|| subject to (2 D_i - I) X (u + W) >= 0 and
/// (2 D_i - I) X W >= 0. Variables: w (d), t1, t2.
fn min_norm_split(x: &Array2<f64>, mask: &BitMask, i: usize, ug: &[f64]) -> Result<Vec<f64>> {
    let (n, d) = x.dim();
    let mut prob = Socp::new(d + 2);
    let ox = |j: usize| -> (f64, f64) {
        let o = if mask.get(j, i) { 1.0 } else { -1.0 };
        (o, o * (0..d).map(|k| x[[j, k]] * ug[k]).sum::<f64>())
    };
    let mut rows = Vec::with_capacity(2 * n);
    for j in 0..n {
        let (o, oxu) = ox(j);
        rows.push(((0..d).map(|k| (k, -o * x[[j, k]])).collect(), oxu));
    }
    for j in 0..n {
        let (o, _) = ox(j);
        rows.push(((0..d).map(|k| (k, -o * x[[j, k]])).collect(), 0.0));
    }
    prob.block(NonnegativeConeT(2 * n), rows);
    let mut soc = |t: usize, shift: Option<&[f64]>| {
        let mut rows = vec![(vec![(t, -1.0)], 0.0)];
        rows.extend((0..d).map(|k| (vec![(k, -1.0)], shift.map_or(0.0, |s| s[k]))));
        prob.block(SecondOrderConeT(d + 1), rows);
    };
    soc(d, Some(ug));
    soc(d + 1, None);
    let mut q = vec![0.0; d + 2];
    q[d] = 1.0;
    q[d + 1] = 1.0;
    let (w, _) = prob.solve(&[], &q)?;
    Ok(w[..d].to_vec())
}
