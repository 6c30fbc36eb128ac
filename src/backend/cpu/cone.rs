//! The CPU backend's passes over the ReLU program's cone constraints, one product X_B U^T per
//! block of rows (the lifted operations in `lifted.rs` keep those products instead).

use super::CpuBackend;
use super::mat_mul;
use crate::backend::{ConePenalty, ConeTerms, Dims};
use crate::real::Real;
use ndarray::{Array2, ArrayViewMut2, s};

/// For one constraint with shifted gaps A at V and B = A + delta at V + step: (max(B, 0)^2,
/// max(B,0)^2 - max(A,0)^2 - 2 max(A,0) delta), the latter formed without cancellation. By
/// cases it is delta^2 (A, B > 0), B^2 (only B > 0), A^2 - 2 A B (only A > 0) or 0; with
/// e = clamp(delta, -max(A, 0), max(B, 0)) that is e^2 - 2 max(A, 0) min(B, 0) in every case,
/// e = delta exactly when both are positive, and no branch (the lifted passes vectorise).
#[inline(always)]
pub(crate) fn cone_curvature(a: f64, delta: f64) -> (f64, f64) {
    // Compare-and-selects rather than `f64::max`/`min`, whose NaN tests keep LLVM from
    // vectorising the lifted passes.
    let b = a + delta;
    let ap = if a > 0.0 { a } else { 0.0 };
    let bp = if b > 0.0 { b } else { 0.0 };
    let lo = if delta > -ap { delta } else { -ap };
    let e = if lo < bp { lo } else { bp };
    let bn = if b < 0.0 { b } else { 0.0 };
    (bp * bp, e * e - 2.0 * ap * bn)
}

/// What one pass over the cone constraints does besides measuring the violation.
enum ConeMode<'a, T> {
    Stats,
    /// Penalty with shift rows starting at the pass's first row; `grad` asks for its gradient.
    Penalty {
        shift: &'a [T],
        scale: f64,
        weight: f64,
        grad: bool,
    },
    /// gamma <- max(gamma + delta g, 0), gamma rows starting at the pass's first row.
    Update {
        gamma: &'a mut [T],
        delta: f64,
    },
}

impl<T: Real> CpuBackend<T> {
    /// Cone terms of rows [r0, r1); with a penalty gradient, grad += its part from these rows.
    /// Z = X_B U^T per block as in `forward`, then the block is overwritten by the penalty's
    /// coefficients and multiplied back (grad += Z^T X_B) as in `gradient`.
    fn cone_rows(
        &self,
        u: &[T],
        r0: usize,
        r1: usize,
        neg_from: usize,
        mut mode: ConeMode<'_, T>,
        mut grad: Option<ArrayViewMut2<T>>,
    ) -> ConeTerms {
        let Dims { p, c, .. } = self.dims;
        let cp = c * p;
        let wt = self.weights_view(u).reversed_axes();
        let rows = self.block_rows.min(r1 - r0);
        let mut buf = self.scratch(rows * cp);
        let mut zbuf = ArrayViewMut2::from_shape((rows, cp), &mut buf[..]).expect("block");
        let mut out = ConeTerms::default();
        for b0 in (r0..r1).step_by(self.block_rows) {
            let b1 = (b0 + self.block_rows).min(r1);
            let mut z = zbuf.slice_mut(s![..b1 - b0, ..]);
            mat_mul(
                T::one(),
                &self.x.slice(s![b0..b1, ..]),
                &wt,
                T::zero(),
                &mut z,
            );
            for r in b0..b1 {
                let mut zr = z.row_mut(r - b0);
                let zr = zr.as_slice_mut().expect("row-major block");
                for (col, zv) in zr.iter_mut().enumerate() {
                    let i = col % p;
                    let on = self.mask.get(r, i);
                    // s_i (2 D_ji - 1): +1 when the gate is on and not negated, or off and negated.
                    let so = if on == (i < neg_from) { 1.0 } else { -1.0 };
                    let g = -so * zv.f();
                    if g > 0.0 {
                        out.viol_sq += g * g;
                        out.viol_max = out.viol_max.max(g);
                    }
                    let k = (r - r0) * cp + col;
                    match &mut mode {
                        ConeMode::Stats => {}
                        ConeMode::Penalty {
                            shift,
                            scale,
                            weight,
                            ..
                        } => {
                            let v = g + *scale * shift[k].f();
                            *zv = if v > 0.0 {
                                out.penalty += v * v;
                                T::of(-*weight * so * v)
                            } else {
                                T::zero()
                            };
                        }
                        ConeMode::Update { gamma, delta } => {
                            gamma[k] = T::of((gamma[k].f() + *delta * g).max(0.0));
                        }
                    }
                }
            }
            if let (Some(gv), ConeMode::Penalty { grad: true, .. }) = (grad.as_mut(), &mode) {
                mat_mul(
                    T::one(),
                    &z.t(),
                    &self.x.slice(s![b0..b1, ..]),
                    T::one(),
                    gv,
                );
            }
        }
        self.give(buf);
        if let ConeMode::Penalty { weight, .. } = mode {
            out.penalty *= weight / 2.0;
        }
        out
    }

