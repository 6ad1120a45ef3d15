//! The package graph of one program, walked from its imports through every file they
//! reach, and written out as one module: a table of module functions plus the runtime
//! (`js/runtime.js`) that requires them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use crate::Npm;
use crate::builtins;
use crate::error::Error;
use crate::registry;
use crate::resolve::{self, Kind, Target};
use crate::spec::{self, Import, Request};
use crate::tarball::{self, Package};
use crate::transform::{self, js_string};

/// Modules in one bundle at most (date-fns, one of the largest common packages, has
/// about 1,500 files).
const MAX_MODULES: usize = 20_000;
/// The bundle's largest size.
pub(crate) const MAX_BUNDLE_BYTES: usize = 48 << 20;

/// A bundle ready to load: its text and the packages in it.
#[derive(Debug)]
pub(crate) struct Bundle {
    pub text: Arc<str>,
    pub packages: Vec<String>,
}

struct Module {
    id: String,
    body: String,
    deps: BTreeMap<String, usize>,
    /// Modules this one evaluates as it is evaluated (not deferred).
    eager: Vec<usize>,
}

/// Work: module `index` is file `file` of `package`, not converted yet.
struct Pending {
    index: usize,
    package: Option<Arc<Package>>,
    file: String,
}

pub(crate) struct Builder<'n> {
    npm: &'n Npm,
    /// Unpacked packages by `name@version`.
    packages: HashMap<String, Arc<Package>>,
    /// Versions of each name in the bundle.
    versions: HashMap<String, Vec<String>>,
    modules: Vec<Module>,
    by_id: HashMap<String, usize>,
    queue: VecDeque<Pending>,
}

impl<'n> Builder<'n> {
    pub(crate) fn new(npm: &'n Npm) -> Self {
        Builder {
            npm,
            packages: HashMap::new(),
            versions: HashMap::new(),
            modules: Vec::new(),
            by_id: HashMap::new(),
            queue: VecDeque::new(),
        }
    }

    /// Builds the bundle for the program's imports (`spec` as written → what it names,
    /// with the version chosen for it).
    pub(crate) async fn build(
        mut self,
        imports: &[(String, Import, Option<String>)],
    ) -> Result<Bundle, Error> {
        let mut entries = BTreeMap::new();
        for (text, import, version) in imports {
            let index = match import {
                Import::Builtin(name) => self.builtin(name),
                Import::Package(request) => {
                    let version = version.as_deref().unwrap_or("latest");
                    let package = self.package(&request.name, version).await?;
                    let target = resolve::entry(&package, &request.subpath, Kind::Import)
                        .map_err(Error::Bundle)?;
                    self.target(&package, target, Kind::Import, text)
                        .await?
                        .ok_or_else(|| {
                            Error::Bundle(format!(
                                "`{text}` resolves to nothing in {}",
                                package.id()
                            ))
                        })?
                }
            };
            entries.insert(text.clone(), index);
            self.drain().await?;
        }
        self.emit(&entries)
    }

