//! `data fetch` against a loopback HTTP server the test runs itself (no network needed):
//! verified downloads, checksum mismatches that leave nothing behind, unreachable hosts, and
//! the CIFAR-10 archive unpacked to a folder the loader reads.

use cvxnn::fetch::{self, Remote, Source};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;

/// Serves `files` by name on 127.0.0.1 for at most `requests` connections; returns the base URL.
fn serve(files: HashMap<String, Vec<u8>>, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut s) = stream else { continue };
            let mut line = String::new();
            let mut r = BufReader::new(s.try_clone().unwrap());
            if r.read_line(&mut line).is_err() {
                continue;
            }
            // Drain the headers.
            let mut h = String::new();
            while r.read_line(&mut h).map(|k| k > 2).unwrap_or(false) {
                h.clear();
            }
            let name = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/');
            let _ = match files.get(name) {
                Some(body) => s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| s.write_all(body)),
                None => s.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    base
}

fn md5_of(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    std::fs::write(&p, bytes).unwrap();
    fetch::md5_file(&p).unwrap()
}

fn source(base: &str, files: &[(&str, &[u8])], unpacks_to: Option<&'static str>) -> Source {
    Source {
        name: "test",
        mirrors: vec![base.to_string()],
        files: files
            .iter()
            .map(|(f, b)| Remote {
                file: f.to_string(),
                md5: md5_of(b),
            })
            .collect(),
        unpacks_to,
    }
}

#[test]
fn downloads_are_verified_and_kept_and_a_second_fetch_downloads_nothing() {
    let a: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let b = b"second file".to_vec();
    let base = serve(
        HashMap::from([
            ("a.gz".to_string(), a.clone()),
            ("b.gz".to_string(), b.clone()),
        ]),
        2,
    );
    let src = source(&base, &[("a.gz", &a), ("b.gz", &b)], None);
    let dir = tempfile::tempdir().unwrap();
    let mut log = Vec::new();
    let got = fetch::fetch(&src, dir.path(), &mut |s| log.push(s.to_string()), &|| {
        false
    })
    .unwrap();
    assert_eq!(got, dir.path());
    assert_eq!(std::fs::read(dir.path().join("a.gz")).unwrap(), a);
    assert_eq!(std::fs::read(dir.path().join("b.gz")).unwrap(), b);
    // The server has stopped answering: the files must be recognised by their checksums.
    let mut log2 = Vec::new();
    fetch::fetch(&src, dir.path(), &mut |s| log2.push(s.to_string()), &|| {
        false
    })
    .unwrap();
    assert!(log2.iter().all(|l| l.contains("present")), "{log2:?}");
}

#[test]
fn a_checksum_mismatch_is_an_error_and_leaves_no_file() {
    let base = serve(
        HashMap::from([("a.gz".to_string(), b"tampered".to_vec())]),
        1,
    );
    let src = source(&base, &[("a.gz", b"original")], None);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch::fetch(&src, dir.path(), &mut |_| {}, &|| false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("checksum mismatch") && err.contains("a.gz"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file left"
    );
}

#[test]
fn a_missing_file_names_the_url_and_the_status() {
    let base = serve(HashMap::new(), 1);
    let src = source(&base, &[("a.gz", b"x")], None);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch::fetch(&src, dir.path(), &mut |_| {}, &|| false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("{base}a.gz")) && err.contains("404"),
        "{err}"
    );
}

#[test]
fn the_cifar_archive_is_unpacked_into_a_folder_the_loader_reads() {
    // A two-record "CIFAR-10" in the binary layout, packed as the real archive is.
    let mut batch = Vec::new();
    for label in [3u8, 7] {
        batch.push(label);
        batch.extend((0..3072u32).map(|i| (i % 256) as u8));
    }
    let mut tar = tar::Builder::new(Vec::new());
    for name in ["data_batch_1.bin", "test_batch.bin"] {
        let mut h = tar::Header::new_gnu();
        h.set_size(batch.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("cifar-10-batches-bin/{name}"), &batch[..])
            .unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar.into_inner().unwrap()).unwrap();
    let archive = gz.finish().unwrap();
    let base = serve(
        HashMap::from([("c.tar.gz".to_string(), archive.clone())]),
        1,
    );
    let src = source(
        &base,
        &[("c.tar.gz", &archive)],
        Some("cifar-10-batches-bin"),
    );
    let dir = tempfile::tempdir().unwrap();
    let folder = fetch::fetch(&src, dir.path(), &mut |_| {}, &|| false).unwrap();
    assert_eq!(folder, dir.path().join("cifar-10-batches-bin"));
    let (train, test) = cvxnn::data::load(
        folder.to_str().unwrap(),
        &cvxnn::data::LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(train.x.dim(), (2, 3072));
    assert_eq!(test.unwrap().x.nrows(), 2);
    assert!(!dir.path().join(".unpack").exists());
}

#[test]
fn cli_says_when_the_host_cannot_be_reached_and_exits_2() {
    // A port nobody listens on: the connection is refused at once.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cvxnn"))
        .args(["data", "fetch", "mnist", "--mirror"])
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("train-images-idx3-ubyte.gz") && err.contains("no network"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn cli_rejects_a_mirror_that_is_not_a_url() {
    let out = Command::new(env!("CARGO_BIN_EXE_cvxnn"))
        .args(["data", "fetch", "mnist", "--mirror", "ftp.example"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mirror"));
}
