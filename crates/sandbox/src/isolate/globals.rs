//! The globals an isolate offers: timers, `queueMicrotask`, `crypto`, lazily loaded Web APIs
//! (`console`, `URL`, `TextEncoder`, `structuredClone`, …) and the execution's bindings.
//!
//! Web APIs written in JavaScript (`src/js/*.js`) are evaluated only when code first touches
//! one of their names: an untouched isolate carries a getter, not a parsed library, which
//! keeps creation cheap and memory per isolate small.
//!
//! `fetch` (with `Request`, `Response`, `Headers`) exists only when the execution binds the
//! reserved function `__fetch.fetch`: the host decides what the network is, and without that
//! binding there is none (denied by default).

use super::{MAX_TIMERS, Shared, Timer};
use crate::HostError;
use crate::outcome::{Level, Log};
use rquickjs::function::{Opt, Rest, This};
use rquickjs::object::{Accessor, Property};
use rquickjs::{Ctx, Exception, Function, Object, Persistent, TypedArray, Value};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A Web API implemented in JavaScript, installed on first touch.
struct LazyModule {
    file: &'static str,
    source: &'static str,
    /// The globals it defines. A module whose source evaluates to a function is a factory:
    /// it is called with the native helpers and returns the single export.
    exports: &'static [&'static str],
}

/// `fetch.js`: a factory called with the host's fetch function.
const FETCH_MODULE: LazyModule = LazyModule {
    file: "fetch.js",
    source: include_str!("../js/fetch.js"),
    exports: &["fetch", "Request", "Response", "Headers"],
};

const MODULES: &[LazyModule] = &[
    LazyModule {
        file: "console.js",
        source: include_str!("../js/console.js"),
        exports: &["console"],
    },
    LazyModule {
        file: "encoding.js",
        source: include_str!("../js/encoding.js"),
        exports: &["TextEncoder", "TextDecoder", "atob", "btoa"],
    },
    LazyModule {
        file: "url.js",
        source: include_str!("../js/url.js"),
        exports: &["URL", "URLSearchParams"],
    },
    LazyModule {
        file: "structured_clone.js",
        source: include_str!("../js/structured_clone.js"),
        exports: &["structuredClone"],
    },
];

pub(super) fn install<'js>(ctx: &Ctx<'js>, shared: &Rc<Shared>) -> rquickjs::Result<()> {
    let globals = ctx.globals();
    // `globalThis.self`-style aliases some libraries probe for.
    globals.set("globalThis", globals.clone())?;

    // Shared memory and high-resolution timers are timing side channels, and nothing here
    // shares memory between threads anyway.
    globals.remove("SharedArrayBuffer")?;
    globals.remove("Atomics")?;

    install_timers(ctx, &globals, shared)?;
    globals.set(
        "queueMicrotask",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, callback: Value<'js>| -> rquickjs::Result<()> {
                let Some(callback) = callback.as_function().cloned() else {
                    return Err(Exception::throw_type(
                        &ctx,
                        "queueMicrotask: the callback must be a function",
                    ));
                };
                let (promise, resolve, _) = ctx.promise()?;
                let then: Function<'_> = promise.get("then")?;
                then.call::<_, Value<'_>>((This(promise.clone()), callback))?;
                resolve.call::<_, ()>(())
            },
        )?,
    )?;
    install_crypto(ctx, &globals)?;

    for (index, module) in MODULES.iter().enumerate() {
        for &name in module.exports {
            let shared = shared.clone();
            let getter = move |ctx: Ctx<'js>| -> rquickjs::Result<Value<'js>> {
                load_module(&ctx, index, &shared)?;
                ctx.globals().get(name)
            };
            let setter = move |ctx: Ctx<'js>, value: Value<'js>| -> rquickjs::Result<()> {
                ctx.globals()
                    .prop(name, Property::from(value).writable().configurable())
            };
            globals.prop(name, Accessor::new(getter, setter).configurable())?;
        }
    }
    Ok(())
}