    /// Converts every pending module, resolving (and fetching) what it imports.
    async fn drain(&mut self) -> Result<(), Error> {
        while let Some(pending) = self.queue.pop_front() {
            let Some(package) = pending.package else {
                // A built-in: its shim's dependencies are other built-ins.
                let name = pending.file;
                let mut deps = BTreeMap::new();
                for dep in builtins::requires(&name) {
                    let index = self.builtin(dep);
                    deps.insert(builtins::id(dep), index);
                }
                // Node globals inside shims (`Buffer`) come from the transform below.
                let converted =
                    transform::convert(&format!("{name}.js"), &builtins::source(&name), false)
                        .map_err(|e| {
                            Error::Bundle(format!("the node:{name} shim does not parse: {e}"))
                        })?;
                for dep in &converted.deps {
                    if let Some(name) = dep.spec.strip_prefix("node:").and_then(builtins::find) {
                        let index = self.builtin(name);
                        deps.insert(dep.spec.clone(), index);
                    }
                }
                let module = &mut self.modules[pending.index];
                module.body = converted.body;
                module.eager = deps.values().copied().collect();
                module.deps = deps;
                continue;
            };
            let file = pending.file;
            let source = package.files.get(&file).cloned().unwrap_or_default();
            let mut deps = BTreeMap::new();
            let mut eager = Vec::new();
            let body = if file.ends_with(".json") {
                format!("module.exports = {};", json_module(&source))
            } else {
                let side_effect_free = side_effect_free(&package.manifest, &file);
                let converted =
                    transform::convert(&file, &source, side_effect_free).map_err(|e| {
                        Error::Bundle(format!(
                            "{}/{file} is not JavaScript islet can read: {e}",
                            package.id()
                        ))
                    })?;
                for dep in &converted.deps {
                    if let Some(&index) = deps.get(&dep.spec) {
                        if !dep.deferred {
                            eager.push(index);
                        }
                        continue;
                    }
                    match self.dependency(&package, &file, &dep.spec, dep.kind).await {
                        Ok(Some(index)) => {
                            deps.insert(dep.spec.clone(), index);
                            if !dep.deferred {
                                eager.push(index);
                            }
                        }
                        Ok(None) => {}
                        Err(error) if dep.required => return Err(error),
                        Err(error) => {
                            // A require on a path never taken fails only if taken.
                            tracing::debug!(package = %package.id(), %file, spec = %dep.spec, %error, "npm: unresolved require left to run time");
                        }
                    }
                }
                converted.body
            };
            let module = &mut self.modules[pending.index];
            module.body = body;
            module.deps = deps;
            module.eager = eager;
        }
        Ok(())
    }

    /// The module index of a built-in, adding it when new.
    fn builtin(&mut self, name: &str) -> usize {
        let id = builtins::id(name);
        if let Some(&index) = self.by_id.get(&id) {
            return index;
        }
        let index = self.push(id);
        self.queue.push_back(Pending {
            index,
            package: None,
            file: name.to_owned(),
        });
        index
    }

    fn push(&mut self, id: String) -> usize {
        let index = self.modules.len();
        self.by_id.insert(id.clone(), index);
        self.modules.push(Module {
            id,
            body: String::new(),
            deps: BTreeMap::new(),
            eager: Vec::new(),
        });
        index
    }

    /// The module index of file `file` of `package`.
    fn file(&mut self, package: &Arc<Package>, file: &str) -> Result<usize, Error> {
        let id = format!("{}/{file}", package.id());
        if let Some(&index) = self.by_id.get(&id) {
            return Ok(index);
        }
        if self.modules.len() >= MAX_MODULES {
            return Err(Error::TooLarge(format!(
                "the program's packages have over {MAX_MODULES} modules; import fewer or smaller packages"
            )));
        }
        let index = self.push(id);
        self.queue.push_back(Pending {
            index,
            package: Some(Arc::clone(package)),
            file: file.to_owned(),
        });
        Ok(index)
    }

    /// An empty module (a `browser` map's `false`).
    fn empty(&mut self) -> usize {
        let id = "islet:empty".to_owned();
        if let Some(&index) = self.by_id.get(&id) {
            return index;
        }
        self.push(id)
    }

    async fn target(
        &mut self,
        package: &Arc<Package>,
        target: Target,
        kind: Kind,
        spec: &str,
    ) -> Result<Option<usize>, Error> {
        match target {
            Target::File(file) => self.file(package, &file).map(Some),
            Target::Empty => Ok(Some(self.empty())),
            Target::Bare(bare) if bare != spec => {
                Box::pin(self.bare(package, &bare, kind)).await.map(Some)
            }
            Target::Bare(_) => Ok(None),
        }
    }

