//! Sandboxes started ahead of need. Starting one is bubblewrap's work (namespaces, mounts,
//! the init's exec: tens of milliseconds); a spare has done it already and has run
//! nothing, so taking one costs what a warm command costs. Each taken spare is replaced
//! in the background.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::error::Result;
use crate::sandbox::Linuxbox;

/// A pool of fresh, never-used sandboxes of one configuration.
#[derive(Debug)]
pub struct Spares {
    config: Config,
    ready: Arc<Mutex<VecDeque<Linuxbox>>>,
    size: usize,
}

impl Spares {
    /// Starts `size` sandboxes (at least one).
    pub async fn new(config: Config, size: usize) -> Result<Spares> {
        let size = size.max(1);
        let mut ready = VecDeque::with_capacity(size);
        for _ in 0..size {
            ready.push_back(Linuxbox::start(config.clone()).await?);
        }
        Ok(Spares {
            config,
            ready: Arc::new(Mutex::new(ready)),
            size,
        })
    }

    /// A fresh sandbox: a spare if one is ready (then another starts in the background),
    /// else one started now.
    pub async fn take(&self) -> Result<Linuxbox> {
        let spare = base::sync::lock(&self.ready).pop_front();
        let ready = Arc::downgrade(&self.ready);
        let config = self.config.clone();
        let size = self.size;
        tokio::spawn(async move {
            match Linuxbox::start(config).await {
                Ok(sandbox) => {
                    if let Some(ready) = ready.upgrade() {
                        let mut ready = base::sync::lock(&ready);
                        if ready.len() < size {
                            ready.push_back(sandbox);
                        }
                    }
                }
                Err(e) => tracing::warn!("could not start a spare sandbox: {e}"),
            }
        });
        match spare {
            Some(sandbox) => {
                sandbox.touch();
                Ok(sandbox)
            }
            None => Linuxbox::start(self.config.clone()).await,
        }
    }
}
