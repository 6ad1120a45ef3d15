//! Bytes → documents: gzip, JSON or YAML (by content), URLs, and the files a spec's
//! relative `$ref`s point at (each loaded once).

use std::collections::HashSet;
use std::io::Read;
use std::time::Duration;

use sandbox::json_kind;
use serde_json::Value;

use super::refs::{Doc, Location, external_locations};
use super::swagger;
use crate::error::Error;

/// Refuse specs larger than this (compressed or not): a guard against gzip bombs and
/// runaway downloads, far above the largest real spec (Microsoft Graph: 20 MB of JSON).
pub(crate) const MAX_SPEC_BYTES: u64 = 256 * 1024 * 1024;
/// At most this many documents referenced by `$ref` (the root excluded).
const MAX_EXTERNAL_DOCS: usize = 500;
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Decodes one document: gunzip when the bytes start with the gzip magic, then JSON when
/// the text starts with `{` or `[`, else YAML.
pub(crate) fn decode(bytes: &[u8], origin: &str) -> Result<Value, Error> {
    let err = |reason: String| Error::SpecDecode {
        origin: origin.to_owned(),
        reason,
    };
    let unzipped;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .take(MAX_SPEC_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| {
                err(format!(
                    "gzip data is truncated or corrupt ({e}); expected a complete .gz file"
                ))
            })?;
        if out.len() as u64 > MAX_SPEC_BYTES {
            return Err(err(format!(
                "decompresses to more than {MAX_SPEC_BYTES} bytes"
            )));
        }
        unzipped = out;
        &unzipped[..]
    } else {
        bytes
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        err(format!(
            "not UTF-8 text ({e}); expected a JSON or YAML document, optionally gzipped"
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(err(
            "the document is empty; expected a JSON or YAML OpenAPI document".to_owned(),
        ));
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        serde_json::from_str(text).map_err(|e| {
            let hint = if e.is_eof() {
                " (the file looks truncated)"
            } else {
                ""
            };
            err(format!("invalid JSON: {e}{hint}"))
        })
    } else {
        serde_yaml_ng::from_str::<Value>(text)
            .map_err(|e| err(format!("invalid YAML (and not JSON): {e}")))
    }
}

/// Documents of one spec being assembled: the root, then whatever its references reach.
#[derive(Debug)]
pub(crate) struct Assembly {
    pub(crate) docs: Vec<Doc>,
    pub(crate) warnings: Vec<String>,
    /// Original `swagger`/`openapi` version of the root.
    pub(crate) source_version: String,
    wanted: HashSet<Location>,
    failed: HashSet<Location>,
}

impl Assembly {
    /// Starts from the decoded root; errors when it is not an OpenAPI/Swagger document.
    pub(crate) fn new(root: Value, origin: &str) -> Result<Assembly, Error> {
        let location = Location::from_origin(origin);
        let not_spec = |reason: String| Error::NotASpec {
            origin: origin.to_owned(),
            reason,
        };
        let Value::Object(map) = &root else {
            return Err(not_spec(format!(
                "the top level is {}, not an object",
                json_kind(&root)
            )));
        };
        let source_version = match (map.get("openapi"), map.get("swagger")) {
            (Some(Value::String(v)), _) if v.starts_with("3.") => v.clone(),
            (Some(v), _) => {
                return Err(not_spec(format!(
                    "unsupported `openapi` version {v}; only 3.0.x and 3.1.x (and Swagger 2.0) are supported"
                )));
            }
            (None, Some(v)) if v.as_str() == Some("2.0") || v.as_f64() == Some(2.0) => {
                "2.0".to_owned()
            }
            (None, Some(v)) => {
                return Err(not_spec(format!(
                    "unsupported `swagger` version {v}; only 2.0 is supported"
                )));
            }
            (None, None) => {
                let keys: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
                return Err(not_spec(format!(
                    "it has no `openapi` or `swagger` field (top-level keys: {})",
                    if keys.is_empty() {
                        "none".to_owned()
                    } else {
                        keys.join(", ")
                    }
                )));
            }
        };
        if let Some(paths) = map.get("paths")
            && !paths.is_object()
        {
            return Err(not_spec(format!(
                "`paths` is {}, not an object",
                json_kind(paths)
            )));
        }
        let mut assembly = Assembly {
            docs: Vec::new(),
            warnings: Vec::new(),
            source_version,
            wanted: HashSet::new(),
            failed: HashSet::new(),
        };
        assembly.add(location, root);
        Ok(assembly)
    }

    fn add(&mut self, location: Location, value: Value) {
        let value = swagger::convert_if_swagger(value, &location);
        self.wanted.extend(external_locations(&value, &location));
        self.docs.push(Doc { location, value });
    }

    /// Referenced documents not yet loaded (nor failed).
    pub(crate) fn pending(&self) -> Vec<Location> {
        let mut out: Vec<Location> = self
            .wanted
            .iter()
            .filter(|l| !self.failed.contains(l) && !self.docs.iter().any(|d| &d.location == *l))
            .cloned()
            .collect();
        // Deterministic order, so warnings and document indices are too.
        out.sort_by_key(Location::display);
        if self.docs.len() + out.len() > MAX_EXTERNAL_DOCS + 1 {
            out.truncate((MAX_EXTERNAL_DOCS + 1).saturating_sub(self.docs.len()));
        }
        out
    }

    /// Records the outcome of loading a referenced document.
    pub(crate) fn supply(&mut self, location: Location, bytes: Result<Vec<u8>, String>) {
        let result = bytes.and_then(|b| decode(&b, &location.display()).map_err(|e| e.to_string()));
        match result {
            Ok(value) => self.add(location, value),
            Err(reason) => {
                let msg = format!(
                    "cannot load `{}`, referenced by $ref ({reason}); references into it are treated as `{{}}`",
                    location.display()
                );
                tracing::warn!("{msg}");
                self.warnings.push(msg);
                self.failed.insert(location);
            }
        }
    }

    /// Loads every referenced file synchronously; remote documents need [`super::load`].
    pub(crate) fn load_files(&mut self) {
        loop {
            let pending = self.pending();
            if pending.is_empty() {
                return;
            }
            for loc in pending {
                let bytes = match &loc {
                    Location::File(p) => read_file(p),
                    Location::Url(_) => Err(
                        "remote documents referenced by $ref are fetched only by `openapi::load`"
                            .to_owned(),
                    ),
                };
                self.supply(loc, bytes);
            }
        }
    }

    /// Loads every referenced file or URL.
    pub(crate) async fn load_all(&mut self, client: &SpecDownloader) {
        loop {
            let pending = self.pending();
            if pending.is_empty() {
                return;
            }
            for loc in pending {
                let bytes = match &loc {
                    Location::File(p) => read_file(p),
                    Location::Url(u) => client.get(u).await.map_err(|e| e.to_string()),
                };
                self.supply(loc, bytes);
            }
        }
    }
}

fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_SPEC_BYTES {
        return Err(format!("larger than {MAX_SPEC_BYTES} bytes"));
    }
    std::fs::read(path).map_err(|e| e.to_string())
}

