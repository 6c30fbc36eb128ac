//! Products of group-sparse weights: R-FISTA's trial points and the AL's steps are zero outside
//! the groups active in the last iterates (the group soft-threshold zeroes the rest), so the
//! forward product packs the nonzero groups and multiplies only those. Every entry is the same
//! length-d dot product as in the dense GEMM and the sums run in the same order, so results are
//! bit-identical to the dense path.

use super::CpuBackend;
use super::masked::{LANES, reduce};
use super::mat_mul;
use crate::real::Real;
use ndarray::{ArrayView2, ArrayViewMut2, s};

/// Below this fraction of nonzero groups the packed product pays for its gather and scatter.
pub(super) const SPARSE_FRACTION: f64 = 0.5;

impl<T: Real> CpuBackend<T> {
    /// The nonzero groups of `u` (ascending) when they are few enough for the packed product,
    /// in a pooled buffer (give it back with `give_indices`: the AL loop allocates nothing).
    pub(super) fn sparse_groups(&self, u: &[T]) -> Option<Vec<usize>> {
        let (d, groups) = (self.dims.d.max(1), self.groups());
        let mut nonzero = self.take_indices();
        nonzero
            .extend((0..groups).filter(|&g| u[g * d..(g + 1) * d].iter().any(|&a| a != T::zero())));
        if (nonzero.len() as f64) < SPARSE_FRACTION * groups as f64 {
            Some(nonzero)
        } else {
            self.give_indices(nonzero);
            None
        }
    }

    /// The nonzero groups' weights packed (k x d, row-major).
    pub(super) fn pack_groups(&self, u: &[T], nonzero: &[usize]) -> Vec<T> {
        let d = self.dims.d;
        let mut packed = self.scratch(nonzero.len() * d);
        for (j, &g) in nonzero.iter().enumerate() {
            packed[j * d..(j + 1) * d].copy_from_slice(&u[g * d..(g + 1) * d]);
        }
        packed
    }

    /// `forward_rows` for weights nonzero only on `nonzero`, when one tile spans all groups:
    /// per row and output, the sum over the set gates in the dense path's lanes and order (its
    /// zero columns add exact zeros).
    pub(super) fn forward_rows_sparse(
        &self,
        u: &[T],
        nonzero: &[usize],
        r0: usize,
        r1: usize,
        out: &mut [T],
    ) {
        let (c, d, k) = (self.dims.c, self.dims.d, nonzero.len());
        out.fill(T::zero());
        if k == 0 {
            return;
        }
        // Output, mask column and sum lane (as in masked.rs) of every packed group,
        // interleaved in a pooled buffer.
        let mut l = 0;
        let mut cols = self.take_indices();
        for &g in nonzero {
            while g >= self.starts[l + 1] {
                l += 1;
            }
            cols.extend([l, self.mask_base(l) + g - self.starts[l], g % LANES]);
        }
        let packed = self.pack_groups(u, nonzero);
        let wt = ArrayView2::from_shape((k, d), &packed[..])
            .expect("packed groups")
            .reversed_axes();
        let rows = self.tile.0.min(r1 - r0).max(1);
        let mut buf = self.scratch(rows * k);
        for b0 in (r0..r1).step_by(rows) {
            let b1 = (b0 + rows).min(r1);
            let mut z =
                ArrayViewMut2::from_shape((b1 - b0, k), &mut buf[..(b1 - b0) * k]).expect("block");
            mat_mul(
                T::one(),
                &self.x.slice(s![b0..b1, ..]),
                &wt,
                T::zero(),
                &mut z,
            );
            for r in b0..b1 {
                let zr = &buf[(r - b0) * k..(r - b0 + 1) * k];
                let words = self.mask.row(r);
                let mut acc = [T::zero(); LANES];
                let mut cur = cols[0];
                for (lc, &v) in cols.chunks_exact(3).zip(zr) {
                    let (l, i, lane) = (lc[0], lc[1], lc[2]);
                    if l != cur {
                        out[(r - r0) * c + cur] = T::zero() + reduce(&acc);
                        (acc, cur) = ([T::zero(); LANES], l);
                    }
                    // Times the bit, not a branch (random bits mispredict): an unset gate adds
                    // a zero, which leaves the lane's sum as the dense path's.
                    let bit = (words[i >> 6] >> (i & 63)) & 1;
                    acc[lane] = acc[lane] + v * T::of(bit as f64);
                }
                out[(r - r0) * c + cur] = T::zero() + reduce(&acc);
            }
        }
        self.give(buf);
        self.give(packed);
        self.give_indices(cols);
    }
}
