//! The CPU backend, generic over f32 and f64. The masked products are blocked GEMMs
//! (the `gemm` crate, see gemm.rs): for a block of B rows, Z = X_B U^T (B x cp) and the mask
//! bits select and sum Z's entries per output, so the n x (c p) matrix is never formed beyond B
//! rows (tiles.rs). Scoped threads take row ranges (forward, lifted passes) or, on wide
//! problems, group ranges (gradient); each thread owns its block buffers.

mod cone;
mod gemm;
mod lifted;
mod masked;
mod pool;
mod sparse;
mod tiles;
mod wide;

use super::{Backend, ConePenalty, ConeTerms, Dims, LiftedTrial};
use crate::error::{Error, Result};
use crate::mask::BitMask;
use crate::real::Real;
use crate::regularizer::Regularizer;
pub(crate) use gemm::mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use std::sync::Arc;

/// Elements of one block buffer (B x c p); 2^20 keeps it in L2/L3 cache for f32.
const BLOCK_ELEMS: usize = 1 << 20;

/// The gradient splits groups (not rows) over the threads from this many groups per thread on.
const COLUMN_SPLIT_PER_THREAD: usize = 64;

#[derive(Debug, Clone, Copy, Default)]
pub struct CpuOptions {
    /// Worker threads (0: all cores).
    pub threads: usize,
    /// Rows per block (0: chosen from the problem size). Tests force small blocks.
    pub block_rows: usize,
    /// Columns (of the c p output-gate axis) per tile of the masked products (0: chosen from
    /// the problem size). Tests force small tiles.
    pub block_cols: usize,
}

pub struct CpuBackend<T: Real> {
    /// Shared with the packed sub-problems of working sets ([`Backend::restrict`]).
    x: Arc<Array2<T>>,
    y: Arc<Array2<T>>,
    mask: BitMask,
    /// First group of each output in the weight layout (c + 1 entries: l p on the full problem).
    starts: Vec<usize>,
    /// A working set's packed sub-problem: output l keeps starts[l + 1] - starts[l] gates, whose
    /// patterns are the mask's columns starts[l] .. starts[l + 1]. Otherwise the mask's columns
    /// are the gates, shared by the outputs.
    packed: bool,
    opts: CpuOptions,
    dims: Dims,
    threads: usize,
    block_rows: usize,
    /// Tile of the masked forward and gradient: rows x columns of the c p axis.
    tile: (usize, usize),
    /// Block buffers returned by finished passes, handed to the next ones: a solve allocates its
    /// scratch once, not at every product (that cost 16 million page faults in one AL run).
    pool: std::sync::Mutex<Vec<Vec<T>>>,
    /// Index buffers (the sparse products' group lists), pooled like `pool`.
    index_pool: std::sync::Mutex<Vec<Vec<usize>>>,
}

impl<T: Real> CpuBackend<T> {
    /// `x`: n x d preprocessed features, `y`: n x c targets, `mask`: n x p patterns.
    pub fn new(x: &Array2<f64>, y: &Array2<f64>, mask: BitMask, opts: CpuOptions) -> Self {
        let (n, d) = x.dim();
        let dims = Dims {
            n,
            d,
            p: mask.cols(),
            c: y.ncols(),
        };
        assert_eq!(
            (mask.rows(), y.nrows()),
            (n, n),
            "backend inputs must share rows"
        );
        let starts = (0..=dims.c).map(|l| l * dims.p).collect();
        Self::build(
            Arc::new(x.mapv(T::of)),
            Arc::new(y.mapv(T::of)),
            mask,
            (starts, false),
            dims,
            opts,
        )
    }

    /// The backend over shared data, with its blocking planned for `dims`.
    fn build(
        x: Arc<Array2<T>>,
        y: Arc<Array2<T>>,
        mask: BitMask,
        (starts, packed): (Vec<usize>, bool),
        dims: Dims,
        opts: CpuOptions,
    ) -> Self {
        let n = dims.n;
        let cp = starts[dims.c].max(1);
        let block_rows = match opts.block_rows {
            0 => (BLOCK_ELEMS / cp).clamp(16, 1024),
            b => b,
        };
        // Wide problems (c p beyond 4,096 columns, where a block would hold under 256 rows) are
        // tiled over columns too: a block of few rows against all c p columns made the GEMM
        // repack the whole weight matrix (MNIST 2,000 gates: 63 MB) for every 52 rows, and the
        // gradient rewrite its whole output; 1024 x 1024 tiles bound both.
        let tile = match opts.block_cols {
            0 if cp > BLOCK_ELEMS / 256 => (1024, 1024),
            0 => (block_rows, cp),
            b => (block_rows, b.min(cp)),
        };
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let threads = match opts.threads {
            0 => cores,
            t => t,
        };
        // Give each thread at least a few blocks' worth of rows, else spawning costs more than it saves.
        let threads = threads.min(n.div_ceil(block_rows.min(256))).max(1);
        CpuBackend {
            x,
            y,
            mask,
            starts,
            packed,
            opts,
            dims,
            threads,
            block_rows,
            tile,
            pool: std::sync::Mutex::new(Vec::with_capacity(64)),
            index_pool: std::sync::Mutex::new(Vec::with_capacity(8)),
        }
    }