    /// What `spec`, imported by `file` of `package`, names.
    async fn dependency(
        &mut self,
        package: &Arc<Package>,
        file: &str,
        spec: &str,
        kind: Kind,
    ) -> Result<Option<usize>, Error> {
        if spec.starts_with("./") || spec.starts_with("../") || spec == "." || spec == ".." {
            let target = resolve::relative(package, file, spec).ok_or_else(|| {
                Error::Bundle(format!(
                    "{}/{file} imports `{spec}`, which is not in the package",
                    package.id()
                ))
            })?;
            return self.target(package, target, kind, spec).await;
        }
        if spec.starts_with('#') {
            let target = resolve::imports(package, spec, kind).ok_or_else(|| {
                Error::Bundle(format!(
                    "{}/{file} imports `{spec}`, which its package.json `imports` does not map",
                    package.id()
                ))
            })?;
            return self.target(package, target, kind, spec).await;
        }
        if let Some(mapped) = resolve::browser_map(package, spec) {
            return self.target(package, mapped, kind, spec).await;
        }
        self.bare(package, spec, kind).await.map(Some)
    }

    /// A bare specifier from inside `package`: a built-in or a dependency.
    async fn bare(
        &mut self,
        package: &Arc<Package>,
        spec: &str,
        kind: Kind,
    ) -> Result<usize, Error> {
        let builtin = spec.strip_prefix("node:").unwrap_or(spec);
        if let Some(name) = builtins::find(builtin) {
            return Ok(self.builtin(name));
        }
        if spec.starts_with("node:") {
            return Ok(self.builtin(builtin));
        }
        let Some((name, subpath)) = spec::split_bare(spec) else {
            return Err(Error::Bundle(format!(
                "{} imports `{spec}`, which is not a package name",
                package.id()
            )));
        };
        let dependency = if name == package.name {
            Arc::clone(package)
        } else {
            let (real, range) = self.range_for(package, &name);
            let version = self.version(&real, &range).await?;
            self.package(&real, &version).await?
        };
        let target = resolve::entry(&dependency, &subpath, kind).map_err(Error::Bundle)?;
        match Box::pin(self.target(&dependency, target, kind, spec)).await? {
            Some(index) => Ok(index),
            None => Err(Error::Bundle(format!(
                "`{spec}` resolves to nothing in {}",
                dependency.id()
            ))),
        }
    }

    /// The range `package` declares for dependency `name` (its real name when aliased
    /// with `npm:`), or the version already in the bundle, or `latest`.
    fn range_for(&self, package: &Package, name: &str) -> (String, String) {
        for field in ["dependencies", "peerDependencies", "optionalDependencies"] {
            if let Some(range) = package
                .manifest
                .get(field)
                .and_then(|d| d.get(name))
                .and_then(serde_json::Value::as_str)
            {
                if let Some(alias) = range.strip_prefix("npm:") {
                    let (real, range) = match alias.rfind('@') {
                        Some(at) if at > 0 => (&alias[..at], &alias[at + 1..]),
                        _ => (alias, "latest"),
                    };
                    return (real.to_owned(), range.to_owned());
                }
                // git/file/workspace links cannot be fetched from a registry: take the
                // latest release instead.
                let usable = !range.contains(':') && !range.contains('/');
                return (
                    name.to_owned(),
                    if usable { range } else { "latest" }.to_owned(),
                );
            }
        }
        match self.versions.get(name).and_then(|v| v.first()) {
            Some(version) => (name.to_owned(), version.clone()),
            None => (name.to_owned(), "latest".to_owned()),
        }
    }

    /// The version of `name` to use for `range`.
    pub(crate) async fn version(&mut self, name: &str, range: &str) -> Result<String, Error> {
        let have = self.versions.get(name).cloned().unwrap_or_default();
        let packument = self.npm.registry.packument(name).await?;
        registry::choose(name, &packument, range, &have)
    }