/// Evaluates a lazy module and replaces its getters with plain data properties.
fn load_module<'js>(ctx: &Ctx<'js>, index: usize, shared: &Rc<Shared>) -> rquickjs::Result<()> {
    let module = &MODULES[index];
    let mut options = rquickjs::context::EvalOptions::default();
    options.global = true;
    options.strict = true;
    options.filename = Some(module.file.to_owned());
    let value: Value<'_> = ctx.eval_with_options(module.source, options)?;
    let globals = ctx.globals();
    if let Some(factory) = value.as_function() {
        let export: Value<'_> = factory.call((log_function(ctx, shared)?,))?;
        globals.prop(
            module.exports[0],
            Property::from(export).writable().configurable(),
        )?;
    } else {
        let exports = value.as_object().ok_or_else(|| {
            Exception::throw_internal(ctx, "a built-in module did not return its exports")
        })?;
        for &name in module.exports {
            let export: Value<'_> = exports.get(name)?;
            globals.prop(name, Property::from(export).writable().configurable())?;
        }
    }
    Ok(())
}

/// `log(level, text)`: where console output enters the host, charged against the output limit.
fn log_function<'js>(ctx: &Ctx<'js>, shared: &Rc<Shared>) -> rquickjs::Result<Function<'js>> {
    let shared = shared.clone();
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, level: String, text: String| -> rquickjs::Result<()> {
            if !shared.running() {
                return Err(ended(&ctx));
            }
            let limit = shared.limits.get().output_bytes;
            let remaining = limit.saturating_sub(shared.output_used.get());
            if !shared.charge_output(text.len() + 1) {
                let mut cut = remaining.min(text.len());
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                let mut logs = shared.logs.borrow_mut();
                if cut > 0 {
                    logs.push(Log {
                        level: Level::parse(&level),
                        text: text[..cut].to_owned(),
                    });
                }
                logs.push(Log {
                    level: Level::Warn,
                    text: format!(
                        "[output truncated: the output limit of {limit} bytes was reached]"
                    ),
                });
                return Err(Exception::throw_internal(&ctx, "output limit exceeded"));
            }
            shared.logs.borrow_mut().push(Log {
                level: Level::parse(&level),
                text,
            });
            Ok(())
        },
    )
}

fn install_timers<'js>(
    ctx: &Ctx<'js>,
    globals: &Object<'js>,
    shared: &Rc<Shared>,
) -> rquickjs::Result<()> {
    for (name, repeat) in [("setTimeout", false), ("setInterval", true)] {
        let shared = shared.clone();
        let set = move |ctx: Ctx<'js>,
                        callback: Value<'js>,
                        delay: Opt<Value<'js>>,
                        args: Rest<Value<'js>>|
              -> rquickjs::Result<f64> {
            if !shared.running() {
                return Err(ended(&ctx));
            }
            let Some(callback) = callback.as_function().cloned() else {
                return Err(Exception::throw_type(
                    &ctx,
                    &format!("{name}: the callback must be a function"),
                ));
            };
            let ms = delay
                .0
                .and_then(|d| d.as_number())
                .filter(|d| d.is_finite() && *d > 0.0)
                .unwrap_or(0.0);
            let delay = Duration::from_secs_f64(ms.min(1e9) / 1000.0);
            let mut timers = shared.timers.borrow_mut();
            if timers.queue.len() >= MAX_TIMERS {
                return Err(Exception::throw_range(
                    &ctx,
                    &format!("{name}: too many pending timers (at most {MAX_TIMERS})"),
                ));
            }
            timers.next_id += 1;
            let id = timers.next_id;
            let due = Instant::now() + delay;
            timers.due.insert(id, due);
            timers.queue.insert(
                (due, id),
                Timer {
                    callback: Persistent::save(&ctx, callback),
                    args: args
                        .0
                        .into_iter()
                        .map(|a| Persistent::save(&ctx, a))
                        .collect(),
                    // Intervals of 0 would spin: Node clamps them to 1 ms.
                    repeat: repeat.then(|| delay.max(Duration::from_millis(1))),
                },
            );
            Ok(id as f64)
        };
        globals.set(name, Function::new(ctx.clone(), set)?)?;
    }
    for name in ["clearTimeout", "clearInterval"] {
        let shared = shared.clone();
        let clear = move |id: Opt<Value<'js>>| {
            let Some(id) = id.0.and_then(|v| v.as_number()) else {
                return;
            };
            let id = id as u64;
            let mut timers = shared.timers.borrow_mut();
            if let Some(due) = timers.due.remove(&id) {
                timers.queue.remove(&(due, id));
            }
        };
        globals.set(name, Function::new(ctx.clone(), clear)?)?;
    }
    Ok(())
}

