//! Reductions: partial sums per workgroup on the device, added in f64 on the host after one
//! read-back (dot products, norms and the regularizer's statistics).

use super::buffers::{from_bytes, read_back};
use super::params::{ReduceParams, uniform};
use super::pipelines::Kernel;
use super::*;

impl<T: GpuReal> GpuBackend<T> {
    /// Records a reduction of (x, y, len) into partial slot `slot`.
    pub(super) fn reduce_into(
        &self,
        enc: &mut Enc,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        len: usize,
        mode: u32,
        slot: usize,
    ) -> Result<()> {
        let v = ReduceParams {
            len: len as u32,
            slot: (slot * REDUCE_GROUPS) as u32,
            mode,
        };
        let prm = uniform::<T, _>(&[], &v);
        let groups = len.div_ceil(256).clamp(1, REDUCE_GROUPS) as u32;
        self.dispatch(
            enc,
            Kernel::Reduce,
            &[x, y, &self.partials],
            &prm,
            (groups, 1),
        )?;
        Ok(())
    }

    /// An encoder whose first command clears the partial sums.
    pub(super) fn reduce_encoder(&self) -> Enc {
        let mut enc = self.encoder();
        enc.clear_buffer(&self.partials, 0, None);
        enc
    }

    /// Records the reduction `mode` of two vectors with the same chunking into slots from
    /// `slot0`; returns the slot range used.
    pub(super) fn record_reduce(
        &self,
        enc: &mut Enc,
        x: &GpuBuf,
        y: &GpuBuf,
        mode: u32,
        slot0: usize,
    ) -> Result<(usize, usize)> {
        for k in 0..x.chunks.len() {
            self.reduce_into(
                enc,
                &x.chunks[k],
                &y.chunks[k],
                x.chunk_len(k),
                mode,
                slot0 + k,
            )?;
        }
        Ok((slot0, slot0 + x.chunks.len()))
    }

    /// group_stat with `mode` (STAT_*) over every weight chunk.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_stat(
        &self,
        enc: &mut Enc,
        reg: Regularizer,
        lam: f64,
        mode: u32,
        u: &GpuBuf,
        grad: Option<&GpuBuf>,
        slot0: usize,
    ) -> Result<(usize, usize)> {
        self.record_group(
            enc,
            Kernel::GroupStat,
            reg,
            [0.0, lam],
            mode,
            u,
            grad,
            None,
            slot0,
        )
    }

    /// Records one sum with `record`, submits, and returns it.
    pub(super) fn single_sum(
        &self,
        record: impl FnOnce(&mut Enc) -> Result<(usize, usize)>,
    ) -> Result<f64> {
        let mut enc = self.reduce_encoder();
        let r = record(&mut enc)?;
        Ok(self.finish_sums(enc, &[r])?[0])
    }

    /// Submits `enc`, reads the partial sums back once and adds each slot range in f64.
    pub(super) fn finish_sums(&self, enc: Enc, ranges: &[(usize, usize)]) -> Result<Vec<f64>> {
        let s = std::mem::size_of::<T>();
        let end = ranges.iter().map(|r| r.1).max().unwrap_or(0);
        let bytes = read_back(
            &self.ctx,
            enc,
            &[(&self.partials, (end * REDUCE_GROUPS * s) as u64)],
        )?;
        let v = from_bytes::<T>(&bytes);
        Ok(ranges
            .iter()
            .map(|&(a, b)| v[a * REDUCE_GROUPS..b * REDUCE_GROUPS].iter().sum())
            .collect())
    }

    pub(super) fn reduce(&self, x: &GpuBuf, y: &GpuBuf, mode: u32) -> Result<f64> {
        self.single_sum(|enc| self.record_reduce(enc, x, y, mode, 0))
    }
}
