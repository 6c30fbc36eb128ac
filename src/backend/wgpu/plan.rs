//! The chunking plan: how weight vectors, masks and rows are split into buffers within the
//! adapter's binding limit, and 2-D dispatch grids.

use super::buffers::storage_init;
use super::*;

/// Weight chunks (output l, first gate, gates) of at most `gates_per` gates, output l having
/// `gates(l)` gates, and their element bounds.
pub(super) fn weight_chunks(
    c: usize,
    gates: impl Fn(usize) -> usize,
    d: usize,
    gates_per: usize,
) -> (Vec<(usize, usize, usize)>, Vec<usize>) {
    let mut wchunks = Vec::new();
    for l in 0..c {
        let p = gates(l);
        for g0 in (0..p).step_by(gates_per) {
            wchunks.push((l, g0, gates_per.min(p - g0)));
        }
    }
    let mut wb = vec![0];
    for &(_, _, gc) in &wchunks {
        wb.push(wb.last().unwrap() + gc * d);
    }
    (wchunks, wb)
}

/// The mask's row chunks as device buffers of `words` u32 per row.
pub(super) fn mask_chunks(
    ctx: &GpuContext,
    mask: &BitMask,
    rows: &[(usize, usize)],
    words: usize,
) -> Vec<wgpu::Buffer> {
    let mut mwords = vec![0u32; words];
    rows.iter()
        .map(|&(r0, nr)| {
            let mut mb: Vec<u32> = Vec::with_capacity(nr * words);
            for r in r0..r0 + nr {
                mwords.iter_mut().for_each(|w| *w = 0);
                mask.for_each_set(r, |i| mwords[i / 32] |= 1 << (i % 32));
                mb.extend_from_slice(&mwords);
            }
            storage_init(ctx, bytemuck::cast_slice(&mb), "mask")
        })
        .collect()
}

pub(super) fn chunk_bounds(total: usize, per: usize, unit: usize) -> Vec<usize> {
    let mut b: Vec<usize> = (0..total.div_ceil(per.max(1)))
        .map(|k| k * per * unit)
        .collect();
    b.push(total * unit);
    b
}

/// Splits `threads` invocations of workgroup size `wg` over x and y under the 65,535 limit.
pub(super) fn groups_2d(threads: usize, wg: usize, max: u32) -> (u32, u32) {
    let g = threads.div_ceil(wg).max(1);
    let gx = g.min(max as usize);
    (gx as u32, g.div_ceil(gx) as u32)
}
