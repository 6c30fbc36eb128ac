//! The CPU backend's lifted operations (see [`Backend::lifted`](crate::backend::Backend)): the
//! products Z = X U^T of every group, (n, c p) row-major like a penalty shift, kept between
//! calls, so that a cone-penalised R-FISTA iteration costs one product per trial and one adjoint
//! per gradient. Rows run on scoped threads for Z and the trial; the adjoint splits the c p
//! groups over threads, so each writes its own rows of the gradient (no partial sums to add).

use super::CpuBackend;
use super::cone::cone_curvature;
use super::mat_mul;
use super::wide::{Wide, wide};
use crate::backend::{ConePenalty, ConeTerms, Dims, LiftedTrial};
use crate::real::Real;
use ndarray::{ArrayView2, ArrayViewMut2, s};

/// Sums of one lifted trial over some rows, before scaling.
#[derive(Clone, Copy, Default)]
struct TrialSums {
    loss_sq: f64,
    data_curv_sq: f64,
    pen_sq: f64,
    cone_curv: f64,
}

impl TrialSums {
    fn add(self, o: TrialSums) -> TrialSums {
        TrialSums {
            loss_sq: self.loss_sq + o.loss_sq,
            data_curv_sq: self.data_curv_sq + o.data_curv_sq,
            pen_sq: self.pen_sq + o.pen_sq,
            cone_curv: self.cone_curv + o.cone_curv,
        }
    }
}

fn add_terms(a: ConeTerms, b: ConeTerms) -> ConeTerms {
    ConeTerms {
        penalty: a.penalty + b.penalty,
        viol_sq: a.viol_sq + b.viol_sq,
        viol_max: a.viol_max.max(b.viol_max),
    }
}

/// Bit i of a mask row.
#[inline]
fn bit(words: &[u64], i: usize) -> bool {
    (words[i >> 6] >> (i & 63)) & 1 == 1
}

/// Accumulator lanes of the segment kernels: independent sums break the add latency chain, and
/// lane j of every accumulator takes the elements k = j mod LANES, so the compiler turns a chunk
/// of LANES elements into vector operations (the sums, and their order, are the scalar loop's).
const LANES: usize = 8;

/// max(x, 0) as a compare-and-select, which vectorises (`f64::max` carries a NaN test); NaN
/// maps to 0 as with `max`.
#[inline(always)]
fn pos(x: f64) -> f64 {
    if x > 0.0 { x } else { 0.0 }
}

/// The first LANES-multiple of a slice as fixed-size chunks, so that indexing a chunk by lane
/// needs no bounds check and the lane loop vectorises.
#[inline(always)]
fn lanes<T>(v: &[T]) -> impl Iterator<Item = &[T; LANES]> {
    v.chunks_exact(LANES)
        .map(|c| c.try_into().expect("exact chunk"))
}

/// One (row, output) segment of a gradient pass: out = on res - weight so max(g + scale shift, 0)
/// with the gap g = -so z; returns the sum of max(g + scale shift, 0)^2.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gradient_segment_body<T: Real>(
    z: &[T],
    shift: &[T],
    so: &[T],
    on: &[T],
    res: f64,
    scale: f64,
    weight: f64,
    out: &mut [T],
) -> f64 {
    let len = z.len();
    let (shift, so, on, out) = (&shift[..len], &so[..len], &on[..len], &mut out[..len]);
    let one = |z: T, shift: T, so: T, on: T, acc: &mut f64| {
        let s = so.f();
        let v = pos(scale * shift.f() - s * z.f());
        *acc += v * v;
        T::of(on.f() * res - weight * s * v)
    };
    let mut acc = [0.0f64; LANES];
    let main = len - len % LANES;
    let chunks = lanes(&z[..main]).zip(lanes(&shift[..main]));
    let chunks = chunks.zip(lanes(&so[..main]).zip(lanes(&on[..main])));
    for (((zc, hc), (sc, oc)), out) in chunks.zip(out[..main].chunks_exact_mut(LANES)) {
        let out: &mut [T; LANES] = out.try_into().expect("exact chunk");
        for j in 0..LANES {
            out[j] = one(zc[j], hc[j], sc[j], oc[j], &mut acc[j]);
        }
    }
    for k in main..len {
        out[k] = one(z[k], shift[k], so[k], on[k], &mut acc[0]);
    }
    acc.iter().fold(0.0, |t, a| t + a)
}

