//! Activation patterns 1[X G > 0] computed on the device.

use super::buffers::{read_back, storage, storage_init, to_bytes};
use super::params::{PatternParams, uniform_buffer};
use super::pipelines::Kernel;
use super::*;

/// Activation patterns 1[X g_i > 0] computed on the device, returned as bits.
pub fn device_patterns<T: GpuReal>(
    ctx: &Arc<GpuContext>,
    x: &Array2<f64>,
    g: &Array2<f64>,
) -> Result<BitMask> {
    let (n, d) = x.dim();
    let p = g.ncols();
    let s = std::mem::size_of::<T>();
    let words = p.div_ceil(32).max(1);
    let maxb = ctx.max_binding() as usize;
    if d > MAX_STEPS {
        return Err(Error::Device(format!(
            "{d} features exceed the {MAX_STEPS} one pattern invocation may sum"
        )));
    }
    if p * d * s > maxb {
        return Err(Error::Device(format!(
            "{p} gates x {d} features exceed one binding ({} MiB)",
            maxb >> 20
        )));
    }
    let gt: Vec<f64> = g.t().iter().copied().collect(); // p x d, row-major
    let gbuf = storage_init(ctx, &to_bytes::<T>(&gt), "gates");
    let rows_per = (maxb / (d * s)).min(maxb / (words * 4)).max(1);
    let mut mask = BitMask::zeros(n, p);
    let pl = ctx.pipeline(Kernel::Patterns, T::WGSL, false)?;
    for r0 in (0..n).step_by(rows_per) {
        let nr = rows_per.min(n - r0);
        let xh: Vec<f64> = x
            .slice(ndarray::s![r0..r0 + nr, ..])
            .iter()
            .copied()
            .collect();
        let xb = storage_init(ctx, &to_bytes::<T>(&xh), "x");
        let mb = storage(ctx, nr * words * 4, "mask");
        let mut enc = super::dispatch::Enc::new(ctx);
        // Bits per dispatch so that one invocation sums at most MAX_STEPS products.
        let bits = (MAX_STEPS / d.max(1)).clamp(1, 32);
        for b0 in (0..32).step_by(bits) {
            let v = PatternParams {
                rows: nr as u32,
                d: d as u32,
                p: p as u32,
                words: words as u32,
                b_begin: b0 as u32,
                b_end: (b0 + bits).min(32) as u32,
            };
            let prm = uniform_buffer::<T, _>(ctx, &[], &v);
            let entries: Vec<wgpu::BindGroupEntry> = [&xb, &gbuf, &mb, &prm]
                .iter()
                .enumerate()
                .map(|(k, b)| wgpu::BindGroupEntry {
                    binding: k as u32,
                    resource: b.as_entire_binding(),
                })
                .collect();
            let bg = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pl.1,
                entries: &entries,
            });
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pl.0);
            pass.set_bind_group(0, &bg, &[]);
            let (gx, gy) = groups_2d(
                nr * words,
                64,
                ctx.limits.max_compute_workgroups_per_dimension,
            );
            pass.dispatch_workgroups(gx, gy, 1);
        }
        let bytes = read_back(ctx, enc, &[(&mb, (nr * words * 4) as u64)])?;
        let w: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        for r in 0..nr {
            for i in 0..p {
                if (w[r * words + i / 32] >> (i % 32)) & 1 == 1 {
                    mask.set(r0 + r, i);
                }
            }
        }
    }
    Ok(mask)
}
