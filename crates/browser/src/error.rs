//! The crate's one error type, with the stable codes code in an isolate sees.

use base::ErrorKind;

/// Everything that can go wrong driving the browser.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No Chromium to start.
    #[error(
        "no Chromium found (looked for {looked}); install Debian's `chromium` package, or pass \
         --chromium PATH, or --cdp-url ws://… for a browser that is already running"
    )]
    NotFound {
        /// Where it looked.
        looked: String,
    },
    /// Chromium did not start or did not offer its DevTools endpoint.
    #[error("starting Chromium ({program}) failed: {reason}")]
    Launch {
        /// The executable started.
        program: String,
        /// What went wrong.
        reason: String,
    },
    /// The browser went away (crashed, killed, or shut down) while a call needed it. The
    /// next call starts a new one.
    #[error("the browser is gone ({reason}); the next call starts a new one")]
    Closed {
        /// Why the connection ended, as far as known.
        reason: String,
    },
    /// Chromium answered a DevTools call with an error.
    #[error("Chromium refused {method}: {message}")]
    Protocol {
        /// The DevTools method called.
        method: String,
        /// Chromium's error message.
        message: String,
    },
    /// The execution's fetch policy (or the browser rung's own rules) refused a URL.
    #[error("{message}")]
    Refused {
        /// The fetch error code (`HOST_NOT_ALLOWED` …), which the code sees.
        code: &'static str,
        /// The URL and what to do instead.
        message: String,
    },
    /// A navigation failed (network error, refused subresource of the main document…).
    #[error("navigation to {url} failed: {reason}")]
    Navigation {
        /// Where the page was sent.
        url: String,
        /// Chromium's or the policy's reason.
        reason: String,
    },
    /// A page load, a wait or a DevTools call took longer than allowed.
    #[error("{what} timed out after {ms} ms")]
    Timeout {
        /// What was waited for.
        what: String,
        /// The time allowed, in milliseconds.
        ms: u64,
    },
    /// The code passed something unusable.
    #[error("{0}")]
    Invalid(String),
    /// A result over its cap.
    #[error("{what} is {bytes} bytes, over the {limit}-byte cap; {hint}")]
    TooLarge {
        /// The result that was too large.
        what: String,
        /// Its size.
        bytes: usize,
        /// The cap it exceeded.
        limit: usize,
        /// How to ask for less.
        hint: &'static str,
    },
    /// Code evaluated in the page threw.
    #[error("the page's script threw: {0}")]
    Script(String),
    /// Reading or writing the browser's files or pipes failed.
    #[error("browser I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The code the program sees (`e.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound { .. } | Error::Launch { .. } => "BROWSER_UNAVAILABLE",
            Error::Closed { .. } => "BROWSER_GONE",
            Error::Protocol { .. } => "CDP_ERROR",
            Error::Refused { code, .. } => code,
            Error::Navigation { .. } => "NAVIGATION_FAILED",
            Error::Timeout { .. } => "TIMEOUT",
            Error::Invalid(_) => "INVALID_ARGUMENT",
            Error::TooLarge { .. } => "TOO_LARGE",
            Error::Script(_) => "PAGE_SCRIPT_ERROR",
            Error::Io(_) => "BROWSER_IO",
        }
    }

    /// The category of the failure, for the host's translation (e.g. an HTTP status).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } | Error::Launch { .. } | Error::Closed { .. } => {
                ErrorKind::Unavailable
            }
            Error::Protocol { .. } | Error::Navigation { .. } => ErrorKind::Upstream,
            Error::Refused { .. } | Error::Invalid(_) => ErrorKind::Invalid,
            Error::Timeout { .. } => ErrorKind::Limit,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::Script(_) => ErrorKind::CodeFailed,
            Error::Io(_) => ErrorKind::Internal,
        }
    }
}

/// The translation point: a browser error as the exception code in the isolate sees.
impl From<Error> for sandbox::HostError {
    fn from(error: Error) -> Self {
        let name = match &error {
            Error::Refused { .. } => "FetchError",
            Error::Invalid(_) => "TypeError",
            _ => "BrowserError",
        };
        sandbox::HostError::new(error.code(), error.to_string())
            .with_name(name)
            .with_kind(error.kind())
    }
}
