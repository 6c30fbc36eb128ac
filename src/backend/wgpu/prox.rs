//! The regularizers on the device: prox steps, penalties and subgradient statistics per
//! group, and the feature group lasso's per-column passes.

use super::buffers::{from_bytes, read_back};
use super::params::*;
use super::pipelines::Kernel;
use super::*;

pub(super) fn reg_code(reg: Regularizer) -> u32 {
    match reg {
        Regularizer::NeuronGl1 => 0,
        Regularizer::L2 => 1,
        Regularizer::None => 2,
        Regularizer::L1 => 3,
        // Never reaches the per-group kernels: its own kernels are in feature.wgsl.
        Regularizer::FeatureGl1 => 2,
    }
}

impl<T: GpuReal> GpuBackend<T> {
    /// Records a per-group kernel (prox or group_stat) over every weight chunk and the sum of
    /// its per-group `stat` into slots from `slot0`; returns the slot range used.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_group(
        &self,
        enc: &mut Enc,
        kernel: Kernel,
        reg: Regularizer,
        reals: [f64; 2],
        mode: u32,
        v: &GpuBuf,
        g: Option<&GpuBuf>,
        out: Option<&GpuBuf>,
        slot0: usize,
    ) -> Result<(usize, usize)> {
        let d = self.dims.d;
        for (k, &(_, _, gc)) in self.wchunks.iter().enumerate() {
            let fields = GroupParams {
                groups: gc as u32,
                d: d as u32,
                reg: reg_code(reg),
                mode,
            };
            let prm = uniform::<T, _>(&reals, &fields);
            let gb = g.map_or(&self.dummy, |g| &g.chunks[k]);
            let ob = out.map_or(&self.dummy_rw, |o| &o.chunks[k]);
            self.dispatch(
                enc,
                kernel,
                &[&v.chunks[k], gb, ob, &self.stat],
                &prm,
                (gc.div_ceil(64) as u32, 1),
            )?;
            self.reduce_into(enc, &self.stat, &self.stat, gc, REDUCE_SUM, slot0 + k)?;
        }
        Ok((slot0, slot0 + self.wchunks.len()))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_prox(
        &self,
        enc: &mut Enc,
        reg: Regularizer,
        lam: f64,
        eta: f64,
        v: &GpuBuf,
        grad: &GpuBuf,
        out: &GpuBuf,
        slot0: usize,
    ) -> Result<(usize, usize)> {
        if reg == Regularizer::FeatureGl1 {
            self.record_feature_cols(enc, FEATURE_STEP, eta, v, Some(grad), &self.colu)?;
            return self.record_feature_groups(
                enc,
                Kernel::FeatureProx,
                [eta, lam],
                v,
                grad,
                Some(out),
                slot0,
            );
        }
        self.record_group(
            enc,
            Kernel::Prox,
            reg,
            [eta, lam],
            0,
            v,
            Some(grad),
            Some(out),
            slot0,
        )
    }

    /// col <- feature-column sums of squares of v - eta g (mode 0), v (1) or g (2), over every
    /// weight chunk (split so that no invocation loops over more than the step limit's groups).
    pub(super) fn record_feature_cols(
        &self,
        enc: &mut Enc,
        mode: u32,
        eta: f64,
        v: &GpuBuf,
        g: Option<&GpuBuf>,
        col: &wgpu::Buffer,
    ) -> Result<()> {
        let d = self.dims.d;
        enc.clear_buffer(col, 0, None);
        for (k, &(_, _, gc)) in self.wchunks.iter().enumerate() {
            for i0 in (0..gc).step_by(self.steps) {
                let fields = FeatureParams {
                    groups: gc as u32,
                    d: d as u32,
                    mode,
                    i_begin: i0 as u32,
                    i_end: (i0 + self.steps).min(gc) as u32,
                };
                let prm = uniform::<T, _>(&[eta, 0.0], &fields);
                let gb = g.map_or(&v.chunks[k], |g| &g.chunks[k]);
                self.dispatch(
                    enc,
                    Kernel::FeatureSumsq,
                    &[&v.chunks[k], gb, col],
                    &prm,
                    (d.div_ceil(64) as u32, 1),
                )?;
            }
        }
        Ok(())
    }

    /// feature_prox (with `out`) or feature_subgrad per group of every chunk, the per-group
    /// stat summed into slots from `slot0`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_feature_groups(
        &self,
        enc: &mut Enc,
        kernel: Kernel,
        reals: [f64; 2],
        v: &GpuBuf,
        g: &GpuBuf,
        out: Option<&GpuBuf>,
        slot0: usize,
    ) -> Result<(usize, usize)> {
        let d = self.dims.d;
        for (k, &(_, _, gc)) in self.wchunks.iter().enumerate() {
            let fields = FeatureParams {
                groups: gc as u32,
                d: d as u32,
                ..Default::default()
            };
            let prm = uniform::<T, _>(&reals, &fields);
            let groups = (gc.div_ceil(64) as u32, 1);
            match out {
                Some(o) => self.dispatch(
                    enc,
                    kernel,
                    &[
                        &v.chunks[k],
                        &g.chunks[k],
                        &o.chunks[k],
                        &self.colu,
                        &self.stat,
                    ],
                    &prm,
                    groups,
                )?,
                None => self.dispatch(
                    enc,
                    kernel,
                    &[&v.chunks[k], &g.chunks[k], &self.colu, &self.stat],
                    &prm,
                    groups,
                )?,
            }
            self.reduce_into(enc, &self.stat, &self.stat, gc, REDUCE_SUM, slot0 + k)?;
        }
        Ok((slot0, slot0 + self.wchunks.len()))
    }

    /// feature-gl1: (R(u), squared min-norm subgradient of f + lam R at u given grad), with
    /// the column sums and the per-group sums read back once.
    pub(super) fn feature_terms(
        &self,
        lam: f64,
        u: &GpuBuf,
        grad: Option<&GpuBuf>,
    ) -> Result<(f64, f64)> {
        let d = self.dims.d;
        let s = std::mem::size_of::<T>();
        let mut enc = self.reduce_encoder();
        self.record_feature_cols(&mut enc, FEATURE_WEIGHTS, 0.0, u, None, &self.colu)?;
        let range = match grad {
            Some(g) => {
                self.record_feature_cols(&mut enc, FEATURE_GRAD, 0.0, u, Some(g), &self.colg)?;
                self.record_feature_groups(
                    &mut enc,
                    Kernel::FeatureSubgrad,
                    [0.0, lam],
                    u,
                    g,
                    None,
                    0,
                )?
            }
            None => (0, 0),
        };
        let pbytes = (range.1 * REDUCE_GROUPS * s) as u64;
        let cbytes = (d * s) as u64;
        let bytes = read_back(
            &self.ctx,
            enc,
            &[
                (&self.partials, pbytes),
                (&self.colu, cbytes),
                (&self.colg, cbytes),
            ],
        )?;
        let v = from_bytes::<T>(&bytes);
        let nparts = range.1 * REDUCE_GROUPS;
        let (parts, cols) = v.split_at(nparts);
        let (uc, gc) = cols.split_at(d);
        let pen = uc.iter().map(|c| c.sqrt()).sum();
        let zero_part: f64 = uc
            .iter()
            .zip(gc)
            .filter(|(u, _)| **u == 0.0)
            .map(|(_, g)| (g.sqrt() - lam).max(0.0).powi(2))
            .sum();
        let sub = if grad.is_some() {
            parts.iter().sum::<f64>() + zero_part
        } else {
            0.0
        };
        Ok((pen, sub))
    }
}
