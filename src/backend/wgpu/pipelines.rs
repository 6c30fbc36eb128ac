//! The WGSL kernels: one `include_str!` table, each shader compiled for f32 or f64 by prefixing
//! `alias real = ...;`, and the binding layout each kernel expects.

/// Pieces pasted into shaders where a line says `//#include NAME` (WGSL has no includes).
const INCLUDES: &[(&str, &str)] = &[
    (
        "forward_io",
        include_str!("../../../shaders/forward_io.wgsl"),
    ),
    (
        "gradient_io",
        include_str!("../../../shaders/gradient_io.wgsl"),
    ),
    ("mask_bits", include_str!("../../../shaders/mask_bits.wgsl")),
];

/// Pastes the `//#include NAME` lines' pieces.
fn includes(body: &str) -> String {
    body.lines()
        .map(|line| match line.trim().strip_prefix("//#include ") {
            Some(name) => INCLUDES
                .iter()
                .find(|(n, _)| *n == name.trim())
                .map(|(_, text)| text.to_string())
                .unwrap_or_else(|| panic!("no shader piece named {name}")),
            None => format!("{line}\n"),
        })
        .collect()
}

/// Shader files, by name.
pub const SHADERS: &[(&str, &str)] = &[
    ("vector", include_str!("../../../shaders/vector.wgsl")),
    ("reduce", include_str!("../../../shaders/reduce.wgsl")),
    ("patterns", include_str!("../../../shaders/patterns.wgsl")),
    ("forward", include_str!("../../../shaders/forward.wgsl")),
    ("gradient", include_str!("../../../shaders/gradient.wgsl")),
    (
        "forward_tiled",
        include_str!("../../../shaders/forward_tiled.wgsl"),
    ),
    (
        "gradient_tiled",
        include_str!("../../../shaders/gradient_tiled.wgsl"),
    ),
    (
        "regularizer",
        include_str!("../../../shaders/regularizer.wgsl"),
    ),
    ("gemm", include_str!("../../../shaders/gemm.wgsl")),
    (
        "gemm_tiled",
        include_str!("../../../shaders/gemm_tiled.wgsl"),
    ),
    // The tiled kernels again with 8 x 8 per invocation: 128 x 128 workgroup tiles.
    (
        "forward_tiled128",
        include_str!("../../../shaders/forward_tiled.wgsl"),
    ),
    (
        "gradient_tiled128",
        include_str!("../../../shaders/gradient_tiled.wgsl"),
    ),
    (
        "gemm_tiled128",
        include_str!("../../../shaders/gemm_tiled.wgsl"),
    ),
    ("cone", include_str!("../../../shaders/cone.wgsl")),
    ("feature", include_str!("../../../shaders/feature.wgsl")),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Read,
    ReadWrite,
    Uniform,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    Axpby,
    Reduce,
    Patterns,
    Forward,
    Gradient,
    ForwardTiled,
    GradientTiled,
    ForwardTiled128,
    GradientTiled128,
    Prox,
    GroupStat,
    Gemm,
    GemmTiled,
    GemmTiled128,
    ConeProduct,
    ConeTerms,
    ConeGrad,
    FeatureSumsq,
    FeatureProx,
    FeatureSubgrad,
}

use Slot::*;

