//! The one dense matrix product the CPU backend (and `cvxnn bench`'s GEMM reference) uses:
//! C = alpha A B + beta C on ndarray views, through the `gemm` crate. It picks AVX-512, AVX2+FMA
//! or SSE kernels at run time; on an AVX-512 CPU it runs f64 at 2-3x matrixmultiply's rate
//! (BENCHMARKS "AVX-512 GEMM"). Single-threaded: the backend splits rows over its own threads,
//! so results do not depend on a thread pool, and equal inputs give equal bits.

use crate::real::Real;
use ndarray::{ArrayBase, Data, DataMut, Ix2};

/// C = alpha A B + beta C. With beta 0, C is not read (it may hold garbage or NaN).
pub(crate) fn mat_mul<T, SA, SB, SC>(
    alpha: T,
    a: &ArrayBase<SA, Ix2>,
    b: &ArrayBase<SB, Ix2>,
    beta: T,
    c: &mut ArrayBase<SC, Ix2>,
) where
    T: Real,
    SA: Data<Elem = T>,
    SB: Data<Elem = T>,
    SC: DataMut<Elem = T>,
{
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(
        k == k2 && c.dim() == (m, n),
        "mat_mul: A {m}x{k}, B {k2}x{n}, C {:?}",
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: C = beta C (and 0 where C is not to be read).
        if beta == T::zero() {
            c.fill(T::zero());
        } else {
            c.map_inplace(|v| *v = *v * beta);
        }
        return;
    }
    let (ars, acs) = strides(a.strides());
    let (brs, bcs) = strides(b.strides());
    let (crs, ccs) = strides(c.strides());
    // SAFETY: the pointers address m x k, k x n and m x n matrices with these strides (ndarray
    // views, shapes checked above); C is borrowed mutably and does not alias A or B.
    unsafe {
        gemm::gemm::<T>(
            m,
            n,
            k,
            c.as_mut_ptr(),
            ccs,
            crs,
            beta != T::zero(),
            a.as_ptr(),
            acs,
            ars,
            b.as_ptr(),
            bcs,
            brs,
            // The crate's convention: dst = alpha * dst + beta * lhs * rhs.
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

fn strides(s: &[isize]) -> (isize, isize) {
    (s[0], s[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use ndarray::{Array2, s};

    fn naive(
        alpha: f64,
        a: &Array2<f64>,
        b: &Array2<f64>,
        beta: f64,
        c: &Array2<f64>,
    ) -> Array2<f64> {
        let mut out = c * beta;
        for i in 0..a.nrows() {
            for j in 0..b.ncols() {
                let dot: f64 = (0..a.ncols()).map(|l| a[[i, l]] * b[[l, j]]).sum();
                out[[i, j]] += alpha * dot;
            }
        }
        out
    }

    #[test]
    fn equals_the_naive_product_on_strided_views_and_edge_shapes() {
        let mut rng = Rng::new(7);
        for &(m, k, n) in &[
            (1, 1, 1),
            (37, 5, 19),
            (64, 130, 33),
            (3, 0, 4),
            (0, 3, 2),
            (129, 17, 1),
        ] {
            let a = Array2::from_shape_simple_fn((m, k), || rng.normal());
            let bt = Array2::from_shape_simple_fn((n, k), || rng.normal());
            let c0 = Array2::from_shape_simple_fn((m, n), || rng.normal());
            let b = bt.t().to_owned();
            for &(alpha, beta) in &[(1.0, 0.0), (-0.5, 1.0), (2.0, 0.25)] {
                let want = naive(alpha, &a, &b, beta, &c0);
                // B given transposed (column strides), C with NaN where beta 0 must not read it.
                let mut c = if beta == 0.0 {
                    Array2::from_elem((m, n), f64::NAN)
                } else {
                    c0.clone()
                };
                mat_mul(alpha, &a, &bt.t(), beta, &mut c);
                let err = (&c - &want).iter().fold(0.0f64, |e, v| e.max(v.abs()));
                assert!(
                    err <= 1e-12 * (k as f64 + 1.0),
                    "{m}x{k}x{n} a {alpha} b {beta}: {err}"
                );
            }
        }
        // A sub-block of a larger C (row stride above its width).
        let a = Array2::from_shape_simple_fn((8, 6), || rng.normal());
        let b = Array2::from_shape_simple_fn((6, 5), || rng.normal());
        let mut big = Array2::from_elem((10, 9), 3.0);
        mat_mul(1.0, &a, &b, 0.0, &mut big.slice_mut(s![1..9, 2..7]));
        let want = naive(1.0, &a, &b, 0.0, &Array2::zeros((8, 5)));
        let err = (&big.slice(s![1..9, 2..7]) - &want)
            .iter()
            .fold(0.0f64, |e, v| e.max(v.abs()));
        assert!(err < 1e-12);
        assert_eq!(big[[0, 0]], 3.0);
        assert_eq!(big[[9, 8]], 3.0);
        assert_eq!(big[[1, 7]], 3.0);
    }

    #[test]
    fn f32_matches_f64_to_single_precision() {
        let mut rng = Rng::new(11);
        let a = Array2::from_shape_simple_fn((50, 70), || rng.normal());
        let b = Array2::from_shape_simple_fn((70, 40), || rng.normal());
        let mut c = Array2::zeros((50, 40));
        mat_mul(1.0, &a, &b, 0.0, &mut c);
        let mut c32 = Array2::<f32>::zeros((50, 40));
        mat_mul(
            1.0f32,
            &a.mapv(|v| v as f32),
            &b.mapv(|v| v as f32),
            0.0,
            &mut c32,
        );
        let err = (&c32.mapv(|v| v as f64) - &c)
            .iter()
            .fold(0.0f64, |e, v| e.max(v.abs()));
        assert!(err < 1e-4, "{err}");
    }
}
