//! Regularizers R(U) on weights U of shape (c, p, d), stored as c*p contiguous groups of d.
//! Each one gives its value, its proximal operator and the minimum-norm subgradient of
//! f + lam R, the optimality measure the solvers stop on.

use crate::real::Real;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Regularizer {
    /// Group lasso over neurons: sum over (l, i) of ||U_{l,i}||_2 (prunes whole neurons).
    NeuronGl1,
    /// Ridge: 0.5 ||U||_F^2.
    L2,
    /// No regularization (least squares).
    None,
    /// Lasso: sum of |U_{l,i,j}| (sparse weights, entry by entry).
    L1,
    /// Group lasso over input features: sum over features j of ||U_{:,:,j}||_2, the norm of all
    /// c p weights that read feature j, unweighted (prunes whole input features).
    FeatureGl1,
}

/// Squared norms of the d feature columns of weights laid out as groups of d.
pub fn column_sumsq<T: Real>(u: &[T], d: usize) -> Vec<f64> {
    let mut col = vec![0.0; d];
    for g in u.chunks(d) {
        for (c, &a) in col.iter_mut().zip(g) {
            *c += a.f() * a.f();
        }
    }
    col
}

fn norm<T: Real>(u: &[T]) -> f64 {
    u.iter().map(|&a| a.f() * a.f()).sum::<f64>().sqrt()
}

impl Regularizer {
    /// R(U).
    pub fn value<T: Real>(self, u: &[T], d: usize) -> f64 {
        match self {
            Regularizer::NeuronGl1 => u.chunks(d).map(norm).sum(),
            Regularizer::L2 => 0.5 * u.iter().map(|&a| a.f() * a.f()).sum::<f64>(),
            Regularizer::None => 0.0,
            Regularizer::L1 => u.iter().map(|&a| a.f().abs()).sum(),
            Regularizer::FeatureGl1 => column_sumsq(u, d).iter().map(|s| s.sqrt()).sum(),
        }
    }

    /// In place: u <- prox_{t R}(u) = argmin_z R(z) t + ||z - u||^2 / 2.
    pub fn prox<T: Real>(self, u: &mut [T], d: usize, t: f64) {
        match self {
            Regularizer::NeuronGl1 => {
                for g in u.chunks_mut(d) {
                    let nrm = norm(g);
                    // Group soft-threshold; a zero group stays zero (no division by 0).
                    let shrink = if nrm > t { 1.0 - t / nrm } else { 0.0 };
                    let s = T::of(shrink);
                    g.iter_mut().for_each(|a| *a = *a * s);
                }
            }
            Regularizer::L2 => {
                let s = T::of(1.0 / (1.0 + t));
                u.iter_mut().for_each(|a| *a = *a * s);
            }
            Regularizer::None => {}
            Regularizer::L1 => u.iter_mut().for_each(|a| {
                let z = a.f();
                *a = T::of(z.signum() * (z.abs() - t).max(0.0));
            }),
            Regularizer::FeatureGl1 => {
                // Group soft-threshold of each feature column.
                let scale: Vec<T> = column_sumsq(u, d)
                    .iter()
                    .map(|s| {
                        let n = s.sqrt();
                        T::of(if n > t { 1.0 - t / n } else { 0.0 })
                    })
                    .collect();
                for g in u.chunks_mut(d) {
                    g.iter_mut().zip(&scale).for_each(|(a, &s)| *a = *a * s);
                }
            }
        }
    }

