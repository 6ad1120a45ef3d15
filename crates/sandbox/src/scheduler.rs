//! Which executor thread runs what: the one policy of the in-process pool (`pool.rs`) and of
//! a worker process's threads (`process/worker.rs`).
//!
//! Executions go to a shared queue any thread takes from. A session's run goes to its home
//! thread's own queue (the thread holding its live isolate); one its home has not taken
//! after [`STEAL_AFTER`] is also put on the shared queue, and whichever thread claims it
//! first runs it and becomes the session's new home. The home may be busy with a long run,
//! or be running the very code that waits for this one (Code Mode calling an agent, an
//! agent calling another homed on the same thread), which would otherwise deadlock until
//! the wall limit.
//!
//! Who waits out [`STEAL_AFTER`] differs: an in-process session's caller is async and
//! waits itself ([`Scheduler::steal`]), a worker's reader thread must not block and hands
//! the run to a [`StealThread`].

use crate::isolate::spin_for;
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a session's live isolate is: the index of its home thread, or [`NO_HOME`].
pub(crate) type HomeCell = Arc<AtomicUsize>;

/// A session that has no live isolate on any thread.
pub(crate) const NO_HOME: usize = usize::MAX;

/// How long a session's run waits for its busy home before any thread may take it (and
/// start over from the code there, ~1 ms).
pub(crate) const STEAL_AFTER: Duration = Duration::from_millis(1);

/// How long an executor polls its queues before parking. A caller making calls back to
/// back (an agent's client) sends the next one within tens of microseconds of the last
/// reply; waking a parked thread costs about as much again, more on a VM whose idle vCPU
/// must be woken by the host. Idle, this costs at most this much CPU per job; busy, the
/// queue is never empty and nothing spins.
const IDLE_SPIN: Duration = Duration::from_micros(100);

/// A session's run, queued at its home and maybe also on the shared queue: whichever
/// executor claims it first runs it.
pub(crate) struct SessionRun<S> {
    home: HomeCell,
    run: Mutex<Option<S>>,
}

/// A session's run as it is queued (at its home, then maybe on the shared queue too).
pub(crate) type Queued<S> = Arc<SessionRun<S>>;

impl<S> SessionRun<S> {
    /// `run` of the session whose home is `home` (set to the thread that claims it).
    pub(crate) fn new(home: HomeCell, run: S) -> Queued<S> {
        Arc::new(Self {
            home,
            run: Mutex::new(Some(run)),
        })
    }

    /// Takes the run; `None` when a thread took it.
    pub(crate) fn claim(&self) -> Option<S> {
        base::sync::lock(&self.run).take()
    }

    fn unclaimed(&self) -> bool {
        base::sync::lock(&self.run).is_some()
    }
}

enum Task<J, S> {
    Job(J),
    Session(Queued<S>),
    Forget(u64),
}

/// What an executor thread is given to do (see [`Queues::next`]).
pub(crate) enum Next<J, S> {
    /// A job any thread may run (an execution in a fresh isolate).
    Job(J),
    /// A session's run, claimed by this thread.
    Session(S),
    /// Drop this session's live isolate, if the thread holds one.
    Forget(u64),
}

/// Where a session's run was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// At its home: unless the home takes it, it goes on the shared queue after
    /// [`STEAL_AFTER`] ([`Scheduler::steal`], [`StealThread::after`]).
    Home,
    /// On the shared queue (the session had no home).
    Shared,
}

/// Every executor thread is gone: what was submitted will not run (and is still
/// unclaimed).
#[derive(Debug)]
pub(crate) struct Closed;

/// The submitting side: the shared queue and each thread's home queue.
pub(crate) struct Scheduler<J, S> {
    shared: Sender<Task<J, S>>,
    homes: Vec<Sender<Task<J, S>>>,
}

/// One executor thread's side: its home queue and the shared queue. Once the
/// [`Scheduler`] (and any [`StealThread`]) is dropped, [`Queues::next`] returns `None`.
pub(crate) struct Queues<J, S> {
    index: usize,
    own: Receiver<Task<J, S>>,
    shared: Receiver<Task<J, S>>,
}

