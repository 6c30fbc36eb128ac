//! A plain tiled GEMM for the machine-rate reference of `cvxnn bench`, and the queue sync
//! benchmarks use.

use super::buffers::{params, storage, storage_init, to_bytes};
use super::pipelines::Kernel;
use super::*;

/// Times a plain GEMM (m x k times k x n) on the device: the median of `reps` runs, in seconds,
/// each waiting for the device inside the timed region.
pub fn time_gemm<T: GpuReal>(
    ctx: &Arc<GpuContext>,
    m: usize,
    k: usize,
    n: usize,
    reps: usize,
) -> Result<f64> {
    let s = std::mem::size_of::<T>();
    let maxb = ctx.max_binding() as usize;
    if m * k * s > maxb || k * n * s > maxb || m * n * s > maxb {
        return Err(Error::Device(format!(
            "reference GEMM {m}x{k}x{n} exceeds one binding ({} MiB)",
            maxb >> 20
        )));
    }
    let mut rng = crate::rng::Rng::new(1);
    let mut fill = |len: usize| -> Vec<f64> { (0..len).map(|_| rng.normal()).collect() };
    let a = storage_init(ctx, &to_bytes::<T>(&fill(m * k)), "a");
    let b = storage_init(ctx, &to_bytes::<T>(&fill(k * n)), "b");
    let c = storage(ctx, m * n * s, "c");
    let prm = params::<T>(ctx, &[], &[m as u32, k as u32, n as u32]);
    let pl = ctx.pipeline(Kernel::Gemm, T::WGSL, false)?;
    let entries: Vec<wgpu::BindGroupEntry> = [&a, &b, &c, &prm]
        .iter()
        .enumerate()
        .map(|(i, buf)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: buf.as_entire_binding(),
        })
        .collect();
    let bg = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pl.1,
        entries: &entries,
    });
    let groups = (
        n.div_ceil(4).div_ceil(16) as u32,
        m.div_ceil(4).div_ceil(4) as u32,
    );
    let once = || -> Result<f64> {
        let t = std::time::Instant::now();
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pl.0);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, 1);
        }
        ctx.queue.submit([enc.finish()]);
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Device(format!("poll: {e}")))?;
        Ok(t.elapsed().as_secs_f64())
    };
    once()?;
    let mut times = (0..reps.max(1))
        .map(|_| once())
        .collect::<Result<Vec<f64>>>()?;
    times.sort_by(|x, y| x.total_cmp(y));
    Ok(times[times.len() / 2])
}

impl<T: GpuReal> GpuBackend<T> {
    /// Blocks until the device has finished all submitted work (for timing).
    pub fn sync(&self) -> Result<()> {
        self.ctx
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Device(format!("poll: {e}")))?;
        Ok(())
    }
}
