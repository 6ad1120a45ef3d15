//! Node's module resolution inside one unpacked package: `exports` and `imports` with
//! conditions, the `browser` field, `module`/`main`, extensions and `index` files.

use serde_json::Value;

use crate::tarball::Package;

/// How a file asks for a module: conditions differ (`import` or `require`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Import,
    Require,
}

impl Kind {
    /// The conditions islet matches, in no particular order (the `exports` object's own
    /// key order decides). An isolate is closest to a browser worker: `browser` builds
    /// avoid Node's I/O modules, and `node` is left out for the same reason.
    fn conditions(self) -> &'static [&'static str] {
        match self {
            Kind::Import => &["browser", "worker", "import", "module", "default"],
            Kind::Require => &["browser", "worker", "require", "module", "default"],
        }
    }
}

/// Where a specifier leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A file of the same package.
    File(String),
    /// A bare specifier to resolve as a dependency (from `imports` or the `browser` map).
    Bare(String),
    /// Mapped to nothing (`"browser": {"fs": false}`): an empty module.
    Empty,
}

/// The file `subpath` (`.` or `./x`) of `package` names, as an importer outside it sees it.
pub(crate) fn entry(package: &Package, subpath: &str, kind: Kind) -> Result<Target, String> {
    let manifest = &package.manifest;
    if let Some(exports) = manifest.get("exports").filter(|e| !e.is_null()) {
        let map = exports_map(exports);
        return match match_map(&map, subpath, kind) {
            Some(Some(target)) => {
                let file = target.trim_start_matches("./");
                if package.files.contains_key(file) {
                    Ok(browser_file(package, file))
                } else {
                    // A few packages list exports without extensions; be lenient.
                    probe(package, file)
                        .map(|f| browser_file(package, &f))
                        .ok_or_else(|| {
                            format!(
                                "{}: `exports` maps `{subpath}` to `{target}`, which is not in the package",
                                package.id()
                            )
                        })
                }
            }
            Some(None) => Err(format!(
                "{}: `{subpath}` is not exported for {} (its `exports` has no matching condition)",
                package.id(),
                if kind == Kind::Import {
                    "import"
                } else {
                    "require"
                }
            )),
            None => Err(format!(
                "{}: `{subpath}` is not exported; it exports {}",
                package.id(),
                exported_list(&map)
            )),
        };
    }
    if subpath == "." {
        let mut fields = Vec::new();
        if let Some(Value::String(browser)) = manifest.get("browser") {
            fields.push(browser.as_str());
        }
        for field in ["module", "main"] {
            if let Some(Value::String(main)) = manifest.get(field) {
                fields.push(main.as_str());
            }
        }
        for main in fields {
            let main = normalize(main.trim_start_matches("./"));
            if let Some(file) = probe(package, &main) {
                return Ok(browser_file(package, &file));
            }
        }
        return probe(package, "index")
            .map(|f| browser_file(package, &f))
            .ok_or_else(|| {
                format!(
                    "{}: no entry file (no `exports`, `main` or index.js)",
                    package.id()
                )
            });
    }
    let file = normalize(subpath.trim_start_matches("./"));
    probe(package, &file)
        .map(|f| browser_file(package, &f))
        .ok_or_else(|| format!("{}: there is no `{subpath}` in the package", package.id()))
}

/// A relative specifier (`./x`, `../y`) from the file `from` of `package`.
pub(crate) fn relative(package: &Package, from: &str, spec: &str) -> Option<Target> {
    let dir = match from.rfind('/') {
        Some(i) => &from[..i],
        None => "",
    };
    let joined = if dir.is_empty() {
        spec.to_owned()
    } else {
        format!("{dir}/{spec}")
    };
    let path = normalize(&joined);
    if path.starts_with("../") {
        return None;
    }
    if let Some(mapped) = browser_map(package, &format!("./{path}")) {
        return Some(mapped);
    }
    probe(package, &path).map(|f| browser_file(package, &f))
}