impl<J, S> Scheduler<J, S> {
    /// A scheduler for `threads` executor threads, and each thread's queues (thread `i`
    /// takes the `i`th).
    pub(crate) fn new(threads: usize) -> (Self, Vec<Queues<J, S>>) {
        let (shared, shared_rx) = crossbeam_channel::unbounded();
        let (homes, queues) = (0..threads)
            .map(|index| {
                let (home, own) = crossbeam_channel::unbounded();
                let queues = Queues {
                    index,
                    own,
                    shared: shared_rx.clone(),
                };
                (home, queues)
            })
            .unzip();
        (Self { shared, homes }, queues)
    }

    /// How many executor threads it schedules for.
    pub(crate) fn threads(&self) -> usize {
        self.homes.len()
    }

    /// Queues a job any thread may run; gives it back when no thread is left.
    pub(crate) fn submit(&self, job: J) -> Result<(), J> {
        self.shared.send(Task::Job(job)).map_err(|e| match e.0 {
            Task::Job(job) => job,
            Task::Session(_) | Task::Forget(_) => unreachable!("sent a job"),
        })
    }

    /// Queues a session's run at its home, or on the shared queue when it has none.
    pub(crate) fn submit_session(&self, run: &Queued<S>) -> Result<Placed, Closed> {
        let task = Task::Session(Arc::clone(run));
        match self.homes.get(run.home.load(Ordering::SeqCst)) {
            Some(home) => home.send(task).map(|()| Placed::Home).map_err(|_| Closed),
            None => self
                .shared
                .send(task)
                .map(|()| Placed::Shared)
                .map_err(|_| Closed),
        }
    }

    /// Once [`STEAL_AFTER`] has passed since [`Self::submit_session`] placed `run` at its
    /// home: if the home has not taken it, any thread may.
    pub(crate) fn steal(&self, run: &Queued<S>) -> Result<(), Closed> {
        steal(&self.shared, run)
    }

    /// Tells every thread to drop session `id`'s live isolate: one that ran the session
    /// before its home moved may still hold one.
    pub(crate) fn forget(&self, id: u64) {
        for home in &self.homes {
            let _ = home.send(Task::Forget(id));
        }
    }
}

impl<J: Send + 'static, S: Send + 'static> Scheduler<J, S> {
    /// A thread named `name` that waits out [`STEAL_AFTER`] for the runs it is given,
    /// for a submitter that must not wait itself. It ends when the returned handle is
    /// dropped.
    pub(crate) fn steal_thread(&self, name: &str) -> std::io::Result<StealThread<S>> {
        let (late, waiting) = crossbeam_channel::unbounded::<(Instant, Queued<S>)>();
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                for (at, run) in waiting {
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                    let _ = steal(&shared, &run);
                }
            })?;
        Ok(StealThread { late })
    }
}

fn steal<J, S>(shared: &Sender<Task<J, S>>, run: &Queued<S>) -> Result<(), Closed> {
    if !run.unclaimed() {
        return Ok(());
    }
    shared
        .send(Task::Session(Arc::clone(run)))
        .map_err(|_| Closed)
}

/// Hands runs placed at their home to the shared queue [`STEAL_AFTER`] later, unless a
/// thread has claimed them by then (see [`Scheduler::steal_thread`]).
pub(crate) struct StealThread<S> {
    late: Sender<(Instant, Queued<S>)>,
}

impl<S> StealThread<S> {
    /// `run` was just placed at its home ([`Placed::Home`]).
    pub(crate) fn after(&self, run: Queued<S>) {
        let _ = self.late.send((Instant::now() + STEAL_AFTER, run));
    }
}

impl<J, S> Queues<J, S> {
    /// The next thing for this thread to do, its home queue first (a session's runs wait
    /// only on their home), polling both queues for up to [`IDLE_SPIN`] before parking;
    /// `None` once the scheduler is gone. A session's run comes claimed (a copy another
    /// thread claimed is skipped) and, when `rehome`, with this thread made the session's
    /// home; a thread that cannot run anything (its engine did not start) fails it without
    /// drawing the session's next runs.
    pub(crate) fn next(&self, rehome: bool) -> Option<Next<J, S>> {
        loop {
            match self.next_task()? {
                Task::Job(job) => return Some(Next::Job(job)),
                Task::Forget(id) => return Some(Next::Forget(id)),
                Task::Session(queued) => {
                    // Queued twice (home, then shared); the other copy may have run.
                    let Some(run) = queued.claim() else { continue };
                    if rehome {
                        queued.home.store(self.index, Ordering::SeqCst);
                    }
                    return Some(Next::Session(run));
                }
            }
        }
    }

