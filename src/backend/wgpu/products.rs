//! The masked products: the forward D_i X u_i summed over gates and the gradient X^T D_i r, in
//! the kernel family the backend runs (cpu-style or gpu-style), split into dispatches under the
//! step limit; and their device time by timestamp queries where the adapter has them.

use super::buffers::read_back;
use super::params::{ForwardParams, GradientParams, uniform};
use super::pipelines::{FORWARD_GATES, FORWARD_ROWS, GRADIENT_FEATURES, GRADIENT_GATES, Kernel};
use super::*;

impl<T: GpuReal> GpuBackend<T> {
    pub(super) fn record_forward(&self, enc: &mut Enc, u: &GpuBuf, preds: &GpuBuf) -> Result<()> {
        let Dims { d, c, .. } = self.dims;
        // Work per invocation is (gate tiles) x features; keep it under the step limit.
        let jb = d.clamp(1, self.steps);
        // A block is a whole number of gate tiles: the tiled kernels' tile, the blocked one's
        // FORWARD_GATES.
        let (kernel, tile_gates, tile_rows, wg) = match self.tile {
            0 => (Kernel::Forward, FORWARD_GATES, FORWARD_ROWS, 64),
            128 => (Kernel::ForwardTiled128, 128, 128, 1),
            t => (Kernel::ForwardTiled, t, t, 1),
        };
        let block = (self.steps / jb).max(1) * tile_gates;
        for (k, &(_, nr)) in self.rows.iter().enumerate() {
            for (w, &(l, g0, gc)) in self.wchunks.iter().enumerate() {
                for ib in (0..gc).step_by(block) {
                    for j0 in (0..d).step_by(jb) {
                        // The first piece of an output overwrites, the others add.
                        let first = g0 == 0 && ib == 0 && j0 == 0;
                        let v = ForwardParams {
                            rows: nr as u32,
                            d: d as u32,
                            c: c as u32,
                            l: l as u32,
                            g0: (g0 + self.mask_base(l)) as u32,
                            gc: gc as u32,
                            words: self.words as u32,
                            accumulate: !first as u32,
                            i_begin: ib as u32,
                            i_end: (ib + block).min(gc) as u32,
                            j_begin: j0 as u32,
                            j_end: (j0 + jb).min(d) as u32,
                        };
                        let prm = uniform::<T, _>(&[], &v);
                        let groups = groups_2d(nr.div_ceil(tile_rows), wg, self.max_groups());
                        let bufs = [&self.x[k], &self.mask[k], &u.chunks[w], &preds.chunks[k]];
                        self.dispatch(enc, kernel, &bufs, &prm, groups)?;
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn record_gradient(
        &self,
        enc: &mut Enc,
        preds: &GpuBuf,
        grad: &GpuBuf,
    ) -> Result<()> {
        let Dims { n, d, c, .. } = self.dims;
        let scale = 1.0 / (n * c) as f64;
        let (kernel, groups_of) = match self.tile {
            0 => (
                Kernel::Gradient,
                (GRADIENT_FEATURES * 8, GRADIENT_GATES * 8),
            ),
            128 => (Kernel::GradientTiled128, (128, 128)),
            t => (Kernel::GradientTiled, (t, t)),
        };
        for (w, &(l, g0, gc)) in self.wchunks.iter().enumerate() {
            for (k, &(_, nr)) in self.rows.iter().enumerate() {
                for rb in (0..nr).step_by(self.steps) {
                    let first = k == 0 && rb == 0;
                    let v = GradientParams {
                        rows: nr as u32,
                        d: d as u32,
                        c: c as u32,
                        l: l as u32,
                        g0: (g0 + self.mask_base(l)) as u32,
                        gc: gc as u32,
                        words: self.words as u32,
                        accumulate: !first as u32,
                        r_begin: rb as u32,
                        r_end: (rb + self.steps).min(nr) as u32,
                    };
                    let prm = uniform::<T, _>(&[scale], &v);
                    // Workgroups of (features, gates): 8 x 8 invocations of the blocked kernel's
                    // register block, or one tile of the tiled kernels.
                    let groups = (
                        d.div_ceil(groups_of.0) as u32,
                        gc.div_ceil(groups_of.1) as u32,
                    );
                    let bufs = [
                        &self.x[k],
                        &self.mask[k],
                        &preds.chunks[k],
                        &self.y.chunks[k],
                        &grad.chunks[w],
                    ];
                    self.dispatch(enc, kernel, &bufs, &prm, groups)?;
                }
            }
        }
        Ok(())
    }

    /// Device time in seconds of one forward and one gradient (each the median of `reps`), by
    /// timestamp queries around the passes; None where the adapter has no TIMESTAMP_QUERY.
    pub fn device_times(
        &self,
        u: &GpuBuf,
        preds: &GpuBuf,
        grad: &GpuBuf,
        reps: usize,
    ) -> Result<Option<(f64, f64)>> {
        if !self.ctx.has_timestamps() {
            return Ok(None);
        }
        let resolve = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let period = f64::from(self.ctx.queue.get_timestamp_period());
        let time = |record: &dyn Fn(&mut Enc) -> Result<()>| -> Result<f64> {
            let mut t = Vec::with_capacity(reps.max(1));
            for _ in 0..reps.max(1) + 1 {
                let mut enc = Enc::timed(&self.ctx).expect("timestamps checked above");
                record(&mut enc)?;
                let qs = enc
                    .timer()
                    .cloned()
                    .ok_or_else(|| Error::Device("a timed product recorded no pass".into()))?;
                enc.resolve_query_set(&qs, 0..2, &resolve, 0);
                let bytes = read_back(&self.ctx, enc, &[(&resolve, 16)])?;
                let tick = |k: usize| {
                    u64::from_le_bytes(bytes[8 * k..8 * k + 8].try_into().expect("8 bytes"))
                };
                t.push(tick(1).wrapping_sub(tick(0)) as f64 * period * 1e-9);
            }
            // The first run warms up; the median of the rest.
            let mut t = t.split_off(1);
            t.sort_by(|a, b| a.total_cmp(b));
            Ok(t[t.len() / 2])
        };
        let fwd = time(&|enc| self.record_forward(enc, u, preds))?;
        let grd = time(&|enc| self.record_gradient(enc, preds, grad))?;
        Ok(Some((fwd, grd)))
    }
}
