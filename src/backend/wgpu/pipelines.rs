//! The WGSL kernels: one `include_str!` table, each shader compiled for f32 or f64 by prefixing
//! `alias real = ...;`, and the binding layout each kernel expects.

/// Shader files, by name.
pub const SHADERS: &[(&str, &str)] = &[
    ("vector", include_str!("../../../shaders/vector.wgsl")),
    ("reduce", include_str!("../../../shaders/reduce.wgsl")),
    ("patterns", include_str!("../../../shaders/patterns.wgsl")),
    ("forward", include_str!("../../../shaders/forward.wgsl")),
    ("gradient", include_str!("../../../shaders/gradient.wgsl")),
    (
        "regularizer",
        include_str!("../../../shaders/regularizer.wgsl"),
    ),
    ("gemm", include_str!("../../../shaders/gemm.wgsl")),
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
    Prox,
    GroupStat,
    Gemm,
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

/// The source of a shader file for a scalar type ("f32" or "f64").
pub fn source(file: &str, real: &str) -> String {
    let body = SHADERS
        .iter()
        .find(|(n, _)| *n == file)
        .map(|(_, s)| *s)
        .expect("kernel names a shader in the table");
    format!("alias real = {real};\n{body}")
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
            Kernel::Prox,
            Kernel::GroupStat,
            Kernel::Gemm,
            Kernel::ConeProduct,
            Kernel::ConeTerms,
            Kernel::ConeGrad,
            Kernel::FeatureSumsq,
            Kernel::FeatureProx,
            Kernel::FeatureSubgrad,
        ] {
            let (file, entry, _) = k.spec();
            assert!(
                source(file, "f32").contains(&format!("fn {entry}(")),
                "{k:?}"
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
