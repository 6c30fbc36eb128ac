//! Uniform parameter blocks: one `#[repr(C)]` Pod struct per WGSL parameter struct, holding its
//! u32 fields by name. A shader's leading `real` fields (f32 or f64 with the kernel) are passed
//! beside it as f64 and written first, in the kernel's precision; a unit test checks every
//! struct's field names against the shader's.

use super::buffers::GpuReal;
use super::context::GpuContext;
use wgpu::util::DeviceExt;

/// A struct of named u32 fields mirroring a WGSL struct whose real fields come first.
pub trait Params: bytemuck::Pod {
    /// (shader file, WGSL struct name, names of its leading real fields).
    const WGSL: (&'static str, &'static str, &'static [&'static str]);
    /// The u32 fields in order.
    const FIELDS: &'static [&'static str];
}

macro_rules! params {
    ($(#[$doc:meta])* $name:ident in $file:literal as $wgsl:literal,
     reals [$($r:ident),*] { $($f:ident),* $(,)? }) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            $(pub $f: u32,)*
        }
        impl Params for $name {
            const WGSL: (&'static str, &'static str, &'static [&'static str]) =
                ($file, $wgsl, &[$(stringify!($r)),*]);
            const FIELDS: &'static [&'static str] = &[$(stringify!($f)),*];
        }
    };
}

params!(
    /// Masked forward (forward.wgsl and forward_tiled.wgsl share it).
    ForwardParams in "forward" as "Params", reals [] {
        rows, d, c, l, g0, gc, words, accumulate, i_begin, i_end, j_begin, j_end
    }
);
params!(
    /// Gradient (gradient.wgsl and gradient_tiled.wgsl); real: scale.
    GradientParams in "gradient" as "Params", reals [scale] {
        rows, d, c, l, g0, gc, words, accumulate, r_begin, r_end
    }
);
params!(
    /// Reference GEMM (gemm.wgsl and gemm_tiled.wgsl).
    GemmParams in "gemm" as "Params", reals [] { m, k, n }
);
params!(
    /// Activation patterns.
    PatternParams in "patterns" as "Params", reals [] { rows, d, p, words, b_begin, b_end }
);
params!(
    /// y = a x + b y; reals: a, b.
    AxpbyParams in "vector" as "Params", reals [a, b] { len }
);
params!(
    /// Partial sums of a reduction.
    ReduceParams in "reduce" as "Params", reals [] { len, slot, mode }
);
params!(
    /// Per-group regularizer operations; reals: eta, lam.
    GroupParams in "regularizer" as "Params", reals [eta, lam] { groups, d, reg, mode }
);
params!(
    /// Feature-column operations (feature-gl1); reals: eta, lam.
    FeatureParams in "feature" as "Params", reals [eta, lam] { groups, d, mode, i_begin, i_end }
);
params!(
    /// Cone constraint products X U^T over a row block.
    ConeProductParams in "cone" as "ProductParams", reals [] {
        rows, row0, d, cp, col0, gc, j_begin, j_end, accumulate
    }
);
params!(
    /// Cone penalty terms; reals: scale, weight, delta.
    ConeTermParams in "cone" as "TermParams", reals [scale, weight, delta] {
        e_begin, e_end, cp, p, neg_from, row0, words, mode, slot
    }
);
params!(
    /// Cone penalty gradient.
    ConeGradParams in "cone" as "GradParams", reals [] {
        rows, row0, d, cp, col0, gc, r_begin, r_end, accumulate
    }
);

/// reduce.wgsl modes: the sum of x y, of (x - y)^2, of x.
pub const REDUCE_DOT: u32 = 0;
pub const REDUCE_DIST_SQ: u32 = 1;
pub const REDUCE_SUM: u32 = 2;

/// regularizer.wgsl group_stat modes: penalty, squared subgradient norm, group norms.
pub const STAT_PENALTY: u32 = 0;
pub const STAT_SUBGRAD: u32 = 1;
pub const STAT_NORM: u32 = 2;

/// feature.wgsl feature_sumsq modes: column sums of squares of v - eta g, of v, of g.
pub const FEATURE_STEP: u32 = 0;
pub const FEATURE_WEIGHTS: u32 = 1;
pub const FEATURE_GRAD: u32 = 2;

/// cone.wgsl cone_terms modes: the violation only; the penalty and its gradient coefficients;
/// the multiplier update; a line-search trial's penalty and curvature.
pub const CONE_VIOLATION: u32 = 0;
pub const CONE_PENALTY: u32 = 1;
pub const CONE_MULTIPLIER: u32 = 2;
pub const CONE_TRIAL: u32 = 3;

