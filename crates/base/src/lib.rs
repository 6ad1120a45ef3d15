//! The helpers every islet crate shares, each with one home so that a fix reaches every
//! caller: "did you mean" suggestions, text truncation, error chains, poison-tolerant
//! locks, process-unique names, and the categories of failure ([`ErrorKind`]).
//!
//! Architecture Invariant: this crate depends on nothing (not even islet's other crates),
//! so any crate may use it without pulling in a networking or storage stack.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod kind;
pub mod suggest;
pub mod sync;

pub use kind::ErrorKind;

use std::sync::atomic::{AtomicU64, Ordering};

/// `text` cut to `max` characters (not bytes: never inside a UTF-8 sequence), trailing
/// whitespace trimmed, with `…` when it was cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
        None => text.to_owned(),
    }
}

/// `error: cause: cause …`. The top error of an HTTP client or an I/O layer rarely says
/// what failed ("error sending request"); its sources do ("connection refused").
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `{prefix}-{pid}-{n}`: a name no other thread of this process, and no other process
/// alive at the same time, is given (for temporary files, directories, cgroups).
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo world", 6), "héllo…");
        assert_eq!(truncate("ééé", 2), "éé…");
        assert_eq!(truncate("", 0), "");
    }

    #[test]
    fn error_chain_names_every_cause() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error sending request")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(error_chain(&e), "error sending request: connection refused");
    }

    #[test]
    fn unique_names_differ() {
        let (a, b) = (unique_name("x"), unique_name("x"));
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("x-{}-", std::process::id())));
    }
}
