//! CSV tables: any text, with the label column by index and by header name.
#![no_main]

use cvxnn::data::{LabelColumn, LoadOptions, csv};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for label_column in [
        LabelColumn::Index(-1),
        LabelColumn::Index(0),
        LabelColumn::Name("y".into()),
    ] {
        let opts = LoadOptions {
            label_column,
            features_only_if: Some(3),
        };
        if let Ok(ds) = csv::parse(text, Path::new("fuzz.csv"), &opts) {
            let _ = ds.validate();
        }
    }
});
