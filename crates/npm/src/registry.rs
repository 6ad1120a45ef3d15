//! Package metadata from the registry (npm's abbreviated "install" documents), cached in
//! the cache directory so that a package fetched once resolves offline, and the choice of
//! a version for a range.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use node_semver::{Range, Version};
use serde::Deserialize;

use crate::error::Error;

/// How long a cached metadata document is used without asking the registry again. Past
/// it the registry is asked; when it cannot be reached the cached document still serves.
pub(crate) const METADATA_TTL: Duration = Duration::from_secs(600);
/// Largest metadata document read (the abbreviated document of a big package is a few MB).
const MAX_METADATA_BYTES: usize = 64 << 20;

/// The part of a registry document islet uses.
#[derive(Debug, Deserialize)]
pub(crate) struct Packument {
    #[serde(default, rename = "dist-tags")]
    pub dist_tags: HashMap<String, String>,
    #[serde(default)]
    pub versions: HashMap<String, Manifest>,
}

/// One version as the registry lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    pub version: String,
    #[serde(default)]
    pub dist: Dist,
    /// The registry's own flag for preinstall/install/postinstall scripts (and the implicit
    /// `node-gyp rebuild` of a package with a binding.gyp).
    #[serde(default)]
    pub has_install_script: bool,
    #[serde(default)]
    pub gypfile: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Dist {
    #[serde(default)]
    pub tarball: String,
    #[serde(default)]
    pub integrity: Option<String>,
    #[serde(default)]
    pub shasum: Option<String>,
}

/// The registry client and its metadata cache.
#[derive(Debug)]
pub(crate) struct Registry {
    pub base: String,
    pub client: reqwest::Client,
    dir: PathBuf,
}

impl Registry {
    pub(crate) fn new(base: &str, client: reqwest::Client, cache: &Path) -> Registry {
        Registry {
            base: base.trim_end_matches('/').to_owned(),
            client,
            dir: cache.join("meta"),
        }
    }

    fn cache_file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{}.json", name.replace('/', "%2f")))
    }

    /// The metadata of `name`: the cached document when fresh, else the registry's (and
    /// the cached one, however old, when the registry cannot be reached).
    pub(crate) async fn packument(&self, name: &str) -> Result<Packument, Error> {
        let file = self.cache_file(name);
        let cached = std::fs::metadata(&file).ok().map(|m| {
            m.modified()
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .unwrap_or(Duration::MAX)
        });
        if cached.is_some_and(|age| age < METADATA_TTL)
            && let Some(doc) = read_cached(&file)
        {
            return Ok(doc);
        }
        match self.download(name).await {
            Ok(bytes) => {
                let doc: Packument = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::Registry(format!("the document of `{name}` is not usable: {e}"))
                })?;
                write_atomic(&file, &bytes)?;
                Ok(doc)
            }
            Err(Error::NotFound(message)) => Err(Error::NotFound(message)),
            Err(error) => match cached.and_then(|_| read_cached(&file)) {
                Some(doc) => {
                    tracing::warn!(package = name, %error, "npm registry unreachable; using cached metadata");
                    Ok(doc)
                }
                None => Err(error),
            },
        }
    }

    async fn download(&self, name: &str) -> Result<Vec<u8>, Error> {
        let url = format!("{}/{}", self.base, name.replace('/', "%2f"));
        let response = self
            .client
            .get(&url)
            .header(
                reqwest::header::ACCEPT,
                "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8",
            )
            .send()
            .await
            .map_err(|e| {
                Error::Registry(format!(
                    "cannot reach {} ({}); check the network or --npm-registry",
                    self.base,
                    base::error_chain(&e)
                ))
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(Error::NotFound(format!(
                "there is no npm package `{name}` on {}; check the name",
                self.base
            )));
        }
        if !status.is_success() {
            return Err(Error::Registry(format!("{url} answered HTTP {status}")));
        }
        read_capped(response, MAX_METADATA_BYTES, &url).await
    }
}