    /// Errors for the cone operations on a packed sub-problem (working sets serve the gated
    /// program only).
    fn shared_mask(&self, op: &str) -> Result<()> {
        if !self.packed {
            Ok(())
        } else {
            Err(Error::Device(format!(
                "{op} is not defined on a working set's packed sub-problem"
            )))
        }
    }

    /// Row ranges, one per thread.
    fn ranges(&self) -> Vec<(usize, usize)> {
        let n = self.dims.n;
        let per = n.div_ceil(self.threads);
        (0..self.threads)
            .map(|t| (t * per, ((t + 1) * per).min(n)))
            .filter(|(a, b)| a < b)
            .collect()
    }

    fn weights_view<'a>(&self, u: &'a [T]) -> ArrayView2<'a, T> {
        ArrayView2::from_shape((self.groups(), self.dims.d), u).expect("one row per group")
    }

    /// Groups (output, gate) in the weight layout: c p, or a working set's size.
    fn groups(&self) -> usize {
        self.starts[self.dims.c]
    }

    /// The output-gate segments of columns [j0, j1) of the group axis: (output l, first gate,
    /// end gate (both counted within output l), offset of the first one's column in the tile).
    fn segments(&self, j0: usize, j1: usize) -> impl Iterator<Item = (usize, usize, usize, usize)> {
        let st = &self.starts;
        (0..self.dims.c)
            .filter(move |&l| st[l] < j1 && st[l + 1] > j0)
            .map(move |l| {
                let (s0, s1) = (st[l].max(j0), st[l + 1].min(j1));
                (l, s0 - st[l], s1 - st[l], s0 - j0)
            })
    }

    /// The mask column of output l's first gate: 0 (gates shared) or starts[l] (packed).
    fn mask_base(&self, l: usize) -> usize {
        if self.packed { self.starts[l] } else { 0 }
    }
}

impl<T: Real> Backend for CpuBackend<T> {
    type Buf = Vec<T>;

    fn dims(&self) -> Dims {
        self.dims
    }

    fn describe(&self) -> String {
        format!("cpu-{} ({} threads)", T::NAME, self.threads)
    }

    fn zeros(&self, len: usize) -> Result<Vec<T>> {
        Ok(vec![T::zero(); len])
    }

    fn upload(&self, host: &[f64]) -> Result<Vec<T>> {
        Ok(host.iter().map(|&v| T::of(v)).collect())
    }

    fn download(&self, buf: &Vec<T>) -> Result<Vec<f64>> {
        Ok(buf.iter().map(|v| v.f()).collect())
    }

    fn copy(&self, src: &Vec<T>, dst: &mut Vec<T>) -> Result<()> {
        dst.copy_from_slice(src);
        Ok(())
    }

    fn axpby(&self, a: f64, x: &Vec<T>, b: f64, y: &mut Vec<T>) -> Result<()> {
        let (a, b) = (T::of(a), T::of(b));
        y.iter_mut()
            .zip(x)
            .for_each(|(yv, &xv)| *yv = a * xv + b * *yv);
        Ok(())
    }

    fn combine(&self, a: f64, x: &Vec<T>, b: f64, y: &Vec<T>, out: &mut Vec<T>) -> Result<()> {
        let (a, b) = (T::of(a), T::of(b));
        out.iter_mut()
            .zip(x.iter().zip(y))
            .for_each(|(o, (&xv, &yv))| *o = a * xv + b * yv);
        Ok(())
    }

    fn dot(&self, x: &Vec<T>, y: &Vec<T>) -> Result<f64> {
        Ok(x.iter().zip(y).map(|(&a, &b)| a.f() * b.f()).sum())
    }

    fn dist_sq(&self, x: &Vec<T>, y: &Vec<T>) -> Result<f64> {
        Ok(x.iter()
            .zip(y)
            .map(|(&a, &b)| (a.f() - b.f()).powi(2))
            .sum())
    }

    fn forward(&self, u: &Vec<T>, preds: &mut Vec<T>) -> Result<()> {
        let c = self.dims.c;
        if self.threads == 1 {
            self.forward_rows(u, 0, self.dims.n, preds);
            return Ok(());
        }
        std::thread::scope(|sc| {
            let mut rest = preds.as_mut_slice();
            let ranges = self.ranges();
            for &(r0, r1) in &ranges {
                let (chunk, tail) = rest.split_at_mut((r1 - r0) * c);
                rest = tail;
                sc.spawn(move || self.forward_rows(u, r0, r1, chunk));
            }
        });
        Ok(())
    }

