//! Real data behind CVXNN_DATA_DIR (set by .ci/run to ../shared/data), plus the IDX loader on
//! small files written here, so the format is tested without the real data too.

use cvxnn::data::{self, Labels, LoadOptions};
use std::io::Write;
use std::path::PathBuf;

fn data_dir() -> Option<PathBuf> {
    match std::env::var_os("CVXNN_DATA_DIR") {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            eprintln!(
                "SKIPPED: CVXNN_DATA_DIR is not set (point it at shared/data to run this test)"
            );
            None
        }
    }
}

fn counts(labels: &Labels) -> Vec<usize> {
    let Labels::Column(y) = labels else {
        panic!("expected class labels")
    };
    (0..10)
        .map(|c| y.iter().filter(|&&v| v == c as f64).count())
        .collect()
}

#[test]
fn mnist_through_the_idx_loader() {
    let Some(dir) = data_dir() else { return };
    let (train, test) =
        data::load(dir.join("mnist").to_str().unwrap(), &LoadOptions::default()).unwrap();
    let test = test.expect("the t10k files come back as the test set");
    assert_eq!(train.x.dim(), (60_000, 784));
    assert_eq!(test.x.dim(), (10_000, 784));
    assert_eq!(
        counts(&train.labels),
        vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        counts(&test.labels),
        vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    let (lo, hi) = train
        .x
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert_eq!((lo, hi), (0.0, 1.0), "pixels scale to [0, 1]");
    train.validate().unwrap();
}

#[test]
fn idx_files_written_here_load_gzipped_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let (n, h, w) = (3usize, 2usize, 2usize);
    let mut images = vec![0, 0, 8, 3];
    for v in [n, h, w] {
        images.extend((v as u32).to_be_bytes());
    }
    images.extend((0..(n * h * w) as u8).map(|b| b * 20));
    let mut labels = vec![0, 0, 8, 1];
    labels.extend((n as u32).to_be_bytes());
    labels.extend([7u8, 0, 7]);
    // Train pair gzipped, test pair plain.
    let gz = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    std::fs::write(dir.path().join("train-images-idx3-ubyte.gz"), gz(&images)).unwrap();
    std::fs::write(dir.path().join("train-labels-idx1-ubyte.gz"), gz(&labels)).unwrap();
    std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), &images).unwrap();
    std::fs::write(
        dir.path().join("t10k-labels-idx1-ubyte"),
        &labels[..labels.len() - 1],
    )
    .unwrap();
    // A truncated labels file is an error naming the file.
    let e = data::load(dir.path().to_str().unwrap(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("t10k-labels-idx1-ubyte"), "{e}");
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), &labels).unwrap();
    let (train, test) = data::load(dir.path().to_str().unwrap(), &LoadOptions::default()).unwrap();
    assert_eq!(train.x.dim(), (3, 4));
    assert_eq!(train.x[[1, 0]], 80.0 / 255.0);
    let Labels::Column(y) = &test.unwrap().labels else {
        panic!()
    };
    assert_eq!(y, &vec![7.0, 0.0, 7.0]);
    // An images file named directly finds its labels beside it.
    let (one, _) = data::load(
        dir.path().join("t10k-images-idx3-ubyte").to_str().unwrap(),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(one.x, train.x);
}

/// Full MNIST rows through the GPU path with the adapter's own limits: X (60,000 x 784 f32,
/// 188 MB) exceeds lavapipe's 128 MiB binding, so it must be split into row chunks that are not
/// forced by the test. Few gates keep the flop count small enough for lavapipe.
#[test]
fn mnist_rows_split_to_the_binding_limit_on_the_gpu() {
    use cvxnn::backend::Backend;
    use cvxnn::backend::cpu::{CpuBackend, CpuOptions};
    use cvxnn::backend::wgpu::{AdapterChoice, GpuBackend, GpuContext, GpuOptions};
    use cvxnn::data::preprocess::{Preprocess, Scaling};
    use cvxnn::problem::{Task, TaskChoice};

    let Some(dir) = data_dir() else { return };
    let ctx = match GpuContext::open(&AdapterChoice {
        name: None,
        allow_software: true,
    }) {
        Ok(c) => c,
        Err(e) if std::env::var("REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("REQUIRE_GPU=1: {e}")
        }
        Err(e) => return eprintln!("SKIPPED: {e}"),
    };
    let (train, _) =
        data::load(dir.join("mnist").to_str().unwrap(), &LoadOptions::default()).unwrap();
    let task = Task::resolve(TaskChoice::Auto, &train).unwrap();
    let y = task.targets(&train).unwrap();
    let x = Preprocess::fit(&train.x, Scaling::Unitize, false).apply(&train.x);
    let g = cvxnn::gates::gaussian(784, 6, 1);
    let mask = cvxnn::gates::patterns(&x, &g);
    let gpu = GpuBackend::<f32>::new(ctx.clone(), &x, &y, &mask, GpuOptions::default()).unwrap();
    let (row_chunks, _) = gpu.chunk_counts();
    if ctx.max_binding() < (60_000 * 784 * 4) as u64 {
        assert!(
            row_chunks > 1,
            "X exceeds one binding, so rows must be split"
        );
    }
    let cpu = CpuBackend::<f64>::new(&x, &y, mask, CpuOptions::default());
    let mut rng = cvxnn::rng::Rng::new(2);
    let u: Vec<f64> = (0..cpu.dims().weights()).map(|_| rng.normal()).collect();
    let (pc, gc) = {
        let ub = cpu.upload(&u).unwrap();
        let mut p = cpu.zeros(cpu.dims().preds()).unwrap();
        cpu.forward(&ub, &mut p).unwrap();
        let mut gr = cpu.zeros(cpu.dims().weights()).unwrap();
        cpu.gradient(&p, &mut gr).unwrap();
        (p, gr)
    };
    let ub = gpu.upload(&u).unwrap();
    let mut p = gpu.zeros(gpu.dims().preds()).unwrap();
    gpu.forward(&ub, &mut p).unwrap();
    let mut gr = gpu.zeros(gpu.dims().weights()).unwrap();
    gpu.gradient(&p, &mut gr).unwrap();
    let rel = |a: &[f64], b: &[f64]| {
        let s = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        a.iter()
            .zip(b)
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
            / s
    };
    let (ef, eg) = (
        rel(&gpu.download(&p).unwrap(), &pc),
        rel(&gpu.download(&gr).unwrap(), &gc),
    );
    assert!(
        ef < 1e-5 && eg < 1e-4,
        "forward {ef:e}, gradient {eg:e} ({row_chunks} row chunks)"
    );
}
