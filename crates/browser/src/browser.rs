//! [`Browser`]: one Chromium, started on first use and again after it dies, and
//! [`Context`]: one execution's private browser context (cookies, storage, pages).

use crate::Error;
use crate::cdp::Connection;
use crate::launch::{self, Process};
use crate::page::{Page, PageLimits};
use base::sync::lock;
use codemode::egress::Fetcher;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How islet finds and bounds its browser.
#[derive(Debug, Clone)]
pub struct BrowserConfig {
    /// The Chromium program; `None`: `chromium` (or a Chrome) found on `PATH`.
    pub chromium: Option<PathBuf>,
    /// Use the browser already running at this DevTools WebSocket URL instead of starting
    /// one (`ws://127.0.0.1:9222/devtools/browser/…`). islet neither starts nor stops it.
    pub cdp_url: Option<String>,
    /// Browser contexts open at once (one per execution using the browser); more wait.
    pub max_contexts: usize,
    /// Pages one execution may have open at once.
    pub max_pages: usize,
    /// Cap on text results (markdown, HTML, evaluate's JSON), in bytes.
    pub max_text_bytes: usize,
    /// Cap on screenshots and PDFs, in bytes.
    pub max_binary_bytes: usize,
    /// How long a navigation may take to reach its `load` event.
    pub navigation_timeout: Duration,
}

impl Default for BrowserConfig {
    fn default() -> Self {
        BrowserConfig {
            chromium: None,
            cdp_url: None,
            max_contexts: 4,
            max_pages: 8,
            max_text_bytes: 1 << 20,
            max_binary_bytes: 8 << 20,
            navigation_timeout: Duration::from_secs(20),
        }
    }
}

/// One browser process (or a connection to one), shared by every execution. Cheap to
/// create: Chromium starts on the first call that needs it.
#[derive(Debug)]
pub struct Browser {
    config: BrowserConfig,
    running: tokio::sync::Mutex<Option<Arc<Running>>>,
    contexts: Arc<Semaphore>,
    starts: AtomicU64,
}

#[derive(Debug)]
struct Running {
    connection: Connection,
    process: Mutex<Option<Process>>,
}

impl Running {
    fn is_alive(&self) -> bool {
        self.connection.closed_reason().is_none()
            && lock(&self.process).as_mut().is_none_or(Process::is_running)
    }
}

impl Browser {
    /// A browser that starts (or connects) on first use, not now.
    pub fn new(config: BrowserConfig) -> Arc<Browser> {
        Arc::new(Browser {
            contexts: Arc::new(Semaphore::new(config.max_contexts.max(1))),
            config,
            running: tokio::sync::Mutex::new(None),
            starts: AtomicU64::new(0),
        })
    }

    /// Checks a browser can be found, without starting it (for start-up errors and
    /// `islet doctor`).
    pub fn check(&self) -> Result<(), Error> {
        if self.config.cdp_url.is_some() {
            return Ok(());
        }
        launch::find(self.config.chromium.as_deref()).map(drop)
    }

    /// The configuration it starts Chromium with.
    pub fn config(&self) -> &BrowserConfig {
        &self.config
    }

    /// How many times a browser was started (or connected to).
    pub fn starts(&self) -> u64 {
        self.starts.load(Ordering::Relaxed)
    }

    /// The running browser, started (again) if there is none or it died.
    async fn running(&self) -> Result<Arc<Running>, Error> {
        let mut slot = self.running.lock().await;
        if let Some(running) = slot.as_ref()
            && running.is_alive()
        {
            return Ok(Arc::clone(running));
        }
        if slot.take().is_some() {
            tracing::warn!(target: "islet::browser", "the browser died; starting a new one");
        }
        let running = match &self.config.cdp_url {
            Some(url) => Running {
                connection: Connection::connect(url).await?,
                process: Mutex::new(None),
            },
            None => {
                let program = launch::find(self.config.chromium.as_deref())?;
                let process = Process::start(&program).await?;
                Running {
                    connection: Connection::connect(&process.endpoint).await?,
                    process: Mutex::new(Some(process)),
                }
            }
        };
        self.starts.fetch_add(1, Ordering::Relaxed);
        let running = Arc::new(running);
        *slot = Some(Arc::clone(&running));
        Ok(running)
    }

    /// Starts the browser now rather than on first use.
    pub async fn warm_up(&self) -> Result<(), Error> {
        self.running().await.map(drop)
    }

    /// The browser process's id, while one islet started is running.
    pub async fn pid(&self) -> Option<u32> {
        let slot = self.running.lock().await;
        let running = slot.as_ref()?;
        lock(&running.process).as_ref().and_then(Process::pid)
    }

    /// The process group of a browser islet started, while it runs: every process of
    /// the browser (and islet's small watcher, see `launch.rs`) is in it.
    pub async fn process_group(&self) -> Option<u32> {
        let slot = self.running.lock().await;
        let running = slot.as_ref()?;
        lock(&running.process).as_ref().and_then(Process::group)
    }

    /// Resident memory of the browser and every process it started, in bytes (Linux).
    pub async fn resident_bytes(&self) -> Option<u64> {
        let group = self.process_group().await?;
        Some(launch::group_resident_bytes(group))
    }

