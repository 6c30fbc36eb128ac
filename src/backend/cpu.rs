//! The CPU backend, generic over f32 and f64. The masked products are blocked GEMMs
//! (matrixmultiply through ndarray): for a block of B rows, Z = X_B U^T (B x cp) and the mask
//! bits select and sum Z's entries per output, so the n x (c p) matrix is never formed beyond B
//! rows. Row ranges run on scoped threads; each thread owns its block buffers.

use super::{Backend, ConePenalty, ConeTerms, Dims};
use crate::error::Result;
use crate::mask::BitMask;
use crate::real::Real;
use crate::regularizer::Regularizer;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, linalg::general_mat_mul, s};

/// Elements of one block buffer (B x c p); 2^20 keeps it in L2/L3 cache for f32.
const BLOCK_ELEMS: usize = 1 << 20;

#[derive(Debug, Clone, Copy, Default)]
pub struct CpuOptions {
    /// Worker threads (0: all cores).
    pub threads: usize,
    /// Rows per block (0: chosen from the problem size). Tests force small blocks.
    pub block_rows: usize,
}

pub struct CpuBackend<T: Real> {
    x: Array2<T>,
    y: Array2<T>,
    mask: BitMask,
    dims: Dims,
    threads: usize,
    block_rows: usize,
}

impl<T: Real> CpuBackend<T> {
    /// `x`: n x d preprocessed features, `y`: n x c targets, `mask`: n x p patterns.
    pub fn new(x: &Array2<f64>, y: &Array2<f64>, mask: BitMask, opts: CpuOptions) -> Self {
        let (n, d) = x.dim();
        let dims = Dims {
            n,
            d,
            p: mask.cols(),
            c: y.ncols(),
        };
        assert_eq!(
            (mask.rows(), y.nrows()),
            (n, n),
            "backend inputs must share rows"
        );
        let cp = (dims.c * dims.p).max(1);
        let block_rows = match opts.block_rows {
            0 => (BLOCK_ELEMS / cp).clamp(16, 1024),
            b => b,
        };
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let threads = match opts.threads {
            0 => cores,
            t => t,
        };
        // Give each thread at least a few blocks' worth of rows, else spawning costs more than it saves.
        let threads = threads.min(n.div_ceil(block_rows.min(256))).max(1);
        CpuBackend {
            x: x.mapv(T::of),
            y: y.mapv(T::of),
            mask,
            dims,
            threads,
            block_rows,
        }
    }

    /// Row ranges, one per thread.
    fn ranges(&self) -> Vec<(usize, usize)> {
        let n = self.dims.n;
        let per = n.div_ceil(self.threads);
        (0..self.threads)
            .map(|t| (t * per, ((t + 1) * per).min(n)))
            .filter(|(a, b)| a < b)
            .collect()
    }

    fn weights_view<'a>(&self, u: &'a [T]) -> ArrayView2<'a, T> {
        let Dims { d, p, c, .. } = self.dims;
        ArrayView2::from_shape((c * p, d), u).expect("weight buffer has c*p*d entries")
    }

    /// preds rows [r0, r1) (slice starts at row r0).
    fn forward_rows(&self, u: &[T], r0: usize, r1: usize, out: &mut [T]) {
        let Dims { p, c, .. } = self.dims;
        let wt = self.weights_view(u).reversed_axes(); // d x cp
        let mut zbuf = Array2::<T>::zeros((self.block_rows.min(r1 - r0), c * p));
        for b0 in (r0..r1).step_by(self.block_rows) {
            let b1 = (b0 + self.block_rows).min(r1);
            let mut z = zbuf.slice_mut(s![..b1 - b0, ..]);
            general_mat_mul(
                T::one(),
                &self.x.slice(s![b0..b1, ..]),
                &wt,
                T::zero(),
                &mut z,
            );
            for r in b0..b1 {
                let zr = z.row(r - b0);
                let zr = zr.as_slice().expect("row-major block");
                for l in 0..c {
                    let zl = &zr[l * p..(l + 1) * p];
                    let mut acc = T::zero();
                    self.mask.for_each_set(r, |i| acc = acc + zl[i]);
                    out[(r - r0) * c + l] = acc;
                }
            }
        }
    }

    /// grad += X_R^T M_R for rows [r0, r1), M[r, l p + i] = mask(r, i) * resid(r, l) / (n c).
    fn gradient_rows(&self, preds: &[T], r0: usize, r1: usize, mut grad: ArrayViewMut2<T>) {
        let Dims { n, p, c, .. } = self.dims;
        let scale = T::of(1.0 / (n * c) as f64);
        let mut mbuf = Array2::<T>::zeros((self.block_rows.min(r1 - r0), c * p));
        for b0 in (r0..r1).step_by(self.block_rows) {
            let b1 = (b0 + self.block_rows).min(r1);
            let mut m = mbuf.slice_mut(s![..b1 - b0, ..]);
            m.fill(T::zero());
            for r in b0..b1 {
                let mut mr = m.row_mut(r - b0);
                let mr = mr.as_slice_mut().expect("row-major block");
                for l in 0..c {
                    let res = (preds[r * c + l] - self.y[[r, l]]) * scale;
                    let ml = &mut mr[l * p..(l + 1) * p];
                    self.mask.for_each_set(r, |i| ml[i] = res);
                }
            }
            general_mat_mul(
                T::one(),
                &m.t(),
                &self.x.slice(s![b0..b1, ..]),
                T::one(),
                &mut grad,
            );
        }
    }
}