/// One (row, output) segment of a trial: zs holds X step on entry and zv + X step on return.
/// Returns (sum of on X step, sum of on Z at the trial point, penalty sum, curvature sum).
#[inline(always)]
fn trial_segment_body<T: Real>(
    zv: &[T],
    zs: &mut [T],
    shift: &[T],
    so: &[T],
    on: &[T],
    scale: f64,
) -> [f64; 4] {
    let len = zv.len();
    let (zs, shift, so, on) = (&mut zs[..len], &shift[..len], &so[..len], &on[..len]);
    // One array per sum, lane-major, so that the lanes of a sum are adjacent.
    let mut acc = [[0.0f64; LANES]; 4];
    let one = |zv: T, zs: &mut T, shift: T, so: T, on: T, j: usize, acc: &mut [[f64; LANES]; 4]| {
        let (s, a0, ds, o) = (so.f(), zv.f(), zs.f(), on.f());
        acc[0][j] += o * ds;
        acc[1][j] += o * (a0 + ds);
        let (bp, cv) = cone_curvature(scale * shift.f() - s * a0, -s * ds);
        acc[2][j] += bp;
        acc[3][j] += cv;
        *zs = zv + *zs;
    };
    let main = len - len % LANES;
    let chunks = lanes(&zv[..main]).zip(lanes(&shift[..main]));
    let chunks = chunks.zip(lanes(&so[..main]).zip(lanes(&on[..main])));
    for (((vc, hc), (sc, oc)), zc) in chunks.zip(zs[..main].chunks_exact_mut(LANES)) {
        let zc: &mut [T; LANES] = zc.try_into().expect("exact chunk");
        for j in 0..LANES {
            one(vc[j], &mut zc[j], hc[j], sc[j], oc[j], j, &mut acc);
        }
    }
    for k in main..len {
        one(zv[k], &mut zs[k], shift[k], so[k], on[k], 0, &mut acc);
    }
    acc.map(|a| a.iter().fold(0.0, |t, x| t + x))
}

/// The segment kernels compiled for AVX-512 or AVX2 where the CPU has them, else as built: the
/// same arithmetic in the same order, only wider (one copy per feature set, from one macro).
macro_rules! wide_copies {
    ($module:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $module {
            use super::*;

            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
            pub(super) fn gradient_segment<T: Real>(
                z: &[T],
                shift: &[T],
                so: &[T],
                on: &[T],
                res: f64,
                scale: f64,
                weight: f64,
                out: &mut [T],
            ) -> f64 {
                gradient_segment_body(z, shift, so, on, res, scale, weight, out)
            }

            #[target_feature(enable = $features)]
            pub(super) fn trial_segment<T: Real>(
                zv: &[T],
                zs: &mut [T],
                shift: &[T],
                so: &[T],
                on: &[T],
                scale: f64,
            ) -> [f64; 4] {
                trial_segment_body(zv, zs, shift, so, on, scale)
            }
        }
    };
}
wide_copies!(avx2, "avx,avx2");
wide_copies!(avx512, "avx,avx2,avx512f");

#[allow(clippy::too_many_arguments)]
#[inline]
fn gradient_segment<T: Real>(
    z: &[T],
    shift: &[T],
    so: &[T],
    on: &[T],
    res: f64,
    scale: f64,
    weight: f64,
    out: &mut [T],
) -> f64 {
    // SAFETY (both calls): the CPU has the features the copy is compiled with (`wide`).
    #[cfg(target_arch = "x86_64")]
    match wide() {
        Wide::Avx512 => {
            return unsafe { avx512::gradient_segment(z, shift, so, on, res, scale, weight, out) };
        }
        Wide::Avx2 => {
            return unsafe { avx2::gradient_segment(z, shift, so, on, res, scale, weight, out) };
        }
        Wide::None => {}
    }
    gradient_segment_body(z, shift, so, on, res, scale, weight, out)
}