    fn next_task(&self) -> Option<Task<J, S>> {
        let polled = spin_for(IDLE_SPIN, || {
            self.own.try_recv().or_else(|_| self.shared.try_recv()).ok()
        });
        if polled.is_some() {
            return polled;
        }
        crossbeam_channel::select! {
            recv(self.own) -> task => task.ok(),
            recv(self.shared) -> task => task.ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Test = (
        Scheduler<&'static str, &'static str>,
        Vec<Queues<&'static str, &'static str>>,
    );

    fn given_threads(n: usize) -> Test {
        Scheduler::new(n)
    }

    fn cell(home: usize) -> HomeCell {
        Arc::new(AtomicUsize::new(home))
    }

    fn session(next: Option<Next<&'static str, &'static str>>) -> Option<&'static str> {
        match next {
            Some(Next::Session(run)) => Some(run),
            _ => None,
        }
    }

    #[test]
    fn a_session_without_a_home_goes_to_the_shared_queue_and_its_thread_becomes_home() {
        let (scheduler, queues) = given_threads(2);
        let home = cell(NO_HOME);
        let run = SessionRun::new(Arc::clone(&home), "run");
        assert_eq!(scheduler.submit_session(&run).unwrap(), Placed::Shared);
        assert_eq!(session(queues[1].next(true)), Some("run"));
        assert_eq!(home.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_thread_that_does_not_rehome_leaves_the_home_as_it_was() {
        let (scheduler, queues) = given_threads(2);
        let home = cell(NO_HOME);
        scheduler
            .submit_session(&SessionRun::new(Arc::clone(&home), "run"))
            .unwrap();
        assert_eq!(session(queues[0].next(false)), Some("run"));
        assert_eq!(home.load(Ordering::SeqCst), NO_HOME);
    }

    #[test]
    fn a_stolen_run_is_claimed_once_and_moves_its_home() {
        let (scheduler, queues) = given_threads(2);
        let home = cell(0);
        let run = SessionRun::new(Arc::clone(&home), "run");
        assert_eq!(scheduler.submit_session(&run).unwrap(), Placed::Home);
        scheduler.steal(&run).unwrap();
        // Thread 1 sees only the shared queue's copy.
        assert_eq!(session(queues[1].next(true)), Some("run"));
        assert_eq!(home.load(Ordering::SeqCst), 1);
        drop(scheduler);
        // The home's copy was claimed: nothing is left for thread 0.
        assert!(queues[0].next(true).is_none());
    }

    #[test]
    fn a_run_its_home_took_is_not_stolen() {
        let (scheduler, queues) = given_threads(2);
        let run = SessionRun::new(cell(0), "run");
        scheduler.submit_session(&run).unwrap();
        assert_eq!(session(queues[0].next(true)), Some("run"));
        scheduler.steal(&run).unwrap();
        drop(scheduler);
        assert!(queues[1].next(true).is_none());
    }

    #[test]
    fn the_steal_thread_shares_a_run_its_home_left_after_steal_after() {
        let (scheduler, queues) = given_threads(2);
        let stealer = scheduler.steal_thread("test-steal").unwrap();
        let run = SessionRun::new(cell(0), "run");
        let placed = Instant::now();
        assert_eq!(scheduler.submit_session(&run).unwrap(), Placed::Home);
        stealer.after(run);
        assert_eq!(session(queues[1].next(true)), Some("run"));
        assert!(placed.elapsed() >= STEAL_AFTER);
    }

    #[test]
    fn jobs_go_to_any_thread_and_forget_reaches_every_thread() {
        let (scheduler, queues) = given_threads(2);
        scheduler.submit("job").unwrap();
        scheduler.forget(7);
        assert!(matches!(queues[1].next(true), Some(Next::Forget(7))));
        assert!(matches!(queues[1].next(true), Some(Next::Job("job"))));
        assert!(matches!(queues[0].next(true), Some(Next::Forget(7))));
        drop(scheduler);
        assert!(queues[0].next(true).is_none());
    }

    #[test]
    fn with_no_thread_left_a_submission_comes_back() {
        let (scheduler, queues) = given_threads(1);
        drop(queues);
        assert_eq!(scheduler.submit("job"), Err("job"));
        let run = SessionRun::new(cell(0), "run");
        assert!(scheduler.submit_session(&run).is_err());
        assert_eq!(run.claim(), Some("run"));
    }
}
