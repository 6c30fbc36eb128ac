//! Model files (safetensors with cvxnn metadata): a model that loads must also run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(net) = cvxnn::model::Network::from_bytes(data, Path::new("fuzz.safetensors")) {
        if net.meta.features <= 4096 {
            let x = ndarray::Array2::<f64>::zeros((2, net.meta.features));
            let _ = net.forward(&x);
        }
    }
});
