//! JavaScript values → JSON, with a documented rule for everything JSON cannot carry.
//!
//! The rules (tested in `tests/it/outcome.rs`):
//! - `undefined` at the top level → no result; in an object → the key is left out; in an
//!   array → `null` (all as `JSON.stringify` does).
//! - `NaN`, `Infinity`, `-Infinity` → the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
//! - BigInt → a JSON number when exactly representable (|n| ≤ 2^53), else its decimal string.
//! - Date → its ISO string (invalid dates → `null`); any object with `toJSON` → its result.
//! - Map → an object when every key is a string or number, else an array of `[key, value]`.
//! - Set → an array. Typed arrays → arrays of numbers. ArrayBuffer/DataView → arrays of bytes.
//! - Error objects → `{name, message}` plus their own enumerable properties (e.g. `code`).
//! - Boxed primitives → the primitive.
//! - Functions, symbols, promises, and cycles → an error that names the path
//!   (`$.a.b`) and what was found there. Nesting deeper than [`MAX_DEPTH`] is an error too.

use super::{SCRIPT_NAME, Shared};
use crate::normalize::Normalized;
use crate::outcome::JsError;
use rquickjs::{Array, Ctx, Function, Object, Type, Value};
use serde_json::{Map, Number, Value as Json};

/// Deeper results are refused (and the host's stack protected).
pub(crate) const MAX_DEPTH: usize = 256;

/// Converts the execution's result. `Ok(None)` means `undefined`.
pub(crate) fn to_json<'js>(
    ctx: &Ctx<'js>,
    value: &Value<'js>,
    shared: &Shared,
) -> Result<Option<Json>, String> {
    let mut walker = Walker {
        ctx,
        shared,
        stack: Vec::new(),
        budget: shared.limits.get().output_bytes,
        classes: Vec::new(),
        array_buffer_is_view: None,
        helpers: None,
    };
    walker.value(value, &mut String::from("$"))
}

struct Walker<'a, 'js> {
    ctx: &'a Ctx<'js>,
    shared: &'a Shared,
    /// Objects on the path from the root to the current value: a repeat is a cycle.
    stack: Vec<(Object<'js>, String)>,
    /// Rough output budget: stops runaway conversions of huge values early.
    budget: usize,
    /// The built-in classes objects are tested against, looked up once per conversion.
    classes: Vec<(&'static str, Value<'js>)>,
    array_buffer_is_view: Option<Function<'js>>,
    /// JS helpers for exotic values, compiled on first need.
    helpers: Option<Helpers<'js>>,
}

/// Built-in classes that need a conversion rule of their own.
const CLASSES: &[&str] = &[
    "Error",
    "Map",
    "Set",
    "ArrayBuffer",
    "DataView",
    "Number",
    "String",
    "Boolean",
    "BigInt",
    "Promise",
    "WeakMap",
    "WeakSet",
    "WeakRef",
];

struct Helpers<'js> {
    /// `[...o[m]()]`.
    spread: Function<'js>,
    /// Buffers and views → arrays of JSON-safe numbers.
    bytes: Function<'js>,
}

const SPREAD_JS: &str = "(o, m) => Array.from(o[m]())";
const BYTES_JS: &str = "(v) => Array.from(v instanceof ArrayBuffer ? new Uint8Array(v) : v instanceof DataView ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : v, (x) => typeof x === 'bigint' ? (x >= -(2n**53n) && x <= 2n**53n ? Number(x) : String(x)) : x)";

