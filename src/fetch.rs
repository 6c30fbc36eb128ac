//! `cvxnn data fetch`: downloads the standard image data sets, checks the published MD5 sums and
//! leaves only complete, verified files behind (a download goes to a `.part` file that is renamed
//! once its checksum matches).

use crate::error::{Error, Result};
use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One file of a data set and its published MD5.
#[derive(Clone, Debug)]
pub struct Remote {
    pub file: String,
    pub md5: String,
}

/// A data set: where it is served, its files, and whether the one file is a .tar.gz to unpack.
#[derive(Clone, Debug)]
pub struct Source {
    pub name: &'static str,
    pub mirrors: Vec<String>,
    pub files: Vec<Remote>,
    /// For archives: the folder inside it that the loader reads.
    pub unpacks_to: Option<&'static str>,
}

pub const NAMES: [&str; 3] = ["mnist", "fashion-mnist", "cifar10"];

fn remotes(list: &[(&str, &str)]) -> Vec<Remote> {
    list.iter()
        .map(|(f, m)| Remote {
            file: f.to_string(),
            md5: m.to_string(),
        })
        .collect()
}

/// The standard files and checksums (the ones torchvision and the data sets' pages publish).
pub fn source(name: &str) -> Result<Source> {
    let s = match name {
        "mnist" => Source {
            name: "mnist",
            mirrors: vec!["https://ossci-datasets.s3.amazonaws.com/mnist/".into()],
            files: remotes(&[
                (
                    "train-images-idx3-ubyte.gz",
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                ),
                (
                    "train-labels-idx1-ubyte.gz",
                    "d53e105ee54ea40749a09fcbcd1e9432",
                ),
                (
                    "t10k-images-idx3-ubyte.gz",
                    "9fb629c4189551a2d022fa330f9573f3",
                ),
                (
                    "t10k-labels-idx1-ubyte.gz",
                    "ec29112dd5afa0611ce80d1b7f02629c",
                ),
            ]),
            unpacks_to: None,
        },
        "fashion-mnist" => Source {
            name: "fashion-mnist",
            mirrors: vec!["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/".into()],
            files: remotes(&[
                (
                    "train-images-idx3-ubyte.gz",
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                ),
                (
                    "train-labels-idx1-ubyte.gz",
                    "25c81989df183df01b3e8a0aad5dffbe",
                ),
                (
                    "t10k-images-idx3-ubyte.gz",
                    "bef4ecab320f06d8554ea6380940ec79",
                ),
                (
                    "t10k-labels-idx1-ubyte.gz",
                    "bb300cfdad3c16e7a12a480ee83cd310",
                ),
            ]),
            unpacks_to: None,
        },
        "cifar10" => Source {
            name: "cifar10",
            mirrors: vec!["https://www.cs.toronto.edu/~kriz/".into()],
            files: remotes(&[("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530")]),
            unpacks_to: Some("cifar-10-batches-bin"),
        },
        other => {
            return Err(Error::param(
                "dataset",
                format!("unknown data set '{other}' (known: {})", NAMES.join(", ")),
            ));
        }
    };
    Ok(s)
}

/// MD5 of a file, lowercase hex.
pub fn md5_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let k = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a request failed, in words a user without a network recognises.
fn network_error(url: &str, e: ureq::Error) -> Error {
    let msg = match e {
        ureq::Error::HostNotFound => {
            "host not found: no network or no DNS here? Download the files by hand (see README) or pass --mirror".to_string()
        }
        ureq::Error::ConnectionFailed | ureq::Error::Io(_) | ureq::Error::Timeout(_) => {
            format!("could not connect ({e}): no network here? Download the files by hand (see README) or pass --mirror")
        }
        ureq::Error::StatusCode(code) => format!("the server answered HTTP {code}"),
        other => other.to_string(),
    };
    Error::Network {
        url: url.into(),
        msg,
    }
}

