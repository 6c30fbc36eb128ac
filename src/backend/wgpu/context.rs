//! The wgpu context, built once: adapter, device, queue, and a pipeline cache keyed by kernel and
//! precision. Adapter and device failures are typed errors; shader and pipeline validation runs
//! inside error scopes so a bad kernel is an `Err`, not a panic.

use super::pipelines::{Kernel, Slot, source};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Which adapter to open.
#[derive(Debug, Clone, Default)]
pub struct AdapterChoice {
    /// Case-insensitive substring of the adapter name.
    pub name: Option<String>,
    /// Accept a software adapter (lavapipe, llvmpipe) when no name is given.
    pub allow_software: bool,
}

/// One adapter as `cvxnn devices` lists it.
#[derive(Debug, Clone)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub f64: bool,
    pub max_binding_mib: u64,
    pub max_buffer_mib: u64,
}

/// A compiled kernel and the layout its bind groups are made from.
pub type Pipeline = Arc<(wgpu::ComputePipeline, wgpu::BindGroupLayout)>;

pub struct GpuContext {
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// Everything the adapter offers (`features` holds what was requested).
    pub adapter_features: wgpu::Features,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    cache: Mutex<HashMap<(Kernel, &'static str, bool), Pipeline>>,
    /// The host-mappable buffer read-backs go through (see buffers::read_back).
    pub(super) staging: Mutex<Option<wgpu::Buffer>>,
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn adapters() -> Vec<wgpu::Adapter> {
    let mut all = pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()));
    all.sort_by_key(|a| rank(a.get_info().device_type));
    all
}

pub fn list_adapters() -> Vec<AdapterSummary> {
    adapters()
        .iter()
        .map(|a| {
            let (info, limits) = (a.get_info(), a.limits());
            AdapterSummary {
                name: info.name,
                backend: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                f64: a.features().contains(wgpu::Features::SHADER_F64),
                max_binding_mib: limits.max_storage_buffer_binding_size >> 20,
                max_buffer_mib: limits.max_buffer_size >> 20,
            }
        })
        .collect()
}

impl GpuContext {
    pub fn open(choice: &AdapterChoice) -> Result<Arc<GpuContext>> {
        let all = adapters();
        let names: Vec<String> = all.iter().map(|a| a.get_info().name).collect();
        let adapter = match &choice.name {
            Some(want) => {
                let w = want.to_lowercase();
                all.into_iter().find(|a| a.get_info().name.to_lowercase().contains(&w)).ok_or_else(|| {
                    Error::NoAdapter(format!("--adapter '{want}' matches none of [{}]", names.join(", ")))
                })?
            }
            None => all
                .into_iter()
                .find(|a| choice.allow_software || a.get_info().device_type != wgpu::DeviceType::Cpu)
                .ok_or_else(|| {
                    Error::NoAdapter(if names.is_empty() {
                        "no Vulkan/Metal/DX12 adapter found (for a software one on Linux install mesa-vulkan-drivers)".into()
                    } else {
                        format!("only software adapters [{}]; pass --device gpu to use them", names.join(", "))
                    })
                })?,
        };
        let info = adapter.get_info();
        let limits = adapter.limits();
        // SHADER_F64 is requested when present so f64 kernels can check the CPU reference.
        // SHADER_F64 so f64 kernels can check the CPU reference; TIMESTAMP_QUERY so the
        // benchmark can time kernels on the device.
        let features =
            adapter.features() & (wgpu::Features::SHADER_F64 | wgpu::Features::TIMESTAMP_QUERY);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("cvxnn"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::Device(format!("cannot open {}: {e}", info.name)))?;
        device.on_uncaptured_error(Arc::new(|e| log::error!("wgpu: {e}")));
        log::info!(
            "GPU adapter: {} ({:?}, {:?})",
            info.name,
            info.backend,
            info.device_type
        );
        Ok(Arc::new(GpuContext {
            info,
            limits,
            features,
            adapter_features: adapter.features(),
            device,
            queue,
            cache: Mutex::new(HashMap::new()),
            staging: Mutex::new(None),
        }))
    }

    /// The adapter, its limits and features, as the benchmark prints them first.
    pub fn report(&self) -> Vec<String> {
        let l = &self.limits;
        let f = |feat: wgpu::Features| {
            if self.adapter_features.contains(feat) {
                "yes"
            } else {
                "no"
            }
        };
        vec![
            format!(
                "adapter: {} ({:?}, {:?}), driver {} {}",
                self.info.name,
                self.info.backend,
                self.info.device_type,
                self.info.driver,
                self.info.driver_info
            ),
            format!(
                "limits: storage binding {} MiB, buffer {} MiB, workgroup storage {} KiB, {} invocations per workgroup, {} workgroups per dimension, uniform offset alignment {} B",
                l.max_storage_buffer_binding_size >> 20,
                l.max_buffer_size >> 20,
                l.max_compute_workgroup_storage_size >> 10,
                l.max_compute_invocations_per_workgroup,
                l.max_compute_workgroups_per_dimension,
                l.min_uniform_buffer_offset_alignment
            ),
            format!(
                "features: shader-f64 {}, subgroup {}, timestamp-query {}, shader-f16 {}",
                f(wgpu::Features::SHADER_F64),
                f(wgpu::Features::SUBGROUP),
                f(wgpu::Features::TIMESTAMP_QUERY),
                f(wgpu::Features::SHADER_F16)
            ),
        ]
    }

    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    pub fn has_f64(&self) -> bool {
        self.features.contains(wgpu::Features::SHADER_F64)
    }

    /// Largest buffer one binding may cover, in bytes.
    pub fn max_binding(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }

    /// The pipeline for `kernel` in precision `real`, compiled on first use.
    /// `checked`: keep naga's runtime bounds checks even on a kernel that is in bounds by
    /// construction (tests run both ways).
    pub fn pipeline(&self, kernel: Kernel, real: &'static str, checked: bool) -> Result<Pipeline> {
        let trusted = kernel.in_bounds_by_construction() && !checked;
        let key = (kernel, real, trusted);
        let mut cache = self.cache.lock().expect("pipeline cache lock");
        if let Some(p) = cache.get(&key) {
            return Ok(p.clone());
        }
        let (file, entry, slots) = kernel.spec();
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(file),
            source: wgpu::ShaderSource::Wgsl(source(file, real).into()),
        };
        let module = if trusted {
            // SAFETY: these kernels clamp or guard every index against the chunk sizes the host
            // passes (see the kernels' headers), so no access leaves its binding.
            unsafe {
                self.device
                    .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
            }
        } else {
            self.device.create_shader_module(desc)
        };
        let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
            .iter()
            .enumerate()
            .map(|(k, s)| wgpu::BindGroupLayoutEntry {
                binding: k as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: match s {
                    Slot::Uniform => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    Slot::Read | Slot::ReadWrite => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage {
                            read_only: *s == Slot::Read,
                        },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                },
                count: None,
            })
            .collect();
        let bgl = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(entry),
                entries: &entries,
            });
        let layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(entry),
                bind_group_layouts: &[Some(&bgl)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Device(format!(
                "kernel {file}.wgsl:{entry} ({real}) failed to compile: {e}"
            )));
        }
        let p = Arc::new((pipeline, bgl));
        cache.insert(key, p.clone());
        Ok(p)
    }
}
