//! The wgpu backend: the same [`Backend`] operations as the CPU path, as WGSL compute kernels.
//! All data stays on the device during a solve; reductions return a few partial sums per call.
//!
//! Work is split to fit the adapter's limits read at run time: X, the masks, Y and predictions
//! are split into row chunks, and every weight-shaped vector into (output, gate range) chunks,
//! each chunk its own buffer no larger than `max_storage_buffer_binding_size`.

pub mod buffers;
mod cone;
pub mod context;
mod dispatch;
mod gemm;
mod params;
mod patterns;
pub mod pipelines;
mod plan;
mod products;
mod prox;
mod reduce;
mod restrict;

pub use buffers::{GpuBuf, GpuReal};
pub use context::{AdapterChoice, AdapterSummary, GpuContext, list_adapters};
pub use gemm::time_gemm;
pub use patterns::device_patterns;
use plan::{chunk_bounds, groups_2d, mask_chunks, weight_chunks};

use super::{Backend, ConePenalty, ConeTerms, Dims, Trial};
use crate::error::{Error, Result};
use crate::mask::BitMask;
use crate::regularizer::Regularizer;
use buffers::{from_bytes, read_back, storage, storage_init, to_bytes};
use dispatch::Enc;
use ndarray::Array2;
use params::*;
use pipelines::Kernel;
pub use pipelines::KernelChoice;
use std::marker::PhantomData;
use std::sync::Arc;

/// Inner-loop steps one invocation may take in one dispatch: gradient rows, or forward gate
/// tiles x features. Lavapipe returned wrong sums for loops of ~5*10^4 rows and of ~6.5*10^4
/// forward steps (fine at 5,000); GPU watchdogs also bound the time of one dispatch. Longer work
/// is split over several accumulating dispatches.
pub const MAX_STEPS: usize = 4096;

/// The step limit on other adapters: the split was measured necessary on lavapipe only, so GPUs
/// get one dispatch per chunk at any size this project runs (full MNIST: 60,000 gradient rows,
/// 62,000 forward steps per invocation).
pub const GPU_MAX_STEPS: usize = 1 << 20;

/// The workgroup tile (rows, gates or features a workgroup covers) of the gpu-style kernels:
/// `forced` when nonzero (64 or 128), else 128 where the adapter's workgroup memory holds two
/// 128 x 16 tiles and the problem has rows enough (32,768) to fill a large GPU with 128-row
/// workgroups, else 64. A starting rule, not tuned on a GPU yet.
pub fn tile_for(ctx: &GpuContext, forced: usize, n: usize, real_bytes: usize) -> Result<usize> {
    match forced {
        0 => {
            let l = &ctx.limits;
            let fits = l.max_compute_workgroup_storage_size as usize >= 2 * 2048 * real_bytes
                && l.max_compute_invocations_per_workgroup >= 256;
            Ok(if fits && n >= 32_768 { 128 } else { 64 })
        }
        64 | 128 => Ok(forced),
        t => Err(Error::param(
            "tile",
            format!("{t}: the tiled kernels come in 64 and 128"),
        )),
    }
}

/// Reduction workgroups per chunk (each leaves one partial sum).
const REDUCE_GROUPS: usize = 256;

/// Chunk limits below the adapter's (tests force small ones).
#[derive(Debug, Clone, Copy, Default)]
pub struct GpuOptions {
    /// Rows per chunk (0: as many as a binding holds).
    pub max_rows_per_chunk: usize,
    /// Gates per weight chunk (0: as many as a binding holds).
    pub max_gates_per_chunk: usize,
    /// The masked-product kernel family (`--kernels`).
    pub kernels: KernelChoice,
    /// Keep naga's runtime bounds checks on the kernels that are in bounds by construction.
    pub checked: bool,
    /// Inner-loop steps per invocation and dispatch (0: MAX_STEPS on CPU adapters,
    /// GPU_MAX_STEPS on others).
    pub max_steps: usize,
    /// The gpu-style kernels' workgroup tile, 64 or 128 (0: [`tile_for`] decides).
    pub tile: usize,
}