/// A `#name` specifier through the package's `imports` field.
pub(crate) fn imports(package: &Package, spec: &str, kind: Kind) -> Option<Target> {
    let map = package.manifest.get("imports")?.as_object()?;
    let pairs: Vec<(String, Value)> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let target = match_map(&pairs, spec, kind)??;
    if let Some(file) = target.strip_prefix("./") {
        let file = normalize(file);
        return package
            .files
            .contains_key(&file)
            .then(|| Target::File(file.clone()))
            .or_else(|| probe(package, &file).map(Target::File));
    }
    Some(Target::Bare(target))
}

/// A bare specifier as the package's `browser` map rewrites it, if it does.
pub(crate) fn browser_map(package: &Package, spec: &str) -> Option<Target> {
    let map = package.manifest.get("browser")?.as_object()?;
    let found = map.get(spec).or_else(|| {
        // `./lib/x` matches a key `./lib/x.js` and the other way round.
        let without = spec.strip_suffix(".js").unwrap_or(spec);
        map.iter()
            .find(|(k, _)| k.strip_suffix(".js").unwrap_or(k) == without)
            .map(|(_, v)| v)
    })?;
    match found {
        Value::Bool(false) => Some(Target::Empty),
        Value::String(to) if to.starts_with("./") => {
            probe(package, &normalize(&to[2..])).map(Target::File)
        }
        Value::String(to) => Some(Target::Bare(to.clone())),
        _ => None,
    }
}

fn browser_file(package: &Package, file: &str) -> Target {
    browser_map(package, &format!("./{file}")).unwrap_or_else(|| Target::File(file.to_owned()))
}

/// `exports` as (key, target) pairs: sugar (`"exports": "./x.js"` or a conditions object)
/// becomes `{".": …}`.
fn exports_map(exports: &Value) -> Vec<(String, Value)> {
    match exports {
        Value::Object(map) if map.keys().all(|k| k.starts_with('.')) => {
            map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        }
        other => vec![(".".to_owned(), other.clone())],
    }
}

fn exported_list(map: &[(String, Value)]) -> String {
    let keys: Vec<&str> = map.iter().take(12).map(|(k, _)| k.as_str()).collect();
    let more = if map.len() > 12 { ", …" } else { "" };
    format!("{}{more}", keys.join(", "))
}

/// Matches `key` against an exports/imports map. `None`: no key matches; `Some(None)`: a
/// key matches but no condition does (or it maps to null).
fn match_map(map: &[(String, Value)], key: &str, kind: Kind) -> Option<Option<String>> {
    if let Some((_, target)) = map.iter().find(|(k, _)| k == key && !k.contains('*')) {
        return Some(conditional(target, None, kind));
    }
    // The pattern with the longest prefix wins.
    let mut best: Option<(&str, &Value, String)> = None;
    for (pattern, target) in map {
        let Some((prefix, suffix)) = pattern.split_once('*') else {
            continue;
        };
        if key.len() >= prefix.len() + suffix.len()
            && key.starts_with(prefix)
            && key.ends_with(suffix)
            && best.as_ref().is_none_or(|(p, _, _)| prefix.len() > p.len())
        {
            let star = key[prefix.len()..key.len() - suffix.len()].to_owned();
            best = Some((prefix, target, star));
        }
    }
    if let Some((_, target, star)) = best {
        return Some(conditional(target, Some(&star), kind));
    }
    // Legacy folder mappings (`"./lib/": "./lib/"`).
    for (folder, target) in map {
        if folder.ends_with('/')
            && let Some(rest) = key.strip_prefix(folder.as_str())
            && let Some(base) = conditional(target, None, kind)
        {
            return Some(Some(format!("{base}{rest}")));
        }
    }
    None
}

/// Resolves a target value: a string (with `*` replaced), the first usable entry of an
/// array, or the first condition of an object that islet matches.
fn conditional(target: &Value, star: Option<&str>, kind: Kind) -> Option<String> {
    match target {
        Value::String(s) => Some(match star {
            Some(star) => s.replace('*', star),
            None => s.clone(),
        }),
        Value::Array(items) => items.iter().find_map(|t| conditional(t, star, kind)),
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| kind.conditions().contains(&k.as_str()))
            .find_map(|(_, t)| conditional(t, star, kind)),
        _ => None,
    }
}

