//! `.npz` archives: the zip container and every array in it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = cvxnn::data::npy::parse_npz(std::io::Cursor::new(data), Path::new("fuzz.npz"));
});
