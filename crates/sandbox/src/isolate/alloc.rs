//! The isolate's heap allocator: libc malloc with an exact byte budget.
//!
//! QuickJS can enforce a memory limit itself, but when it runs out it sometimes cannot even
//! allocate the error it would throw (the guest sees `null`). Counting here tells us for
//! certain that the limit was hit, and gives the peak usage for free.
//!
//! It is also where a long native call meets the CPU and wall limits: QuickJS polls its
//! interrupt handler only in the interpreter and the regex engine, so a built-in such as
//! `Array.prototype.join` on a huge array would run to its end. While JavaScript runs, a
//! [`LARGE`] allocation past the deadline is refused: the work on huge values allocates
//! large buffers as it grows them, so such a call fails at its next growth. Small
//! allocations are never refused for time: QuickJS's compiler corrupts its heap when an
//! allocation fails in some of its passes, and a compilation (a lazily loaded Web API, an
//! `eval`) running into the deadline must not turn into that.
#![allow(unsafe_code)]

use rquickjs::allocator::Allocator;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

/// Allocations at least this large are checked against the deadline (a reading of the
/// clock costs about 20 ns: nothing next to allocating this much).
const LARGE: usize = 64 << 10;

/// Budget and usage, shared between the allocator and the isolate's event loop.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    pub(crate) limit: Cell<usize>,
    pub(crate) used: Cell<usize>,
    pub(crate) peak: Cell<usize>,
    /// Set once an allocation was refused for lack of budget.
    pub(crate) exhausted: Cell<bool>,
    /// While JavaScript runs: the instant it must stop by.
    pub(crate) deadline: Cell<Option<Instant>>,
    /// Set once an allocation was refused for being past `deadline`.
    pub(crate) timed_out: Cell<bool>,
}

impl Budget {
    /// Starts an execution's accounting: the peak restarts from what is in use now.
    pub(crate) fn start(&self, limit: usize) {
        self.limit.set(limit);
        self.peak.set(self.used.get());
        self.exhausted.set(false);
        self.timed_out.set(false);
    }

    /// False for a large allocation once the deadline (if any) has passed.
    fn in_time(&self, requested: usize) -> bool {
        if requested < LARGE {
            return true;
        }
        let Some(deadline) = self.deadline.get() else {
            return true;
        };
        if self.timed_out.get() || Instant::now() >= deadline {
            self.timed_out.set(true);
            return false;
        }
        true
    }

    fn admit(&self, released: usize, requested: usize) -> bool {
        if !self.in_time(requested) {
            return false;
        }
        let after = self
            .used
            .get()
            .saturating_sub(released)
            .saturating_add(requested);
        if after > self.limit.get() {
            self.exhausted.set(true);
            return false;
        }
        true
    }

    fn account(&self, released: usize, added: usize) {
        let used = self.used.get().saturating_sub(released) + added;
        self.used.set(used);
        if used > self.peak.get() {
            self.peak.set(used);
        }
    }
}

pub(crate) struct BudgetAllocator(pub(crate) Rc<Budget>);

fn usable(ptr: *mut u8) -> usize {
    if ptr.is_null() {
        return 0;
    }
    // SAFETY: `ptr` is non-null and was returned by libc's malloc/calloc/realloc below.
    unsafe { libc::malloc_usable_size(ptr.cast()) }
}

// SAFETY: every pointer handed out comes from libc's malloc family, which returns memory
// aligned for any fundamental type (≥ `usize`), or null; `usable_size` asks libc about
// pointers it allocated.
unsafe impl Allocator for BudgetAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.0.admit(0, size) {
            return std::ptr::null_mut();
        }
        // SAFETY: plain malloc; a null result is passed on to QuickJS, which handles it.
        let ptr = unsafe { libc::malloc(size) }.cast::<u8>();
        self.0.account(0, usable(ptr));
        ptr
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return std::ptr::null_mut();
        };
        if !self.0.admit(0, total) {
            return std::ptr::null_mut();
        }
        // SAFETY: plain calloc; a null result is passed on to QuickJS.
        let ptr = unsafe { libc::calloc(count, size) }.cast::<u8>();
        self.0.account(0, usable(ptr));
        ptr
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        self.0.account(usable(ptr), 0);
        // SAFETY: the caller guarantees `ptr` came from this allocator (libc malloc family).
        unsafe { libc::free(ptr.cast()) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        let old = usable(ptr);
        if !self.0.admit(old, new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller guarantees `ptr` is null or came from this allocator.
        let new = unsafe { libc::realloc(ptr.cast(), new_size) }.cast::<u8>();
        if !new.is_null() || new_size == 0 {
            self.0.account(old, usable(new));
        }
        new
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        usable(ptr)
    }
}
