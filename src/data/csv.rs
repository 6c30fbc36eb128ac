//! CSV tables of numbers: comma-separated, one row per line, optional header row (a first line
//! that is not all numbers), label column chosen by `--label-column` (default: last).

use super::{Dataset, LabelColumn, LoadOptions, split_label_column};
use crate::error::{Error, Result};
use ndarray::Array2;
use std::path::Path;

/// Whether a first line that is not all numbers is a header: every field is text, or it has
/// another field count than the first data row (scikit-learn's "n_samples,n_features,names"
/// headers). A line of numbers with one bad cell is an error, not a header.
fn is_header(fields: &[&str], next_fields: Option<usize>) -> bool {
    fields.iter().all(|f| f.parse::<f64>().is_err()) || next_fields != Some(fields.len())
}

pub fn parse(text: &str, path: &Path, opts: &LoadOptions) -> Result<Dataset> {
    // A UTF-8 byte-order mark (Excel writes one) is not part of the first cell.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let next_fields = |after: usize| {
        text.lines()
            .skip(after + 1)
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| l.split(',').count())
    };
    let mut header: Option<Vec<String>> = None;
    let mut values: Vec<f64> = Vec::new();
    let mut cols: Option<usize> = None;
    let mut rows = 0usize;
    for (k, raw) in text.lines().enumerate() {
        let line_no = k + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let parsed: std::result::Result<Vec<f64>, usize> = fields
            .iter()
            .enumerate()
            .map(|(j, f)| f.parse::<f64>().map_err(|_| j))
            .collect();
        match parsed {
            Err(_) if rows == 0 && header.is_none() && is_header(&fields, next_fields(k)) => {
                header = Some(fields.iter().map(|s| s.to_string()).collect());
                continue;
            }
            Err(j) => {
                return Err(Error::Csv {
                    path: path.into(),
                    line: line_no,
                    msg: format!("column {}: '{}' is not a number", j + 1, fields[j]),
                });
            }
            Ok(v) => {
                if let Some(j) = v.iter().position(|x| !x.is_finite()) {
                    return Err(Error::Csv {
                        path: path.into(),
                        line: line_no,
                        msg: format!("column {}: non-finite value '{}'", j + 1, fields[j]),
                    });
                }
                match cols {
                    None => cols = Some(v.len()),
                    Some(c) if c != v.len() => {
                        return Err(Error::Csv {
                            path: path.into(),
                            line: line_no,
                            msg: format!("ragged row: {} fields, expected {c}", v.len()),
                        });
                    }
                    _ => {}
                }
                values.extend(v);
                rows += 1;
            }
        }
    }
    let cols = cols.ok_or_else(|| Error::format(path, "no numeric rows"))?;
    if rows == 0 {
        return Err(Error::format(path, "no numeric rows"));
    }
    let table = Array2::from_shape_vec((rows, cols), values).expect("rows checked");
    let mut opts = opts.clone();
    if let LabelColumn::Name(name) = &opts.label_column {
        // A header written by scikit-learn ("n_samples, n_features, names...") has other lengths.
        let h = header.as_ref().filter(|h| h.len() == cols);
        let k = h
            .and_then(|h| h.iter().position(|f| f == name))
            .ok_or_else(|| {
                Error::param(
                    "label_column",
                    format!(
                        "'{name}' is not a column name in the header of {}",
                        path.display()
                    ),
                )
            })?;
        opts.label_column = LabelColumn::Index(k as i64);
    }
    split_label_column(table, path, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Labels;

    fn p() -> &'static Path {
        Path::new("t.csv")
    }

    #[test]
    fn header_and_label_by_name() {
        let opts = LoadOptions {
            label_column: LabelColumn::Name("y".into()),
            ..Default::default()
        };
        let ds = parse("a,y,b\n1,0,2\n3,1,4\n", p(), &opts).unwrap();
        assert_eq!(ds.x, ndarray::array![[1., 2.], [3., 4.]]);
        let Labels::Column(y) = ds.labels else {
            panic!()
        };
        assert_eq!(y, vec![0., 1.]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("1,2,0\n3,4\n", p(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("ragged"), "{e}");
        let e = parse("1,2,0\n3,x,1\n", p(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("'x'"), "{e}");
        let e = parse("1,2,0\n3,nan,1\n", p(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("non-finite"), "{e}");
        // One bad cell on line 1 is an error there, not a header; a byte-order mark is skipped.
        let e = parse("1,x,0\n3,4,1\n", p(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1") && e.contains("'x'"), "{e}");
        let ds = parse("\u{feff}1,2,0\n3,4,1\n", p(), &LoadOptions::default()).unwrap();
        assert_eq!(ds.n(), 2);
        let ds = parse("\u{feff}a,b,y\n3,4,1\n", p(), &LoadOptions::default()).unwrap();
        assert_eq!(ds.n(), 1);
    }
}
