//! Tarballs: downloaded once, checked against the registry's `integrity` (sha512, or the
//! sha1 `shasum` of packages older than it), kept content-addressed in the cache, checked
//! again whenever read, unpacked in memory, and refused when the package needs what the
//! sandbox cannot give (install scripts, native addons).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::Digest as _;

use crate::error::Error;
use crate::registry::{Dist, Manifest, Registry, read_capped, write_atomic};

/// Largest tarball downloaded.
const MAX_TARBALL_BYTES: usize = 64 << 20;
/// Largest unpacked package kept (only text files are kept; see `keep`).
const MAX_UNPACKED_BYTES: u64 = 256 << 20;

/// One unpacked package version.
#[derive(Debug)]
pub(crate) struct Package {
    pub name: String,
    pub version: String,
    /// Its package.json.
    pub manifest: serde_json::Value,
    /// Paths relative to the package root (`lib/index.js`), only the files a bundle may
    /// use (JavaScript and JSON).
    pub files: BTreeMap<String, String>,
}

impl Package {
    pub(crate) fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// What integrity a tarball must have: the algorithm and the expected digest bytes.
#[derive(Debug, Clone)]
struct Expected {
    algorithm: &'static str,
    digest: Vec<u8>,
    text: String,
}

fn expected(dist: &Dist, package: &str) -> Result<Expected, Error> {
    if let Some(sri) = &dist.integrity {
        // Several hashes may be listed; the strongest islet knows is used.
        for entry in sri.split_whitespace() {
            if let Some(b64) = entry.strip_prefix("sha512-")
                && let Ok(digest) = base64::engine::general_purpose::STANDARD.decode(b64)
            {
                return Ok(Expected {
                    algorithm: "sha512",
                    digest,
                    text: entry.to_owned(),
                });
            }
        }
        for entry in sri.split_whitespace() {
            if let Some(b64) = entry.strip_prefix("sha1-")
                && let Ok(digest) = base64::engine::general_purpose::STANDARD.decode(b64)
            {
                return Ok(Expected {
                    algorithm: "sha1",
                    digest,
                    text: entry.to_owned(),
                });
            }
        }
    }
    if let Some(hex) = &dist.shasum
        && let Some(digest) = from_hex(hex)
    {
        return Ok(Expected {
            algorithm: "sha1",
            digest,
            text: format!("sha1 {hex}"),
        });
    }
    Err(Error::Registry(format!(
        "{package}: the registry lists no integrity for its tarball, so it cannot be checked; use another version"
    )))
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(algorithm: &str, bytes: &[u8]) -> Vec<u8> {
    match algorithm {
        "sha512" => sha2::Sha512::digest(bytes).to_vec(),
        _ => sha1::Sha1::digest(bytes).to_vec(),
    }
}

/// The path of a tarball in the cache: named by its digest, so the name says what the
/// content must be.
fn cache_path(cache: &Path, expected: &Expected) -> PathBuf {
    cache.join("tarballs").join(format!(
        "{}-{}.tgz",
        expected.algorithm,
        to_hex(&expected.digest)
    ))
}

/// Refuses a version the registry already says needs install scripts or native code.
pub(crate) fn check_manifest(package: &str, manifest: &Manifest) -> Result<(), Error> {
    if manifest.has_install_script {
        return Err(Error::Refused {
            package: package.to_owned(),
            reason: "it declares install scripts (preinstall/install/postinstall), which islet never runs; \
                     pick a package that works without them"
                .to_owned(),
        });
    }
    if manifest.gypfile {
        return Err(native(package));
    }
    Ok(())
}

fn native(package: &str) -> Error {
    Error::Refused {
        package: package.to_owned(),
        reason: "it is a native addon (binding.gyp / .node files), and the sandbox runs only JavaScript; \
                 pick a pure-JavaScript package, or run it in the Linux sandbox"
            .to_owned(),
    }
}

/// The package `name@version`, from the cache or the registry.
pub(crate) async fn fetch(
    registry: &Registry,
    cache: &Path,
    name: &str,
    manifest: &Manifest,
) -> Result<Package, Error> {
    let id = format!("{name}@{}", manifest.version);
    check_manifest(&id, manifest)?;
    let expected = expected(&manifest.dist, &id)?;
    let path = cache_path(cache, &expected);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => {
            if digest(expected.algorithm, &bytes) != expected.digest {
                // Tampered with or damaged: never used; removed so the next run downloads.
                let _ = std::fs::remove_file(&path);
                return Err(Error::Integrity {
                    package: id,
                    expected: expected.text,
                });
            }
            bytes
        }
        Err(_) => {
            let bytes = download(registry, &id, &manifest.dist.tarball).await?;
            if digest(expected.algorithm, &bytes) != expected.digest {
                return Err(Error::Integrity {
                    package: id,
                    expected: expected.text,
                });
            }
            write_atomic(&path, &bytes)?;
            bytes
        }
    };
    unpack(name, &manifest.version, &bytes)
}

async fn download(registry: &Registry, id: &str, url: &str) -> Result<Vec<u8>, Error> {
    if url.is_empty() {
        return Err(Error::Registry(format!(
            "{id}: the registry lists no tarball URL"
        )));
    }
    let response = registry.client.get(url).send().await.map_err(|e| {
        Error::Registry(format!(
            "{id}: cannot download {url} ({}); check the network or --npm-registry",
            base::error_chain(&e)
        ))
    })?;
    if !response.status().is_success() {
        return Err(Error::Registry(format!(
            "{id}: {url} answered HTTP {}",
            response.status()
        )));
    }
    read_capped(response, MAX_TARBALL_BYTES, url).await
}

/// Which files of a package a bundle may need.
fn keep(path: &str) -> bool {
    [".js", ".mjs", ".cjs", ".json"]
        .iter()
        .any(|ext| path.ends_with(ext))
}

/// Unpacks a .tgz in memory, and refuses what cannot run in the sandbox.
pub(crate) fn unpack(name: &str, version: &str, tgz: &[u8]) -> Result<Package, Error> {
    let id = format!("{name}@{version}");
    let broken = |e: std::io::Error| Error::Registry(format!("{id}: the tarball is broken: {e}"));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let mut files = BTreeMap::new();
    let mut total = 0u64;
    for entry in archive.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let raw = entry.path().map_err(broken)?.to_string_lossy().into_owned();
        // Every file sits under one top directory (`package/`, sometimes another name).
        let Some((_, path)) = raw.split_once('/') else {
            continue;
        };
        let path = path.trim_start_matches("./").to_owned();
        if path.split('/').any(|s| s == ".." || s.is_empty()) {
            continue;
        }
        if path.ends_with(".node") || path == "binding.gyp" {
            return Err(native(&id));
        }
        if !keep(&path) {
            continue;
        }
        total += entry.size();
        if total > MAX_UNPACKED_BYTES {
            return Err(Error::TooLarge(format!(
                "{id} unpacks to over {} MiB of JavaScript; islet does not bundle packages that large",
                MAX_UNPACKED_BYTES >> 20
            )));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry.read_to_end(&mut bytes).map_err(broken)?;
        // A file that is not UTF-8 cannot be JavaScript the engine reads; skip it.
        if let Ok(text) = String::from_utf8(bytes) {
            files.insert(path, text);
        }
    }
    let manifest: serde_json::Value = match files.get("package.json") {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| Error::Registry(format!("{id}: its package.json is not JSON: {e}")))?,
        None => {
            return Err(Error::Registry(format!(
                "{id}: the tarball has no package.json"
            )));
        }
    };
    let scripts = manifest.get("scripts");
    for hook in ["preinstall", "install", "postinstall"] {
        if scripts.and_then(|s| s.get(hook)).is_some() {
            return Err(Error::Refused {
                package: id,
                reason: format!(
                    "it declares an `{hook}` script, which islet never runs; pick a package that works without install scripts"
                ),
            });
        }
    }
    if manifest.get("gypfile").and_then(serde_json::Value::as_bool) == Some(true) {
        return Err(native(&id));
    }
    Ok(Package {
        name: name.to_owned(),
        version: version.to_owned(),
        manifest,
        files,
    })
}
