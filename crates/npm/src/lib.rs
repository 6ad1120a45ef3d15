//! The execution ladder's npm rung: code in an isolate may `import { z } from "zod"`,
//! `import _ from "npm:lodash@4"` or `require("ms")`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), npm::Error> {
//! use sandbox::{Execution, Sandbox};
//! let npm = npm::Npm::new(npm::NpmConfig::new(".islet/npm"))?;
//! let code = "import { z } from 'zod'; z.string().parse('hi')";
//! let mut execution = Execution::new(code);
//! if let Some(prepared) = npm.prepare(code).await? {
//!     execution.code = prepared.code;
//!     execution.prelude = Some(prepared.prelude);
//! }
//! let outcome = Sandbox::new(Default::default()).unwrap().execute(execution).await;
//! # Ok(()) }
//! ```
//!
//! Everything happens host-side, before the program runs: its imports are found with oxc,
//! resolved against the registry (semver ranges, dist-tags, an optional allowlist),
//! fetched as tarballs whose `integrity` is checked, refused when they need install
//! scripts or native code, unpacked in memory, and every file they reach is converted
//! into one module table (the *bundle*). The bundle becomes the execution's prelude, so
//! it travels with the execution to a worker process and is compiled once per engine;
//! the program's imports become reads from it. Tarballs, registry documents and bundles
//! are cached in the cache directory (content-addressed), so a package fetched once
//! needs no network again.
//!
//! Architecture Invariant: no package code runs on the host. Install scripts never run
//! (a package that declares one is refused), and the host only parses package files.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod builtins;
mod bundle;
mod capability;
mod error;
mod program;
mod registry;
mod resolve;
mod spec;
mod tarball;
mod transform;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use capability::{DESCRIPTION, NpmCapability, description};
pub use error::Error;

use crate::registry::METADATA_TTL;
use crate::spec::Import;

/// Bundles kept in memory (each is the size of its packages' code, zod's 0.8 MB); a
/// program with imports not among them rebuilds from the disk cache.
const MEMO_CAPACITY: usize = 64;

/// The public npm registry.
pub const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org";

/// Where packages come from, which may be imported, and where they are cached.
#[derive(Debug, Clone)]
pub struct NpmConfig {
    /// The registry's base URL (`https://registry.npmjs.org`, or a mirror).
    pub registry: String,
    /// Packages the program may import (`zod`, `@scope/*`); empty: any. Their own
    /// dependencies come with them.
    pub allow: Vec<String>,
    /// The cache directory (`<data dir>/npm`).
    pub cache: PathBuf,
    /// Per request to the registry.
    pub timeout: std::time::Duration,
}

impl NpmConfig {
    /// A configuration for the public registry, any package, a 60 s timeout, cached in `cache`.
    pub fn new(cache: impl Into<PathBuf>) -> Self {
        NpmConfig {
            registry: DEFAULT_REGISTRY.to_owned(),
            allow: Vec::new(),
            cache: cache.into(),
            timeout: std::time::Duration::from_secs(60),
        }
    }
}

/// An import of a module that only the npm rung can serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageImport {
    /// As written: `zod`, `npm:lodash@4`, `node:crypto`.
    pub specifier: String,
    /// The package it names, as `--npm-allow` takes it; `None` for a Node built-in.
    pub package: Option<String>,
}

/// The npm packages and Node built-ins `source` (a module) imports, besides
/// `runtime_modules` and besides what npm could never serve (relative paths, URLs): what a
/// host without the npm rung names when it refuses the module.
pub fn package_imports(source: &str, runtime_modules: &[&str]) -> Vec<PackageImport> {
    let Some(rewritten) = program::rewrite_except(source, runtime_modules) else {
        return Vec::new();
    };
    rewritten
        .specs
        .into_iter()
        .filter_map(|specifier| {
            let package = match spec::parse(&specifier).ok()? {
                Import::Package(request) => Some(request.name),
                Import::Builtin(_) => None,
            };
            Some(PackageImport { specifier, package })
        })
        .collect()
}

/// What a program becomes when it imports packages.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The program, its imports rewritten to reads from the bundle (lines unchanged).
    pub code: String,
    /// The bundle: evaluate it before the program (`sandbox::Execution::prelude`).
    pub prelude: Arc<str>,
    /// The program's `import` declarations as a script of their own
    /// (`__islet_npm.import("zod");`): the program runs them first anyway. `None` when it
    /// declares none (only `import()` or `require` calls, which may never run).
    pub imports: Option<Arc<str>>,
    /// `name@version` of every package in the bundle.
    pub packages: Vec<String>,
    /// The version chosen for each package import of the program, by specifier as
    /// written (`"npm:zod@^4"` → `"4.6.7"`): give it to [`Npm::prepare_pinned`] to get
    /// the same bundle later without asking the registry.
    pub versions: Versions,
}

