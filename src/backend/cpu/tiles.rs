//! The dense masked products, tile by tile: a GEMM per (row block, column tile) into a
//! cache-sized buffer, then the mask bits select and sum (forward) or scatter the residuals
//! (gradient). The group-sparse forward is in sparse.rs.

use super::masked::{masked_fill, masked_keep, masked_sum};
use super::{CpuBackend, mat_mul};
use crate::backend::Dims;
use crate::real::Real;
use ndarray::{ArrayViewMut2, s};

impl<T: Real> CpuBackend<T> {
    /// preds rows [r0, r1) (slice starts at row r0), tile by tile: Z = X_R W_C^T by a GEMM,
    /// then each output's sum over the gates active on the row.
    pub(super) fn forward_rows(&self, u: &[T], r0: usize, r1: usize, out: &mut [T]) {
        let (c, cp) = (self.dims.c, self.groups());
        if self.tile.1 >= cp
            && let Some(nonzero) = self.sparse_groups(u)
        {
            self.forward_rows_sparse(u, &nonzero, r0, r1, out);
            self.give_indices(nonzero);
            return;
        }
        let wt = self.weights_view(u).reversed_axes(); // d x cp
        let (tr, tc) = self.tile;
        let (rows, cols) = (tr.min(r1 - r0), tc.min(cp));
        out.fill(T::zero());
        let mut buf = self.scratch(rows * cols);
        for j0 in (0..cp).step_by(cols.max(1)) {
            let j1 = (j0 + cols).min(cp);
            let w = wt.slice(s![.., j0..j1]);
            let segs = self.tile_segments(j0, j1);
            let mut zbuf = ArrayViewMut2::from_shape((rows, j1 - j0), &mut buf[..rows * (j1 - j0)])
                .expect("block");
            for b0 in (r0..r1).step_by(tr) {
                let b1 = (b0 + tr).min(r1);
                let mut z = zbuf.slice_mut(s![..b1 - b0, ..]);
                mat_mul(
                    T::one(),
                    &self.x.slice(s![b0..b1, ..]),
                    &w,
                    T::zero(),
                    &mut z,
                );
                for r in b0..b1 {
                    let zr = z.row(r - b0);
                    let zr = zr.as_slice().expect("row-major block");
                    let words = self.mask.row(r);
                    for seg in segs.chunks_exact(4) {
                        let (l, len, at, pos) = (seg[0], seg[1], seg[2], seg[3]);
                        let o = &mut out[(r - r0) * c + l];
                        *o = *o + masked_sum(zr, at, len, words, pos);
                    }
                }
            }
            self.give_indices(segs);
        }
        self.give(buf);
    }

    /// The segments of the tile of columns [j0, j1) as (output, length, first column in the
    /// tile, its mask column) quadruples, once per tile instead of once per row (pooled).
    fn tile_segments(&self, j0: usize, j1: usize) -> Vec<usize> {
        let mut segs = self.take_indices();
        for (l, i0, i1, at) in self.segments(j0, j1) {
            segs.extend([l, i1 - i0, at, self.mask_base(l) + i0]);
        }
        segs
    }

    /// Gradient rows [c0, c1) (grad's row 0 is group c0) from data rows [r0, r1):
    /// grad (+)= X_R^T M_R, M[r, l p + i] = mask(r, i) * resid(r, l) / (n c), tile by tile
    /// (columns outer, so each tile of the gradient stays in cache over the rows). `overwrite`:
    /// the first row block writes grad instead of adding to it.
    pub(super) fn gradient_block(
        &self,
        preds: &[T],
        (r0, r1): (usize, usize),
        (c0, c1): (usize, usize),
        mut grad: ArrayViewMut2<T>,
        overwrite: bool,
    ) {
        let Dims { n, c, .. } = self.dims;
        let scale = T::of(1.0 / (n * c) as f64);
        let (tr, tc) = self.tile;
        let (rows, cols) = (tr.min(r1 - r0), tc.min(c1 - c0));
        let mut buf = self.scratch(rows * cols);
        for j0 in (c0..c1).step_by(cols.max(1)) {
            let j1 = (j0 + cols).min(c1);
            let mut g = grad.slice_mut(s![j0 - c0..j1 - c0, ..]);
            let segs = self.tile_segments(j0, j1);
            let mut mbuf = ArrayViewMut2::from_shape((rows, j1 - j0), &mut buf[..rows * (j1 - j0)])
                .expect("block");
            for b0 in (r0..r1).step_by(tr) {
                let b1 = (b0 + tr).min(r1);
                let mut m = mbuf.slice_mut(s![..b1 - b0, ..]);
                // Each segment gets its output's residual where the row's gate is on and zero
                // elsewhere: in one write per segment, or on a packed sub-problem (short
                // segments; its mask columns are the tile's, j0 on) a fill and one zeroing pass
                // over the row. The segments cover the tile's columns, so every entry is written.
                for r in b0..b1 {
                    let mut mr = m.row_mut(r - b0);
                    let mr = mr.as_slice_mut().expect("row-major block");
                    let words = self.mask.row(r);
                    for seg in segs.chunks_exact(4) {
                        let (l, len, at, pos) = (seg[0], seg[1], seg[2], seg[3]);
                        let res = (preds[r * c + l] - self.y[[r, l]]) * scale;
                        if self.packed {
                            mr[at..at + len].fill(res);
                        } else {
                            masked_fill(&mut mr[at..at + len], res, words, pos);
                        }
                    }
                    if self.packed {
                        masked_keep(mr, words, j0);
                    }
                }
                let beta = if overwrite && b0 == r0 {
                    T::zero()
                } else {
                    T::one()
                };
                mat_mul(
                    T::one(),
                    &m.t(),
                    &self.x.slice(s![b0..b1, ..]),
                    beta,
                    &mut g,
                );
            }
            self.give_indices(segs);
        }
        self.give(buf);
    }
}