    /// For rows [r0, r1): sum max(B, 0)^2 and the exact curvature sum of the shifted penalty
    /// between V and V + step (before the weight / 2), with A = g(V) + a shift and
    /// B = A + (g(V + step) - g(V)); the difference comes from X step itself, so nothing cancels.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn cone_trial_rows(
        &self,
        v: &[T],
        step: &[T],
        r0: usize,
        r1: usize,
        neg_from: usize,
        shift: &[T],
        scale: f64,
    ) -> (f64, f64) {
        let Dims { p, c, .. } = self.dims;
        let cp = c * p;
        let (vt, st) = (
            self.weights_view(v).reversed_axes(),
            self.weights_view(step).reversed_axes(),
        );
        let rows = self.block_rows.min(r1 - r0);
        let (mut bv, mut bs) = (self.scratch(rows * cp), self.scratch(rows * cp));
        let mut zv = ArrayViewMut2::from_shape((rows, cp), &mut bv[..]).expect("block");
        let mut zs = ArrayViewMut2::from_shape((rows, cp), &mut bs[..]).expect("block");
        let (mut pen, mut curv) = (0.0, 0.0);
        for b0 in (r0..r1).step_by(self.block_rows) {
            let b1 = (b0 + self.block_rows).min(r1);
            let xb = self.x.slice(s![b0..b1, ..]);
            let mut a = zv.slice_mut(s![..b1 - b0, ..]);
            mat_mul(T::one(), &xb, &vt, T::zero(), &mut a);
            let mut b = zs.slice_mut(s![..b1 - b0, ..]);
            mat_mul(T::one(), &xb, &st, T::zero(), &mut b);
            for r in b0..b1 {
                for col in 0..cp {
                    let i = col % p;
                    let so = if self.mask.get(r, i) == (i < neg_from) {
                        1.0
                    } else {
                        -1.0
                    };
                    let k = (r - r0) * cp + col;
                    let av = -so * zv[[r - b0, col]].f() + scale * shift[k].f();
                    let dv = -so * zs[[r - b0, col]].f();
                    let (bp, cv) = cone_curvature(av, dv);
                    pen += bp;
                    curv += cv;
                }
            }
        }
        self.give(bv);
        self.give(bs);
        (pen, curv)
    }

    /// Runs `cone_rows` over the thread ranges and adds up the terms; with `grad`, writes the
    /// penalty's gradient there.
    pub(super) fn cone_pass(
        &self,
        u: &[T],
        neg_from: usize,
        pen: Option<&ConePenalty<'_, Vec<T>>>,
        gamma: Option<(&mut [T], f64)>,
        grad: Option<&mut Vec<T>>,
    ) -> ConeTerms {
        let Dims { d, p, c, .. } = self.dims;
        let cp = c * p;
        let ranges = self.ranges();
        let want_grad = grad.is_some() && pen.is_some();
        // Each thread gets its own rows of the multipliers.
        let (mut gamma_rest, delta) = match gamma {
            Some((g, delta)) => (Some(g), delta),
            None => (None, 0.0),
        };
        let mut modes = Vec::with_capacity(ranges.len());
        for &(r0, r1) in &ranges {
            modes.push(match (gamma_rest.take(), pen) {
                (Some(g), _) => {
                    let (mine, rest) = g.split_at_mut((r1 - r0) * cp);
                    gamma_rest = Some(rest);
                    ConeMode::Update { gamma: mine, delta }
                }
                (None, Some(pp)) => ConeMode::Penalty {
                    shift: &pp.shift[r0 * cp..r1 * cp],
                    scale: pp.scale,
                    weight: pp.weight,
                    grad: want_grad,
                },
                (None, None) => ConeMode::Stats,
            });
        }
        let results: Vec<(ConeTerms, Option<Array2<T>>)> = std::thread::scope(|sc| {
            let handles: Vec<_> = ranges
                .iter()
                .zip(modes)
                .map(|(&(r0, r1), mode)| {
                    sc.spawn(move || {
                        let mut part = want_grad.then(|| Array2::<T>::zeros((cp, d)));
                        let t = self.cone_rows(
                            u,
                            r0,
                            r1,
                            neg_from,
                            mode,
                            part.as_mut().map(|a| a.view_mut()),
                        );
                        (t, part)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("cone worker panicked"))
                .collect()
        });
        let mut total = ConeTerms::default();
        let mut grad_sum: Option<Array2<T>> = None;
        for (t, part) in results {
            total.penalty += t.penalty;
            total.viol_sq += t.viol_sq;
            total.viol_max = total.viol_max.max(t.viol_max);
            if let Some(pa) = part {
                match grad_sum.as_mut() {
                    Some(s) => s.zip_mut_with(&pa, |a, &b| *a = *a + b),
                    None => grad_sum = Some(pa),
                }
            }
        }
        if let Some(g) = grad {
            match grad_sum {
                Some(s) => g.copy_from_slice(s.as_slice().expect("contiguous")),
                None => g.fill(T::zero()),
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::cone_curvature;

    /// The case form the branch-free one must equal bit for bit.
    fn by_cases(a: f64, delta: f64) -> (f64, f64) {
        let b = a + delta;
        let bp = if b > 0.0 { b * b } else { 0.0 };
        let c = match (a > 0.0, b > 0.0) {
            (true, true) => delta * delta,
            (true, false) => a * a - 2.0 * a * b,
            (false, true) => b * b,
            (false, false) => 0.0,
        };
        (bp, c)
    }

    #[test]
    fn branch_free_curvature_equals_the_cases() {
        let mut rng = crate::rng::Rng::new(7);
        let edges = [0.0, -0.0, 1e-300, -1e-300, 1.0, -1.0, 3.5, -2.25];
        let mut pairs: Vec<(f64, f64)> = edges
            .iter()
            .flat_map(|&a| edges.iter().map(move |&d| (a, d)))
            .collect();
        for _ in 0..20_000 {
            let scale = 10f64.powi((rng.uniform() * 12.0) as i32 - 6);
            pairs.push((rng.normal() * scale, rng.normal() * scale));
        }
        for (a, d) in pairs {
            let (x, y) = (cone_curvature(a, d), by_cases(a, d));
            assert_eq!(
                x.0.to_bits(),
                y.0.to_bits(),
                "penalty at a {a:e} delta {d:e}"
            );
            assert!(
                x.1 == y.1,
                "curvature at a {a:e} delta {d:e}: {} vs {}",
                x.1,
                y.1
            );
        }
    }
}
