//! The worker process: hosts isolates for a supervisor, over a Unix socket on its stdin.
//!
//! Threads: one reader (frames in), and executor threads, each with its own engine and one
//! isolate at a time. Outgoing frames share one writer behind a lock.

use super::frame::{FromWorker, ToWorker, read_frame, write_frame};
use crate::isolate::{Completion, Engine, HostDispatch};
use crate::normalize::normalize_with_stack;
use crate::outcome::JsError;
use crate::{Limits, Outcome};
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Stack of executor threads, as in-process (see `pool.rs`).
const EXECUTOR_STACK_BYTES: usize = Limits::MAX_STACK_BYTES + (8 << 20);

type Writer = Arc<Mutex<UnixStream>>;
/// Executions in flight, by id: where their host results go.
type Running = Arc<Mutex<HashMap<u64, Sender<Completion>>>>;

struct Job {
    id: u64,
    code: String,
    prelude: Option<String>,
    functions: Vec<(String, String)>,
    limits: Limits,
    completions: Receiver<Completion>,
}

/// Serves the supervisor on `socket` until it closes the connection. `layers` is the
/// hardening report to announce. Returns when the supervisor is gone.
pub fn serve(
    socket: UnixStream,
    executors: usize,
    layers: Vec<(String, bool, String)>,
) -> std::io::Result<()> {
    let writer: Writer = Arc::new(Mutex::new(socket.try_clone()?));
    send(
        &writer,
        &FromWorker::Ready {
            pid: std::process::id(),
            layers,
        },
    )?;

    let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
    let running: Running = Arc::default();
    for i in 0..executors.max(1) {
        let queue = queue.clone();
        let writer = writer.clone();
        let running = running.clone();
        std::thread::Builder::new()
            .name(format!("islet-worker-{i}"))
            .stack_size(EXECUTOR_STACK_BYTES)
            .spawn(move || executor(queue, writer, running))?;
    }

    let mut input = BufReader::new(socket);
    while let Some(message) = read_frame::<ToWorker>(&mut input)? {
        match message {
            ToWorker::Execute {
                id,
                code,
                prelude,
                functions,
                limits,
            } => {
                let (tx, completions) = crossbeam_channel::unbounded();
                lock(&running).insert(id, tx);
                let _ = jobs.send(Job {
                    id,
                    code,
                    prelude,
                    functions,
                    limits,
                    completions,
                });
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

fn send(writer: &Writer, message: &FromWorker) -> std::io::Result<()> {
    write_frame(&mut *lock(writer), message)
}

/// A poisoned lock only means another thread panicked mid-frame; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn executor(queue: Receiver<Job>, writer: Writer, running: Running) {
    let engine = match Engine::new() {
        Ok(engine) => engine,
        Err(e) => {
            for job in queue {
                let outcome = crate::isolate::error_outcome(
                    JsError::new("SandboxError", e.to_string()),
                    Instant::now(),
                );
                let _ = send(
                    &writer,
                    &FromWorker::Outcome {
                        execution: job.id,
                        outcome: Box::new(outcome),
                    },
                );
            }
            return;
        }
    };
    let mut prepared = engine.isolate().ok();
    while let Ok(job) = queue.recv() {
        let outcome = run(&engine, prepared.take(), &job, &writer);
        lock(&running).remove(&job.id);
        if send(
            &writer,
            &FromWorker::Outcome {
                execution: job.id,
                outcome: Box::new(outcome),
            },
        )
        .is_err()
        {
            return;
        }
        engine.collect_garbage();
        prepared = engine.isolate().ok();
    }
}

fn run(engine: &Engine, prepared: Option<crate::Isolate>, job: &Job, writer: &Writer) -> Outcome {
    let started = Instant::now();
    let mut isolate = match prepared.map_or_else(|| engine.isolate(), Ok) {
        Ok(isolate) => isolate,
        Err(e) => {
            return crate::isolate::error_outcome(
                JsError::new("SandboxError", e.to_string()),
                started,
            );
        }
    };
    let code = match normalize_with_stack(&job.code, EXECUTOR_STACK_BYTES / 2) {
        Ok(code) => code,
        Err(e) => return crate::pool::syntax_error_outcome(e, started),
    };
    let dispatch = SocketDispatch {
        execution: job.id,
        writer: writer.clone(),
    };
    let mut outcome = isolate.run(
        &code,
        job.prelude.as_deref(),
        &job.functions,
        &job.limits,
        Box::new(dispatch),
        &job.completions,
    );
    outcome.stats.wall_us = started.elapsed().as_micros() as u64;
    outcome
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
