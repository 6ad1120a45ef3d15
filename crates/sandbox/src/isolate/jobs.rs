//! The engine's job queue (promise reactions, `queueMicrotask`, FinalizationRegistry
//! callbacks), which QuickJS keeps per runtime: the jobs of every isolate on the thread are
//! in one queue.
//!
//! An execution runs only its own jobs, and only until it is terminated. Every other job
//! (left by a terminated execution, or queued by a finished isolate's FinalizationRegistry
//! when the garbage collector or its teardown freed a target) is *discarded*: QuickJS has
//! no call that removes a job, so it is executed with the stack limit set above the current
//! stack pointer. Every entry into JavaScript (`JS_CallInternal`, resuming an async
//! function or generator, calling a C or bound function) checks the stack first, so such a
//! job fails before any of its code runs; only host functions written in Rust are called
//! without that check, and they refuse to act outside their own running execution
//! (`Shared::running`). While discarding, the interrupt handler also answers "stop".
#![allow(unsafe_code)]

use rquickjs::{Ctx, qjs};
use std::cell::Cell;

/// Whose job is first in the queue.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    Empty,
    /// A job of the context asking.
    Own,
    /// A job of another context (isolate) of the engine.
    Foreign,
}

fn runtime(ctx: &Ctx<'_>) -> *mut qjs::JSRuntime {
    // SAFETY: `ctx` is a live context; its runtime outlives it.
    unsafe { qjs::JS_GetRuntime(ctx.as_raw().as_ptr()) }
}

pub(super) fn next(ctx: &Ctx<'_>) -> Next {
    // SAFETY: the runtime pointer is live (see `runtime`); the call only reads the queue's head.
    let head = unsafe { qjs::JS_GetPendingJobContext(runtime(ctx)) };
    if head.is_null() {
        Next::Empty
    } else if head == ctx.as_raw().as_ptr() {
        Next::Own
    } else {
        Next::Foreign
    }
}

/// Runs the first job, which must be `ctx`'s own ([`next`] said [`Next::Own`]); its
/// exception, if it threw one, is returned (taken off the context).
pub(super) fn run_own<'js>(ctx: &Ctx<'js>) -> Option<rquickjs::Value<'js>> {
    let mut ran_in = std::ptr::null_mut();
    // SAFETY: the runtime is live; `ran_in` receives the context the job ran in.
    let status = unsafe { qjs::JS_ExecutePendingJob(runtime(ctx), &mut ran_in) };
    if status >= 0 {
        return None;
    }
    debug_assert_eq!(ran_in, ctx.as_raw().as_ptr(), "only own jobs are run");
    Some(ctx.catch())
}

/// Anchors the stack limit at the caller's frame: JavaScript entered below it may use
/// `stack_bytes`. (QuickJS measures from a "stack top" it records once, wherever the
/// runtime happened to be created.)
pub(super) fn anchor_stack(ctx: &Ctx<'_>, stack_bytes: usize) {
    let rt = runtime(ctx);
    // SAFETY: the runtime is live; both calls only set its stack bounds.
    unsafe {
        qjs::JS_UpdateStackTop(rt);
        qjs::JS_SetMaxStackSize(rt, stack_bytes as qjs::size_t);
    }
}

/// Discards queued jobs without running their code (see the module's documentation):
/// the first one only while it belongs to another context (`only_foreign`), else all.
/// `discarding` is the engine's flag the interrupt handler and the rejection tracker read.
/// Afterwards the stack limit is `stack_bytes`, anchored here.
pub(super) fn discard(
    ctx: &Ctx<'_>,
    discarding: &Cell<bool>,
    stack_bytes: usize,
    only_foreign: bool,
) {
    let rt = runtime(ctx);
    discarding.set(true);
    // SAFETY: the runtime is live. A limit one byte below this frame fails every stack check
    // made deeper down, i.e. in any job run from here.
    unsafe {
        qjs::JS_UpdateStackTop(rt);
        qjs::JS_SetMaxStackSize(rt, 1);
    }
    loop {
        match next(ctx) {
            Next::Empty => break,
            Next::Own if only_foreign => break,
            // A discarded job fails by design; its exception is taken off its context so it
            // cannot surface anywhere later.
            Next::Own | Next::Foreign => {
                ctx.execute_pending_job();
            }
        }
    }
    anchor_stack(ctx, stack_bytes);
    discarding.set(false);
}