impl Prepared {
    /// The bundle and the program's imports of it as an execution's preload
    /// (`sandbox::Execution::preload`): evaluated before anything is bound, which they
    /// never read, and so ahead of time by an executor that ran them last.
    pub fn preload(&self) -> sandbox::Preload {
        sandbox::Preload {
            module: Arc::clone(&self.prelude),
            script: self.imports.clone(),
        }
    }
}

/// Versions chosen for a program's package imports, by specifier as written.
pub type Versions = BTreeMap<String, String>;

/// A bundle kept in memory, and when its versions were resolved.
#[derive(Debug, Clone)]
struct Memo {
    prelude: Arc<str>,
    packages: Vec<String>,
    versions: Versions,
    at: Instant,
}

/// The npm rung: registry client, caches and bundler. Share it (`Arc`) across executions.
#[derive(Debug)]
pub struct Npm {
    config: NpmConfig,
    registry: registry::Registry,
    cache: PathBuf,
    /// Bundles by the program's import specifiers. Resolution is redone when older than
    /// the metadata TTL (a new release may have come out), never otherwise: the second
    /// execution that imports `zod` touches neither disk nor network.
    memo: Mutex<HashMap<Vec<String>, Memo>>,
    /// One bundle build at a time: two executions importing the same new package wait for
    /// one download, not race two.
    building: tokio::sync::Mutex<()>,
}

