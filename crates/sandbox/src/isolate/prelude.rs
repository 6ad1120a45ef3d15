//! Host preludes compiled once per engine. A prelude is trusted host JavaScript (an agent
//! runtime, say) that runs before every execution that names it; parsing and compiling it
//! each time cost ~0.5 ms for 13 KB, so the first execution on an engine compiles it as a
//! module and keeps QuickJS's bytecode, and later ones load that.
//!
//! Architecture Invariant: only bytecode this engine wrote itself, from host text, is ever
//! loaded; nothing a guest or a peer process sends becomes bytecode.

#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use rquickjs::module::{Declared, WriteOptions};
use rquickjs::{Ctx, Module};

/// Preludes kept per engine; hosts use one or two.
const CAPACITY: usize = 8;

/// One compiled prelude: the hash and length of its text, and its bytecode.
type Entry = (u64, usize, Rc<[u8]>);

/// Compiled preludes of one engine, most recently used last.
#[derive(Default)]
pub(crate) struct PreludeCache {
    entries: RefCell<Vec<Entry>>,
}

fn key(source: &str) -> u64 {
    let mut h = DefaultHasher::new();
    source.hash(&mut h);
    h.finish()
}

impl PreludeCache {
    /// The prelude as a declared (not yet evaluated) module of `ctx`.
    pub(crate) fn declare<'js>(
        &self,
        ctx: &Ctx<'js>,
        name: &str,
        source: &str,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        let key = key(source);
        let cached = {
            let mut entries = self.entries.borrow_mut();
            let found = entries
                .iter()
                .position(|(k, len, _)| *k == key && *len == source.len());
            found.map(|i| {
                let entry = entries.remove(i);
                let bytes = Rc::clone(&entry.2);
                entries.push(entry);
                bytes
            })
        };
        if let Some(bytes) = cached {
            // SAFETY: `bytes` was produced by `Module::write` below, on this engine (same
            // QuickJS build, same process), from host-provided prelude text whose hash and
            // length match; QuickJS reads back its own bytecode format. Guest input never
            // reaches this cache.
            return unsafe { Module::load(ctx.clone(), &bytes) };
        }
        let module = Module::declare(ctx.clone(), name, source)?;
        // Without function sources: QuickJS keeps the text of every function (for
        // `toString`), nested ones again inside their parents, so a large prelude (an npm
        // bundle) costs several times its size to load; stripped, zod's loads in 4 ms
        // instead of 7. Functions loaded from the cache then `toString` without a body.
        let options = WriteOptions {
            strip_source: true,
            ..WriteOptions::default()
        };
        if let Ok(bytes) = module.write(options) {
            let mut entries = self.entries.borrow_mut();
            if entries.len() >= CAPACITY {
                entries.remove(0);
            }
            entries.push((key, source.len(), Rc::from(bytes)));
        }
        Ok(module)
    }
}