    /// The unpacked package `name@version`, fetched when new.
    async fn package(&mut self, name: &str, version: &str) -> Result<Arc<Package>, Error> {
        let id = format!("{name}@{version}");
        if let Some(package) = self.packages.get(&id) {
            return Ok(Arc::clone(package));
        }
        let packument = self.npm.registry.packument(name).await?;
        let manifest = packument.versions.get(version).ok_or_else(|| {
            Error::NotFound(format!(
                "the registry lists no version {version} of `{name}`"
            ))
        })?;
        let package =
            Arc::new(tarball::fetch(&self.npm.registry, &self.npm.cache, name, manifest).await?);
        self.packages.insert(id, Arc::clone(&package));
        self.versions
            .entry(name.to_owned())
            .or_default()
            .push(version.to_owned());
        Ok(package)
    }

    /// Which modules evaluating the entries evaluates (following eager imports and
    /// requires, not deferred ones).
    fn hot(&self, entries: &BTreeMap<String, usize>) -> Vec<bool> {
        let mut hot = vec![false; self.modules.len()];
        let mut stack: Vec<usize> = entries.values().copied().collect();
        while let Some(index) = stack.pop() {
            if std::mem::replace(&mut hot[index], true) {
                continue;
            }
            stack.extend(self.modules[index].eager.iter().copied());
        }
        hot
    }