impl<'js> Walker<'_, 'js> {
    fn is(&mut self, object: &Object<'js>, name: &str) -> bool {
        if self.classes.is_empty() {
            let globals = self.ctx.globals();
            self.classes = CLASSES
                .iter()
                .filter_map(|&c| globals.get::<_, Value<'_>>(c).ok().map(|v| (c, v)))
                .collect();
        }
        self.classes
            .iter()
            .find(|(c, _)| *c == name)
            .is_some_and(|(_, class)| class.is_object() && object.is_instance_of(class))
    }

    /// `ArrayBuffer.isView`, looked up on first need.
    fn is_view(&mut self, object: &Object<'js>) -> bool {
        if self.array_buffer_is_view.is_none() {
            let array_buffer: rquickjs::Result<Object<'_>> = self.ctx.globals().get("ArrayBuffer");
            self.array_buffer_is_view = array_buffer.and_then(|a| a.get("isView")).ok();
        }
        self.array_buffer_is_view
            .as_ref()
            .and_then(|f| f.call::<_, bool>((object.clone(),)).ok())
            .unwrap_or(false)
    }

    /// JS helpers for exotic values (maps, sets, binary data), compiled on first need:
    /// most results never need them.
    fn helpers(&mut self) -> rquickjs::Result<&Helpers<'js>> {
        if self.helpers.is_none() {
            self.helpers = Some(Helpers {
                spread: self.ctx.eval(SPREAD_JS)?,
                bytes: self.ctx.eval(BYTES_JS)?,
            });
        }
        Ok(self.helpers.as_ref().expect("set above"))
    }

    /// `[...object[method]()]` as pairs (`[key, value]` for entries, `[value, undefined]` else).
    fn iterate(
        &mut self,
        object: &Object<'js>,
        method: &str,
    ) -> rquickjs::Result<Vec<(Value<'js>, Value<'js>)>> {
        let items: Array<'_> = self.helpers()?.spread.call((object.clone(), method))?;
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter::<Value<'_>>() {
            let item = item?;
            match item.as_array() {
                Some(pair) if method == "entries" => out.push((pair.get(0)?, pair.get(1)?)),
                _ => out.push((item, Value::new_undefined(self.ctx.clone()))),
            }
        }
        Ok(out)
    }

    fn spend(&mut self, bytes: usize) -> Result<(), String> {
        if self.budget < bytes || self.shared.terminate.get().is_some() {
            self.budget = 0;
            self.shared.stop(crate::Limit::Output);
            return Err("the result is larger than the output limit".into());
        }
        self.budget -= bytes;
        Ok(())
    }

    fn value(&mut self, value: &Value<'js>, path: &mut String) -> Result<Option<Json>, String> {
        self.spend(4)?;
        Ok(Some(match value.type_of() {
            Type::Uninitialized | Type::Undefined => return Ok(None),
            Type::Null => Json::Null,
            Type::Bool => Json::Bool(value.as_bool().unwrap_or(false)),
            Type::Int => Json::from(value.as_int().unwrap_or(0)),
            Type::Float => number(value.as_float().unwrap_or(f64::NAN)),
            Type::String => {
                let s: String = value.get().map_err(|e| e.to_string())?;
                self.spend(s.len())?;
                Json::String(s)
            }
            Type::BigInt => {
                let text = js_string(self.ctx, value);
                match text.parse::<i64>() {
                    Ok(n) if n.unsigned_abs() <= 1 << 53 => Json::from(n),
                    _ => Json::String(text),
                }
            }
            Type::Symbol => {
                return Err(format!(
                    "the result contains a symbol at {path}: return data (strings, numbers, objects)"
                ));
            }
            Type::Function | Type::Constructor => {
                return Err(format!(
                    "the result contains a function at {path}: return data, not functions (call it and return its result)"
                ));
            }
            Type::Promise => {
                return Err(format!(
                    "the result contains a Promise at {path}: `await` it (e.g. `await Promise.all(...)`) before returning"
                ));
            }
            Type::Array | Type::Object | Type::Exception | Type::Proxy => {
                let object = value.as_object().cloned().ok_or("not an object")?;
                return self.object(object, path);
            }
            other => {
                return Err(format!(
                    "the result contains an unsupported value ({}) at {path}",
                    other.as_str()
                ));
            }
        }))
    }

    fn object(&mut self, object: Object<'js>, path: &mut String) -> Result<Option<Json>, String> {
        if let Some((_, first)) = self.stack.iter().find(|(o, _)| *o == object) {
            return Err(format!(
                "the result contains a cycle: {path} refers back to {first}; return a tree (copy the parts you need)"
            ));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!(
                "the result is nested deeper than {MAX_DEPTH} levels (at {path})"
            ));
        }
        self.stack.push((object.clone(), path.clone()));
        let result = self.object_inner(&object, path);
        self.stack.pop();
        result
    }

    fn object_inner(
        &mut self,
        object: &Object<'js>,
        path: &mut String,
    ) -> Result<Option<Json>, String> {
        let ctx = self.ctx;
        let fail = |e: rquickjs::Error| format!("reading {path} threw: {}", caught_message(ctx, e));

        if let Some(array) = object.as_array() {
            return self.array(array.clone(), path).map(Some);
        }
        if self.is(object, "Error") {
            let mut map = Map::new();
            let name: Value<'_> = object.get("name").map_err(fail)?;
            let message: Value<'_> = object.get("message").map_err(fail)?;
            map.insert("name".into(), Json::String(js_string(ctx, &name)));
            map.insert("message".into(), Json::String(js_string(ctx, &message)));
            self.properties(object, path, &mut map)?;
            return Ok(Some(Json::Object(map)));
        }
        // toJSON covers Date and user classes that define their wire form.
        let to_json: Value<'_> = object.get("toJSON").map_err(fail)?;
        if let Some(f) = to_json.as_function() {
            let replaced: Value<'_> = f
                .call((rquickjs::function::This(object.clone()),))
                .map_err(fail)?;
            if replaced.as_object().is_some_and(|o| o == object) {
                return Err(format!("toJSON at {path} returned the object itself"));
            }
            return self.value(&replaced, path);
        }
        if self.is(object, "Map") {
            let entries = self.iterate(object, "entries").map_err(fail)?;
            let plain_keys = entries.iter().all(|(k, _)| k.is_string() || k.is_number());
            if plain_keys {
                let mut map = Map::new();
                for (k, v) in entries {
                    let key = js_string(ctx, &k);
                    let len = path.len();
                    path.push_str(&format!(".get({key:?})"));
                    let converted = self.value(&v, path)?;
                    path.truncate(len);
                    if let Some(v) = converted {
                        self.spend(key.len())?;
                        map.insert(key, v);
                    }
                }
                return Ok(Some(Json::Object(map)));
            }
            let mut out = Vec::new();
            for (i, (k, v)) in entries.into_iter().enumerate() {
                let len = path.len();
                path.push_str(&format!(".entries()[{i}]"));
                let k = self.value(&k, path)?.unwrap_or(Json::Null);
                let v = self.value(&v, path)?.unwrap_or(Json::Null);
                path.truncate(len);
                out.push(Json::Array(vec![k, v]));
            }
            return Ok(Some(Json::Array(out)));
        }
        if self.is(object, "Set") {
            let entries = self.iterate(object, "values").map_err(fail)?;
            let mut out = Vec::new();
            for (i, (v, _)) in entries.into_iter().enumerate() {
                let len = path.len();
                path.push_str(&format!(".values()[{i}]"));
                out.push(self.value(&v, path)?.unwrap_or(Json::Null));
                path.truncate(len);
            }
            return Ok(Some(Json::Array(out)));
        }
        if self.is(object, "ArrayBuffer") || self.is(object, "DataView") || self.is_view(object) {
            let from = self.helpers().map_err(fail)?.bytes.clone();
            let array: Array<'_> = from.call((object.clone(),)).map_err(fail)?;
            return self.array(array, path).map(Some);
        }
        for (boxed, _) in [("Number", 0), ("String", 0), ("Boolean", 0), ("BigInt", 0)] {
            if self.is(object, boxed) {
                let value_of: Function<'_> = object.get("valueOf").map_err(fail)?;
                let primitive: Value<'_> = value_of
                    .call((rquickjs::function::This(object.clone()),))
                    .map_err(fail)?;
                return self.value(&primitive, path);
            }
        }
        if self.is(object, "Promise") {
            return Err(format!(
                "the result contains a Promise at {path}: `await` it before returning"
            ));
        }
        if self.is(object, "WeakMap") || self.is(object, "WeakSet") || self.is(object, "WeakRef") {
            return Err(format!(
                "the result contains a weak collection at {path}, which cannot be read out"
            ));
        }
        let mut map = Map::new();
        self.properties(object, path, &mut map)?;
        Ok(Some(Json::Object(map)))
    }

    fn properties(
        &mut self,
        object: &Object<'js>,
        path: &mut String,
        map: &mut Map<String, Json>,
    ) -> Result<(), String> {
        let keys: Vec<String> = object
            .keys::<String>()
            .collect::<rquickjs::Result<_>>()
            .map_err(|e| {
                format!(
                    "listing the keys of {path} threw: {}",
                    caught_message(self.ctx, e)
                )
            })?;
        for key in keys {
            let value: Value<'_> = object.get(key.as_str()).map_err(|e| {
                format!(
                    "reading {path}.{key} threw: {}",
                    caught_message(self.ctx, e)
                )
            })?;
            let len = path.len();
            push_key(path, &key);
            let converted = self.value(&value, path)?;
            path.truncate(len);
            if let Some(v) = converted {
                self.spend(key.len() + 4)?;
                map.insert(key, v);
            }
        }
        Ok(())
    }

    fn array(&mut self, array: Array<'js>, path: &mut String) -> Result<Json, String> {
        let mut out = Vec::with_capacity(array.len().min(1 << 16));
        for i in 0..array.len() {
            let item: Value<'_> = array.get(i).map_err(|e| {
                format!("reading {path}[{i}] threw: {}", caught_message(self.ctx, e))
            })?;
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            out.push(self.value(&item, path)?.unwrap_or(Json::Null));
            path.truncate(len);
        }
        Ok(Json::Array(out))
    }
}

