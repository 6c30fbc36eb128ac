//! Property tests of the loaders: what cvxnn writes it reads back exactly, and no input, however
//! malformed, makes a parser panic (each returns a value or an error).

use cvxnn::data::npy::{parse_npy, to_npy_bytes};
use cvxnn::data::{Labels, LoadOptions, csv, idx};
use proptest::prelude::*;
use std::path::Path;

fn table() -> impl Strategy<Value = (usize, usize, Vec<f64>)> {
    (1usize..8, 2usize..6).prop_flat_map(|(r, c)| {
        (
            Just(r),
            Just(c),
            proptest::collection::vec(-1e6f64..1e6, r * c),
        )
    })
}

proptest! {
    #[test]
    fn npy_round_trips((r, c, v) in table()) {
        let a = parse_npy(&to_npy_bytes(&[r, c], &v)).unwrap();
        prop_assert_eq!(a.shape, vec![r, c]);
        prop_assert_eq!(a.data, v);
    }

    #[test]
    fn csv_round_trips_with_the_label_last((r, c, v) in table()) {
        let text: String = v
            .chunks(c)
            .map(|row| row.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(",") + "\n")
            .collect();
        let ds = csv::parse(&text, Path::new("p.csv"), &LoadOptions::default()).unwrap();
        prop_assert_eq!(ds.x.dim(), (r, c - 1));
        for (k, row) in v.chunks(c).enumerate() {
            prop_assert_eq!(ds.x.row(k).to_vec(), row[..c - 1].to_vec());
        }
        let Labels::Column(y) = ds.labels else { panic!("labels") };
        prop_assert_eq!(y, v.chunks(c).map(|row| row[c - 1]).collect::<Vec<_>>());
    }

    #[test]
    fn idx_reads_what_its_header_says(dims in proptest::collection::vec(1u32..5, 1..4), seed in any::<u8>()) {
        let count: usize = dims.iter().map(|&d| d as usize).product();
        let body: Vec<u8> = (0..count).map(|k| (k as u8).wrapping_mul(31) ^ seed).collect();
        let mut bytes = vec![0, 0, 8, dims.len() as u8];
        dims.iter().for_each(|d| bytes.extend_from_slice(&d.to_be_bytes()));
        bytes.extend_from_slice(&body);
        let (got_dims, got) = idx::parse_idx(bytes.clone(), Path::new("p")).unwrap();
        prop_assert_eq!(got_dims, dims.iter().map(|&d| d as usize).collect::<Vec<_>>());
        prop_assert_eq!(got, body);
        // One byte short or one too many is an error.
        bytes.pop();
        prop_assert!(idx::parse_idx(bytes, Path::new("p")).is_err());
    }

    #[test]
    fn npy_never_panics_on_a_mutated_header(
        descr in "[<>|=]?[a-zA-Z]?[0-9]{0,3}",
        shape in "\\(([0-9]{0,12}, ?){0,3}\\)",
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&body);
        if let Ok(a) = parse_npy(&bytes) {
            prop_assert_eq!(a.data.len(), a.shape.iter().product::<usize>());
        }
    }

    #[test]
    fn csv_never_panics(text in "([0-9eE.,+ -]|nan|inf|x|\n|\u{feff}){0,80}") {
        let _ = csv::parse(&text, Path::new("p.csv"), &LoadOptions::default());
    }
}