    /// ||minimum-norm element of grad f(U) + lam dR(U)||^2, given grad = grad f(U).
    pub fn min_norm_subgrad_sq<T: Real>(self, u: &[T], grad: &[T], d: usize, lam: f64) -> f64 {
        match self {
            Regularizer::NeuronGl1 => u
                .chunks(d)
                .zip(grad.chunks(d))
                .map(|(ug, gg)| {
                    let un = norm(ug);
                    if un > 0.0 {
                        ug.iter()
                            .zip(gg)
                            .map(|(&a, &b)| (b.f() + lam * a.f() / un).powi(2))
                            .sum::<f64>()
                    } else {
                        // Subdifferential of lam||.|| at 0 is the lam-ball: project -grad onto it.
                        let gn = norm(gg);
                        (gn - lam).max(0.0).powi(2)
                    }
                })
                .sum(),
            Regularizer::L2 => u
                .iter()
                .zip(grad)
                .map(|(&a, &b)| (b.f() + lam * a.f()).powi(2))
                .sum(),
            Regularizer::None => grad.iter().map(|&b| b.f() * b.f()).sum(),
            Regularizer::FeatureGl1 => {
                let (uc, gc) = (column_sumsq(u, d), column_sumsq(grad, d));
                let mut s = 0.0;
                for (ug, gg) in u.chunks(d).zip(grad.chunks(d)) {
                    for j in 0..d {
                        if uc[j] > 0.0 {
                            s += (gg[j].f() + lam * ug[j].f() / uc[j].sqrt()).powi(2);
                        }
                    }
                }
                // A zero column's subdifferential is the lam-ball: what is left of its gradient.
                s + uc
                    .iter()
                    .zip(&gc)
                    .filter(|(u, _)| **u == 0.0)
                    .map(|(_, g)| (g.sqrt() - lam).max(0.0).powi(2))
                    .sum::<f64>()
            }
            Regularizer::L1 => u
                .iter()
                .zip(grad)
                .map(|(&a, &b)| {
                    let (a, b) = (a.f(), b.f());
                    if a != 0.0 {
                        (b + lam * a.signum()).powi(2)
                    } else {
                        (b.abs() - lam).max(0.0).powi(2)
                    }
                })
                .sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn rand_vec(r: &mut Rng, n: usize) -> Vec<f64> {
        (0..n).map(|_| r.normal()).collect()
    }

    #[test]
    fn l1_prox_is_the_soft_threshold_and_its_subgradient_matches_finite_differences() {
        let mut v = vec![3.0, -0.5, 0.2, -2.0];
        Regularizer::L1.prox(&mut v, 2, 1.0);
        assert_eq!(v, vec![2.0, 0.0, 0.0, -1.0]);
        // Where u != 0, R is differentiable: its gradient lam sign(u) against central differences.
        let mut r = Rng::new(7);
        let u = rand_vec(&mut r, 10);
        let lam = 0.3;
        let zero = vec![0.0; 10];
        let sub = Regularizer::L1.min_norm_subgrad_sq(&u, &zero, 5, lam);
        let h = 1e-6;
        let mut fd_sq = 0.0;
        for j in 0..10 {
            let (mut a, mut b) = (u.clone(), u.clone());
            a[j] += h;
            b[j] -= h;
            let fd =
                lam * (Regularizer::L1.value(&a, 5) - Regularizer::L1.value(&b, 5)) / (2.0 * h);
            fd_sq += fd * fd;
        }
        assert!((sub - fd_sq).abs() < 1e-8, "{sub} vs {fd_sq}");
    }

    #[test]
    fn feature_prox_zeroes_whole_columns_and_its_subgradient_matches_finite_differences() {
        let mut r = Rng::new(8);
        let d = 4;
        let mut u = rand_vec(&mut r, 6 * d);
        for g in u.chunks_mut(d) {
            g[2] *= 0.01; // a weak feature: its column is pruned
        }
        let t = 0.5;
        let before = column_sumsq(&u, d);
        let mut v = u.clone();
        Regularizer::FeatureGl1.prox(&mut v, d, t);
        let after = column_sumsq(&v, d);
        for j in 0..d {
            let (b, a) = (before[j].sqrt(), after[j].sqrt());
            if b <= t {
                assert_eq!(a, 0.0, "column {j}");
            } else {
                assert!((a - (b - t)).abs() < 1e-12, "column {j}");
            }
        }
        assert_eq!(after[2], 0.0);
        let lam = 0.3;
        let zero = vec![0.0; u.len()];
        let sub = Regularizer::FeatureGl1.min_norm_subgrad_sq(&u, &zero, d, lam);
        let h = 1e-6;
        let mut fd_sq = 0.0;
        for j in 0..u.len() {
            let (mut a, mut b) = (u.clone(), u.clone());
            a[j] += h;
            b[j] -= h;
            let f = |w: &[f64]| Regularizer::FeatureGl1.value(w, d);
            let fd = lam * (f(&a) - f(&b)) / (2.0 * h);
            fd_sq += fd * fd;
        }
        assert!((sub - fd_sq).abs() < 1e-7 * fd_sq, "{sub} vs {fd_sq}");
    }

    #[test]
    fn prox_lambda_zero_is_identity() {
        let mut r = Rng::new(1);
        for reg in [
            Regularizer::NeuronGl1,
            Regularizer::L2,
            Regularizer::None,
            Regularizer::L1,
            Regularizer::FeatureGl1,
        ] {
            let u = rand_vec(&mut r, 24);
            let mut v = u.clone();
            reg.prox(&mut v, 6, 0.0);
            assert_eq!(u, v, "{reg:?}");
        }
    }

    #[test]
    fn group_prox_zeroes_small_groups_exactly() {
        let mut r = Rng::new(2);
        let d = 5;
        let u = rand_vec(&mut r, 8 * d);
        let t = 2.0;
        let mut v = u.clone();
        Regularizer::NeuronGl1.prox(&mut v, d, t);
        let mut zeroed = 0;
        for (a, b) in u.chunks(d).zip(v.chunks(d)) {
            let na = norm(a);
            if na <= t {
                assert!(b.iter().all(|&x| x == 0.0));
                zeroed += 1;
            } else {
                assert!((norm(b) - (na - t)).abs() < 1e-12);
            }
        }
        assert!(
            zeroed > 0 && zeroed < 8,
            "test data should exercise both branches: {zeroed}"
        );
    }

    #[test]
    fn prox_is_non_expansive() {
        let mut r = Rng::new(3);
        for reg in [
            Regularizer::NeuronGl1,
            Regularizer::L2,
            Regularizer::L1,
            Regularizer::FeatureGl1,
        ] {
            for _ in 0..200 {
                let (a, b) = (rand_vec(&mut r, 12), rand_vec(&mut r, 12));
                let t = r.uniform() * 3.0;
                let (mut pa, mut pb) = (a.clone(), b.clone());
                reg.prox(&mut pa, 4, t);
                reg.prox(&mut pb, 4, t);
                let d_in: f64 = a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum();
                let d_out: f64 = pa.iter().zip(&pb).map(|(x, y)| (x - y).powi(2)).sum();
                assert!(d_out <= d_in + 1e-12, "{reg:?}");
            }
        }
    }

    #[test]
    fn prox_minimises_its_objective() {
        // prox_t(u) beats random nearby points on R(z) t + ||z - u||^2 / 2.
        let mut r = Rng::new(4);
        for reg in [
            Regularizer::NeuronGl1,
            Regularizer::L2,
            Regularizer::L1,
            Regularizer::FeatureGl1,
        ] {
            let u = rand_vec(&mut r, 9);
            let t = 0.7;
            let mut z = u.clone();
            reg.prox(&mut z, 3, t);
            let obj = |z: &[f64]| {
                reg.value(z, 3) * t
                    + 0.5 * z.iter().zip(&u).map(|(a, b)| (a - b).powi(2)).sum::<f64>()
            };
            let best = obj(&z);
            for _ in 0..500 {
                let w: Vec<f64> = z.iter().map(|a| a + 0.05 * r.normal()).collect();
                assert!(obj(&w) >= best - 1e-12, "{reg:?}");
            }
        }
    }
}