/// For one constraint with shifted gaps A at V and B = A + delta at V + step: (max(B, 0)^2,
/// max(B,0)^2 - max(A,0)^2 - 2 max(A,0) delta), the latter by cases so that it is formed
/// without cancellation.
pub(crate) fn cone_curvature(a: f64, delta: f64) -> (f64, f64) {
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
        let mut zbuf = Array2::<T>::zeros((self.block_rows.min(r1 - r0), cp));
        let mut out = ConeTerms::default();
        for b0 in (r0..r1).step_by(self.block_rows) {
            let b1 = (b0 + self.block_rows).min(r1);
            let mut z = zbuf.slice_mut(s![..b1 - b0, ..]);
            general_mat_mul(
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
                general_mat_mul(
                    T::one(),
                    &z.t(),
                    &self.x.slice(s![b0..b1, ..]),
                    T::one(),
                    gv,
                );
            }
        }
        if let ConeMode::Penalty { weight, .. } = mode {
            out.penalty *= weight / 2.0;
        }
        out
    }

    /// For rows [r0, r1): sum max(B, 0)^2 and the exact curvature sum of the shifted penalty
    /// between V and V + step (before the weight / 2), with A = g(V) + a shift and
    /// B = A + (g(V + step) - g(V)); the difference comes from X step itself, so nothing cancels.
    #[allow(clippy::too_many_arguments)]
    fn cone_trial_rows(
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
        let mut zv = Array2::<T>::zeros((rows, cp));
        let mut zs = Array2::<T>::zeros((rows, cp));
        let (mut pen, mut curv) = (0.0, 0.0);
        for b0 in (r0..r1).step_by(self.block_rows) {
            let b1 = (b0 + self.block_rows).min(r1);
            let xb = self.x.slice(s![b0..b1, ..]);
            let mut a = zv.slice_mut(s![..b1 - b0, ..]);
            general_mat_mul(T::one(), &xb, &vt, T::zero(), &mut a);
            let mut b = zs.slice_mut(s![..b1 - b0, ..]);
            general_mat_mul(T::one(), &xb, &st, T::zero(), &mut b);
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
        (pen, curv)
    }

    /// Runs `cone_rows` over the thread ranges and adds up the terms; with `grad`, writes the
    /// penalty's gradient there.
    fn cone_pass(
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

impl<T: Real> Backend for CpuBackend<T> {
    type Buf = Vec<T>;

    fn dims(&self) -> Dims {
        self.dims
    }

    fn describe(&self) -> String {
        format!("cpu-{} ({} threads)", T::NAME, self.threads)
    }

    fn zeros(&self, len: usize) -> Result<Vec<T>> {
        Ok(vec![T::zero(); len])
    }

    fn upload(&self, host: &[f64]) -> Result<Vec<T>> {
        Ok(host.iter().map(|&v| T::of(v)).collect())
    }

    fn download(&self, buf: &Vec<T>) -> Result<Vec<f64>> {
        Ok(buf.iter().map(|v| v.f()).collect())
    }

    fn copy(&self, src: &Vec<T>, dst: &mut Vec<T>) -> Result<()> {
        dst.copy_from_slice(src);
        Ok(())
    }

    fn axpby(&self, a: f64, x: &Vec<T>, b: f64, y: &mut Vec<T>) -> Result<()> {
        let (a, b) = (T::of(a), T::of(b));
        y.iter_mut()
            .zip(x)
            .for_each(|(yv, &xv)| *yv = a * xv + b * *yv);
        Ok(())
    }

    fn dot(&self, x: &Vec<T>, y: &Vec<T>) -> Result<f64> {
        Ok(x.iter().zip(y).map(|(&a, &b)| a.f() * b.f()).sum())
    }

    fn dist_sq(&self, x: &Vec<T>, y: &Vec<T>) -> Result<f64> {
        Ok(x.iter()
            .zip(y)
            .map(|(&a, &b)| (a.f() - b.f()).powi(2))
            .sum())
    }

    fn forward(&self, u: &Vec<T>, preds: &mut Vec<T>) -> Result<()> {
        let ranges = self.ranges();
        let c = self.dims.c;
        if ranges.len() == 1 {
            self.forward_rows(u, 0, self.dims.n, preds);
            return Ok(());
        }
        std::thread::scope(|sc| {
            let mut rest = preds.as_mut_slice();
            for &(r0, r1) in &ranges {
                let (chunk, tail) = rest.split_at_mut((r1 - r0) * c);
                rest = tail;
                sc.spawn(move || self.forward_rows(u, r0, r1, chunk));
            }
        });
        Ok(())
    }

    fn loss(&self, preds: &Vec<T>) -> Result<f64> {
        let Dims { n, c, .. } = self.dims;
        let ys = self.y.as_slice().expect("contiguous targets");
        let sq: f64 = preds
            .iter()
            .zip(ys)
            .map(|(&a, &b)| (a.f() - b.f()).powi(2))
            .sum();
        Ok(sq / (2 * n * c) as f64)
    }

    fn gradient(&self, preds: &Vec<T>, grad: &mut Vec<T>) -> Result<()> {
        let Dims { d, p, c, .. } = self.dims;
        let ranges = self.ranges();
        grad.fill(T::zero());
        let mut gview = ArrayViewMut2::from_shape((c * p, d), grad.as_mut_slice()).expect("c*p*d");
        if ranges.len() == 1 {
            self.gradient_rows(preds, 0, self.dims.n, gview);
            return Ok(());
        }
        // Thread 0 accumulates into the output; the others into their own buffers, added after.
        let partials: Vec<Array2<T>> = std::thread::scope(|sc| {
            let handles: Vec<_> = ranges[1..]
                .iter()
                .map(|&(r0, r1)| {
                    sc.spawn(move || {
                        let mut g = Array2::<T>::zeros((c * p, d));
                        self.gradient_rows(preds, r0, r1, g.view_mut());
                        g
                    })
                })
                .collect();
            let (r0, r1) = ranges[0];
            self.gradient_rows(preds, r0, r1, gview.view_mut());
            handles
                .into_iter()
                .map(|h| h.join().expect("gradient worker panicked"))
                .collect()
        });
        for g in partials {
            gview.zip_mut_with(&g, |a, &b| *a = *a + b);
        }
        Ok(())
    }

    fn prox_step(
        &self,
        reg: Regularizer,
        lam: f64,
        eta: f64,
        v: &Vec<T>,
        grad: &Vec<T>,
        out: &mut Vec<T>,
    ) -> Result<f64> {
        let e = T::of(eta);
        out.iter_mut()
            .zip(v.iter().zip(grad))
            .for_each(|(o, (&a, &g))| *o = a - e * g);
        reg.prox(out, self.dims.d, eta * lam);
        self.dist_sq(out, v)
    }

    fn penalty(&self, reg: Regularizer, u: &Vec<T>) -> Result<f64> {
        Ok(reg.value(u, self.dims.d))
    }

    fn subgrad_norm_sq(
        &self,
        reg: Regularizer,
        lam: f64,
        u: &Vec<T>,
        grad: &Vec<T>,
    ) -> Result<f64> {
        Ok(reg.min_norm_subgrad_sq(u, grad, self.dims.d, lam))
    }

    fn cone_zeros(&self) -> Result<Vec<T>> {
        let Dims { n, p, c, .. } = self.dims;
        Ok(vec![T::zero(); n * c * p])
    }

    fn cone(
        &self,
        u: &Vec<T>,
        neg_from: usize,
        pen: Option<&ConePenalty<'_, Vec<T>>>,
        grad: Option<&mut Vec<T>>,
    ) -> Result<ConeTerms> {
        Ok(self.cone_pass(u, neg_from, pen, None, grad))
    }

    fn cone_trial(
        &self,
        v: &Vec<T>,
        step: &Vec<T>,
        pen: &ConePenalty<'_, Vec<T>>,
    ) -> Result<(f64, f64)> {
        let cp = self.dims.c * self.dims.p;
        let parts: Vec<(f64, f64)> = std::thread::scope(|sc| {
            let handles: Vec<_> = self
                .ranges()
                .into_iter()
                .map(|(r0, r1)| {
                    let shift = &pen.shift[r0 * cp..r1 * cp];
                    sc.spawn(move || {
                        self.cone_trial_rows(v, step, r0, r1, pen.neg_from, shift, pen.scale)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("cone worker panicked"))
                .collect()
        });
        let (p, c) = parts
            .iter()
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
        Ok((p * pen.weight / 2.0, c * pen.weight / 2.0))
    }

    fn cone_update(
        &self,
        u: &Vec<T>,
        neg_from: usize,
        delta: f64,
        gamma: &mut Vec<T>,
    ) -> Result<ConeTerms> {
        Ok(self.cone_pass(u, neg_from, None, Some((gamma.as_mut_slice(), delta)), None))
    }

    fn group_norms(&self, u: &Vec<T>) -> Result<Vec<f64>> {
        Ok(u.chunks(self.dims.d.max(1))
            .map(|g| g.iter().map(|&a| a.f() * a.f()).sum::<f64>().sqrt())
            .collect())
    }
}
