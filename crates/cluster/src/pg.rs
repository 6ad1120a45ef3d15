//! Connections to the cluster's database: a few clients, each reconnected when its
//! connection broke (PostgreSQL restarted), so a node rides out an outage with failed calls
//! rather than a restart.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agents::DurableCopy;
use base::sync::lock;
use tokio_postgres::{Client, Config, NoTls};

use crate::{Error, Result};

/// How long connecting may take before the call that needed the connection fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub(crate) struct Pool {
    config: Config,
    /// `sslmode=require` in the URL: every connection is TLS, the server verified.
    tls: Option<crate::tls::Tls>,
    target: String,
    slots: Vec<Slot>,
    next: AtomicUsize,
}

struct Slot {
    client: Mutex<Option<Arc<Client>>>,
    /// One reconnect at a time per slot.
    connecting: tokio::sync::Mutex<()>,
}

impl Pool {
    pub(crate) async fn connect(url: &str, size: usize) -> Result<Pool> {
        let tls_settings = crate::tls::settings(url);
        let tls = match &tls_settings.required {
            Some(root) => Some(crate::tls::Tls::new(
                root.as_deref().map(std::path::Path::new),
            )?),
            None => None,
        };
        let mut config: Config = tls_settings.url.parse().map_err(|e| {
            Error::Config(format!(
                "the cluster URL is not a PostgreSQL connection string ({}); use \
             postgres://USER@HOST:PORT/DB",
                crate::error::describe(&e)
            ))
        })?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("islet");
        let target = config
            .get_hosts()
            .iter()
            .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
            .map(|(host, port)| match host {
                tokio_postgres::config::Host::Tcp(h) => format!("{h}:{port}"),
                tokio_postgres::config::Host::Unix(p) => format!("{}:{port}", p.display()),
            })
            .collect::<Vec<_>>()
            .join(",");
        let pool = Pool {
            config,
            tls,
            target,
            slots: (0..size)
                .map(|_| Slot {
                    client: Mutex::new(None),
                    connecting: tokio::sync::Mutex::new(()),
                })
                .collect(),
            next: AtomicUsize::new(0),
        };
        // Fail at start-up, with the reason, rather than at the first request.
        pool.get().await?;
        Ok(pool)
    }

    /// A live client (round robin over the slots), reconnecting a broken one.
    pub(crate) async fn get(&self) -> Result<Arc<Client>> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        if let Some(client) = lock(&slot.client).as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(client));
        }
        let _connecting = slot.connecting.lock().await;
        if let Some(client) = lock(&slot.client).as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(client));
        }
        let failed = |e: tokio_postgres::Error| Error::Connect {
            target: self.target.clone(),
            message: crate::error::describe(&e),
        };
        let ended = |e: tokio_postgres::Error| {
            tracing::warn!(error = %crate::error::describe(&e), "connection to the cluster's PostgreSQL ended");
        };
        let client = match &self.tls {
            Some(tls) => {
                let (client, connection) =
                    self.config.connect(tls.clone()).await.map_err(failed)?;
                tokio::spawn(async move { connection.await.unwrap_or_else(ended) });
                client
            }
            None => {
                let (client, connection) = self.config.connect(NoTls).await.map_err(failed)?;
                tokio::spawn(async move { connection.await.unwrap_or_else(ended) });
                client
            }
        };
        let client = Arc::new(client);
        *lock(&slot.client) = Some(Arc::clone(&client));
        Ok(client)
    }
}

/// An agent's snapshot and the log after it.
pub(crate) async fn restore(pool: &Pool, agent: &str) -> Result<DurableCopy> {
    let client = pool.get().await?;
    let snapshot = client
        .query_opt(
            "SELECT seq, image FROM islet_agent_snapshots WHERE agent = $1",
            &[&agent],
        )
        .await
        .map_err(Error::pg("reading a snapshot"))?;
    let (base, image) = snapshot.map_or((0, Vec::new()), |row| {
        (row.get::<_, i64>(0), row.get::<_, Vec<u8>>(1))
    });
    let rows = client
        .query(
            "SELECT seq, frames FROM islet_agent_log WHERE agent = $1 AND seq > $2 ORDER BY seq",
            &[&agent, &base],
        )
        .await
        .map_err(Error::pg("reading an agent's log"))?;
    let mut seq = base;
    let mut segments = Vec::with_capacity(rows.len());
    for row in rows {
        let next: i64 = row.get(0);
        if next != seq + 1 {
            return Err(Error::Corrupt(format!(
                "the log of {agent} jumps from segment {seq} to {next}: it cannot be restored"
            )));
        }
        seq = next;
        segments.push(row.get::<_, Vec<u8>>(1));
    }
    Ok(DurableCopy {
        image,
        segments,
        seq: seq as u64,
    })
}
