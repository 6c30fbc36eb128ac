//! Tests of the lifted segment kernels: every wide copy equals the portable one bit for bit.
use super::*;
use crate::rng::Rng;

/// The dispatched kernels (AVX-512 or AVX2 where the CPU has them) give the portable build's bits: same
/// operations in the same order, on lengths with and without a tail, f32 and f64.
fn kernels_match<T: Real>() {
    let mut r = Rng::new(11);
    for len in [1, 7, 8, 50, 101] {
        let mut v = |lo: f64| -> Vec<T> { (0..len).map(|_| T::of(lo + r.normal())).collect() };
        let (z, shift, zv, step) = (v(0.0), v(0.5), v(0.0), v(0.0));
        let on: Vec<T> = (0..len)
            .map(|k| T::of((k * 7 % 3 == 0) as u8 as f64))
            .collect();
        let so: Vec<T> = (0..len)
            .map(|k| T::of(if k % 5 < 2 { 1.0 } else { -1.0 }))
            .collect();
        let (mut o1, mut o2) = (vec![T::zero(); len], vec![T::zero(); len]);
        let g = gradient_segment_body(&z, &shift, &so, &on, 0.3, 1.7, 0.9, &mut o1);
        let b = gradient_segment(&z, &shift, &so, &on, 0.3, 1.7, 0.9, &mut o2);
        assert_eq!(g.to_bits(), b.to_bits(), "gradient sum, len {len}");
        assert_eq!(o1, o2, "gradient coefficients, len {len}");
        let step0 = step.clone();
        let (mut s1, mut s2) = (step.clone(), step);
        let t = trial_segment_body(&zv, &mut s1, &shift, &so, &on, 1.3);
        let b = trial_segment(&zv, &mut s2, &shift, &so, &on, 1.3);
        assert_eq!(
            t.map(f64::to_bits),
            b.map(f64::to_bits),
            "trial sums, len {len}"
        );
        assert_eq!(s1, s2, "trial point, len {len}");
        // The AVX2 copy too, where the dispatch picks AVX-512.
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            let mut o3 = vec![T::zero(); len];
            // SAFETY (both calls): the CPU has AVX2.
            let c = unsafe { avx2::gradient_segment(&z, &shift, &so, &on, 0.3, 1.7, 0.9, &mut o3) };
            assert_eq!(
                (g.to_bits(), &o1),
                (c.to_bits(), &o3),
                "AVX2 gradient, len {len}"
            );
            let mut s3 = step0.clone();
            let c = unsafe { avx2::trial_segment(&zv, &mut s3, &shift, &so, &on, 1.3) };
            assert_eq!(
                (t.map(f64::to_bits), &s1),
                (c.map(f64::to_bits), &s3),
                "AVX2 trial, len {len}"
            );
        }
    }
}

#[test]
fn dispatched_segment_kernels_equal_the_portable_ones() {
    kernels_match::<f64>();
    kernels_match::<f32>();
}
