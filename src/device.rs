//! Where a run solves: the CPU path or a GPU adapter, and in which precision.

use crate::backend::cpu::CpuOptions;
use crate::backend::wgpu::{AdapterChoice, GpuContext, GpuOptions, KernelChoice};
use crate::error::Result;
use crate::regularizer::Regularizer;
use std::sync::Arc;

/// Where to solve, as the user asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceChoice {
    /// A hardware GPU if there is one, else the CPU path (the fallback is logged).
    Auto,
    Cpu,
    /// A GPU adapter, software ones (lavapipe) included.
    Gpu,
}

/// A resolved device: the CPU, or an open GPU context.
#[derive(Clone)]
pub enum Device {
    Cpu(CpuOptions),
    Gpu(Arc<GpuContext>, GpuOptions),
}

impl Device {
    pub fn resolve(choice: DeviceChoice, adapter: Option<&str>, cpu: CpuOptions) -> Result<Device> {
        let named = AdapterChoice {
            name: adapter.map(str::to_string),
            allow_software: adapter.is_some(),
        };
        match choice {
            DeviceChoice::Cpu => Ok(Device::Cpu(cpu)),
            DeviceChoice::Gpu => Ok(Device::Gpu(
                GpuContext::open(&AdapterChoice {
                    allow_software: true,
                    ..named
                })?,
                GpuOptions::default(),
            )),
            DeviceChoice::Auto => match GpuContext::open(&named) {
                Ok(ctx) => Ok(Device::Gpu(ctx, GpuOptions::default())),
                Err(e) => {
                    log::info!("{e}; using the CPU path");
                    Ok(Device::Cpu(cpu))
                }
            },
        }
    }

    /// The same device with the masked-product kernel family `kernels` (GPU only; the CPU path
    /// has one).
    pub fn with_kernels(self, kernels: KernelChoice) -> Device {
        match self {
            Device::Gpu(ctx, opts) => Device::Gpu(ctx, GpuOptions { kernels, ..opts }),
            cpu => cpu,
        }
    }

    pub fn is_gpu(&self) -> bool {
        matches!(self, Device::Gpu(..))
    }

    pub fn describe(&self, precision: Precision) -> String {
        match self {
            Device::Cpu(_) => format!("cpu-{}", precision.name()),
            Device::Gpu(ctx, _) => format!("gpu-{} on {}", precision.name(), ctx.describe()),
        }
    }

    /// The precision used when the user names none: f32 on GPUs; on the CPU f32 where the run's
    /// stopping test is one f32 meets (`f32_suffices`: [`f32_meets_gap`], [`f32_meets_al`]), f64,
    /// the reference, elsewhere.
    pub fn default_precision(&self, f32_suffices: bool) -> Precision {
        if self.is_gpu() || f32_suffices {
            Precision::F32
        } else {
            Precision::F64
        }
    }
}

/// Whether f32 meets a gated solve's stopping test on the CPU: a relative duality gap of at
/// least [`F32_GAP_TOL`] (`gap_stop`, see [`gap_stop`]), which f32 reaches in the same iterations
/// as f64 at 1.4-2.8x the speed (BENCHMARKS.md, "f32 by default for certified gated solves");
/// not tighter gaps or scnn's subgradient rule.
pub fn f32_meets_gap(gap_stop: Option<f64>) -> bool {
    gap_stop.is_some_and(|g| g >= F32_GAP_TOL)
}

/// Whether f32 meets the augmented Lagrangian's stopping test on the CPU: the squared
/// subgradient (`tol`) and squared violation (`viol_tol`) bounds both at least [`F32_AL_TOL`].
/// On the bundled digits f32 stops where f64 does to 0.1 % of the objective on unitized columns
/// (tolerances 1e-6 to 1e-8) and within the rule's own looseness on standardized ones, about
/// twice as fast (BENCHMARKS.md, "The augmented Lagrangian in f32").
pub fn f32_meets_al(tol: f64, viol_tol: f64) -> bool {
    tol >= F32_AL_TOL && viol_tol >= F32_AL_TOL
}

/// The tightest squared subgradient and violation bounds the CPU's AL solves in f32 by default.
pub const F32_AL_TOL: f64 = 1e-8;

/// The tightest relative duality gap the CPU solves in f32 by default.
pub const F32_GAP_TOL: f64 = 1e-4;

/// The gap tolerance that certifies a run, where one does: a gated solve (no decomposition
/// after it) with a regularizer that has a dual, lam > 0 and the gap stopping rule.
pub fn gap_stop(gated_only: bool, reg: Regularizer, lam: f64, gap_tol: Option<f64>) -> Option<f64> {
    (gated_only && reg != Regularizer::None && lam > 0.0)
        .then_some(gap_tol)
        .flatten()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    F32,
    F64,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPU solves in f32 only where a gap of at least 1e-4 certifies a gated solve, or the
    /// AL's two bounds are at least 1e-8.
    #[test]
    fn cpu_precision_follows_the_stopping_test() {
        let cpu = Device::Cpu(CpuOptions::default());
        let nl = Regularizer::NeuronGl1;
        let gap = |gated, reg, lam, tol| f32_meets_gap(gap_stop(gated, reg, lam, tol));
        let cases = [
            (gap(true, nl, 1e-5, Some(1e-2)), Precision::F32),
            (gap(true, nl, 1e-5, Some(1e-4)), Precision::F32),
            (gap(true, nl, 1e-5, Some(1e-6)), Precision::F64),
            // scnn's rule, no dual, lam 0 or a decomposition: the reference.
            (gap(true, nl, 1e-5, None), Precision::F64),
            (
                gap(true, Regularizer::None, 1e-5, Some(1e-2)),
                Precision::F64,
            ),
            (gap(true, nl, 0.0, Some(1e-2)), Precision::F64),
            (gap(false, nl, 1e-5, Some(1e-2)), Precision::F64),
            // The ReLU program's AL: its default bounds, the loosest trusted to f32, tighter.
            (f32_meets_al(1e-6, 5e-7), Precision::F32),
            (f32_meets_al(1e-8, 1e-8), Precision::F32),
            (f32_meets_al(1e-9, 1e-6), Precision::F64),
            (f32_meets_al(1e-6, 1e-10), Precision::F64),
        ];
        for (i, (f32_ok, want)) in cases.into_iter().enumerate() {
            assert_eq!(cpu.default_precision(f32_ok), want, "case {i}");
        }
    }
}