pub struct GpuBackend<T: GpuReal> {
    ctx: Arc<GpuContext>,
    dims: Dims,
    words: usize,
    /// Row chunks: (first row, rows).
    rows: Vec<(usize, usize)>,
    /// Weight chunks: (output l, first gate, gates).
    wchunks: Vec<(usize, usize, usize)>,
    wbounds: Arc<Vec<usize>>,
    pbounds: Arc<Vec<usize>>,
    x: Vec<wgpu::Buffer>,
    mask: Vec<wgpu::Buffer>,
    y: GpuBuf,
    /// Y as the device holds it (rounded to T), on the host: the duality gap's per-output
    /// terms read the predictions back, and Y need not travel with them.
    y_host: Vec<f64>,
    partials: wgpu::Buffer,
    stat: wgpu::Buffer,
    /// Stand-ins for bindings a kernel does not use (one read-only, one writable: the same
    /// buffer may not be bound both ways in one dispatch).
    dummy: wgpu::Buffer,
    dummy_rw: wgpu::Buffer,
    /// Cone chunks: (row chunk, first row within it, rows), each (rows x c p) within a binding;
    /// `cbounds` their element bounds.
    cone: Vec<(usize, usize, usize)>,
    cbounds: Arc<Vec<usize>>,
    /// Feature-column sums of squares of the weights and of a gradient (feature-gl1).
    colu: wgpu::Buffer,
    colg: wgpu::Buffer,
    /// Scratch for the constraint products and penalty coefficients (a second one for a
    /// line-search step), made on first use.
    zbuf: std::sync::Mutex<Vec<GpuBuf>>,
    /// The patterns and the rows' squared norms on the host: working sets pack sub-problems'
    /// masks from them, and Gap Safe screening bounds ||D_i X|| with them.
    host_mask: Arc<BitMask>,
    row_sq: Arc<Vec<f64>>,
    /// First group of each output in the weight layout (c + 1 entries: l p on the full problem).
    starts: Vec<usize>,
    /// A working set's packed sub-problem: output l's gates are the mask's columns starts[l] ..
    /// starts[l + 1] (the kernels' mask offset for output l). Otherwise the mask's columns are
    /// the gates, shared by the outputs.
    packed: bool,
    /// Gates per weight chunk.
    gates_per: usize,
    /// Runtime bounds checks kept on the kernels that need none.
    checked: bool,
    /// Inner-loop steps one invocation may take in one dispatch.
    steps: usize,
    /// The masked products' workgroup tile: 64 or 128 for the workgroup-tiled (gpu-style)
    /// kernels, 0 for the register-blocked (cpu-style) ones.
    tile: usize,
    _t: PhantomData<T>,
}