fn install_crypto<'js>(ctx: &Ctx<'js>, globals: &Object<'js>) -> rquickjs::Result<()> {
    let crypto = Object::new(ctx.clone())?;
    crypto.set(
        "randomUUID",
        Function::new(ctx.clone(), |ctx: Ctx<'js>| -> rquickjs::Result<String> {
            let mut b = [0u8; 16];
            getrandom::fill(&mut b)
                .map_err(|_| Exception::throw_internal(&ctx, "no randomness available"))?;
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
            Ok(format!(
                "{}-{}-{}-{}-{}",
                h[0..4].concat(),
                h[4..6].concat(),
                h[6..8].concat(),
                h[8..10].concat(),
                h[10..16].concat()
            ))
        })?,
    )?;
    crypto.set(
        "getRandomValues",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, array: Value<'js>| -> rquickjs::Result<Value<'js>> {
                let integer_view = array.as_object().is_some_and(|o| {
                    [
                        "Int8Array",
                        "Uint8Array",
                        "Uint8ClampedArray",
                        "Int16Array",
                        "Uint16Array",
                        "Int32Array",
                        "Uint32Array",
                        "BigInt64Array",
                        "BigUint64Array",
                    ]
                    .iter()
                    .any(|c| {
                        ctx.globals()
                            .get::<_, Value<'_>>(*c)
                            .is_ok_and(|c| o.is_instance_of(c))
                    })
                });
                let Some(view) = array.as_object().filter(|_| integer_view) else {
                    return Err(Exception::throw_type(
                        &ctx,
                        "crypto.getRandomValues: expected an integer typed array",
                    ));
                };
                let length: usize = view.get("byteLength")?;
                if length > 65_536 {
                    return Err(Exception::throw_range(
                        &ctx,
                        "crypto.getRandomValues: at most 65536 bytes per call (QuotaExceededError)",
                    ));
                }
                let mut bytes = vec![0u8; length];
                getrandom::fill(&mut bytes)
                    .map_err(|_| Exception::throw_internal(&ctx, "no randomness available"))?;
                let buffer: Value<'_> = view.get("buffer")?;
                let offset: usize = view.get("byteOffset")?;
                let uint8: rquickjs::Constructor<'_> = ctx.globals().get("Uint8Array")?;
                let target: Object<'_> = uint8.construct((buffer, offset, length))?;
                let set: Function<'_> = target.get("set")?;
                set.call::<_, ()>((
                    This(target.clone()),
                    TypedArray::<u8>::new(ctx.clone(), bytes)?,
                ))?;
                Ok(array)
            },
        )?,
    )?;
    globals.set("crypto", crypto)
}

