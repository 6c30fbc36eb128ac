//! A plain tiled GEMM for the machine-rate reference of `cvxnn bench`, and the queue sync
//! benchmarks use.

use super::buffers::{from_bytes, read_back, storage, storage_init, to_bytes};
use super::params::{GemmParams, uniform_buffer};
use super::pipelines::{FORWARD_GATES, FORWARD_ROWS, Kernel};
use super::*;

/// Times a plain GEMM (m x k times k x n) on the device: the median of `reps` runs, in seconds,
/// each waiting for the device inside the timed region. `tile` 64 or 128: the workgroup-tiled
/// kernel with that tile (the gpu-style family's reference); 0: the register-blocked one.
pub fn time_gemm<T: GpuReal>(
    ctx: &Arc<GpuContext>,
    m: usize,
    k: usize,
    n: usize,
    reps: usize,
    tile: usize,
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
    let (ah, bh) = (fill(m * k), fill(k * n));
    let a = storage_init(ctx, &to_bytes::<T>(&ah), "a");
    let b = storage_init(ctx, &to_bytes::<T>(&bh), "b");
    let c = storage(ctx, m * n * s, "c");
    let v = GemmParams {
        m: m as u32,
        k: k as u32,
        n: n as u32,
    };
    let prm = uniform_buffer::<T, _>(ctx, &[], &v);
    let kernel = match tile {
        0 => Kernel::Gemm,
        128 => Kernel::GemmTiled128,
        _ => Kernel::GemmTiled,
    };
    let pl = ctx.pipeline(kernel, T::WGSL, false)?;
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
    let groups = if tile > 0 {
        (n.div_ceil(tile) as u32, m.div_ceil(tile) as u32)
    } else {
        (
            m.div_ceil(FORWARD_ROWS).div_ceil(8) as u32,
            n.div_ceil(FORWARD_GATES).div_ceil(8) as u32,
        )
    };
    let once = || -> Result<f64> {
        let t = std::time::Instant::now();
        let mut enc = super::dispatch::Enc::new(ctx);
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pl.0);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, 1);
        }
        enc.submit(ctx);
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
    // A wrong reference would make every ratio wrong: check 64 sampled entries on the host.
    let got = from_bytes::<T>(&read_back(
        ctx,
        super::dispatch::Enc::new(ctx),
        &[(&c, (m * n * s) as u64)],
    )?);
    let mut pick = crate::rng::Rng::new(2);
    for _ in 0..64 {
        let (i, j) = (pick.below(m), pick.below(n));
        let want: f64 = (0..k).map(|t| ah[i * k + t] * bh[t * n + j]).sum();
        let scale: f64 = (0..k).map(|t| (ah[i * k + t] * bh[t * n + j]).abs()).sum();
        if (got[i * n + j] - want).abs() > 1e-4 * scale.max(1.0) {
            return Err(Error::Device(format!(
                "the reference GEMM's entry ({i}, {j}) is {} on the device, {want} on the host",
                got[i * n + j]
            )));
        }
    }
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