impl<T: GpuReal> GpuBackend<T> {
    /// `x`: n x d preprocessed features, `y`: n x c targets, `mask`: n x p patterns.
    pub fn new(
        ctx: Arc<GpuContext>,
        x: &Array2<f64>,
        y: &Array2<f64>,
        mask: &BitMask,
        opts: GpuOptions,
    ) -> Result<Self> {
        if T::WGSL == "f64" && !ctx.has_f64() {
            return Err(Error::Device(format!(
                "{} has no SHADER_F64: use --precision f32",
                ctx.describe()
            )));
        }
        let (n, d) = x.dim();
        let c = y.ncols();
        let p = mask.cols();
        let dims = Dims { n, d, p, c };
        let s = std::mem::size_of::<T>();
        let words = p.div_ceil(32).max(1);
        let maxb = ctx.max_binding() as usize;
        let mut rows_per = (maxb / (d * s)).min(maxb / (words * 4)).min(maxb / (c * s));
        if opts.max_rows_per_chunk > 0 {
            rows_per = rows_per.min(opts.max_rows_per_chunk);
        }
        // Per-group kernels run one invocation per gate of a chunk on a 1-D grid of 64-wide groups.
        let grid = 64 * ctx.limits.max_compute_workgroups_per_dimension as usize;
        let gates_per = match opts.max_gates_per_chunk {
            0 => maxb / (d * s),
            g => g.min(maxb / (d * s)),
        }
        .min(grid);
        if rows_per == 0 || gates_per == 0 {
            return Err(Error::Device(format!(
                "one row of {d} features or one gate does not fit the adapter's {} MiB binding limit",
                maxb >> 20
            )));
        }
        let rows: Vec<(usize, usize)> = (0..n)
            .step_by(rows_per)
            .map(|r| (r, rows_per.min(n - r)))
            .collect();
        let (wchunks, wb) = weight_chunks(c, |_| p, d, gates_per);
        let pbounds = Arc::new(chunk_bounds(n, rows_per, c));

        // Device memory: data, masks and (with the solver's 6 weight and 4 prediction vectors).
        let needed = n * d * s + n * words * 4 + 2 * n * c * s + 6 * c * p * d * s + 4 * n * c * s;
        log::info!(
            "GPU memory plan: {:.1} MiB on {}",
            needed as f64 / (1 << 20) as f64,
            ctx.describe()
        );

        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for &(r0, nr) in &rows {
            let xh: Vec<f64> = x
                .slice(ndarray::s![r0..r0 + nr, ..])
                .iter()
                .copied()
                .collect();
            xs.push(storage_init(&ctx, &to_bytes::<T>(&xh), "x"));
            let yh: Vec<f64> = y
                .slice(ndarray::s![r0..r0 + nr, ..])
                .iter()
                .copied()
                .collect();
            ys.push(storage_init(&ctx, &to_bytes::<T>(&yh), "y"));
        }
        let ms = mask_chunks(&ctx, mask, &rows, words);
        // Cone-constraint vectors (n x c p) split the row chunks further to fit a binding.
        let cone_per = (maxb / ((c * p).max(1) * s)).max(1);
        let mut cone = Vec::new();
        let mut cb = vec![0];
        for (k, &(_, nr)) in rows.iter().enumerate() {
            for off in (0..nr).step_by(cone_per) {
                let m = cone_per.min(nr - off);
                cone.push((k, off, m));
                cb.push(cb.last().unwrap() + m * c * p);
            }
        }
        let max_gc = wchunks.iter().map(|w| w.2).max().unwrap_or(1);
        let nchunks = wchunks.len().max(rows.len());
        // Room for three reductions over chunked vectors in one read-back (a line-search trial).
        let partials = storage(&ctx, 3 * nchunks * REDUCE_GROUPS * s, "partials");
        let stat = storage(&ctx, max_gc * s, "stat");
        let dummy = storage(&ctx, 16, "dummy");
        let colu = storage(&ctx, d * s, "feature columns");
        let colg = storage(&ctx, d * s, "gradient feature columns");
        let dummy_rw = storage(&ctx, 16, "dummy_rw");
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Device(format!(
                "{} cannot hold the problem (about {:.1} MiB needed): {e}",
                ctx.describe(),
                needed as f64 / (1 << 20) as f64
            )));
        }
        let ctx_type = ctx.info.device_type;
        let tile = if opts.kernels.tiled_on(ctx_type) {
            tile_for(&ctx, opts.tile, n, s)?
        } else {
            0
        };
        let mut be = GpuBackend {
            y: GpuBuf {
                chunks: ys,
                bounds: pbounds.clone(),
            },
            y_host: Vec::new(),
            ctx,
            dims,
            words,
            rows,
            wchunks,
            wbounds: Arc::new(wb),
            pbounds,
            x: xs,
            mask: ms,
            partials,
            stat,
            dummy,
            dummy_rw,
            cone,
            cbounds: Arc::new(cb),
            colu,
            colg,
            zbuf: std::sync::Mutex::new(Vec::new()),
            host_mask: Arc::new(mask.clone()),
            row_sq: Arc::new(
                x.rows()
                    .into_iter()
                    .map(|r| r.iter().map(|v| v * v).sum())
                    .collect(),
            ),
            starts: (0..=c).map(|l| l * p).collect(),
            packed: false,
            gates_per,
            checked: opts.checked,
            steps: match opts.max_steps {
                0 if ctx_type == wgpu::DeviceType::Cpu => MAX_STEPS,
                0 => GPU_MAX_STEPS,
                s => s,
            },
            tile,
            _t: PhantomData,
        };
        be.y_host = be.download(&be.y)?;
        Ok(be)
    }

    /// The mask column of output l's first gate: 0 (gates shared) or starts[l] (packed).
    fn mask_base(&self, l: usize) -> usize {
        if self.packed { self.starts[l] } else { 0 }
    }

    /// Number of row chunks and of weight chunks the problem was split into.
    pub fn chunk_counts(&self) -> (usize, usize) {
        (self.rows.len(), self.wchunks.len())
    }
}

