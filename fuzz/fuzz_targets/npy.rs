//! `.npy` arrays: the header parser, dtypes, shapes and the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = cvxnn::data::npy::parse_npy(data) {
        // What the reader returns must be self-consistent: one value per element of the shape.
        assert_eq!(a.data.len(), a.shape.iter().product::<usize>());
    }
});
