//! The execution ladder's browser rung: a `browser` binding that drives headless Chromium
//! over the Chrome DevTools Protocol.
//!
//! ```no_run
//! # async fn demo(fetcher: std::sync::Arc<codemode::egress::Fetcher>) {
//! use browser::{Browser, BrowserConfig};
//! use sandbox::{Bindings, Execution, Sandbox};
//! let chromium = Browser::new(BrowserConfig::default());
//! let (bindings, used) = browser::bind(Bindings::new(), &chromium, fetcher);
//! let sandbox = Sandbox::new(Default::default()).unwrap();
//! let outcome = sandbox
//!     .execute(
//!         Execution::new("await browser.markdown('https://example.com/')")
//!             .bindings(bindings)
//!             .prelude(browser::PRELUDE),
//!     )
//!     .await;
//! used.close().await;
//! # }
//! ```
//!
//! One Chromium ([`Browser`]) serves every execution, started on first use and again if it
//! dies; each execution gets its own browser context (cookies, storage, pages), closed when
//! it ends. Chromium never reaches the network: every request of every page is paused and
//! carried out by the execution's `codemode::egress::Fetcher`, so the allowlist, the
//! private-address guard and the size caps of `fetch` hold for pages too.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod binding;
#[allow(clippy::module_inception)]
mod browser;
mod cdp;
mod error;
mod launch;
mod page;

pub use binding::{BrowserCapability, DESCRIPTION, ExecutionBrowser, PRELUDE, bind, with_prelude};
pub use browser::{Browser, BrowserConfig, Context};
pub use error::Error;
pub use page::{Blocked, Page};