impl Npm {
    /// Checks the registry URL and the allowlist's patterns and builds the registry client.
    pub fn new(config: NpmConfig) -> Result<Npm, Error> {
        let url = reqwest::Url::parse(config.registry.trim()).map_err(|e| {
            Error::BadImport(format!(
                "the npm registry `{}` is not a URL ({e}); e.g. https://registry.npmjs.org",
                config.registry
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::BadImport(format!(
                "the npm registry `{url}` must be an http(s) URL"
            )));
        }
        for pattern in &config.allow {
            let name = pattern.strip_suffix("/*").unwrap_or(pattern);
            let ok = if pattern.ends_with("/*") {
                name.starts_with('@') && !name.contains('/')
            } else {
                spec::split_bare(name).is_some_and(|(n, sub)| n == name && sub == ".")
            };
            if !ok {
                return Err(Error::BadImport(format!(
                    "--npm-allow `{pattern}` is not a package name (`zod`, `@scope/name`) or a scope (`@scope/*`)"
                )));
            }
        }
        let client = codemode::egress::tls::client_builder()
            .map_err(Error::Registry)?
            .timeout(config.timeout)
            .connect_timeout(std::time::Duration::from_secs(10))
            .user_agent(concat!("islet/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Registry(format!("cannot build the HTTP client: {e}")))?;
        let cache = config.cache.clone();
        Ok(Npm {
            registry: registry::Registry::new(&config.registry, client, &cache),
            cache,
            config,
            memo: Mutex::new(HashMap::new()),
            building: tokio::sync::Mutex::new(()),
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &NpmConfig {
        &self.config
    }

    /// The program rewritten to use its packages, and the bundle they need; `None` when
    /// it imports nothing.
    pub async fn prepare(&self, code: &str) -> Result<Option<Prepared>, Error> {
        match program::rewrite(code) {
            Some(rewritten) => self.prepare_rewritten(rewritten, None).await.map(Some),
            None => Ok(None),
        }
    }

    /// [`Npm::prepare`] with the versions an earlier preparation of the same code chose
    /// ([`Prepared::versions`]): no version is resolved again, so a bundle in the cache
    /// is served without the registry, whatever was published since. Code installed
    /// once and run later (an agent's extension) stays on what it was checked with.
    /// Imports without a pinned version are resolved as usual.
    pub async fn prepare_pinned(
        &self,
        code: &str,
        pinned: &Versions,
    ) -> Result<Option<Prepared>, Error> {
        match program::rewrite(code) {
            Some(rewritten) => self
                .prepare_rewritten(rewritten, Some(pinned))
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// [`Npm::prepare`] for a module whose imports of `runtime_modules` (an agent class's
    /// `"agents"`) the host serves itself: those stay as written, the rest come from the
    /// bundle. Cached like a program's bundles (by the package set and versions).
    pub async fn prepare_module(
        &self,
        source: &str,
        runtime_modules: &[&str],
    ) -> Result<Option<Prepared>, Error> {
        match program::rewrite_except(source, runtime_modules) {
            Some(rewritten) => self.prepare_rewritten(rewritten, None).await.map(Some),
            None => Ok(None),
        }
    }

    async fn prepare_rewritten(
        &self,
        rewritten: program::Rewritten,
        pinned: Option<&Versions>,
    ) -> Result<Prepared, Error> {
        let mut specs = rewritten.specs.clone();
        specs.sort();
        let declared: Option<Arc<str>> = program::declared_imports(&rewritten).map(Into::into);
        let prepared = |memo: Memo| Prepared {
            code: rewritten.code.clone(),
            imports: declared.clone(),
            prelude: memo.prelude,
            packages: memo.packages,
            versions: memo.versions,
        };
        if let Some(memo) = self.memo_get(&specs, pinned) {
            return Ok(prepared(memo));
        }
        let mut imports = Vec::new();
        for text in &specs {
            let import = spec::parse(text)?;
            if let Import::Package(request) = &import {
                self.check_allowed(&request.name)?;
            }
            imports.push((text.clone(), import));
        }
        let _building = self.building.lock().await;
        if let Some(memo) = self.memo_get(&specs, pinned) {
            return Ok(prepared(memo));
        }
        let mut builder = bundle::Builder::new(self);
        let mut resolved = Vec::new();
        let mut versions = Versions::new();
        for (text, import) in imports {
            let version = match &import {
                Import::Package(request) => {
                    let version = match pinned.and_then(|p| p.get(&text)) {
                        Some(version) => version.clone(),
                        None => builder.version(&request.name, &request.range).await?,
                    };
                    versions.insert(text.clone(), version.clone());
                    Some(version)
                }
                Import::Builtin(_) => None,
            };
            resolved.push((text, import, version));
        }
        let key = bundle::key(&resolved);
        let file = self.cache.join("bundles").join(format!("{key}.js"));
        let meta_file = self.cache.join("bundles").join(format!("{key}.json"));
        let cached = std::fs::read_to_string(&file).ok().and_then(|text| {
            let packages: Vec<String> =
                serde_json::from_slice(&std::fs::read(&meta_file).ok()?).ok()?;
            Some((Arc::<str>::from(text), packages))
        });
        let (prelude, packages) = match cached {
            Some(found) => found,
            None => {
                let built = builder.build(&resolved).await?;
                registry::write_atomic(&file, built.text.as_bytes())?;
                registry::write_atomic(
                    &meta_file,
                    serde_json::to_string(&built.packages)
                        .unwrap_or_default()
                        .as_bytes(),
                )?;
                (built.text, built.packages)
            }
        };
        let mut memo = base::sync::lock(&self.memo);
        if memo.len() >= MEMO_CAPACITY {
            // The oldest resolution goes (it is the next to expire anyway).
            if let Some(oldest) = memo
                .iter()
                .min_by_key(|(_, m)| m.at)
                .map(|(k, _)| k.clone())
            {
                memo.remove(&oldest);
            }
        }
        memo.insert(
            specs,
            Memo {
                prelude: Arc::clone(&prelude),
                packages: packages.clone(),
                versions: versions.clone(),
                at: Instant::now(),
            },
        );
        drop(memo);
        Ok(Prepared {
            code: rewritten.code,
            imports: declared,
            prelude,
            packages,
            versions,
        })
    }

    /// The bundle kept for `specs`: resolved within the metadata TTL, or, when versions
    /// are pinned, resolved to exactly those at any time.
    fn memo_get(&self, specs: &[String], pinned: Option<&Versions>) -> Option<Memo> {
        let memo = base::sync::lock(&self.memo);
        let kept = memo.get(specs)?;
        let fresh = kept.at.elapsed() < METADATA_TTL;
        let fits = match pinned {
            None => fresh,
            Some(pinned) => {
                let mut all_pinned = true;
                for (spec, version) in &kept.versions {
                    match pinned.get(spec) {
                        Some(p) if p != version => return None,
                        Some(_) => {}
                        None => all_pinned = false,
                    }
                }
                all_pinned || fresh
            }
        };
        fits.then(|| kept.clone())
    }

    fn check_allowed(&self, name: &str) -> Result<(), Error> {
        let allow = &self.config.allow;
        if allow.is_empty() {
            return Ok(());
        }
        let allowed = allow
            .iter()
            .any(|pattern| match pattern.strip_suffix("/*") {
                Some(scope) => name.strip_prefix(scope).is_some_and(|r| r.starts_with('/')),
                None => pattern == name,
            });
        if allowed {
            Ok(())
        } else {
            Err(Error::NotAllowed {
                name: name.to_owned(),
                allowed: allow.join(", "),
            })
        }
    }
}