/// The file `path` names, trying Node's extensions, `index` files and a nested
/// package.json's `main`.
pub(crate) fn probe(package: &Package, path: &str) -> Option<String> {
    let path = path.trim_end_matches('/');
    let files = &package.files;
    if !path.is_empty() && files.contains_key(path) {
        return Some(path.to_owned());
    }
    for ext in [".js", ".json", ".mjs", ".cjs"] {
        let candidate = format!("{path}{ext}");
        if files.contains_key(&candidate) {
            return Some(candidate);
        }
    }
    let dir = if path.is_empty() || path == "." {
        String::new()
    } else {
        format!("{path}/")
    };
    if let Some(nested) = files.get(&format!("{dir}package.json"))
        && !dir.is_empty()
        && let Ok(manifest) = serde_json::from_str::<Value>(nested)
    {
        for field in ["browser", "module", "main"] {
            if let Some(Value::String(main)) = manifest.get(field) {
                let main = normalize(&format!("{dir}{}", main.trim_start_matches("./")));
                if let Some(found) = probe_file(package, &main) {
                    return Some(found);
                }
            }
        }
    }
    for index in ["index.js", "index.json", "index.mjs", "index.cjs"] {
        let candidate = format!("{dir}{index}");
        if files.contains_key(&candidate) {
            return Some(candidate);
        }
    }
    None
}

fn probe_file(package: &Package, path: &str) -> Option<String> {
    if package.files.contains_key(path) {
        return Some(path.to_owned());
    }
    [".js", ".json", "/index.js"]
        .iter()
        .map(|ext| format!("{path}{ext}"))
        .find(|c| package.files.contains_key(c))
}

/// `a/./b/../c` → `a/c`; a leading `..` that leaves the root is kept.
pub(crate) fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if path.ends_with('/') && !joined.is_empty() {
        format!("{joined}/")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn package(manifest: Value, files: &[&str]) -> Package {
        Package {
            name: "p".into(),
            version: "1.0.0".into(),
            manifest,
            files: files
                .iter()
                .map(|f| ((*f).to_owned(), String::new()))
                .collect(),
        }
    }

    #[test]
    fn exports_conditions_and_patterns() {
        let p = package(
            json!({"exports": {
                ".": {"types": "./i.d.ts", "node": "./node.js", "import": "./esm/index.js", "require": "./cjs/index.js"},
                "./fp/*": "./fp/*.js",
                "./internal/*": null,
                "./package.json": "./package.json"
            }}),
            &[
                "esm/index.js",
                "cjs/index.js",
                "node.js",
                "fp/map.js",
                "package.json",
            ],
        );
        assert_eq!(
            entry(&p, ".", Kind::Import),
            Ok(Target::File("esm/index.js".into()))
        );
        assert_eq!(
            entry(&p, ".", Kind::Require),
            Ok(Target::File("cjs/index.js".into()))
        );
        assert_eq!(
            entry(&p, "./fp/map", Kind::Import),
            Ok(Target::File("fp/map.js".into()))
        );
        assert!(entry(&p, "./internal/x", Kind::Import).is_err());
        assert!(
            entry(&p, "./nope", Kind::Import)
                .unwrap_err()
                .contains("not exported")
        );
    }

    #[test]
    fn main_index_and_relative() {
        let p = package(
            json!({"main": "lib/main", "browser": {"./lib/node.js": "./lib/web.js", "fs": false}}),
            &[
                "lib/main.js",
                "lib/node.js",
                "lib/web.js",
                "lib/util/index.js",
            ],
        );
        assert_eq!(
            entry(&p, ".", Kind::Require),
            Ok(Target::File("lib/main.js".into()))
        );
        assert_eq!(
            relative(&p, "lib/main.js", "./util"),
            Some(Target::File("lib/util/index.js".into()))
        );
        assert_eq!(
            relative(&p, "lib/main.js", "./node"),
            Some(Target::File("lib/web.js".into()))
        );
        assert_eq!(relative(&p, "lib/main.js", "../../x"), None);
        assert_eq!(browser_map(&p, "fs"), Some(Target::Empty));
        assert_eq!(normalize("a/./b/../c"), "a/c");
    }
}
