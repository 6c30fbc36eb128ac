//! The backend of one run, built once: X, Y and the activation patterns go to the device once
//! and serve every solve of the run (train's solve and decomposition, every lambda of a path).

use crate::backend::Backend;
use crate::backend::cpu::CpuBackend;
use crate::backend::wgpu::GpuBackend;
use crate::device::{Device, Precision};
use crate::error::Result;
use crate::mask::BitMask;
use crate::memory::{gated_memory, relu_memory};
use crate::prepare::Prepared;
use ndarray::Array2;

/// Work that runs on whichever backend the device and precision pick (the solvers are
/// generic; this is where the one choice is made).
pub trait Job {
    type Out;
    fn run<B: Backend>(self, be: &B) -> Result<Self::Out>;
}

/// One backend, on the device and in the precision the run asked for.
pub enum Session {
    CpuF64(CpuBackend<f64>),
    CpuF32(CpuBackend<f32>),
    GpuF32(GpuBackend<f32>),
    GpuF64(GpuBackend<f64>),
}

impl Session {
    /// Builds the backend for (x, y, mask) on `device` in `precision`.
    pub fn new(
        x: &Array2<f64>,
        y: &Array2<f64>,
        mask: &BitMask,
        device: &Device,
        precision: Precision,
    ) -> Result<Session> {
        Ok(match (device, precision) {
            (Device::Cpu(o), Precision::F64) => {
                Session::CpuF64(CpuBackend::new(x, y, mask.clone(), *o))
            }
            (Device::Cpu(o), Precision::F32) => {
                Session::CpuF32(CpuBackend::new(x, y, mask.clone(), *o))
            }
            (Device::Gpu(ctx, o), Precision::F32) => {
                Session::GpuF32(GpuBackend::new(ctx.clone(), x, y, mask, *o)?)
            }
            (Device::Gpu(ctx, o), Precision::F64) => {
                Session::GpuF64(GpuBackend::new(ctx.clone(), x, y, mask, *o)?)
            }
        })
    }

    /// The gated program of `prep` (its memory plan checked first): R-FISTA solves, paths and
    /// the approximate decomposition.
    pub fn gated(prep: &Prepared, device: &Device, precision: Precision) -> Result<Session> {
        gated_memory(prep, device, precision).check()?;
        Session::new(&prep.x, &prep.y, &prep.patterns.mask, device, precision)
    }

    /// The cone-constrained ReLU program of `prep` (doubled patterns; memory plan checked and
    /// logged): augmented Lagrangian solves.
    pub fn relu(prep: &Prepared, device: &Device, precision: Precision) -> Result<Session> {
        let plan = relu_memory(prep, device, precision);
        plan.check()?;
        log::info!("{}", plan.describe());
        let mask = prep.patterns.mask.doubled();
        Session::new(&prep.x, &prep.y, &mask, device, precision)
    }

    /// Runs `job` on the session's backend.
    pub fn run<J: Job>(&self, job: J) -> Result<J::Out> {
        match self {
            Session::CpuF64(be) => job.run(be),
            Session::CpuF32(be) => job.run(be),
            Session::GpuF32(be) => job.run(be),
            Session::GpuF64(be) => job.run(be),
        }
    }
}

/// Builds the backend for (x, y, mask) on `device` in `precision` and runs `job` on it.
pub fn on_backend<J: Job>(
    x: &Array2<f64>,
    y: &Array2<f64>,
    mask: &BitMask,
    device: &Device,
    precision: Precision,
    job: J,
) -> Result<J::Out> {
    Session::new(x, y, mask, device, precision)?.run(job)
}