/// Streams `url` into `dest` (through `dest.part`), checking its MD5; on a mismatch or any
/// error nothing is left at `dest`.
fn download(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    md5: &str,
    stop: &dyn Fn() -> bool,
) -> Result<()> {
    let part = dest.with_extension(format!(
        "{}.part",
        dest.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    // Known to the signal handler, which deletes it if a second signal ends the process.
    crate::io::track_partial(&part);
    let result = (|| {
        let resp = agent.get(url).call().map_err(|e| network_error(url, e))?;
        let mut body = resp.into_body().into_reader();
        let mut out = std::fs::File::create(&part).map_err(|e| Error::io(&part, e))?;
        let mut h = Md5::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let k = body.read(&mut buf).map_err(|e| Error::Network {
                url: url.into(),
                msg: format!("transfer broke off: {e}"),
            })?;
            if k == 0 {
                break;
            }
            if stop() {
                return Err(Error::Interrupted(format!(
                    "download of {url} stopped; the partial file was deleted"
                )));
            }
            h.update(&buf[..k]);
            out.write_all(&buf[..k]).map_err(|e| Error::io(&part, e))?;
        }
        out.sync_all().map_err(|e| Error::io(&part, e))?;
        let got = hex(&h.finalize());
        if got != md5 {
            return Err(Error::Data(format!(
                "{url}: checksum mismatch: MD5 {got}, expected {md5} (a changed or damaged file; nothing was kept)"
            )));
        }
        std::fs::rename(&part, dest).map_err(|e| Error::io(dest, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    crate::io::untrack_partial(&part);
    result
}

/// Unpacks a .tar.gz into `dir/folder` through a scratch folder, so a broken archive leaves
/// no half-unpacked data set.
fn unpack(archive: &Path, dir: &Path, folder: &str) -> Result<PathBuf> {
    let scratch = dir.join(".unpack");
    let _ = std::fs::remove_dir_all(&scratch);
    let f = std::fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
    // tar's unpack refuses entries that would land outside `scratch`.
    tar::Archive::new(flate2::read::GzDecoder::new(f))
        .unpack(&scratch)
        .map_err(|e| Error::format(archive, format!("cannot unpack: {e}")))?;
    let inner = scratch.join(folder);
    if !inner.is_dir() {
        let _ = std::fs::remove_dir_all(&scratch);
        return Err(Error::format(
            archive,
            format!("the archive has no {folder}/ folder"),
        ));
    }
    let target = dir.join(folder);
    let _ = std::fs::remove_dir_all(&target);
    std::fs::rename(&inner, &target).map_err(|e| Error::io(&target, e))?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(target)
}

/// Fetches every file of `src` into `dir` (created if needed), skipping files already there
/// with the right checksum. Returns the path to pass as `--data`.
/// `stop` is polled while downloading: when it turns true the partial file is deleted and the
/// fetch ends with [`Error::Interrupted`].
pub fn fetch(
    src: &Source,
    dir: &Path,
    say: &mut dyn FnMut(&str),
    stop: &dyn Fn() -> bool,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_body(Some(Duration::from_secs(120)))
        .build()
        .into();
    for r in &src.files {
        let dest = dir.join(&r.file);
        if dest.is_file() && md5_file(&dest)? == r.md5 {
            say(&format!("{}: present, MD5 matches", dest.display()));
            continue;
        }
        let mut last = None;
        for base in &src.mirrors {
            let url = format!("{}{}", base, r.file);
            say(&format!("downloading {url}"));
            match download(&agent, &url, &dest, &r.md5, stop) {
                Ok(()) => {
                    say(&format!("{}: MD5 {} verified", dest.display(), r.md5));
                    last = None;
                    break;
                }
                Err(e @ Error::Interrupted(_)) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = last {
            return Err(e);
        }
    }
    match src.unpacks_to {
        Some(folder) => {
            let archive = dir.join(&src.files[0].file);
            let target = unpack(&archive, dir, folder)?;
            say(&format!("unpacked to {}", target.display()));
            Ok(target)
        }
        None => Ok(dir.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_the_rfc_1321_test_vectors() {
        let dir = tempfile::tempdir().unwrap();
        for (text, want) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ] {
            let p = dir.path().join("f");
            std::fs::write(&p, text).unwrap();
            assert_eq!(md5_file(&p).unwrap(), want, "{text:?}");
        }
    }

    #[test]
    fn every_name_has_files_with_well_formed_checksums() {
        for n in NAMES {
            let s = source(n).unwrap();
            assert!(!s.files.is_empty() && !s.mirrors.is_empty());
            for r in &s.files {
                assert_eq!(r.md5.len(), 32);
                assert!(r.md5.chars().all(|c| c.is_ascii_hexdigit()));
            }
        }
        assert!(source("imagenet").is_err());
    }
}