    fn loss(&self, preds: &Vec<T>) -> Result<f64> {
        let Dims { n, c, .. } = self.dims;
        let ys = self.y.as_slice().expect("contiguous targets");
        let sq: f64 = preds
            .iter()
            .zip(ys)
            .map(|(&a, &b)| (a.f() - b.f()).powi(2))
            .sum();
        Ok(sq / (2 * n * c) as f64)
    }

    fn gradient(&self, preds: &Vec<T>, grad: &mut Vec<T>) -> Result<()> {
        let Dims { n, d, .. } = self.dims;
        let cp = self.groups();
        if n == 0 || cp == 0 {
            grad.fill(T::zero());
            return Ok(());
        }
        let mut gview = ArrayViewMut2::from_shape((cp, d), grad.as_mut_slice()).expect("cp x d");
        if self.threads == 1 {
            self.gradient_block(preds, (0, n), (0, cp), gview, true);
            return Ok(());
        }
        if cp >= COLUMN_SPLIT_PER_THREAD * self.threads {
            // The threads take column tiles (over all rows) from a shared queue: no partial
            // gradients to zero, hold and add (at MNIST widths each is c p d values), the same
            // sums whatever the thread count, and a thread slowed by a busy neighbour (shared
            // VMs) takes fewer tiles instead of holding the others up at the end.
            let per = self.tile.1.min(cp.div_ceil(self.threads));
            let tiles = std::sync::Mutex::new(
                gview
                    .axis_chunks_iter_mut(ndarray::Axis(0), per)
                    .enumerate()
                    .rev()
                    .collect::<Vec<_>>(),
            );
            std::thread::scope(|sc| {
                for _ in 0..self.threads {
                    sc.spawn(|| {
                        loop {
                            let next = tiles.lock().expect("tile queue").pop();
                            let Some((t, gv)) = next else { break };
                            let cols = (t * per, t * per + gv.nrows());
                            self.gradient_block(preds, (0, n), cols, gv, true);
                        }
                    });
                }
            });
            return Ok(());
        }
        grad.fill(T::zero());
        let mut gview = ArrayViewMut2::from_shape((cp, d), grad.as_mut_slice()).expect("cp x d");
        let ranges = self.ranges();
        // Thread 0 accumulates into the output; the others into their own buffers, added after.
        let partials: Vec<Vec<T>> = std::thread::scope(|sc| {
            let handles: Vec<_> = ranges[1..]
                .iter()
                .map(|&(r0, r1)| {
                    sc.spawn(move || {
                        let mut g = self.take(cp * d);
                        let gv = ArrayViewMut2::from_shape((cp, d), &mut g[..]).expect("cp x d");
                        self.gradient_block(preds, (r0, r1), (0, cp), gv, false);
                        g
                    })
                })
                .collect();
            let (r0, r1) = ranges[0];
            self.gradient_block(preds, (r0, r1), (0, cp), gview.view_mut(), false);
            handles
                .into_iter()
                .map(|h| h.join().expect("gradient worker panicked"))
                .collect()
        });
        for g in partials {
            grad.iter_mut().zip(&g).for_each(|(a, &b)| *a = *a + b);
            self.give(g);
        }
        Ok(())
    }

    fn prox_step(
        &self,
        reg: Regularizer,
        lam: f64,
        eta: f64,
        v: &Vec<T>,
        grad: &Vec<T>,
        out: &mut Vec<T>,
    ) -> Result<f64> {
        let e = T::of(eta);
        out.iter_mut()
            .zip(v.iter().zip(grad))
            .for_each(|(o, (&a, &g))| *o = a - e * g);
        reg.prox(out, self.dims.d, eta * lam);
        self.dist_sq(out, v)
    }

    fn penalty(&self, reg: Regularizer, u: &Vec<T>) -> Result<f64> {
        Ok(reg.value(u, self.dims.d))
    }

    fn subgrad_norm_sq(
        &self,
        reg: Regularizer,
        lam: f64,
        u: &Vec<T>,
        grad: &Vec<T>,
    ) -> Result<f64> {
        Ok(reg.min_norm_subgrad_sq(u, grad, self.dims.d, lam))
    }

    fn cone_zeros(&self) -> Result<Vec<T>> {
        let Dims { n, p, c, .. } = self.dims;
        Ok(vec![T::zero(); n * c * p])
    }

