//! CIFAR-10 binary batches.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let (mut x, mut labels) = (Vec::new(), Vec::new());
    if cvxnn::data::cifar::parse_records(data, Path::new("fuzz.bin"), &mut x, &mut labels).is_ok() {
        assert_eq!(x.len(), labels.len() * cvxnn::data::cifar::PIXELS);
    }
});