    /// Closes the browser (a browser islet started is killed with every process it
    /// started). A later call starts a new one.
    pub async fn shutdown(&self) {
        let running = self.running.lock().await.take();
        if let Some(running) = running {
            let started_here = lock(&running.process).is_some();
            if started_here {
                let _ = tokio::time::timeout(
                    Duration::from_secs(2),
                    running.connection.send(None, "Browser.close", json!({})),
                )
                .await;
            }
            // Dropping the process kills its group and removes the profile.
            drop(lock(&running.process).take());
        }
    }

    /// A new private browser context for one execution, checking every request its pages
    /// make against `fetcher`'s policy. Waits while `max_contexts` are open.
    pub async fn context(self: &Arc<Self>, fetcher: Arc<Fetcher>) -> Result<Context, Error> {
        let permit = Arc::clone(&self.contexts)
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed {
                reason: "the browser is shutting down".into(),
            })?;
        let running = self.running().await?;
        let created = running
            .connection
            .send(
                None,
                "Target.createBrowserContext",
                json!({ "disposeOnDetach": true }),
            )
            .await?;
        let id = created["browserContextId"]
            .as_str()
            .ok_or_else(|| Error::Protocol {
                method: "Target.createBrowserContext".into(),
                message: "no browserContextId in the answer".into(),
            })?
            .to_owned();
        Ok(Context {
            inner: Arc::new(ContextInner {
                running,
                id,
                fetcher,
                limits: PageLimits::from(&self.config),
                max_pages: self.config.max_pages.max(1),
                pages: Mutex::new(HashMap::new()),
                next_page: AtomicU32::new(1),
                _permit: permit,
            }),
        })
    }
}

/// One execution's browser context: its own cookies and storage, its pages, and the fetch
/// policy every request of theirs passes. Closing it (or dropping it) closes its pages.
#[derive(Debug, Clone)]
pub struct Context {
    inner: Arc<ContextInner>,
}

#[derive(Debug)]
struct ContextInner {
    running: Arc<Running>,
    id: String,
    fetcher: Arc<Fetcher>,
    limits: PageLimits,
    max_pages: usize,
    pages: Mutex<HashMap<u32, Arc<Page>>>,
    next_page: AtomicU32,
    _permit: OwnedSemaphorePermit,
}

impl Drop for ContextInner {
    fn drop(&mut self) {
        // Disposing the context closes its pages; best effort, off the dropping thread.
        if self.running.connection.closed_reason().is_some() {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let connection = self.running.connection.clone();
            let id = std::mem::take(&mut self.id);
            handle.spawn(async move {
                let _ = connection
                    .send(
                        None,
                        "Target.disposeBrowserContext",
                        json!({ "browserContextId": id }),
                    )
                    .await;
            });
        }
    }
}

impl Context {
    /// Whether the browser this context lives in has gone (its pages with it).
    pub fn is_gone(&self) -> bool {
        !self.inner.running.is_alive()
    }

    /// Opens a page (at `url` when given) and returns its number.
    pub async fn open(&self, url: Option<&str>) -> Result<u32, Error> {
        if lock(&self.inner.pages).len() >= self.inner.max_pages {
            return Err(Error::Invalid(format!(
                "this execution already has {} pages open; close one (page.close()) first",
                self.inner.max_pages
            )));
        }
        let page = Page::open(
            self.inner.running.connection.clone(),
            &self.inner.id,
            Arc::clone(&self.inner.fetcher),
            self.inner.limits.clone(),
        )
        .await?;
        let page = Arc::new(page);
        let number = self.inner.next_page.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.pages).insert(number, Arc::clone(&page));
        if let Some(url) = url
            && let Err(e) = page.goto(url).await
        {
            self.close_page(number).await;
            return Err(e);
        }
        Ok(number)
    }

    /// Page `number` of this context.
    pub fn page(&self, number: u32) -> Result<Arc<Page>, Error> {
        if let Some(page) = lock(&self.inner.pages).get(&number) {
            return Ok(Arc::clone(page));
        }
        Err(Error::Invalid(format!(
            "page {number} is closed (or was never opened); open one with browser.open(url)"
        )))
    }

    /// Closes page `number` of this context; nothing happens if it is already closed.
    pub async fn close_page(&self, number: u32) {
        let page = lock(&self.inner.pages).remove(&number);
        if let Some(page) = page {
            page.close().await;
        }
    }

    /// Closes every page and the context itself.
    pub async fn close(&self) {
        let pages: Vec<_> = lock(&self.inner.pages).drain().map(|(_, p)| p).collect();
        for page in pages {
            page.close().await;
        }
    }

    /// A quick action: `url` in a fresh page, `action` on it, the page closed either way.
    pub async fn quick<T, F>(&self, url: &str, action: F) -> Result<T, Error>
    where
        F: for<'p> FnOnce(&'p Page) -> futures::future::BoxFuture<'p, Result<T, Error>>,
    {
        let number = self.open(Some(url)).await?;
        let page = self.page(number)?;
        let result = action(&page).await;
        self.close_page(number).await;
        result
    }
}

impl From<&BrowserConfig> for PageLimits {
    fn from(config: &BrowserConfig) -> Self {
        PageLimits {
            text: config.max_text_bytes,
            binary: config.max_binary_bytes,
            navigation: config.navigation_timeout,
        }
    }
}
