//! Locks that survive a panic elsewhere.
//!
//! A thread that panics while holding a lock poisons it. In islet a panic is a bug already
//! reported where it happened; turning every later user of the same executor slot,
//! connection map or cache into a second panic would take a whole server down for it, so
//! the next user takes the data as the panicking section left it.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// `mutex.lock()`, ignoring poison.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `lock.read()`, ignoring poison.
pub fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

/// `lock.write()`, ignoring poison.
pub fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
