//! Solver checkpoints. The fingerprint is that of the seed corpus's checkpoint, so mutations
//! of it reach the tensor and scalar checks behind the fingerprint test.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

const FINGERPRINT: &str = include_str!("../fingerprint.json");

fuzz_target!(|data: &[u8]| {
    let fp: serde_json::Value = serde_json::from_str(FINGERPRINT).expect("fingerprint.json");
    let _ = cvxnn::checkpoint::from_bytes(data, Path::new("fuzz.safetensors"), &fp);
});
