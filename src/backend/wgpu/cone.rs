//! The cone constraints of the ReLU program (augmented Lagrangian): the cone pass over the
//! doubled patterns.

use super::buffers::{from_bytes, read_back};
use super::params::{ConeGradParams, ConeProductParams, ConeTermParams, uniform};
use super::pipelines::Kernel;
use super::*;

impl<T: GpuReal> GpuBackend<T> {
    /// Records the cone pass: constraint products X w into the scratch vectors (one per
    /// entry of `products`), the per-element terms (mode: 0 stats, 1 penalty with coefficients,
    /// 2 multiplier step on `shift`, 3 line-search trial) with their sums in partial slots
    /// 0..3, and with `grad` the penalty gradient from the coefficients.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_cone(
        &self,
        enc: &mut Enc,
        products: &[(&GpuBuf, &GpuBuf)],
        neg_from: usize,
        mode: u32,
        shift: Option<&GpuBuf>,
        reals: [f64; 3],
        grad: Option<&GpuBuf>,
    ) -> Result<()> {
        let Dims { d, p, c, .. } = self.dims;
        let cp = c * p;
        let jb = d.clamp(1, self.steps);
        let z = products[0].1;
        for (q, &(k, off, nr)) in self.cone.iter().enumerate() {
            for &(u, zq) in products {
                for (w, &(l, g0, gc)) in self.wchunks.iter().enumerate() {
                    for j0 in (0..d).step_by(jb) {
                        let v = ConeProductParams {
                            rows: nr as u32,
                            row0: off as u32,
                            d: d as u32,
                            cp: cp as u32,
                            col0: (l * p + g0) as u32,
                            gc: gc as u32,
                            j_begin: j0 as u32,
                            j_end: (j0 + jb).min(d) as u32,
                            accumulate: (j0 > 0) as u32,
                        };
                        let prm = uniform::<T, _>(&[], &v);
                        let groups = (
                            nr.div_ceil(4).div_ceil(16) as u32,
                            gc.div_ceil(4).div_ceil(4) as u32,
                        );
                        let bufs = [&self.x[k], &u.chunks[w], &zq.chunks[q]];
                        self.dispatch(enc, Kernel::ConeProduct, &bufs, &prm, groups)?;
                    }
                }
            }
            let len = nr * cp;
            let groups = len.div_ceil(256).clamp(1, REDUCE_GROUPS);
            let span = groups * 256 * self.steps;
            for e0 in (0..len).step_by(span) {
                let v = ConeTermParams {
                    e_begin: e0 as u32,
                    e_end: (e0 + span).min(len) as u32,
                    cp: cp as u32,
                    p: p as u32,
                    neg_from: neg_from as u32,
                    row0: off as u32,
                    words: self.words as u32,
                    mode,
                    slot: 0,
                };
                let prm = uniform::<T, _>(&reals, &v);
                let sb = shift.map_or(&self.dummy_rw, |s| &s.chunks[q]);
                let zs = products.get(1).map_or(&self.dummy, |pr| &pr.1.chunks[q]);
                let bufs = [&self.mask[k], &z.chunks[q], sb, &self.partials, zs];
                self.dispatch(enc, Kernel::ConeTerms, &bufs, &prm, (groups as u32, 1))?;
            }
        }
        if let Some(grad) = grad {
            for (w, &(l, g0, gc)) in self.wchunks.iter().enumerate() {
                for (q, &(k, off, nr)) in self.cone.iter().enumerate() {
                    for rb in (0..nr).step_by(self.steps) {
                        let first = q == 0 && rb == 0;
                        let v = ConeGradParams {
                            rows: nr as u32,
                            row0: off as u32,
                            d: d as u32,
                            cp: cp as u32,
                            col0: (l * p + g0) as u32,
                            gc: gc as u32,
                            r_begin: rb as u32,
                            r_end: (rb + self.steps).min(nr) as u32,
                            accumulate: !first as u32,
                        };
                        let prm = uniform::<T, _>(&[], &v);
                        let groups = (
                            d.div_ceil(4).div_ceil(16) as u32,
                            gc.div_ceil(4).div_ceil(4) as u32,
                        );
                        let bufs = [&self.x[k], &z.chunks[q], &grad.chunks[w]];
                        self.dispatch(enc, Kernel::ConeGrad, &bufs, &prm, groups)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs a cone pass on `weights` (one or two vectors) and reads its three sums back once:
    /// (sum in slot 0, sum in slot 1, max in slot 2).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn cone_pass(
        &self,
        weights: &[&GpuBuf],
        neg_from: usize,
        mode: u32,
        shift: Option<&GpuBuf>,
        reals: [f64; 3],
        grad: Option<&GpuBuf>,
    ) -> Result<(f64, f64, f64)> {
        if self.packed {
            return Err(Error::Device(
                "the cone operations are not defined on a working set's packed sub-problem".into(),
            ));
        }
        let mut scratch = self.zbuf.lock().expect("cone scratch lock");
        while scratch.len() < weights.len() {
            let b = self.alloc(&self.cbounds, "cone scratch");
            scratch.push(b);
        }
        let products: Vec<(&GpuBuf, &GpuBuf)> =
            weights.iter().copied().zip(scratch.iter()).collect();
        let mut enc = self.reduce_encoder();
        self.record_cone(&mut enc, &products, neg_from, mode, shift, reals, grad)?;
        let s = std::mem::size_of::<T>();
        let bytes = read_back(
            &self.ctx,
            enc,
            &[(&self.partials, (3 * REDUCE_GROUPS * s) as u64)],
        )?;
        let v = from_bytes::<T>(&bytes);
        let g = REDUCE_GROUPS;
        Ok((
            v[..g].iter().sum(),
            v[g..2 * g].iter().sum(),
            v[2 * g..3 * g].iter().fold(0.0, |m, &a| m.max(a)),
        ))
    }
}
