//! Working sets on the GPU: a packed sub-problem that shares X, Y and the row chunking with the
//! full problem and holds its own mask, output l's k_l gates in columns starts[l] ..
//! starts[l + 1], so the masked kernels run over sum k_l columns instead of c p (their mask
//! offset for output l is starts[l]).

use super::buffers::storage;
use super::{GpuBackend, GpuBuf, GpuReal, REDUCE_GROUPS, chunk_bounds, mask_chunks, weight_chunks};
use crate::backend::{Dims, check_restriction};
use crate::error::{Error, Result};
use std::marker::PhantomData;
use std::sync::Arc;

impl<T: GpuReal> GpuBackend<T> {
    /// [`crate::backend::Backend::restrict`].
    pub(super) fn restricted(&self, gates: &[Vec<usize>]) -> Result<Self> {
        if self.packed {
            return Err(Error::Device(
                "a working set's sub-problem cannot be restricted again".into(),
            ));
        }
        let starts = check_restriction(self.dims, gates)?;
        let Dims { d, c, .. } = self.dims;
        let cols: Vec<usize> = gates.iter().flatten().copied().collect();
        let mask = self.host_mask.select_cols(&cols);
        let words = cols.len().div_ceil(32).max(1);
        let maxb = self.ctx.max_binding() as usize;
        let widest = self.rows.iter().map(|r| r.1).max().unwrap_or(0);
        if widest * words * 4 > maxb {
            return Err(Error::Device(format!(
                "a working set of {} groups needs mask chunks above the adapter's {} MiB binding \
                 limit: use --working-set off",
                cols.len(),
                maxb >> 20
            )));
        }
        let s = std::mem::size_of::<T>();
        let (wchunks, wb) = weight_chunks(c, |l| gates[l].len(), d, self.gates_per);
        let max_gc = wchunks.iter().map(|w| w.2).max().unwrap_or(1);
        let nchunks = wchunks.len().max(self.rows.len());
        let ctx = &self.ctx;
        Ok(GpuBackend {
            ctx: ctx.clone(),
            dims: Dims {
                p: gates.iter().map(Vec::len).max().unwrap_or(1),
                ..self.dims
            },
            words,
            rows: self.rows.clone(),
            wbounds: Arc::new(wb),
            wchunks,
            pbounds: self.pbounds.clone(),
            x: self.x.clone(),
            mask: mask_chunks(ctx, &mask, &self.rows, words),
            y: GpuBuf {
                chunks: self.y.chunks.clone(),
                bounds: self.y.bounds.clone(),
            },
            y_host: self.y_host.clone(),
            partials: storage(ctx, 3 * nchunks * REDUCE_GROUPS * s, "partials"),
            stat: storage(ctx, max_gc * s, "stat"),
            dummy: storage(ctx, 16, "dummy"),
            dummy_rw: storage(ctx, 16, "dummy_rw"),
            cone: Vec::new(),
            cbounds: Arc::new(chunk_bounds(0, 1, 1)),
            colu: storage(ctx, d * s, "feature columns"),
            colg: storage(ctx, d * s, "gradient feature columns"),
            zbuf: std::sync::Mutex::new(Vec::new()),
            host_mask: Arc::new(mask),
            row_sq: self.row_sq.clone(),
            starts,
            packed: true,
            gates_per: self.gates_per,
            checked: self.checked,
            steps: self.steps,
            tile: self.tile,
            _t: PhantomData,
        })
    }

    /// [`crate::backend::Backend::design_norms`], from the host copies of the patterns and the
    /// rows' norms.
    pub(super) fn gate_frobenius(&self) -> Result<Vec<f64>> {
        if self.packed {
            return Err(Error::Device(
                "design norms are defined on the full problem only".into(),
            ));
        }
        let mut sq = vec![0.0f64; self.dims.p];
        for (r, &rs) in self.row_sq.iter().enumerate() {
            self.host_mask.for_each_set(r, |i| sq[i] += rs);
        }
        Ok(sq.into_iter().map(f64::sqrt).collect())
    }
}