impl<T: GpuReal> Backend for GpuBackend<T> {
    type Buf = GpuBuf;

    fn dims(&self) -> Dims {
        self.dims
    }

    fn describe(&self) -> String {
        format!("gpu-{} on {}", T::WGSL, self.ctx.describe())
    }

    fn zeros(&self, len: usize) -> Result<GpuBuf> {
        let b = self.bounds_for(len)?;
        Ok(self.alloc(&b, "zeros"))
    }

    fn upload(&self, host: &[f64]) -> Result<GpuBuf> {
        let bounds = self.bounds_for(host.len())?;
        let chunks = bounds
            .windows(2)
            .map(|w| storage_init(&self.ctx, &to_bytes::<T>(&host[w[0]..w[1]]), "upload"))
            .collect();
        Ok(GpuBuf { chunks, bounds })
    }

    fn download(&self, buf: &GpuBuf) -> Result<Vec<f64>> {
        let s = std::mem::size_of::<T>() as u64;
        let pieces: Vec<(&wgpu::Buffer, u64)> = (0..buf.chunks.len())
            .map(|k| (&buf.chunks[k], buf.chunk_len(k) as u64 * s))
            .collect();
        Ok(from_bytes::<T>(&read_back(
            &self.ctx,
            self.encoder(),
            &pieces,
        )?))
    }

    fn copy(&self, src: &GpuBuf, dst: &mut GpuBuf) -> Result<()> {
        let s = std::mem::size_of::<T>() as u64;
        let mut enc = self.encoder();
        for k in 0..src.chunks.len() {
            enc.copy_buffer_to_buffer(
                &src.chunks[k],
                0,
                &dst.chunks[k],
                0,
                src.chunk_len(k) as u64 * s,
            );
        }
        enc.submit(&self.ctx);
        Ok(())
    }

    fn axpby(&self, a: f64, x: &GpuBuf, b: f64, y: &mut GpuBuf) -> Result<()> {
        let mut enc = self.encoder();
        for k in 0..x.chunks.len() {
            let len = x.chunk_len(k);
            let prm = uniform::<T, _>(&[a, b], &AxpbyParams { len: len as u32 });
            let groups = len.div_ceil(256).clamp(1, 4096) as u32;
            self.dispatch(
                &mut enc,
                Kernel::Axpby,
                &[&x.chunks[k], &y.chunks[k]],
                &prm,
                (groups, 1),
            )?;
        }
        enc.submit(&self.ctx);
        Ok(())
    }

    fn dot(&self, x: &GpuBuf, y: &GpuBuf) -> Result<f64> {
        self.reduce(x, y, REDUCE_DOT)
    }

    fn dist_sq(&self, x: &GpuBuf, y: &GpuBuf) -> Result<f64> {
        self.reduce(x, y, REDUCE_DIST_SQ)
    }

