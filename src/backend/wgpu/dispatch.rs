//! Recording dispatches: command encoders, one kernel dispatch with its bind group, the
//! workgroup-count limit, and chunked buffer allocation.

use super::buffers::storage;
use super::pipelines::Kernel;
use super::*;

impl<T: GpuReal> GpuBackend<T> {
    pub(super) fn encoder(&self) -> wgpu::CommandEncoder {
        self.ctx.device.create_command_encoder(&Default::default())
    }

    /// Records one dispatch of `kernel` with `buffers` bound in order.
    pub(super) fn dispatch(
        &self,
        enc: &mut wgpu::CommandEncoder,
        kernel: Kernel,
        buffers: &[&wgpu::Buffer],
        groups: (u32, u32),
    ) -> Result<()> {
        let p = self.ctx.pipeline(kernel, T::WGSL, self.checked)?;
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(k, b)| wgpu::BindGroupEntry {
                binding: k as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        let bg = self
            .ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &p.1,
                entries: &entries,
            });
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&p.0);
        pass.set_bind_group(0, &bg, &[]);
        pass.dispatch_workgroups(groups.0, groups.1, 1);
        Ok(())
    }

    pub(super) fn max_groups(&self) -> u32 {
        self.ctx.limits.max_compute_workgroups_per_dimension
    }

    pub(super) fn alloc(&self, bounds: &Arc<Vec<usize>>, label: &str) -> GpuBuf {
        let s = std::mem::size_of::<T>();
        let chunks = bounds
            .windows(2)
            .map(|w| storage(&self.ctx, (w[1] - w[0]) * s, label))
            .collect();
        GpuBuf {
            chunks,
            bounds: bounds.clone(),
        }
    }

    pub(super) fn bounds_for(&self, len: usize) -> Result<Arc<Vec<usize>>> {
        let weights = self.wbounds.last().copied().unwrap_or(0);
        if len == weights {
            Ok(self.wbounds.clone())
        } else if len == self.dims.preds() {
            Ok(self.pbounds.clone())
        } else {
            Err(Error::shape(
                "device vector",
                format!("{weights} or {} entries", self.dims.preds()),
                len.to_string(),
            ))
        }
    }
}