/// Downloads specs with egress's one HTTP client (rustls on ring, the OS's trust roots).
/// Not an `egress::Fetcher`: the operator named the URL, so no fetch policy applies, and
/// redirects to another host (a CDN) are followed.
#[derive(Debug)]
pub(crate) struct SpecDownloader {
    client: reqwest::Client,
}

impl SpecDownloader {
    pub(crate) fn new(origin: &str) -> Result<SpecDownloader, Error> {
        let err = |reason: String| Error::SpecFetch {
            url: origin.to_owned(),
            reason,
        };
        let client = crate::egress::tls::client_builder()
            .map_err(err)?
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| err(format!("cannot build an HTTP client: {e}")))?;
        Ok(SpecDownloader { client })
    }

    pub(crate) async fn get(&self, url: &reqwest::Url) -> Result<Vec<u8>, Error> {
        let err = |reason: String| Error::SpecFetch {
            url: url.to_string(),
            reason,
        };
        let mut response = self
            .client
            .get(url.clone())
            .header(
                "accept",
                "application/json, application/yaml;q=0.9, */*;q=0.8",
            )
            .send()
            .await
            .map_err(|e| {
                err(format!(
                    "{}; check the URL and that the host is reachable",
                    base::error_chain(&e)
                ))
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(err(format!(
                "the server answered HTTP {status}; expected 200 with an OpenAPI JSON or YAML document"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| err(format!("download interrupted: {}", base::error_chain(&e))))?
        {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > MAX_SPEC_BYTES {
                return Err(err(format!(
                    "the document is larger than {MAX_SPEC_BYTES} bytes"
                )));
            }
        }
        Ok(body)
    }
}
