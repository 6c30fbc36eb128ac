//! Device vectors split into chunks that each fit one storage binding, uniform parameter
//! blocks, and the staging read-back.

use super::context::GpuContext;
use crate::error::{Error, Result};
use crate::real::Real;
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// Scalars the kernels can be compiled for.
pub trait GpuReal: Real + bytemuck::Pod {
    const WGSL: &'static str;
}
impl GpuReal for f32 {
    const WGSL: &'static str = "f32";
}
impl GpuReal for f64 {
    const WGSL: &'static str = "f64";
}

/// A device vector: contiguous host ranges `bounds[k]..bounds[k+1]` live in `chunks[k]`.
pub struct GpuBuf {
    pub(super) chunks: Vec<wgpu::Buffer>,
    pub(super) bounds: Arc<Vec<usize>>,
}

impl GpuBuf {
    pub(super) fn chunk_len(&self, k: usize) -> usize {
        self.bounds[k + 1] - self.bounds[k]
    }
}

pub(super) const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// A zero-filled storage buffer of `bytes` (at least 16, as bindings need a size).
pub(super) fn storage(ctx: &GpuContext, bytes: usize, label: &str) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16) as u64,
        usage: STORAGE,
        mapped_at_creation: false,
    })
}

/// A storage buffer holding `data` (padded to at least 16 bytes).
pub(super) fn storage_init(ctx: &GpuContext, data: &[u8], label: &str) -> wgpu::Buffer {
    let mut bytes = data.to_vec();
    bytes.resize(bytes.len().max(16), 0);
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &bytes,
            usage: STORAGE,
        })
}

pub(super) fn to_bytes<T: GpuReal>(host: &[f64]) -> Vec<u8> {
    let v: Vec<T> = host.iter().map(|&x| T::of(x)).collect();
    bytemuck::cast_slice(&v).to_vec()
}

/// Copies `(buffer, bytes)` pieces back to the host, in order, with one map of one staging buffer.
pub(super) fn read_back(
    ctx: &GpuContext,
    mut enc: super::dispatch::Enc,
    pieces: &[(&wgpu::Buffer, u64)],
) -> Result<Vec<u8>> {
    let total: u64 = pieces.iter().map(|p| p.1).sum();
    if total == 0 {
        enc.submit(ctx);
        return Ok(Vec::new());
    }
    // A staging buffer is the only kind the host may map; storage buffers stay device-local.
    // One is kept in the context and replaced only when a larger read-back comes.
    let mut cached = ctx.staging.lock().expect("staging lock");
    if cached.as_ref().is_none_or(|b| b.size() < total) {
        *cached = Some(ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("staging"),
            size: total.next_power_of_two(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }));
    }
    let staging = cached.as_ref().expect("staging buffer just made");
    let mut off = 0;
    for (buf, bytes) in pieces {
        if *bytes > 0 {
            enc.copy_buffer_to_buffer(buf, 0, staging, off, *bytes);
        }
        off += bytes;
    }
    enc.submit(ctx);
    let slice = staging.slice(..total);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    // The map callback only runs while the device is polled.
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| Error::Device(format!("device poll failed: {e}")))?;
    rx.recv()
        .map_err(|_| Error::Device("read-back callback was dropped".into()))?
        .map_err(|e| Error::Device(format!("read-back failed: {e}")))?;
    let data = slice
        .get_mapped_range()
        .map_err(|e| Error::Device(format!("cannot map read-back: {e:?}")))?
        .to_vec();
    staging.unmap();
    Ok(data)
}

pub(super) fn from_bytes<T: GpuReal>(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(std::mem::size_of::<T>())
        .map(|b| bytemuck::pod_read_unaligned::<T>(b).f())
        .collect()
}