/// A parameter block laid out as WGSL expects for `struct { reals..., u32s... }`: the reals in
/// the kernel's precision (4 or 8 bytes each), then the fields, padded to a multiple of 16 bytes.
pub(super) fn uniform<T: GpuReal, P: Params>(reals: &[f64], fields: &P) -> Vec<u8> {
    debug_assert_eq!(reals.len(), P::WGSL.2.len(), "{:?}", P::WGSL);
    debug_assert_eq!(std::mem::size_of::<P>(), 4 * P::FIELDS.len());
    let mut b: Vec<u8> = Vec::with_capacity(64);
    for &r in reals {
        b.extend_from_slice(bytemuck::bytes_of(&T::of(r)));
    }
    b.extend_from_slice(bytemuck::bytes_of(fields));
    b.resize(b.len().div_ceil(16).max(1) * 16, 0);
    b
}

/// A uniform buffer of its own holding one parameter block (for one-off dispatches outside an
/// encoder's blocks: the pattern pass and the reference GEMM).
pub(super) fn uniform_buffer<T: GpuReal, P: Params>(
    ctx: &GpuContext,
    reals: &[f64],
    fields: &P,
) -> wgpu::Buffer {
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(P::WGSL.1),
            contents: &uniform::<T, P>(reals, fields),
            usage: wgpu::BufferUsages::UNIFORM,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::pipelines::source;

    fn members(file: &str, name: &str) -> Vec<String> {
        let module = naga::front::wgsl::parse_str(&source(file, "f32")).expect("shader parses");
        module
            .types
            .iter()
            .find_map(|(_, ty)| match &ty.inner {
                naga::TypeInner::Struct { members, .. } if ty.name.as_deref() == Some(name) => {
                    Some(members.iter().filter_map(|m| m.name.clone()).collect())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("{file}.wgsl has no struct {name}"))
    }

    fn check<P: Params>(also: &[&str]) {
        let (file, name, reals) = P::WGSL;
        let want: Vec<&str> = reals.iter().chain(P::FIELDS).copied().collect();
        for f in std::iter::once(&file).chain(also) {
            assert_eq!(members(f, name), want, "{f}.wgsl struct {name}");
        }
        assert_eq!(std::mem::size_of::<P>(), 4 * P::FIELDS.len());
    }

    /// The value of a `const NAME: u32` in a shader.
    fn shader_const(file: &str, name: &str) -> u32 {
        let module = naga::front::wgsl::parse_str(&source(file, "f32")).expect("shader parses");
        let (_, c) = module
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{file}.wgsl has no const {name}"));
        match module.global_expressions[c.init] {
            naga::Expression::Literal(naga::Literal::U32(v)) => v,
            ref e => panic!("{file}.wgsl const {name} is {e:?}"),
        }
    }

    #[test]
    fn every_mode_matches_its_shader() {
        let modes: [(&str, &str, u32); 13] = [
            ("reduce", "REDUCE_DOT", REDUCE_DOT),
            ("reduce", "REDUCE_DIST_SQ", REDUCE_DIST_SQ),
            ("reduce", "REDUCE_SUM", REDUCE_SUM),
            ("regularizer", "STAT_PENALTY", STAT_PENALTY),
            ("regularizer", "STAT_SUBGRAD", STAT_SUBGRAD),
            ("regularizer", "STAT_NORM", STAT_NORM),
            ("feature", "FEATURE_STEP", FEATURE_STEP),
            ("feature", "FEATURE_WEIGHTS", FEATURE_WEIGHTS),
            ("feature", "FEATURE_GRAD", FEATURE_GRAD),
            ("cone", "CONE_VIOLATION", CONE_VIOLATION),
            ("cone", "CONE_PENALTY", CONE_PENALTY),
            ("cone", "CONE_MULTIPLIER", CONE_MULTIPLIER),
            ("cone", "CONE_TRIAL", CONE_TRIAL),
        ];
        for (file, name, value) in modes {
            assert_eq!(shader_const(file, name), value, "{file}.wgsl {name}");
        }
    }

    #[test]
    fn every_params_struct_matches_its_shader() {
        check::<ForwardParams>(&["forward_tiled"]);
        check::<GradientParams>(&["gradient_tiled"]);
        check::<GemmParams>(&["gemm_tiled"]);
        check::<PatternParams>(&[]);
        check::<AxpbyParams>(&[]);
        check::<ReduceParams>(&[]);
        check::<GroupParams>(&[]);
        check::<FeatureParams>(&[]);
        check::<ConeProductParams>(&[]);
        check::<ConeTermParams>(&[]);
        check::<ConeGradParams>(&[]);
    }
}
