//! `cvxnn devices`.

use cvxnn::backend::wgpu::list_adapters;

pub fn run() -> cvxnn::Result<i32> {
    let all = list_adapters();
    if all.is_empty() {
        outln!("no GPU adapters found (Vulkan, Metal or DX12); the CPU path is used.");
        outln!("For a software adapter on Linux: apt-get install mesa-vulkan-drivers libvulkan1");
        return Ok(0);
    }
    outln!(
        "{:<40} {:<8} {:<14} {:>5} {:>12} {:>11}",
        "adapter",
        "backend",
        "type",
        "f64",
        "binding MiB",
        "buffer MiB"
    );
    for a in all {
        outln!(
            "{:<40} {:<8} {:<14} {:>5} {:>12} {:>11}",
            a.name,
            a.backend,
            a.device_type,
            if a.f64 { "yes" } else { "no" },
            a.max_binding_mib,
            a.max_buffer_mib
        );
    }
    outln!(
        "--device auto picks the first non-CPU adapter; --device gpu or --adapter NAME also accept software ones."
    );
    Ok(0)
}