/// Installs one function per binding, creating namespace objects along each dotted path.
pub(super) fn bind_functions<'js>(
    ctx: &Ctx<'js>,
    shared: &Rc<Shared>,
    functions: &super::FunctionNames,
) -> Result<(), String> {
    let globals = ctx.globals();
    let mut created: HashSet<&str> = HashSet::new();
    let mut fetch_binding = None;
    for (index, function) in functions.iter().enumerate() {
        let (namespace, name) = (&function.namespace, &function.name);
        if (namespace.as_str(), name.as_str()) == crate::FETCH_BINDING {
            fetch_binding = Some(index);
            continue;
        }
        let mut segments = namespace.split('.');
        let root = segments.next().unwrap_or_default();
        if !created.contains(root) && globals.contains_key(root).unwrap_or(true) {
            return Err(format!(
                "binding namespace `{root}` would shadow the JavaScript global of that name; rename the namespace"
            ));
        }
        created.insert(root);
        let mut object = child(ctx, &globals, root).map_err(|e| e.to_string())?;
        for segment in segments {
            object = child(ctx, &object, segment).map_err(|e| e.to_string())?;
        }
        let path = format!("{namespace}.{name}");
        let function = if function.blocking {
            blocking_host_function(ctx, shared, index, path)
        } else {
            host_function(ctx, shared, index, path)
        }
        .map_err(|e| e.to_string())?;
        object
            .set(name.as_str(), function)
            .map_err(|e| e.to_string())?;
    }
    if let Some(index) = fetch_binding {
        install_fetch(ctx, shared, index)?;
    }
    Ok(())
}

/// Makes `fetch`, `Request`, `Response` and `Headers` lazy globals backed by binding `index`.
/// Last, so a namespace of the same name is refused rather than silently replaced.
fn install_fetch<'js>(ctx: &Ctx<'js>, shared: &Rc<Shared>, index: usize) -> Result<(), String> {
    let globals = ctx.globals();
    for &name in FETCH_MODULE.exports {
        if globals.contains_key(name).unwrap_or(true) {
            return Err(format!(
                "binding namespace `{name}` would shadow the fetch API's global of that name; rename the namespace"
            ));
        }
    }
    for &name in FETCH_MODULE.exports {
        let shared = shared.clone();
        let getter = move |ctx: Ctx<'js>| -> rquickjs::Result<Value<'js>> {
            load_fetch(&ctx, &shared, index)?;
            ctx.globals().get(name)
        };
        let setter = move |ctx: Ctx<'js>, value: Value<'js>| -> rquickjs::Result<()> {
            ctx.globals()
                .prop(name, Property::from(value).writable().configurable())
        };
        globals
            .prop(name, Accessor::new(getter, setter).configurable())
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Evaluates `fetch.js` with the host function and replaces the four getters with its exports.
fn load_fetch<'js>(ctx: &Ctx<'js>, shared: &Rc<Shared>, index: usize) -> rquickjs::Result<()> {
    let module = &FETCH_MODULE;
    let mut options = rquickjs::context::EvalOptions::default();
    options.global = true;
    options.strict = true;
    options.filename = Some(module.file.to_owned());
    let factory: Function<'_> = ctx.eval_with_options(module.source, options)?;
    // Created here rather than bound as a global, so code cannot reach (or replace) the raw
    // host function the classes are built on.
    let host = host_function(ctx, shared, index, "fetch".to_owned())?;
    let exports: Object<'_> = factory.call((host,))?;
    let globals = ctx.globals();
    for &name in module.exports {
        let export: Value<'_> = exports.get(name)?;
        globals.prop(name, Property::from(export).writable().configurable())?;
    }
    Ok(())
}

fn child<'js>(ctx: &Ctx<'js>, parent: &Object<'js>, key: &str) -> rquickjs::Result<Object<'js>> {
    if let Ok(existing) = parent.get::<_, Object<'_>>(key) {
        return Ok(existing);
    }
    let object = Object::new(ctx.clone())?;
    parent.set(key, object.clone())?;
    Ok(object)
}

/// What every host call checks first: that the execution runs, the host call limit (a call
/// over it ends the execution), and one argument; the call's id and the argument as JSON
/// text.
fn start_call<'js>(
    ctx: &Ctx<'js>,
    shared: &Shared,
    path: &str,
    args: Rest<Value<'js>>,
) -> rquickjs::Result<(u64, String)> {
    if !shared.running() {
        return Err(ended(ctx));
    }
    let limits = shared.limits.get();
    let count = shared.host_calls.get() + 1;
    if count > limits.host_calls {
        shared.stop(crate::Limit::HostCalls);
        return Err(Exception::throw_internal(
            ctx,
            &limits.describe(crate::Limit::HostCalls),
        ));
    }
    shared.host_calls.set(count);
    if args.0.len() > 1 {
        return Err(Exception::throw_type(
            ctx,
            &format!(
                "{path} takes one argument (an object with named fields); got {}",
                args.0.len()
            ),
        ));
    }
    let json = match args.0.into_iter().next() {
        None => "null".to_owned(),
        Some(v) => match ctx.json_stringify(v)? {
            Some(s) => s.to_string()?,
            None => "null".to_owned(),
        },
    };
    let id = shared.next_id.get() + 1;
    shared.next_id.set(id);
    Ok((id, json))
}