impl Kernel {
    /// (shader file, entry point, bindings in order).
    pub fn spec(self) -> (&'static str, &'static str, &'static [Slot]) {
        match self {
            Kernel::Axpby => ("vector", "axpby", &[Read, ReadWrite, Uniform]),
            Kernel::Gemm => ("gemm", "gemm", &[Read, Read, ReadWrite, Uniform]),
            Kernel::GemmTiled => ("gemm_tiled", "gemm", &[Read, Read, ReadWrite, Uniform]),
            Kernel::GemmTiled128 => ("gemm_tiled128", "gemm", &[Read, Read, ReadWrite, Uniform]),
            Kernel::ForwardTiled128 => (
                "forward_tiled128",
                "forward",
                &[Read, Read, Read, ReadWrite, Uniform],
            ),
            Kernel::GradientTiled128 => (
                "gradient_tiled128",
                "gradient",
                &[Read, Read, Read, Read, ReadWrite, Uniform],
            ),
            Kernel::Reduce => ("reduce", "reduce", &[Read, Read, ReadWrite, Uniform]),
            Kernel::Patterns => ("patterns", "patterns", &[Read, Read, ReadWrite, Uniform]),
            Kernel::Forward => (
                "forward",
                "forward",
                &[Read, Read, Read, ReadWrite, Uniform],
            ),
            Kernel::Gradient => (
                "gradient",
                "gradient",
                &[Read, Read, Read, Read, ReadWrite, Uniform],
            ),
            Kernel::ForwardTiled => (
                "forward_tiled",
                "forward",
                &[Read, Read, Read, ReadWrite, Uniform],
            ),
            Kernel::GradientTiled => (
                "gradient_tiled",
                "gradient",
                &[Read, Read, Read, Read, ReadWrite, Uniform],
            ),
            Kernel::Prox => (
                "regularizer",
                "prox_step",
                &[Read, Read, ReadWrite, ReadWrite, Uniform],
            ),
            Kernel::GroupStat => (
                "regularizer",
                "group_stat",
                &[Read, Read, ReadWrite, ReadWrite, Uniform],
            ),
            Kernel::ConeProduct => ("cone", "cone_product", &[Read, Read, ReadWrite, Uniform]),
            Kernel::ConeTerms => (
                "cone",
                "cone_terms",
                &[Read, ReadWrite, ReadWrite, ReadWrite, Uniform, Read],
            ),
            Kernel::ConeGrad => ("cone", "cone_grad", &[Read, Read, ReadWrite, Uniform]),
            Kernel::FeatureSumsq => (
                "feature",
                "feature_sumsq",
                &[Read, Read, ReadWrite, Uniform],
            ),
            Kernel::FeatureProx => (
                "feature",
                "feature_prox",
                &[Read, Read, ReadWrite, Read, ReadWrite, Uniform],
            ),
            Kernel::FeatureSubgrad => (
                "feature",
                "feature_subgrad",
                &[Read, Read, Read, ReadWrite, Uniform],
            ),
        }
    }
}

/// Register tiles of the CPU-style kernels: the forward's rows x gates per invocation and the
/// gradient's gates x features per invocation (measured on lavapipe, BENCHMARKS.md).
pub const FORWARD_ROWS: usize = 8;
pub const FORWARD_GATES: usize = 16;
pub const GRADIENT_GATES: usize = 16;
pub const GRADIENT_FEATURES: usize = 8;

/// Tile sizes substituted into a shader: `$TR`, `$TG`, `$TJ`, and the loop letters they bound.
fn tiles(file: &str) -> [(char, usize); 3] {
    match file {
        "forward" => [('R', FORWARD_ROWS), ('G', FORWARD_GATES), ('J', 1)],
        "gradient" => [('R', 1), ('G', GRADIENT_GATES), ('J', GRADIENT_FEATURES)],
        "forward_tiled" | "gemm_tiled" => [('R', 4), ('G', 4), ('J', 1)],
        "gemm" => [('R', FORWARD_ROWS), ('G', FORWARD_GATES), ('J', 1)],
        "gradient_tiled" => [('R', 1), ('G', 4), ('J', 4)],
        "forward_tiled128" | "gemm_tiled128" => [('R', 8), ('G', 8), ('J', 1)],
        "gradient_tiled128" => [('R', 1), ('G', 8), ('J', 8)],
        _ => [('R', 1), ('G', 1), ('J', 1)],
    }
}

/// Expands the host-unrolled lines: a line `//@RG stmt` becomes one copy of `stmt` per (R, G)
/// in 0..TR x 0..TG (nested in the order written) with `$R` and `$G` replaced by the indices.
/// `$TR`, `$TG` and `$TJ` anywhere become the tile sizes.
fn unroll(body: &str, tiles: [(char, usize); 3]) -> String {
    let mut text = body.to_string();
    for (letter, size) in tiles {
        text = text.replace(&format!("$T{letter}"), &size.to_string());
    }
    let mut out = String::with_capacity(text.len() * 4);
    for line in text.lines() {
        let trimmed = line.trim_start();
        let Some(rest) = trimmed.strip_prefix("//@") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let indent = &line[..line.len() - trimmed.len()];
        let (letters, stmt) = rest.split_once(' ').unwrap_or((rest, ""));
        let mut copies = vec![stmt.to_string()];
        for letter in letters.chars() {
            let size = tiles.iter().find(|t| t.0 == letter).map_or(1, |t| t.1);
            copies = copies
                .iter()
                .flat_map(|s| {
                    (0..size).map(move |k| s.replace(&format!("${letter}"), &k.to_string()))
                })
                .collect();
        }
        for c in copies {
            out.push_str(indent);
            out.push_str(&c);
            out.push('\n');
        }
    }
    out
}

