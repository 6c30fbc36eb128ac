//! The floating-point types the CPU backend is generic over (f32 like the GPU, f64 for reference).

use ndarray::LinalgScalar;
use num_traits::Float;

pub trait Real:
    LinalgScalar + Float + Send + Sync + std::fmt::Debug + std::fmt::Display + Default + 'static
{
    const NAME: &'static str;
    fn of(x: f64) -> Self;
    fn f(self) -> f64;
}

impl Real for f32 {
    const NAME: &'static str = "f32";
    fn of(x: f64) -> Self {
        x as f32
    }
    fn f(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    const NAME: &'static str = "f64";
    fn of(x: f64) -> Self {
        x
    }
    fn f(self) -> f64 {
        self
    }
}
