//! The worker process: hosts isolates for a supervisor, over a Unix socket on its stdin.
//!
//! Threads: one reader (frames in), executor threads, each with its own engine and one
//! isolate at a time, and the scheduler's steal thread (see `crate::scheduler`). Outgoing
//! frames share one writer behind a lock.

use super::frame::{FromWorker, ToWorker, read_frame, write_frame};
use crate::executor::{EXECUTOR_STACK_BYTES, Executor, Work};
use crate::harden::Layer;
use crate::isolate::{Completion, HostDispatch};
use crate::outcome::JsError;
use crate::scheduler::{HomeCell, NO_HOME, Next, Placed, Queues, Scheduler, SessionRun};
use crate::{Limits, Preload};
use base::sync::lock;
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Instant;

type Writer = Arc<Mutex<UnixStream>>;
/// Executions in flight, by id: where their host results go.
type Running = Arc<Mutex<HashMap<u64, Sender<Completion>>>>;

struct Run {
    id: u64,
    code: String,
    prelude: Option<Arc<str>>,
    preload: Option<Preload>,
    functions: Vec<crate::FunctionName>,
    limits: Limits,
    /// A session's run: the session, the run's number and its entry's input.
    session: Option<(u64, u64, serde_json::Value)>,
    completions: Receiver<Completion>,
}

/// Serves the supervisor on `socket` until it closes the connection. `layers` is the
/// hardening report to announce. Returns when the supervisor is gone.
pub fn serve(socket: UnixStream, executors: usize, layers: Vec<Layer>) -> std::io::Result<()> {
    let writer: Writer = Arc::new(Mutex::new(socket.try_clone()?));
    send(
        &writer,
        &FromWorker::Ready {
            pid: std::process::id(),
            layers,
        },
    )?;

    let running: Running = Arc::default();
    let (scheduler, queues) = Scheduler::<Run, Run>::new(executors.max(1));
    for (i, queues) in queues.into_iter().enumerate() {
        let writer = writer.clone();
        let running = running.clone();
        std::thread::Builder::new()
            .name(format!("islet-worker-{i}"))
            .stack_size(EXECUTOR_STACK_BYTES)
            .spawn(move || executor(&queues, &writer, &running))?;
    }
    // Host preludes by id: each is sent once per worker.
    let mut preludes: HashMap<u64, Arc<str>> = HashMap::new();
    // Where each session's live isolate is (see `Session`).
    let mut sessions: HashMap<u64, HomeCell> = HashMap::new();
    // This reader must not wait out a busy home itself.
    let stealer = scheduler.steal_thread("islet-worker-steal")?;

    let mut input = BufReader::new(socket);
    while let Some(message) = read_frame::<ToWorker>(&mut input)? {
        match message {
            ToWorker::Execute {
                id,
                code,
                prelude,
                prelude_id,
                preload,
                preload_id,
                preload_script,
                functions,
                limits,
                session,
            } => {
                let prelude = known_text(&mut preludes, prelude, prelude_id);
                let preload = known_text(&mut preludes, preload, preload_id);
                let (Ok(prelude), Ok(preload)) = (prelude, preload) else {
                    let error = JsError::new(
                        "SandboxError",
                        "the isolate worker was never sent this execution's prelude (a bug in islet); run it again",
                    );
                    let outcome = crate::isolate::error_outcome(error, Instant::now());
                    send(
                        &writer,
                        &FromWorker::Outcome {
                            execution: id,
                            outcome: Box::new(outcome),
                        },
                    )?;
                    continue;
                };
                let preload = preload.map(|module| Preload {
                    module,
                    script: preload_script.map(Into::into),
                });
                let (tx, completions) = crossbeam_channel::unbounded();
                lock(&running).insert(id, tx);
                let home = session.as_ref().map(|(session, ..)| {
                    let cell = sessions
                        .entry(*session)
                        .or_insert_with(|| Arc::new(AtomicUsize::new(NO_HOME)));
                    Arc::clone(cell)
                });
                let run = Run {
                    id,
                    code,
                    prelude,
                    preload,
                    functions,
                    limits,
                    session,
                    completions,
                };
                match home {
                    Some(home) => {
                        let run = SessionRun::new(home, run);
                        if let Ok(Placed::Home) = scheduler.submit_session(&run) {
                            stealer.after(run);
                        }
                    }
                    None => {
                        let _ = scheduler.submit(run);
                    }
                }
            }
            ToWorker::EndSession { session } => {
                sessions.remove(&session);
                scheduler.forget(session);
            }
            ToWorker::HostResult {
                execution,
                call,
                result,
            } => {
                if let Some(tx) = lock(&running).get(&execution) {
                    let _ = tx.send(Completion { id: call, result });
                }
            }
        }
    }
    Ok(())
}