/// The body of `response`, refusing more than `cap` bytes.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
    url: &str,
) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Error::Registry(format!("reading {url}: {}", base::error_chain(&e))))?
    {
        if body.len() + chunk.len() > cap {
            return Err(Error::TooLarge(format!(
                "{url} is over {} MiB; islet does not bundle packages that large",
                cap >> 20
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn read_cached(file: &Path) -> Option<Packument> {
    let bytes = std::fs::read(file).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a reader never
/// sees half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::cache(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(|e| Error::cache(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::cache(path, e))
}

/// The version of `packument` to use for `range`: a dist-tag's version, else the highest
/// version in the range (prereleases only when the range names one), preferring one of
/// `have` (versions already in the bundle) when it satisfies the range.
pub(crate) fn choose(
    name: &str,
    packument: &Packument,
    range: &str,
    have: &[String],
) -> Result<String, Error> {
    let range = range.trim();
    if let Some(version) = packument.dist_tags.get(range) {
        return Ok(version.clone());
    }
    let parsed = match range {
        "" | "*" | "x" => Range::any(),
        text => Range::parse(text).map_err(|_| {
            Error::BadImport(format!(
                "`{name}@{text}`: `{text}` is not a version range or a dist-tag of `{name}` (it has {})",
                tags(packument)
            ))
        })?,
    };
    if let Some(v) = have
        .iter()
        .find(|v| Version::parse(v.as_str()).is_ok_and(|v| parsed.satisfies(&v)))
    {
        return Ok(v.clone());
    }
    // `latest` when it satisfies the range, as npm does.
    if let Some(latest) = packument.dist_tags.get("latest")
        && Version::parse(latest.as_str()).is_ok_and(|v| parsed.satisfies(&v))
    {
        return Ok(latest.clone());
    }
    let best = packument
        .versions
        .keys()
        .filter_map(|v| Version::parse(v.as_str()).ok())
        .filter(|v| parsed.satisfies(v))
        .max();
    match best {
        Some(v) => Ok(v.to_string()),
        None => Err(Error::NotFound(format!(
            "no version of `{name}` matches `{range}`; it has {} (latest {})",
            version_summary(packument),
            packument
                .dist_tags
                .get("latest")
                .map_or("unknown", String::as_str)
        ))),
    }
}

fn tags(packument: &Packument) -> String {
    let mut tags: Vec<&str> = packument.dist_tags.keys().map(String::as_str).collect();
    tags.sort_unstable();
    if tags.is_empty() {
        "no dist-tags".to_owned()
    } else {
        tags.join(", ")
    }
}

fn version_summary(packument: &Packument) -> String {
    let mut versions: Vec<Version> = packument
        .versions
        .keys()
        .filter_map(|v| Version::parse(v.as_str()).ok())
        .collect();
    versions.sort();
    match versions.len() {
        0 => "no versions".to_owned(),
        1 => format!("only version {}", versions[0]),
        n => format!("{n} versions, {} to {}", versions[0], versions[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(versions: &[&str], latest: &str) -> Packument {
        Packument {
            dist_tags: HashMap::from([("latest".to_owned(), latest.to_owned())]),
            versions: versions
                .iter()
                .map(|v| {
                    (
                        (*v).to_owned(),
                        Manifest {
                            version: (*v).to_owned(),
                            dist: Dist::default(),
                            has_install_script: false,
                            gypfile: false,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn chooses_like_npm() {
        let d = doc(&["1.0.0", "1.2.0", "2.0.0", "3.0.0-beta.1"], "2.0.0");
        assert_eq!(choose("p", &d, "latest", &[]).unwrap(), "2.0.0");
        assert_eq!(choose("p", &d, "^1", &[]).unwrap(), "1.2.0");
        assert_eq!(choose("p", &d, "^1", &["1.0.0".into()]).unwrap(), "1.0.0");
        assert_eq!(choose("p", &d, "*", &[]).unwrap(), "2.0.0");
        assert!(choose("p", &d, "^4", &[]).is_err());
        assert!(choose("p", &d, "next", &[]).is_err());
    }
}
