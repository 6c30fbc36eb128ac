//! cvxnn: two-layer ReLU networks trained by convex optimization.
//!
//! Implements the gated ReLU program of Mishkin, Sahiner & Pilanci, "Fast Convex Optimization
//! for Two-Layer ReLU Networks" (ICML 2022): with activation patterns D_i = diag(1[X g_i > 0]),
//! minimise ||sum_i D_i X U_i - Y||_F^2 / (2 n c) + lam R(U) by R-FISTA. The solver is written
//! once over [`backend::Backend`]; [`backend::cpu`] is the reference implementation.

pub mod backend;
pub mod bench;
pub mod bench_relu;
pub mod bench_uci;
pub mod checkpoint;
pub mod conic;
pub mod data;
pub mod decompose;
pub mod device;
pub mod error;
pub mod fetch;
pub mod gates;
pub mod io;
pub mod mask;
pub mod memory;
pub mod model;
pub mod path;
pub mod plot;
pub mod prepare;
pub mod problem;
pub mod real;
pub mod regularizer;
pub mod rng;
pub mod session;
pub mod solver;
pub mod train;
pub mod verify;

pub use error::{Error, Result};