/// A prelude's or preload's text: sent in this frame (kept under its id for later ones),
/// or sent earlier on this connection (the supervisor keeps track). `Err` when an id names
/// a text never sent.
fn known_text(
    texts: &mut HashMap<u64, Arc<str>>,
    text: Option<String>,
    id: Option<u64>,
) -> Result<Option<Arc<str>>, ()> {
    match (text, id) {
        (Some(text), Some(id)) => {
            let text: Arc<str> = text.into();
            texts.insert(id, Arc::clone(&text));
            Ok(Some(text))
        }
        (Some(text), None) => Ok(Some(text.into())),
        (None, Some(id)) => texts.get(&id).map(|text| Some(Arc::clone(text))).ok_or(()),
        (None, None) => Ok(None),
    }
}

fn send(writer: &Writer, message: &FromWorker) -> std::io::Result<()> {
    write_frame(&mut *lock(writer), message)
}

fn executor(queues: &Queues<Run, Run>, writer: &Writer, running: &Running) {
    let mut executor = match Executor::new() {
        Ok(executor) => Some(executor),
        Err(e) => {
            tracing::error!("isolate thread cannot start: {e}");
            None
        }
    };
    // A thread without an engine fails what it takes and must not draw sessions' runs.
    while let Some(next) = queues.next(executor.is_some()) {
        let run = match next {
            Next::Job(run) | Next::Session(run) => run,
            Next::Forget(session) => {
                if let Some(executor) = &mut executor {
                    executor.end_session(session);
                }
                continue;
            }
        };
        let started = Instant::now();
        let id = run.id;
        let work = Work {
            code: &run.code,
            prelude: run.prelude.as_ref(),
            preload: run.preload.as_ref(),
            functions: &run.functions,
            limits: &run.limits,
            dispatch: Box::new(SocketDispatch {
                execution: id,
                writer: writer.clone(),
            }),
            completions: &run.completions,
        };
        let mut outcome = match (&mut executor, &run.session) {
            (Some(executor), Some((session, seq, input))) => {
                executor.run_session(*session, *seq, work, input)
            }
            (Some(executor), None) => executor.execute(work),
            (None, _) => crate::isolate::error_outcome(
                JsError::new(
                    "SandboxError",
                    "the worker's isolate engine could not start",
                ),
                started,
            ),
        };
        outcome.stats.wall_us = started.elapsed().as_micros() as u64;
        lock(running).remove(&id);
        if send(
            writer,
            &FromWorker::Outcome {
                execution: id,
                outcome: Box::new(outcome),
            },
        )
        .is_err()
        {
            return;
        }
        if let Some(executor) = &mut executor {
            executor.after_reply();
        }
    }
}

/// Host calls leave the worker as frames; the supervisor runs them and answers.
struct SocketDispatch {
    execution: u64,
    writer: Writer,
}

impl HostDispatch for SocketDispatch {
    fn start(&self, id: u64, binding: usize, args: String) {
        let call = FromWorker::HostCall {
            execution: self.execution,
            call: id,
            binding,
            args,
        };
        // A write error means the supervisor is gone; the wall limit ends the execution.
        let _ = send(&self.writer, &call);
    }
}
