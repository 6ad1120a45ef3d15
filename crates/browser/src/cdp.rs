//! One DevTools Protocol connection: JSON messages over a WebSocket, calls matched to
//! answers by id, events routed by the session (page) they belong to.

use crate::Error;
use base::sync::lock;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// An event Chromium sent: `Page.loadEventFired`, `Fetch.requestPaused`…
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub method: String,
    pub params: Value,
}

type Reply = oneshot::Sender<Result<Value, Error>>;

#[derive(Default)]
struct Shared {
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, (String, Reply)>>,
    /// Events of each attached session (flattened sessions share the one socket).
    sessions: Mutex<HashMap<String, mpsc::UnboundedSender<Event>>>,
    /// Why the connection ended, once it has.
    closed: Mutex<Option<String>>,
}

impl Shared {
    fn close(&self, reason: String) {
        lock(&self.closed).get_or_insert(reason.clone());
        for (_, (_, reply)) in lock(&self.pending).drain() {
            let _ = reply.send(Err(Error::Closed {
                reason: reason.clone(),
            }));
        }
        // Dropping the senders ends every session's event stream.
        lock(&self.sessions).clear();
    }
}

/// A connection to one browser. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connection {
    outgoing: mpsc::UnboundedSender<String>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("closed", &self.closed_reason())
            .finish()
    }
}

/// How long one DevTools call may take before the caller gives up on it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl Connection {
    /// Connects to a browser's WebSocket endpoint (`ws://127.0.0.1:PORT/devtools/browser/…`).
    pub(crate) async fn connect(url: &str) -> Result<Connection, Error> {
        let (socket, _) =
            tokio_tungstenite::connect_async(url)
                .await
                .map_err(|e| Error::Launch {
                    program: url.to_owned(),
                    reason: format!(
                        "cannot open the DevTools WebSocket: {}",
                        base::error_chain(&e)
                    ),
                })?;
        let (mut sink, mut stream) = socket.split();
        let shared = Arc::new(Shared::default());
        let (outgoing, mut queue) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(text) = queue.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let reader = Arc::clone(&shared);
        tokio::spawn(async move {
            let reason = loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => dispatch(&reader, text.as_str()),
                    Some(Ok(Message::Binary(bytes))) => {
                        dispatch(&reader, &String::from_utf8_lossy(&bytes));
                    }
                    Some(Ok(Message::Close(_))) | None => {
                        break "the browser closed the DevTools connection".to_owned();
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break format!("DevTools connection failed: {e}"),
                }
            };
            reader.close(reason);
        });
        Ok(Connection { outgoing, shared })
    }

    /// Why the connection ended, or `None` while it is open.
    pub(crate) fn closed_reason(&self) -> Option<String> {
        lock(&self.shared.closed).clone()
    }

    /// Calls `method` on the browser (`session` `None`) or on an attached page.
    pub(crate) async fn send(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, Error> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let (reply, answer) = oneshot::channel();
        {
            // Registered under the lock `close` drains, so a call never waits on a
            // connection that already ended.
            let mut pending = lock(&self.shared.pending);
            if let Some(reason) = self.closed_reason() {
                return Err(Error::Closed { reason });
            }
            pending.insert(id, (method.to_owned(), reply));
        }
        if self.outgoing.send(message.to_string()).is_err() {
            lock(&self.shared.pending).remove(&id);
            return Err(Error::Closed {
                reason: "the DevTools connection is closed".into(),
            });
        }
        match tokio::time::timeout(CALL_TIMEOUT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Closed {
                reason: "the DevTools connection is closed".into(),
            }),
            Err(_) => {
                lock(&self.shared.pending).remove(&id);
                Err(Error::Timeout {
                    what: format!("DevTools call {method}"),
                    ms: CALL_TIMEOUT.as_millis() as u64,
                })
            }
        }
    }

    /// The events of `session` from now on (until [`Connection::unsubscribe`] or the end of
    /// the connection).
    pub(crate) fn subscribe(&self, session: &str) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        if self.closed_reason().is_none() {
            lock(&self.shared.sessions).insert(session.to_owned(), tx);
        }
        rx
    }

    pub(crate) fn unsubscribe(&self, session: &str) {
        lock(&self.shared.sessions).remove(session);
    }
}

fn dispatch(shared: &Shared, text: &str) {
    let Ok(mut message) = serde_json::from_str::<Value>(text) else {
        tracing::debug!("DevTools sent a message that is not JSON");
        return;
    };
    if let Some(id) = message.get("id").and_then(Value::as_u64) {
        let Some((method, reply)) = lock(&shared.pending).remove(&id) else {
            return;
        };
        let result = match message.get_mut("error") {
            Some(error) => Err(Error::Protocol {
                method,
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error")
                    .to_owned(),
            }),
            None => Ok(message
                .get_mut("result")
                .map(Value::take)
                .unwrap_or(Value::Null)),
        };
        let _ = reply.send(result);
        return;
    }
    let (Some(method), Some(session)) = (
        message
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_owned),
        message
            .get("sessionId")
            .and_then(Value::as_str)
            .map(str::to_owned),
    ) else {
        return; // Browser-level events: nothing here listens to them.
    };
    let event = Event {
        method,
        params: message
            .get_mut("params")
            .map(Value::take)
            .unwrap_or(Value::Null),
    };
    let sessions = lock(&shared.sessions);
    if let Some(tx) = sessions.get(&session) {
        let _ = tx.send(event);
    }
}