#[inline]
fn trial_segment<T: Real>(
    zv: &[T],
    zs: &mut [T],
    shift: &[T],
    so: &[T],
    on: &[T],
    scale: f64,
) -> [f64; 4] {
    // SAFETY (both calls): as above.
    #[cfg(target_arch = "x86_64")]
    match wide() {
        Wide::Avx512 => return unsafe { avx512::trial_segment(zv, zs, shift, so, on, scale) },
        Wide::Avx2 => return unsafe { avx2::trial_segment(zv, zs, shift, so, on, scale) },
        Wide::None => {}
    }
    trial_segment_body(zv, zs, shift, so, on, scale)
}

impl<T: Real> CpuBackend<T> {
    /// so[i] = s_i (2 D_ri - 1) (+1 when gate i is on and not negated, or off and negated) and
    /// on[i] = D_ri, for row r.
    fn row_signs(&self, r: usize, neg_from: usize, so: &mut [T], on: &mut [T]) {
        let words = self.mask.row(r);
        // Arithmetic on the bits, not branches: mask bits are random, so branches mispredict.
        for (i, (s, o)) in so.iter_mut().zip(on.iter_mut()).enumerate() {
            let b = (words[i >> 6] >> (i & 63)) & 1;
            let flip = b ^ u64::from(i >= neg_from);
            *o = T::of(b as f64);
            *s = T::of(2.0 * flip as f64 - 1.0);
        }
    }

