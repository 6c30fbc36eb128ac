//! Which copy of a vectorised kernel may run: the segment kernels (lifted.rs) and the mask
//! passes (masked.rs) are compiled once as built and once each for AVX2 and AVX-512 (the same
//! arithmetic in the same order, only wider), and pick one per call from the CPU's features.

/// The target features of the copies: `avx2` and `avx512` modules are compiled with these.
#[derive(Clone, Copy, PartialEq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) enum Wide {
    Avx512,
    Avx2,
    None,
}

/// The widest copy this CPU runs (the standard library caches the CPU query).
#[inline(always)]
pub(super) fn wide() -> Wide {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Wide::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return Wide::Avx2;
        }
    }
    Wide::None
}
