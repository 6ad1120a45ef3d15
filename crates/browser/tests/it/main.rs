//! The browser rung against pages served on loopback, in Debian's Chromium.

mod given;
mod issue17;