    /// Runs `f(r0, r1, rows of out)` on the thread ranges, `out` holding `width` entries per
    /// row, and adds the results in range order (deterministic). One thread: a plain call.
    fn par_rows<R: Send>(
        &self,
        out: &mut [T],
        width: usize,
        f: impl Fn(usize, usize, &mut [T]) -> R + Sync,
        add: impl Fn(R, R) -> R,
    ) -> R {
        if self.threads == 1 {
            return f(0, self.dims.n, out);
        }
        let f = &f;
        std::thread::scope(|sc| {
            let mut rest = out;
            let handles: Vec<_> = self
                .ranges()
                .into_iter()
                .map(|(r0, r1)| {
                    let (mine, tail) = std::mem::take(&mut rest).split_at_mut((r1 - r0) * width);
                    rest = tail;
                    sc.spawn(move || f(r0, r1, mine))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("lifted worker panicked"))
                .reduce(add)
                .expect("at least one range")
        })
    }

    /// z = X U^T. A group-sparse U (the AL's steps U+ - V are zero outside the groups active
    /// in the last iterates) is multiplied over its nonzero groups, packed, and scattered: each
    /// entry is the same length-d dot product, so Z is the dense GEMM's bit for bit.
    pub(super) fn lift_pass(&self, u: &[T], z: &mut [T]) {
        let Dims { p, c, d, .. } = self.dims;
        let cp = c * p;
        let Some(nonzero) = self.sparse_groups(u) else {
            let wt = self.weights_view(u).reversed_axes();
            self.par_rows(
                z,
                cp,
                |r0, r1, zc| {
                    let mut zv = ArrayViewMut2::from_shape((r1 - r0, cp), zc).expect("rows of Z");
                    mat_mul(
                        T::one(),
                        &self.x.slice(s![r0..r1, ..]),
                        &wt,
                        T::zero(),
                        &mut zv,
                    );
                },
                |_, _| (),
            );
            return;
        };
        let k = nonzero.len();
        let packed = self.pack_groups(u, &nonzero);
        let wt = ArrayView2::from_shape((k, d), &packed[..])
            .expect("packed groups")
            .reversed_axes();
        let groups = &nonzero;
        self.par_rows(
            z,
            cp,
            |r0, r1, zc| {
                zc.fill(T::zero());
                if k == 0 {
                    return;
                }
                let rows = r1 - r0;
                let mut buf = self.scratch(rows * k);
                let mut zk = ArrayViewMut2::from_shape((rows, k), &mut buf[..]).expect("block");
                mat_mul(
                    T::one(),
                    &self.x.slice(s![r0..r1, ..]),
                    &wt,
                    T::zero(),
                    &mut zk,
                );
                for (zr, br) in zc.chunks_exact_mut(cp).zip(buf.chunks_exact(k)) {
                    for (&g, &v) in groups.iter().zip(br) {
                        zr[g] = v;
                    }
                }
                self.give(buf);
            },
            |_, _| (),
        );
        self.give(packed);
        self.give_indices(nonzero);
    }

    /// z holds X step on entry and zv + X step on return; the sums of the trial point's loss
    /// and penalty and of the curvature between V and the trial point, each formed from X step
    /// itself so that nothing cancels.
    pub(super) fn lifted_trial_pass(
        &self,
        zv: &[T],
        z: &mut [T],
        pen: &ConePenalty<'_, Vec<T>>,
        data_loss: bool,
    ) -> LiftedTrial {
        let Dims { n, p, c, .. } = self.dims;
        let cp = c * p;
        let sums = self.par_rows(
            z,
            cp,
            |r0, r1, zc| {
                let mut t = TrialSums::default();
                let mut signs = self.scratch(2 * p);
                let (so, on) = signs.split_at_mut(p);
                for r in r0..r1 {
                    let k0 = r * cp;
                    let zs = &mut zc[(r - r0) * cp..(r - r0 + 1) * cp];
                    self.row_signs(r, pen.neg_from, so, on);
                    for l in 0..c {
                        let seg = l * p..(l + 1) * p;
                        let [ps, pn, pen_sq, curv] = trial_segment(
                            &zv[k0 + seg.start..k0 + seg.end],
                            &mut zs[seg.clone()],
                            &pen.shift[k0 + seg.start..k0 + seg.end],
                            so,
                            on,
                            pen.scale,
                        );
                        t.pen_sq += pen_sq;
                        t.cone_curv += curv;
                        if data_loss {
                            t.loss_sq += (pn - self.y[[r, l]].f()).powi(2);
                            t.data_curv_sq += ps * ps;
                        }
                    }
                }
                self.give(signs);
                t
            },
            TrialSums::add,
        );
        let m2 = (2 * n * c) as f64;
        LiftedTrial {
            loss: sums.loss_sq / m2,
            penalty: sums.pen_sq * pen.weight / 2.0,
            curvature: sums.data_curv_sq / m2 + sums.cone_curv * pen.weight / 2.0,
        }
    }

    /// grad <- the smooth part's gradient at the point with products z; the cone penalty there.
    pub(super) fn lifted_gradient_pass(
        &self,
        z: &[T],
        pen: &ConePenalty<'_, Vec<T>>,
        data_loss: bool,
        grad: &mut [T],
    ) -> f64 {
        let Dims { n, d, p, c } = self.dims;
        let cp = c * p;
        let scale = 1.0 / (n * c) as f64;
        // The data residual (sum over set gates of Z minus Y) / (n c), one number per (row, output).
        let mut resid_buf = self.scratch(if data_loss { n * c } else { 0 });
        if data_loss {
            self.par_rows(
                &mut resid_buf,
                c,
                |r0, r1, out| {
                    for r in r0..r1 {
                        let zr = &z[r * cp..(r + 1) * cp];
                        for l in 0..c {
                            let mut acc = 0.0;
                            self.mask.for_each_set(r, |i| acc += zr[l * p + i].f());
                            out[(r - r0) * c + l] = T::of((acc - self.y[[r, l]].f()) * scale);
                        }
                    }
                },
                |_, _| (),
            );
        }
        let resid = &resid_buf[..];
        // One thread per share of the groups, each writing its own rows of grad.
        let groups = |g0: usize, g1: usize, gout: &mut [T]| -> f64 {
            let width = g1 - g0;
            let rows = self.block_rows.min(n).max(1);
            let mut buf = self.scratch(rows * width);
            let mut signs = self.scratch(2 * p);
            let (so, on) = signs.split_at_mut(p);
            let mut gv = ArrayViewMut2::from_shape((width, d), gout).expect("rows of grad");
            gv.fill(T::zero());
            let mut pen_sq = 0.0;
            for b0 in (0..n).step_by(rows) {
                let b1 = (b0 + rows).min(n);
                let m = &mut buf[..(b1 - b0) * width];
                for r in b0..b1 {
                    let mr = &mut m[(r - b0) * width..(r - b0 + 1) * width];
                    self.row_signs(r, pen.neg_from, so, on);
                    // The (output, gate) segments of this thread's groups [g0, g1).
                    for l in g0 / p..g1.div_ceil(p) {
                        let (c0, c1) = (g0.max(l * p), g1.min((l + 1) * p));
                        let (i0, i1) = (c0 - l * p, c1 - l * p);
                        let res = if data_loss { resid[r * c + l].f() } else { 0.0 };
                        pen_sq += gradient_segment(
                            &z[r * cp + c0..r * cp + c1],
                            &pen.shift[r * cp + c0..r * cp + c1],
                            &so[i0..i1],
                            &on[i0..i1],
                            res,
                            pen.scale,
                            pen.weight,
                            &mut mr[c0 - g0..c1 - g0],
                        );
                    }
                }
                let mb = ArrayView2::from_shape((b1 - b0, width), &*m).expect("block");
                mat_mul(
                    T::one(),
                    &mb.t(),
                    &self.x.slice(s![b0..b1, ..]),
                    T::one(),
                    &mut gv,
                );
            }
            self.give(buf);
            self.give(signs);
            pen_sq * pen.weight / 2.0
        };
        let penalty = if self.threads == 1 || cp < 2 * self.threads {
            groups(0, cp, grad)
        } else {
            let per = cp.div_ceil(self.threads);
            let groups = &groups;
            std::thread::scope(|sc| {
                let mut rest = grad;
                let handles: Vec<_> = (0..cp)
                    .step_by(per)
                    .map(|g0| {
                        let g1 = (g0 + per).min(cp);
                        let (mine, tail) = std::mem::take(&mut rest).split_at_mut((g1 - g0) * d);
                        rest = tail;
                        sc.spawn(move || groups(g0, g1, mine))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("lifted worker panicked"))
                    .sum()
            })
        };
        self.give(resid_buf);
        penalty
    }

    /// Cone terms at the point with products z; with `update`, the multiplier step
    /// gamma <- max(gamma + delta g, 0).
    pub(super) fn lifted_cone_pass(
        &self,
        z: &[T],
        neg_from: usize,
        update: Option<(f64, &mut [T])>,
    ) -> ConeTerms {
        let Dims { p, c, .. } = self.dims;
        let cp = c * p;
        let rows = |r0: usize, r1: usize, mut gamma: Option<(f64, &mut [T])>| {
            let mut t = ConeTerms::default();
            for r in r0..r1 {
                let words = self.mask.row(r);
                for col in 0..cp {
                    let i = col % p;
                    let so = if bit(words, i) != (i >= neg_from) {
                        1.0
                    } else {
                        -1.0
                    };
                    let k = r * cp + col;
                    let g = -so * z[k].f();
                    if g > 0.0 {
                        t.viol_sq += g * g;
                        t.viol_max = t.viol_max.max(g);
                    }
                    if let Some((delta, gm)) = gamma.as_mut() {
                        let j = k - r0 * cp;
                        gm[j] = T::of((gm[j].f() + *delta * g).max(0.0));
                    }
                }
            }
            t
        };
        match update {
            Some((delta, gamma)) => self.par_rows(
                gamma,
                cp,
                |r0, r1, gm| rows(r0, r1, Some((delta, gm))),
                add_terms,
            ),
            None => self.par_rows(&mut [], 0, |r0, r1, _| rows(r0, r1, None), add_terms),
        }
    }
}

#[cfg(test)]
#[path = "lifted_tests.rs"]
mod tests;