/// A blocking host function (see `Bindings::blocking_function`): the call is started as
/// any other and this thread waits for its answer, under the wall limit.
fn blocking_host_function<'js>(
    ctx: &Ctx<'js>,
    shared: &Rc<Shared>,
    index: usize,
    path: String,
) -> rquickjs::Result<Function<'js>> {
    let shared = shared.clone();
    let short_name = path.rsplit('.').next().unwrap_or_default().to_owned();
    let f = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, args: Rest<Value<'js>>| -> rquickjs::Result<Value<'js>> {
            let (id, json) = start_call(&ctx, &shared, &path, args)?;
            let started = Instant::now();
            if let Some(dispatch) = shared.dispatch.borrow().as_ref() {
                dispatch.start(id, index, json);
            }
            let answer = shared.wait_for(id);
            // Waiting is host time, as an inline answer is: off the CPU budget, on the wall.
            shared.credit_host_time(started.elapsed());
            match answer {
                Ok(Ok(text)) => ctx.json_parse(text).map_err(|_| {
                    let e = HostError::new("BAD_RESULT", "the host returned invalid JSON");
                    ctx.throw(host_error(&ctx, &e))
                }),
                Ok(Err(e)) => Err(ctx.throw(host_error(&ctx, &e))),
                // The wall limit stopped the wait (the execution ends with it), or the host
                // is gone.
                Err(why) => Err(Exception::throw_internal(&ctx, why)),
            }
        },
    )?;
    f.set_name(short_name)?;
    Ok(f)
}

fn host_function<'js>(
    ctx: &Ctx<'js>,
    shared: &Rc<Shared>,
    index: usize,
    path: String,
) -> rquickjs::Result<Function<'js>> {
    let shared = shared.clone();
    let short_name = path.rsplit('.').next().unwrap_or_default().to_owned();
    let f = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, args: Rest<Value<'js>>| -> rquickjs::Result<Value<'js>> {
            let (id, json) = start_call(&ctx, &shared, &path, args)?;
            let (promise, resolve, reject) = ctx.promise()?;
            shared.calls.borrow_mut().insert(
                id,
                (
                    Persistent::save(&ctx, resolve),
                    Persistent::save(&ctx, reject),
                ),
            );
            if let Some(dispatch) = shared.dispatch.borrow().as_ref() {
                let started = Instant::now();
                dispatch.start(id, index, json);
                shared.credit_host_time(started.elapsed());
            }
            Ok(promise.into_value())
        },
    )?;
    f.set_name(short_name)?;
    Ok(f)
}

/// What a host function throws when called outside its running execution.
fn ended(ctx: &Ctx<'_>) -> rquickjs::Error {
    Exception::throw_internal(ctx, "the execution has ended")
}

/// The JS error a host error becomes: `name`, `message`, `code`, and `data` when present.
pub(super) fn host_error<'js>(ctx: &Ctx<'js>, error: &HostError) -> Value<'js> {
    let build = || -> rquickjs::Result<Value<'js>> {
        let e = Exception::from_message(ctx.clone(), &error.message)?;
        let object = e.as_object();
        object.set("name", error.name.as_str())?;
        object.set("code", error.code.as_str())?;
        if let Some(data) = &error.data {
            let data = ctx.json_parse(data.to_string())?;
            object.set("data", data)?;
        }
        Ok(e.into_value())
    };
    build().unwrap_or_else(|_| Value::new_null(ctx.clone()))
}