    fn forward(&self, u: &GpuBuf, preds: &mut GpuBuf) -> Result<()> {
        let mut enc = self.encoder();
        self.record_forward(&mut enc, u, preds)?;
        enc.submit(&self.ctx);
        Ok(())
    }

    fn loss(&self, preds: &GpuBuf) -> Result<f64> {
        let Dims { n, c, .. } = self.dims;
        Ok(self.reduce(preds, &self.y, REDUCE_DIST_SQ)? / (2 * n * c) as f64)
    }

    fn gradient(&self, preds: &GpuBuf, grad: &mut GpuBuf) -> Result<()> {
        let mut enc = self.encoder();
        self.record_gradient(&mut enc, preds, grad)?;
        enc.submit(&self.ctx);
        Ok(())
    }

    fn prox_step(
        &self,
        reg: Regularizer,
        lam: f64,
        eta: f64,
        v: &GpuBuf,
        grad: &GpuBuf,
        out: &mut GpuBuf,
    ) -> Result<f64> {
        self.single_sum(|enc| self.record_prox(enc, reg, lam, eta, v, grad, out, 0))
    }

    fn penalty(&self, reg: Regularizer, u: &GpuBuf) -> Result<f64> {
        if reg == Regularizer::FeatureGl1 {
            return Ok(self.feature_terms(0.0, u, None)?.0);
        }
        self.single_sum(|enc| self.record_stat(enc, reg, 0.0, STAT_PENALTY, u, None, 0))
    }

    fn subgrad_norm_sq(
        &self,
        reg: Regularizer,
        lam: f64,
        u: &GpuBuf,
        grad: &GpuBuf,
    ) -> Result<f64> {
        if reg == Regularizer::FeatureGl1 {
            return Ok(self.feature_terms(lam, u, Some(grad))?.1);
        }
        self.single_sum(|enc| self.record_stat(enc, reg, lam, STAT_SUBGRAD, u, Some(grad), 0))
    }

    /// Prox, forward and the three sums in one submission and one read-back.
    fn trial(
        &self,
        reg: Regularizer,
        lam: f64,
        eta: f64,
        v: &GpuBuf,
        grad: &GpuBuf,
        pv: &GpuBuf,
        out: &mut GpuBuf,
        pout: &mut GpuBuf,
    ) -> Result<Trial> {
        let mut enc = self.reduce_encoder();
        let r_step = self.record_prox(&mut enc, reg, lam, eta, v, grad, out, 0)?;
        self.record_forward(&mut enc, out, pout)?;
        let r_curv = self.record_reduce(&mut enc, pout, pv, REDUCE_DIST_SQ, r_step.1)?;
        let r_loss = self.record_reduce(&mut enc, pout, &self.y, REDUCE_DIST_SQ, r_curv.1)?;
        let sums = self.finish_sums(enc, &[r_step, r_curv, r_loss])?;
        let Dims { n, c, .. } = self.dims;
        Ok(Trial {
            step_sq: sums[0],
            curv_sq: sums[1],
            loss: sums[2] / (2 * n * c) as f64,
        })
    }

    fn objective_terms(
        &self,
        reg: Regularizer,
        lam: f64,
        u: &GpuBuf,
        grad: &GpuBuf,
    ) -> Result<(f64, f64)> {
        if reg == Regularizer::FeatureGl1 {
            return self.feature_terms(lam, u, Some(grad));
        }
        let mut enc = self.reduce_encoder();
        let r_pen = self.record_stat(&mut enc, reg, 0.0, STAT_PENALTY, u, None, 0)?;
        let r_sub = self.record_stat(&mut enc, reg, lam, STAT_SUBGRAD, u, Some(grad), r_pen.1)?;
        let sums = self.finish_sums(enc, &[r_pen, r_sub])?;
        Ok((sums[0], sums[1]))
    }

