//! The spec as `search` code reaches it: a compact top level compiled once per engine, and
//! the deeper members resolved by the host when the code touches them.
//!
//! Building the whole `$ref`-resolved document in the isolate cost seconds and hundreds of
//! megabytes per call on large specs. Instead, [`SpecView::build`] writes a prelude (host
//! JavaScript, compiled to bytecode once per engine by the sandbox) holding every path and
//! operation with its summary fields, plus `search_spec.js`, which gives operations and path
//! items getters for every other member. A getter's first read asks the host for its member
//! with a blocking host call (`__codemode.part`, answered by [`SpecView::part`] from the
//! spec the server holds once), so the code runs once, reading details as it goes.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::openapi::METHODS;
use crate::openapi::Spec;

const RUNTIME: &str = include_str!("search_spec.js");

/// Members given a getter bit per object; rarer ones are inlined (masks are JS integers).
const MAX_BITS: usize = 53;

/// The compact spec of one catalog and how to find the members it leaves out.
pub(crate) struct SpecView {
    /// Evaluated before every `search` program.
    pub(crate) prelude: Arc<str>,
    /// Per operation number: its path item and method.
    ops: Vec<(usize, &'static str)>,
    /// Path item numbers that exist.
    items: HashSet<usize>,
}

fn is_inline(key: &str, value: &Value) -> bool {
    match key {
        "operationId" | "summary" => value.is_string(),
        "deprecated" => value.is_boolean(),
        "tags" => value
            .as_array()
            .is_some_and(|tags| tags.iter().all(Value::is_string)),
        _ => false,
    }
}

/// Members with a getter, most frequent first (ties by name).
fn ranked(counts: HashMap<&str, usize>) -> Vec<String> {
    let mut keys: Vec<(&str, usize)> = counts.into_iter().collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    keys.into_iter().map(|(key, _)| key.to_owned()).collect()
}

fn js_string(s: &str) -> String {
    // JSON strings are JS string literals (U+2028/2029 included since ES2019).
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// `mask` with bit `bit` set (`bit` < [`MAX_BITS`], so the mask stays exact in JS).
fn with_bit(mask: u64, bit: usize) -> u64 {
    mask | (1u64 << bit)
}

impl SpecView {
    /// The compact spec: costs about one pass over the document.
    pub(crate) fn build(spec: &Spec) -> SpecView {
        let usable: HashSet<(usize, String)> = spec
            .operations()
            .iter()
            .map(|op| (op.item, op.method.to_ascii_lowercase()))
            .collect();
        let items = spec.path_items();
        let is_op = |item: usize, key: &str| {
            METHODS.contains(&key) && usable.contains(&(item, key.to_owned()))
        };

        let mut op_stats: HashMap<&str, usize> = HashMap::new();
        let mut item_stats: HashMap<&str, usize> = HashMap::new();
        for &(_, index, value) in &items {
            let Value::Object(item) = value else { continue };
            for (key, member) in item {
                if METHODS.contains(&key.as_str()) {
                    if let (true, Value::Object(op)) = (is_op(index, key), member) {
                        for (k, v) in op {
                            if !is_inline(k, v) {
                                *op_stats.entry(k.as_str()).or_default() += 1;
                            }
                        }
                    }
                    continue;
                }
                *item_stats.entry(key.as_str()).or_default() += 1;
            }
        }
        let op_keys = ranked(op_stats);
        let item_keys = ranked(item_stats);
        let op_bits: HashMap<&str, usize> = op_keys
            .iter()
            .take(MAX_BITS)
            .enumerate()
            .map(|(bit, k)| (k.as_str(), bit))
            .collect();
        let item_bits: HashMap<&str, usize> = item_keys
            .iter()
            .take(MAX_BITS)
            .enumerate()
            .map(|(bit, k)| (k.as_str(), bit))
            .collect();

        let mut ops = Vec::new();
        let mut op_masks = Vec::new();
        let mut item_masks: Vec<u64> = Vec::new();
        let mut paths = String::with_capacity(items.len() * 200);
        paths.push('{');
        for &(path, index, value) in &items {
            let Value::Object(item) = value else { continue };
            if item_masks.len() <= index {
                item_masks.resize(index + 1, 0);
            }
            let _ = write!(paths, "{}:{{__proto__:I,[S]:{index}", js_string(path));
            for (key, member) in item {
                if METHODS.contains(&key.as_str()) {
                    let (true, Value::Object(op)) = (is_op(index, key), member) else {
                        continue;
                    };
                    let number = ops.len();
                    let method = METHODS
                        .iter()
                        .find(|m| **m == key)
                        .copied()
                        .unwrap_or("get");
                    ops.push((index, method));
                    let mut mask = 0u64;
                    let _ = write!(paths, ",{key}:{{__proto__:O,[S]:{number}");
                    for (k, v) in op {
                        if is_inline(k, v) {
                            let _ = write!(paths, ",{}:{}", js_string(k), v);
                        } else if let Some(&bit) = op_bits.get(k.as_str()) {
                            mask = with_bit(mask, bit);
                        } else {
                            // A member too rare for a bit: inline, resolved.
                            let resolved = spec
                                .resolved_member(index, Some(key), k)
                                .unwrap_or(Value::Null);
                            let _ = write!(
                                paths,
                                ",{}:J({})",
                                js_string(k),
                                js_string(&resolved.to_string())
                            );
                        }
                    }
                    paths.push('}');
                    op_masks.push(mask);
                    continue;
                }
                if let Some(&bit) = item_bits.get(key.as_str()) {
                    item_masks[index] = with_bit(item_masks[index], bit);
                } else {
                    let resolved = spec
                        .resolved_member(index, None, key)
                        .unwrap_or(Value::Null);
                    let _ = write!(
                        paths,
                        ",{}:J({})",
                        js_string(key),
                        js_string(&resolved.to_string())
                    );
                }
            }
            paths.push_str("},");
        }
        paths.push('}');

        let keys_json = |keys: &[String]| {
            let listed: Vec<Value> = keys
                .iter()
                .take(MAX_BITS)
                .map(|k| Value::Array(vec![Value::String(k.clone())]))
                .collect();
            Value::Array(listed).to_string()
        };
        let masks_json = |masks: &[u64]| {
            let listed: Vec<String> = masks.iter().map(u64::to_string).collect();
            format!("[{}]", listed.join(","))
        };
        let doc = top_level(spec);
        let mut prelude = String::with_capacity(RUNTIME.len() + paths.len() + 4096);
        prelude.push_str(RUNTIME);
        let _ = write!(
            prelude,
            "\nconst J = JSON.parse;\nconst {{ O, I, S }} = runtime({}, {}, {}, {}, {});\n__isletSearch.paths(() => ({paths}));\n",
            keys_json(&op_keys),
            keys_json(&item_keys),
            masks_json(&op_masks),
            masks_json(&item_masks),
            js_string(&doc.to_string()),
        );
        SpecView {
            prelude: Arc::from(prelude),
            ops,
            items: items.iter().map(|&(_, i, _)| i).collect(),
        }
    }

    fn locate<'a>(&self, id: &'a str) -> Option<(usize, Option<&'static str>, &'a str)> {
        let (number, key) = id.get(1..)?.split_once('.')?;
        let number: usize = number.parse().ok()?;
        match id.as_bytes().first()? {
            b'o' => {
                let &(item, method) = self.ops.get(number)?;
                Some((item, Some(method), key))
            }
            b'i' if self.items.contains(&number) => Some((number, None, key)),
            _ => None,
        }
    }

    /// The member `id` names (as the isolate does: `o<op>.<key>` or `i<item>.<key>`),
    /// resolved (`null` when it has no such member), with its weight (see
    /// [`crate::openapi`]'s budgets); `None` when `id` cannot be one of this spec's.
    pub(crate) fn part(&self, spec: &Spec, id: &str) -> Option<(Value, usize)> {
        let (item, method, key) = self.locate(id)?;
        let value = spec
            .resolved_member(item, method, key)
            .unwrap_or(Value::Null);
        let weight = crate::openapi::weight(&value);
        Some((value, weight))
    }
}

/// The document's top level without `paths` (built in code) and `components` (inlined
/// where used), with 3.1 `webhooks` resolved.
fn top_level(spec: &Spec) -> Value {
    let mut out = Map::new();
    if let Value::Object(root) = spec.raw() {
        for (k, v) in root {
            match k.as_str() {
                "paths" | "components" => {}
                "webhooks" => {
                    if let Value::Object(resolved) = spec.resolved_webhooks() {
                        out.insert(k.clone(), Value::Object(resolved));
                    }
                }
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Value::Object(out)
}
