//! MNIST IDX files, gzipped or not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok((dims, bytes)) =
        cvxnn::data::idx::parse_idx(data.to_vec(), Path::new("fuzz-idx3-ubyte"))
    {
        assert_eq!(bytes.len(), dims.iter().product::<usize>());
    }
});