impl Kernel {
    /// Kernels whose every index stays in bounds by construction (clamped or guarded, given the
    /// host's parameters): their modules are created without naga's runtime checks.
    pub fn in_bounds_by_construction(self) -> bool {
        matches!(
            self,
            Kernel::Forward
                | Kernel::Gradient
                | Kernel::ForwardTiled
                | Kernel::GradientTiled
                | Kernel::ForwardTiled128
                | Kernel::GradientTiled128
        )
    }
}

/// Which family of masked-product kernels a backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum KernelChoice {
    /// cpu-style on CPU adapters (lavapipe, llvmpipe), gpu-style on every other adapter.
    #[default]
    Auto,
    /// Register-blocked, no workgroup memory and no barriers (forward.wgsl, gradient.wgsl).
    CpuStyle,
    /// Workgroup-memory tiles (forward_tiled.wgsl, gradient_tiled.wgsl).
    GpuStyle,
}

impl KernelChoice {
    /// The family for an adapter of type `device`: false for cpu-style, true for gpu-style.
    pub fn tiled_on(self, device: wgpu::DeviceType) -> bool {
        match self {
            KernelChoice::Auto => device != wgpu::DeviceType::Cpu,
            KernelChoice::CpuStyle => false,
            KernelChoice::GpuStyle => true,
        }
    }
}

/// The source of a shader file for a scalar type ("f32" or "f64").
pub fn source(file: &str, real: &str) -> String {
    let body = SHADERS
        .iter()
        .find(|(n, _)| *n == file)
        .map(|(_, s)| *s)
        .expect("kernel names a shader in the table");
    format!(
        "alias real = {real};\n{}",
        unroll(&includes(body), tiles(file))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_names_an_entry_point_of_its_shader() {
        for k in [
            Kernel::Axpby,
            Kernel::Reduce,
            Kernel::Patterns,
            Kernel::Forward,
            Kernel::Gradient,
            Kernel::ForwardTiled,
            Kernel::GradientTiled,
            Kernel::Prox,
            Kernel::GroupStat,
            Kernel::Gemm,
            Kernel::GemmTiled,
            Kernel::GemmTiled128,
            Kernel::ForwardTiled128,
            Kernel::GradientTiled128,
            Kernel::ConeProduct,
            Kernel::ConeTerms,
            Kernel::ConeGrad,
            Kernel::FeatureSumsq,
            Kernel::FeatureProx,
            Kernel::FeatureSubgrad,
        ] {
            let (file, entry, _) = k.spec();
            let text = source(file, "f32");
            assert!(text.contains(&format!("fn {entry}(")), "{k:?}");
            assert!(
                !text.contains('$'),
                "{file}: a placeholder left after unrolling"
            );
        }
    }
}

#[cfg(test)]
mod naga_tests {
    use super::*;

    /// Parses and validates every shader for f32 and f64 with naga, so a typo fails even on a
    /// machine without an adapter.
    #[test]
    fn every_shader_parses_and_validates() {
        for (file, _) in SHADERS {
            for real in ["f32", "f64"] {
                let module =
                    naga::front::wgsl::parse_str(&source(file, real)).unwrap_or_else(|e| {
                        panic!(
                            "{file}.wgsl ({real}): {}",
                            e.emit_to_string(&source(file, real))
                        )
                    });
                let caps = if real == "f64" {
                    naga::valid::Capabilities::FLOAT64
                } else {
                    naga::valid::Capabilities::empty()
                };
                naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
                    .validate(&module)
                    .unwrap_or_else(|e| panic!("{file}.wgsl ({real}) does not validate: {e:?}"));
            }
        }
    }
}
