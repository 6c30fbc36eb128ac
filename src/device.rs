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

    /// The precision used when the user names none. GPUs: f32. The CPU: f32 for a gated solve
    /// certified by a relative duality gap of at least [`F32_GAP_TOL`] (`gap_stop`, see
    /// [`gap_stop`]), which f32 reaches in the same iterations as f64 at 1.4-2.8x the speed
    /// (BENCHMARKS.md, "f32 by default for certified gated solves"); f64, the reference, for
    /// tighter gaps, for scnn's subgradient rule and for the ReLU program.
    pub fn default_precision(&self, gap_stop: Option<f64>) -> Precision {
        if self.is_gpu() || gap_stop.is_some_and(|g| g >= F32_GAP_TOL) {
            Precision::F32
        } else {
            Precision::F64
        }
    }
}

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

    /// The CPU solves in f32 only where a gap of at least 1e-4 certifies a gated solve.
    #[test]
    fn cpu_precision_follows_the_certificate() {
        let cpu = Device::Cpu(CpuOptions::default());
        let nl = Regularizer::NeuronGl1;
        let cases = [
            (gap_stop(true, nl, 1e-5, Some(1e-2)), Precision::F32),
            (gap_stop(true, nl, 1e-5, Some(1e-4)), Precision::F32),
            (gap_stop(true, nl, 1e-5, Some(1e-6)), Precision::F64),
            // scnn's rule, no dual, lam 0, the ReLU program or a decomposition: the reference.
            (gap_stop(true, nl, 1e-5, None), Precision::F64),
            (
                gap_stop(true, Regularizer::None, 1e-5, Some(1e-2)),
                Precision::F64,
            ),
            (gap_stop(true, nl, 0.0, Some(1e-2)), Precision::F64),
            (gap_stop(false, nl, 1e-5, Some(1e-2)), Precision::F64),
        ];
        for (i, (stop, want)) in cases.into_iter().enumerate() {
            assert_eq!(cpu.default_precision(stop), want, "case {i}: {stop:?}");
        }
    }
}