    fn cone(
        &self,
        u: &Vec<T>,
        neg_from: usize,
        pen: Option<&ConePenalty<'_, Vec<T>>>,
        grad: Option<&mut Vec<T>>,
    ) -> Result<ConeTerms> {
        self.shared_mask("the cone pass")?;
        Ok(self.cone_pass(u, neg_from, pen, None, grad))
    }

    fn cone_trial(
        &self,
        v: &Vec<T>,
        step: &Vec<T>,
        pen: &ConePenalty<'_, Vec<T>>,
    ) -> Result<(f64, f64)> {
        self.shared_mask("the cone trial")?;
        let cp = self.dims.c * self.dims.p;
        let parts: Vec<(f64, f64)> = std::thread::scope(|sc| {
            let handles: Vec<_> = self
                .ranges()
                .into_iter()
                .map(|(r0, r1)| {
                    let shift = &pen.shift[r0 * cp..r1 * cp];
                    sc.spawn(move || {
                        self.cone_trial_rows(v, step, r0, r1, pen.neg_from, shift, pen.scale)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("cone worker panicked"))
                .collect()
        });
        let (p, c) = parts
            .iter()
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
        Ok((p * pen.weight / 2.0, c * pen.weight / 2.0))
    }

    fn cone_update(
        &self,
        u: &Vec<T>,
        neg_from: usize,
        delta: f64,
        gamma: &mut Vec<T>,
    ) -> Result<ConeTerms> {
        self.shared_mask("the multiplier step")?;
        Ok(self.cone_pass(u, neg_from, None, Some((gamma.as_mut_slice(), delta)), None))
    }

    fn lifted(&self) -> bool {
        !self.packed
    }

    fn lift(&self, u: &Vec<T>, z: &mut Vec<T>) -> Result<()> {
        self.shared_mask("the lifted products")?;
        self.lift_pass(u, z);
        Ok(())
    }

    fn lifted_trial(
        &self,
        zv: &Vec<T>,
        z: &mut Vec<T>,
        pen: &ConePenalty<'_, Vec<T>>,
        data_loss: bool,
    ) -> Result<LiftedTrial> {
        Ok(self.lifted_trial_pass(zv, z, pen, data_loss))
    }

    fn lifted_gradient(
        &self,
        z: &Vec<T>,
        pen: &ConePenalty<'_, Vec<T>>,
        data_loss: bool,
        grad: &mut Vec<T>,
    ) -> Result<f64> {
        Ok(self.lifted_gradient_pass(z, pen, data_loss, grad))
    }

    fn lifted_cone(
        &self,
        z: &Vec<T>,
        neg_from: usize,
        update: Option<(f64, &mut Vec<T>)>,
    ) -> Result<ConeTerms> {
        Ok(self.lifted_cone_pass(z, neg_from, update.map(|(d, g)| (d, g.as_mut_slice()))))
    }

    fn active_groups(&self, u: &Vec<T>) -> Result<usize> {
        Ok(u.chunks(self.dims.d.max(1))
            .filter(|g| g.iter().any(|a| *a != T::zero()))
            .count())
    }

    fn output_terms(&self, preds: &Vec<T>) -> Result<Vec<[f64; 2]>> {
        let ys = self.y.as_slice().expect("contiguous targets");
        Ok(super::output_terms(
            preds.iter().map(|a| a.f()),
            ys.iter().map(|a| a.f()),
            self.dims.c,
        ))
    }

    fn restrict(&self, gates: &[Vec<usize>]) -> Result<Self> {
        self.shared_mask("restrict")?;
        let starts = super::check_restriction(self.dims, gates)?;
        let cols: Vec<usize> = gates.iter().flatten().copied().collect();
        let widest = gates.iter().map(Vec::len).max().unwrap_or(1);
        Ok(Self::build(
            self.x.clone(),
            self.y.clone(),
            self.mask.select_cols(&cols),
            (starts, true),
            Dims {
                p: widest,
                ..self.dims
            },
            self.opts,
        ))
    }

    fn output_starts(&self) -> Vec<usize> {
        self.starts.clone()
    }

    fn design_norms(&self) -> Result<Vec<f64>> {
        self.shared_mask("design_norms")?;
        let row_sq: Vec<f64> = self
            .x
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|v| v.f() * v.f()).sum())
            .collect();
        let mut sq = vec![0.0f64; self.dims.p];
        for (r, &rs) in row_sq.iter().enumerate() {
            self.mask.for_each_set(r, |i| sq[i] += rs);
        }
        Ok(sq.into_iter().map(f64::sqrt).collect())
    }

    fn group_norms(&self, u: &Vec<T>) -> Result<Vec<f64>> {
        Ok(u.chunks(self.dims.d.max(1))
            .map(|g| g.iter().map(|&a| a.f() * a.f()).sum::<f64>().sqrt())
            .collect())
    }
}