fn push_key(path: &mut String, key: &str) {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push_str(&format!("[{key:?}]"));
    }
}

fn number(f: f64) -> Json {
    if f.is_nan() {
        Json::String("NaN".into())
    } else if f.is_infinite() {
        Json::String(if f > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        // Integral floats (e.g. results of arithmetic) print as integers, as in JS.
        Json::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Json::Null, Json::Number)
    }
}

/// `String(value)`, never failing (hostile `toString`s give a placeholder).
pub(crate) fn js_string<'js>(ctx: &Ctx<'js>, value: &Value<'js>) -> String {
    if let Some(s) = value.as_string() {
        return s.to_string().unwrap_or_default();
    }
    let Ok(string) = ctx.globals().get::<_, Function<'_>>("String") else {
        return String::new();
    };
    match string.call::<_, String>((value.clone(),)) {
        Ok(s) => s,
        Err(_) => {
            let _ = ctx.catch();
            format!("[{}]", value.type_name())
        }
    }
}

fn caught_message<'js>(ctx: &Ctx<'js>, e: rquickjs::Error) -> String {
    if e.is_exception() {
        let thrown = ctx.catch();
        let object = thrown.as_object();
        if let Some(message) = object
            .and_then(|o| o.get::<_, Value<'_>>("message").ok())
            .filter(|m| m.is_string())
        {
            return js_string(ctx, &message);
        }
        return js_string(ctx, &thrown);
    }
    e.to_string()
}

/// Describes a thrown value: Errors by their fields, anything else by its JSON or string form.
pub(crate) fn error_from_value<'js>(
    ctx: &Ctx<'js>,
    value: &Value<'js>,
    code: &Normalized,
) -> JsError {
    let Some(object) = value.as_object().filter(|o| {
        o.get::<_, Value<'_>>("message")
            .is_ok_and(|m| m.is_string())
            || value.is_error()
    }) else {
        // `throw "boom"`, `throw 42`, `throw {code: 1}` without a message.
        let text = ctx
            .json_stringify(value.clone())
            .ok()
            .flatten()
            .and_then(|s| s.to_string().ok())
            .filter(|_| !value.is_string())
            .unwrap_or_else(|| js_string(ctx, value));
        return JsError::new("Error", format!("uncaught non-Error value: {text}"));
    };
    let get = |key: &str| -> Option<String> {
        let v: Value<'_> = object.get(key).ok()?;
        if v.is_undefined() || v.is_null() {
            None
        } else {
            Some(js_string(ctx, &v))
        }
    };
    let mut error = JsError::new(
        get("name").unwrap_or_else(|| "Error".into()),
        get("message").unwrap_or_default(),
    );
    error.code = get("code");
    if let Some(stack) = get("stack") {
        let (stack, position) = map_stack(&stack, code);
        if let Some((line, column)) = position {
            error.line = Some(line);
            error.column = Some(column);
        }
        if !stack.trim().is_empty() {
            error.stack = Some(stack);
        }
    }
    // QuickJS puts a SyntaxError's position in lineNumber/columnNumber only on some paths.
    if error.line.is_none()
        && let (Some(l), Some(c)) = (get("lineNumber"), get("columnNumber"))
        && let (Ok(l), Ok(c)) = (l.parse(), c.parse())
    {
        let (l, c) = code.source_position(l, code.char_column(l, c));
        error.line = Some(l);
        error.column = Some(c);
    }
    error
}

/// Rewrites `code.js:L:C` frames to positions in the code as sent; returns the first one.
fn map_stack(stack: &str, code: &Normalized) -> (String, Option<(u32, u32)>) {
    let needle = format!("{SCRIPT_NAME}:");
    let mut first = None;
    let mut out = String::with_capacity(stack.len());
    for (i, line) in stack.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match line.find(&needle) {
            Some(at) => {
                let rest = &line[at + needle.len()..];
                let digits: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == ':')
                    .collect();
                let mut parts = digits.split(':').filter(|p| !p.is_empty());
                match (
                    parts.next().and_then(|l| l.parse().ok()),
                    parts.next().and_then(|c| c.parse().ok()),
                ) {
                    (Some(l), Some(c)) => {
                        let (l, c) = code.source_position(l, code.char_column(l, c));
                        first.get_or_insert((l, c));
                        out.push_str(&line[..at]);
                        out.push_str(&format!("code:{l}:{c}"));
                        out.push_str(&rest[digits.len()..]);
                    }
                    _ => out.push_str(line),
                }
            }
            None => out.push_str(line),
        }
    }
    (out, first)
}