    fn emit(self, entries: &BTreeMap<String, usize>) -> Result<Bundle, Error> {
        let mut text = String::with_capacity(
            self.modules
                .iter()
                .map(|m| m.body.len() + 64)
                .sum::<usize>()
                + 4096,
        );
        text.push_str("// islet npm bundle\n");
        text.push_str("const __islet_ids = ");
        text.push_str(
            &serde_json::to_string(&self.modules.iter().map(|m| &m.id).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        text.push_str(";\nconst __islet_deps = ");
        text.push_str(
            &serde_json::to_string(&self.modules.iter().map(|m| &m.deps).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        text.push_str(";\nconst __islet_entries = ");
        text.push_str(&serde_json::to_string(entries).unwrap_or_default());
        // Cold modules' text is a tagged template's, not a string literal: QuickJS makes
        // every string literal an atom, and reading the bundle's bytecode then hashes and
        // interns all that text on each execution; a template object's strings are
        // constants, read back with a copy.
        text.push_str(";\nconst __islet_text = function (s) { return s[0]; }");
        text.push_str(";\nconst __islet_defs = [\n");
        let hot = self.hot(entries);
        for (index, module) in self.modules.iter().enumerate() {
            text.push_str("// ");
            text.push_str(&js_string(&module.id));
            let function = format!(
                "function (module, exports, require, __x) {{\n{}\n}}",
                module.body
            );
            if hot[index] {
                text.push('\n');
                text.push_str(&function);
            } else {
                // Not evaluated unless something reads it later: kept as text and
                // compiled then, so executions that never use it do not load its code.
                text.push_str(" (compiled on first use)\n");
                text.push_str("__islet_text");
                text.push_str(&js_template(&function));
            }
            text.push_str(",\n");
        }
        text.push_str("];\n");
        text.push_str(include_str!("js/runtime.js"));
        if text.len() > MAX_BUNDLE_BYTES {
            return Err(Error::TooLarge(format!(
                "the bundle for the program's imports is {} MiB, over the {} MiB cap; import fewer or smaller packages (or a subpath such as `lodash/chunk`)",
                text.len() >> 20,
                MAX_BUNDLE_BYTES >> 20
            )));
        }
        let mut packages: Vec<String> = self.packages.keys().cloned().collect();
        packages.sort();
        Ok(Bundle {
            text: text.into(),
            packages,
        })
    }
}

/// `text` as a template literal without substitutions whose value is exactly `text`
/// (carriage returns escaped: a template normalises them to line feeds; NUL too).
fn js_template(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16 + 2);
    out.push('`');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '`' => out.push_str("\\`"),
            '$' => out.push_str("\\$"),
            '\r' => out.push_str("\\r"),
            // The engine takes code as a C string.
            '\0' => out.push_str("\\u0000"),
            c => out.push(c),
        }
    }
    out.push('`');
    out
}

/// Whether the package says `file` has no side effects: `"sideEffects": false`, or a list
/// of the files that do (bundler globs: `*` wildcards; a pattern without `/` matches the
/// file name) that does not name it.
fn side_effect_free(manifest: &serde_json::Value, file: &str) -> bool {
    match manifest.get("sideEffects") {
        Some(serde_json::Value::Bool(false)) => true,
        Some(serde_json::Value::Array(patterns)) => !patterns.iter().any(|p| {
            let Some(pattern) = p.as_str() else {
                return true;
            };
            let pattern = pattern.trim_start_matches("./");
            if pattern.contains('/') {
                glob(pattern, file) || glob(&format!("**/{pattern}"), file)
            } else {
                glob(pattern, file.rsplit('/').next().unwrap_or(file))
            }
        }),
        _ => false,
    }
}

/// `*` (and `**`) match any run of characters, `/` included: coarse, but it only decides
/// whether re-exports load lazily, and a false match keeps them eager (the safe side).
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').filter(|p| !p.is_empty()).collect();
    if !pattern.contains('*') {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        let anchored_start = i == 0 && !pattern.starts_with('*');
        match rest.find(part) {
            Some(0) if anchored_start => rest = &rest[part.len()..],
            Some(_) if anchored_start => return false,
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    pattern.ends_with('*') || rest.is_empty() || parts.is_empty()
}

/// A JSON file as a JavaScript expression (invalid JSON becomes a throwing module).
fn json_module(source: &str) -> String {
    let source = source.trim_start_matches('\u{feff}');
    match serde_json::from_str::<serde_json::Value>(source) {
        // Parsed at run time from a string: QuickJS parses JSON faster than code.
        Ok(_) => format!("JSON.parse({})", js_string(source)),
        Err(e) => format!(
            "(function () {{ throw new SyntaxError({}); }})()",
            js_string(&format!("invalid JSON: {e}"))
        ),
    }
}

/// The key of the bundle for these resolved imports: what it contains depends only on
/// them (and on this code, hence the format version).
pub(crate) fn key(resolved: &[(String, Import, Option<String>)]) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    // The format version (bump it when the conversion changes), and the shipped runtime
    // and shims, so a new islet never loads a bundle an older one wrote.
    hasher.update(b"islet-npm-bundle-v7\n");
    hasher.update(include_str!("js/runtime.js").as_bytes());
    for name in builtins::NAMES {
        hasher.update(builtins::source(name).as_bytes());
    }
    for (text, import, version) in resolved {
        let what = match import {
            Import::Builtin(name) => format!("node:{name}"),
            Import::Package(Request { name, subpath, .. }) => {
                format!("{name}@{}:{subpath}", version.as_deref().unwrap_or(""))
            }
        };
        hasher.update(format!("{text}\t{what}\n").as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn side_effects_field() {
        assert!(side_effect_free(&json!({"sideEffects": false}), "a.js"));
        assert!(!side_effect_free(&json!({}), "a.js"));
        let listed = json!({"sideEffects": ["./compile.js", "*.css", "./src/polyfills/*"]});
        assert!(!side_effect_free(&listed, "compile.js"));
        assert!(!side_effect_free(&listed, "styles/x.css"));
        assert!(!side_effect_free(&listed, "src/polyfills/a.js"));
        assert!(side_effect_free(&listed, "v4/locales/index.js"));
    }

    #[test]
    fn cold_module_text_survives_the_template_literal_exactly() {
        let text = "function (module) {\r\n  const a = `x${1}` + '\\` $ \\\\';\r\n  return /\\d+\\u{41}/u.source + '\u{2028}\u{1F600}\0';\n}";
        let code = format!(
            "const t = function (s) {{ return s[0]; }};\nreturn t{};",
            js_template(text)
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let sandbox = sandbox::Sandbox::new(sandbox::SandboxConfig { threads: 1 }).unwrap();
        let outcome = runtime.block_on(sandbox.execute(sandbox::Execution::new(code)));
        assert_eq!(outcome.error, None);
        assert_eq!(outcome.result, Some(serde_json::Value::String(text.into())));
    }
}
