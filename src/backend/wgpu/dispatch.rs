//! Recording dispatches: command encoders with their parameter blocks, one kernel dispatch with
//! its bind group, the workgroup-count limit, and chunked buffer allocation.

use super::buffers::storage;
use super::pipelines::{Kernel, Slot};
use super::*;

/// Parameter blocks (at least) per uniform buffer of an encoder.
const BLOCKS_PER_BUFFER: u64 = 256;

/// A command encoder and the uniform parameter blocks of its dispatches: blocks are packed into
/// a few buffers the encoder owns (one per `BLOCKS_PER_BUFFER` dispatches, not one per dispatch)
/// and written through the queue when it is finished, so they land before its commands run and
/// no other encoder's dispatch can see them.
pub(super) struct Enc {
    inner: wgpu::CommandEncoder,
    /// Filled buffers and the current one, each with the bytes recorded for it.
    blocks: Vec<(wgpu::Buffer, Vec<u8>)>,
    align: u64,
    /// Timestamp queries: index 0 at the start of the first pass, 1 at the end of every pass
    /// (the last one stays); the flag says whether a pass was recorded.
    timer: Option<(wgpu::QuerySet, bool)>,
}

impl std::ops::Deref for Enc {
    type Target = wgpu::CommandEncoder;
    fn deref(&self) -> &wgpu::CommandEncoder {
        &self.inner
    }
}

impl std::ops::DerefMut for Enc {
    fn deref_mut(&mut self) -> &mut wgpu::CommandEncoder {
        &mut self.inner
    }
}

impl Enc {
    pub(super) fn new(ctx: &GpuContext) -> Enc {
        Enc {
            inner: ctx.device.create_command_encoder(&Default::default()),
            blocks: Vec::new(),
            // Offsets of uniform bindings must be multiples of this (256 on most GPUs).
            align: u64::from(ctx.limits.min_uniform_buffer_offset_alignment).max(16),
            timer: None,
        }
    }

    /// An encoder whose passes write timestamps (None without TIMESTAMP_QUERY).
    pub(super) fn timed(ctx: &GpuContext) -> Option<Enc> {
        ctx.has_timestamps().then(|| Enc {
            timer: Some((
                ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("timer"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2,
                }),
                false,
            )),
            ..Enc::new(ctx)
        })
    }

    /// The timer's query set (after at least one pass).
    pub(super) fn timer(&self) -> Option<&wgpu::QuerySet> {
        self.timer.as_ref().filter(|t| t.1).map(|t| &t.0)
    }

    /// Places one parameter block; returns its buffer, offset and size.
    fn block(&mut self, ctx: &GpuContext, data: &[u8]) -> (wgpu::Buffer, u64, u64) {
        let size = data.len() as u64;
        // Every parameter struct is at most 64 bytes; a slot of max(align, 256) holds any.
        let slot = self.align.max(256);
        debug_assert!(size <= slot);
        let stride = size.div_ceil(self.align) * self.align;
        let room = self
            .blocks
            .last()
            .is_some_and(|(buf, b)| b.len() as u64 + stride <= buf.size());
        if !room {
            let buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size: slot * BLOCKS_PER_BUFFER,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.blocks.push((buf, Vec::new()));
        }
        let (buf, bytes) = self.blocks.last_mut().expect("a block buffer");
        let offset = bytes.len() as u64;
        bytes.extend_from_slice(data);
        bytes.resize((offset + stride) as usize, 0);
        (buf.clone(), offset, size)
    }

    /// Writes the parameter blocks and finishes the encoder.
    pub(super) fn finish(self, ctx: &GpuContext) -> wgpu::CommandBuffer {
        for (buf, bytes) in &self.blocks {
            ctx.queue.write_buffer(buf, 0, bytes);
        }
        self.inner.finish()
    }

    pub(super) fn submit(self, ctx: &GpuContext) {
        let cmd = self.finish(ctx);
        ctx.queue.submit([cmd]);
    }
}

impl<T: GpuReal> GpuBackend<T> {
    pub(super) fn encoder(&self) -> Enc {
        Enc::new(&self.ctx)
    }

    /// Records one dispatch of `kernel` with `buffers` bound in order and the parameter block
    /// `params` bound after them.
    pub(super) fn dispatch(
        &self,
        enc: &mut Enc,
        kernel: Kernel,
        buffers: &[&wgpu::Buffer],
        params: &[u8],
        groups: (u32, u32),
    ) -> Result<()> {
        let p = self.ctx.pipeline(kernel, T::WGSL, self.checked)?;
        let (pbuf, offset, size) = enc.block(&self.ctx, params);
        // The kernel's slots in order: the uniform one takes the block, the others the buffers.
        let mut storage = buffers.iter();
        let entries: Vec<wgpu::BindGroupEntry> = kernel
            .spec()
            .2
            .iter()
            .enumerate()
            .map(|(k, slot)| wgpu::BindGroupEntry {
                binding: k as u32,
                resource: match slot {
                    Slot::Uniform => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &pbuf,
                        offset,
                        size: wgpu::BufferSize::new(size),
                    }),
                    _ => storage
                        .next()
                        .expect("a buffer for every storage slot")
                        .as_entire_binding(),
                },
            })
            .collect();
        debug_assert!(
            storage.next().is_none(),
            "{kernel:?}: more buffers than slots"
        );
        let bg = self
            .ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &p.1,
                entries: &entries,
            });
        let timer = enc.timer.as_ref().map(|t| (t.0.clone(), !t.1));
        if let Some(t) = enc.timer.as_mut() {
            t.1 = true;
        }
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: timer
                .as_ref()
                .map(|(qs, first)| wgpu::ComputePassTimestampWrites {
                    query_set: qs,
                    beginning_of_pass_write_index: first.then_some(0),
                    end_of_pass_write_index: Some(1),
                }),
        });
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
