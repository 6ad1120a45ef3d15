//! Host preludes compiled once per engine. A prelude is trusted host JavaScript (an agent
//! runtime, say) that runs before every execution that names it; parsing and compiling it
//! each time cost ~0.5 ms for 13 KB, so the first execution on an engine compiles it as a
//! module and keeps QuickJS's bytecode, and later ones load that.
//!
//! Architecture Invariant: only bytecode this engine wrote itself, from host text, is ever
//! loaded; nothing a guest or a peer process sends becomes bytecode.

#![allow(unsafe_code)]

use std::cell::RefCell;
use std::rc::Rc;

use rquickjs::module::{Declared, WriteOptions};
use rquickjs::{Ctx, Module};

/// Preludes kept per engine; hosts use one or two.
const CAPACITY: usize = 8;

/// Preludes this large (npm bundles; the agent runtime is 13 KB) lose their debug
/// information in the cache (see [`PreludeCache::declare`]).
const STRIP_DEBUG_FROM: usize = 64 << 10;

/// One compiled prelude: its text, and its bytecode.
///
/// Found by comparing the text itself, not a hash of it: a prelude may hold registry
/// code (an npm bundle), so no text must be able to pass for another's, and comparing
/// (lengths first, then bytes) costs less than hashing: SipHash of zod's 0.8 MB bundle
/// took ~0.4 ms of every execution, `memcmp` takes a tenth of that.
type Entry = (Box<str>, Rc<[u8]>);

/// Compiled preludes of one engine, most recently used last.
#[derive(Default)]
pub(crate) struct PreludeCache {
    entries: RefCell<Vec<Entry>>,
}

impl PreludeCache {
    /// The prelude as a declared (not yet evaluated) module of `ctx`.
    pub(crate) fn declare<'js>(
        &self,
        ctx: &Ctx<'js>,
        name: &str,
        source: &str,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        let cached = {
            let mut entries = self.entries.borrow_mut();
            let found = entries
                .iter()
                .position(|(text, _)| text.len() == source.len() && **text == *source);
            found.map(|i| {
                let entry = entries.remove(i);
                let bytes = Rc::clone(&entry.1);
                entries.push(entry);
                bytes
            })
        };
        if let Some(bytes) = cached {
            // SAFETY: `bytes` was produced by `Module::write` below, on this engine (same
            // QuickJS build, same process), from host-provided prelude text equal to
            // `source`; QuickJS reads back its own bytecode format. Guest input never
            // reaches this cache.
            return unsafe { Module::load(ctx.clone(), &bytes) };
        }
        let module = Module::declare(ctx.clone(), name, source)?;
        // Without function sources: QuickJS keeps the text of every function (for
        // `toString`), nested ones again inside their parents, so a large prelude (an npm
        // bundle) costs several times its size to load; stripped, zod's loads in 4 ms
        // instead of 7. Functions loaded from the cache then `toString` without a body.
        //
        // A large prelude (an npm bundle) is written without debug information too: the
        // line table and file name of every function were read, allocated and freed on
        // every execution. Its frames then show in stacks without a position; positions
        // in the code as sent come from the code's own frames, which keep theirs.
        let options = WriteOptions {
            strip_source: true,
            strip_debug: source.len() >= STRIP_DEBUG_FROM,
            ..WriteOptions::default()
        };
        if let Ok(mut bytes) = module.write(options) {
            // The header's checksum (bytes 1..5, after the format version) set to
            // `u32::MAX`, QuickJS's "not checked": reading the bytecode otherwise sums the
            // whole buffer first (a serial multiply per 4 bytes, ~0.4 ms of every
            // execution for zod's bundle), which guards against damage in transit or on
            // disk; this copy never leaves the engine's memory.
            if let Some(checksum) = bytes.get_mut(1..5) {
                checksum.fill(0xff);
            }
            let mut entries = self.entries.borrow_mut();
            if entries.len() >= CAPACITY {
                entries.remove(0);
            }
            entries.push((source.into(), Rc::from(bytes)));
        }
        Ok(module)
    }
}