    fn cone_zeros(&self) -> Result<GpuBuf> {
        Ok(self.alloc(&self.cbounds, "cone vector"))
    }

    fn cone(
        &self,
        u: &GpuBuf,
        neg_from: usize,
        pen: Option<&ConePenalty<'_, GpuBuf>>,
        grad: Option<&mut GpuBuf>,
    ) -> Result<ConeTerms> {
        let (sq, vsq, vmax) = match pen {
            Some(pp) => self.cone_pass(
                &[u],
                neg_from,
                CONE_PENALTY,
                Some(pp.shift),
                [pp.scale, pp.weight, 0.0],
                grad.map(|g| &*g),
            )?,
            None => self.cone_pass(&[u], neg_from, CONE_VIOLATION, None, [0.0; 3], None)?,
        };
        Ok(ConeTerms {
            penalty: pen.map_or(0.0, |pp| sq * pp.weight / 2.0),
            viol_sq: vsq,
            viol_max: vmax,
        })
    }

    fn cone_trial(
        &self,
        v: &GpuBuf,
        step: &GpuBuf,
        pen: &ConePenalty<'_, GpuBuf>,
    ) -> Result<(f64, f64)> {
        let (sq, curv, _) = self.cone_pass(
            &[v, step],
            pen.neg_from,
            CONE_TRIAL,
            Some(pen.shift),
            [pen.scale, pen.weight, 0.0],
            None,
        )?;
        Ok((sq * pen.weight / 2.0, curv * pen.weight / 2.0))
    }

    fn cone_update(
        &self,
        u: &GpuBuf,
        neg_from: usize,
        delta: f64,
        gamma: &mut GpuBuf,
    ) -> Result<ConeTerms> {
        let (_, vsq, vmax) = self.cone_pass(
            &[u],
            neg_from,
            CONE_MULTIPLIER,
            Some(gamma),
            [0.0, 0.0, delta],
            None,
        )?;
        Ok(ConeTerms {
            penalty: 0.0,
            viol_sq: vsq,
            viol_max: vmax,
        })
    }

    fn output_terms(&self, preds: &GpuBuf) -> Result<Vec<[f64; 2]>> {
        // A read-back of n c numbers where the gap is formed.
        let p = self.download(preds)?;
        Ok(crate::backend::output_terms(
            p,
            self.y_host.iter().copied(),
            self.dims.c,
        ))
    }

    fn restrict(&self, gates: &[Vec<usize>]) -> Result<Self> {
        self.restricted(gates)
    }

    fn design_norms(&self) -> Result<Vec<f64>> {
        self.gate_frobenius()
    }

    fn output_starts(&self) -> Vec<usize> {
        self.starts.clone()
    }

    fn group_norms(&self, u: &GpuBuf) -> Result<Vec<f64>> {
        let d = self.dims.d;
        let s = std::mem::size_of::<T>();
        let total: usize = self.wchunks.iter().map(|w| w.2).sum();
        let out = storage(&self.ctx, total * s, "group norms");
        let mut enc = self.encoder();
        let mut off = 0;
        for (k, &(_, _, gc)) in self.wchunks.iter().enumerate() {
            let v = GroupParams {
                groups: gc as u32,
                d: d as u32,
                reg: 0,
                mode: STAT_NORM,
            };
            let prm = uniform::<T, _>(&[0.0, 0.0], &v);
            self.dispatch(
                &mut enc,
                Kernel::GroupStat,
                &[&u.chunks[k], &self.dummy, &self.dummy_rw, &self.stat],
                &prm,
                (gc.div_ceil(64) as u32, 1),
            )?;
            enc.copy_buffer_to_buffer(&self.stat, 0, &out, off, (gc * s) as u64);
            off += (gc * s) as u64;
        }
        let bytes = read_back(&self.ctx, enc, &[(&out, (total * s) as u64)])?;
        Ok(from_bytes::<T>(&bytes))
    }
}
