//! Where a run solves: the CPU path or a GPU adapter, and in which precision.

use crate::backend::cpu::CpuOptions;
use crate::backend::wgpu::{AdapterChoice, GpuContext, GpuOptions, KernelChoice};
use crate::error::Result;
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

    /// The precision used when the user names none: f64 on the CPU (the reference), f32 on GPUs.
    pub fn default_precision(&self) -> Precision {
        if self.is_gpu() {
            Precision::F32
        } else {
            Precision::F64
        }
    }
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
