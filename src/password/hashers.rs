//! The hashing threads: one per slot, each with an argon2 work area it keeps, fed from one
//! queue, and the count of jobs let in that admission looks at.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use anyhow::Context;
use argon2::Block;

use super::Busy;

/// How much a hashing thread lowers its scheduling priority (Linux keeps a nice value per
/// thread): a hash then yields the CPU to any request that is ready to run.
#[cfg(target_os = "linux")]
const HASHING_NICENESS: i32 = 10;

/// A job returns whether its work panicked, after which its thread drops the work area.
type Job = Box<dyn FnOnce(&mut Vec<Block>) -> bool + Send>;

/// The hashing threads, one per slot, each with its own work area, and the queue they take their
/// jobs from. A thread that finishes a hash takes the next job itself, so no hand-off through the
/// async runtime (which is busiest exactly when logins queue) stands between two hashes.
/// `pending` counts the jobs let in and not yet finished: it is what admission looks at. The
/// threads end when the last [`Passwords`](super::Passwords) clone is dropped.
pub(super) struct Hashers {
    jobs: mpsc::Sender<Job>,
    pending: Arc<AtomicUsize>,
    /// Of those, the ones a thread is working on; the rest wait in the queue.
    running: Arc<AtomicUsize>,
}

#[derive(Debug, thiserror::Error)]
#[error("the hashing thread stopped before answering")]
pub(super) struct HasherGone;

impl Hashers {
    pub(super) fn start(threads: usize) -> anyhow::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("bheem-hash-{n}"))
                .spawn(move || {
                    lower_priority();
                    let mut memory = Vec::new();
                    loop {
                        let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(job) = job else { return };
                        if job(&mut memory) {
                            memory = Vec::new();
                        }
                    }
                })
                .context("starting a password hashing thread")?;
        }
        Ok(Self {
            jobs,
            pending: Arc::new(AtomicUsize::new(0)),
            running: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Jobs let in and not yet finished, running or queued.
    pub(super) fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Jobs a thread is working on now.
    pub(super) fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// Lets `work` in if fewer than `limit` jobs are pending, else `Busy`; the answer comes from
    /// a hashing thread, which lends `work` its work area. A job whose caller has gone (the
    /// request was dropped while it waited) is skipped. A panic ends the job (the caller sees
    /// `HasherGone`), not the thread.
    pub(super) fn submit<T: Send + 'static>(
        &self,
        limit: usize,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<impl std::future::Future<Output = Result<T, HasherGone>>, Busy> {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= limit {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let (answer, answered) = tokio::sync::oneshot::channel();
        let (pending, running) = (self.pending.clone(), self.running.clone());
        let job: Job = Box::new(move |memory| {
            let outcome = (!answer.is_closed()).then(|| {
                running.fetch_add(1, Ordering::AcqRel);
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(memory)));
                running.fetch_sub(1, Ordering::AcqRel);
                outcome
            });
            // Finished before it answers: a caller holding its answer is no longer counted.
            pending.fetch_sub(1, Ordering::AcqRel);
            match outcome {
                Some(Ok(value)) => {
                    let _ = answer.send(value);
                    false
                }
                Some(Err(_)) => true,
                None => false,
            }
        });
        if self.jobs.send(job).is_err() {
            // No thread left to run it (they only end with the last sender, so not while this
            // one lives); the dropped job's answer reads as `HasherGone`.
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
        Ok(async move { answered.await.map_err(|_| HasherGone) })
    }

    /// Runs `work` whatever is pending, for tests that look at the threads themselves.
    #[cfg(test)]
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HasherGone> {
        match self.submit(usize::MAX, work) {
            Ok(answer) => answer.await,
            Err(Busy) => unreachable!("no limit"),
        }
    }
    /// Counts as `n` jobs let in until it is dropped.
    #[cfg(test)]
    pub(super) fn hold(&self, n: usize) -> impl Drop + '_ {
        struct Held<'a>(&'a Hashers, usize);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                self.0.pending.fetch_sub(self.1, Ordering::AcqRel);
            }
        }
        self.pending.fetch_add(n, Ordering::AcqRel);
        Held(self, n)
    }
}

fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: nice(2) only changes the calling thread's nice value; -1 with errno set is a
        // failure, after which the thread runs at its old priority, which is still correct.
        let _ = unsafe { libc::nice(HASHING_NICENESS) };
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_below_the_priority_of_the_request_threads() {
        let hashers = Hashers::start(2).unwrap();
        let nice = || {
            // SAFETY: getpriority(2) reads the calling thread's nice value.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
        };
        let here = nice();
        let there = hashers.run(move |_| nice()).await.unwrap();
        assert_eq!(there, (here + HASHING_NICENESS).min(19));
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_thread_goes_on() {
        let hashers = Hashers::start(1).unwrap();
        let panicked = hashers.run(|_| -> () { panic!("a job that fails") });
        assert!(panicked.await.is_err());
        assert_eq!(hashers.pending(), 0);
        assert_eq!(hashers.run(|_| 7).await.unwrap(), 7);
    }

    /// The second job starts when the first ends, on the hashing thread, while the runtime that
    /// submitted both is blocked: no task of the runtime has to run between two hashes.
    #[tokio::test]
    async fn a_hashing_thread_takes_the_next_job_without_the_runtime() {
        let hashers = Hashers::start(1).unwrap();
        let first = hashers
            .submit(2, |_| {
                std::thread::sleep(std::time::Duration::from_millis(20))
            })
            .unwrap();
        let second = hashers.submit(2, |_| Instant::now()).unwrap();
        // The only runtime thread is blocked here, so nothing of the runtime runs meanwhile.
        std::thread::sleep(std::time::Duration::from_millis(500));
        let woke = Instant::now();
        first.await.unwrap();
        assert!(second.await.unwrap() < woke);
        assert_eq!(hashers.pending(), 0);
    }

    /// What the metrics read: a job on the thread is running, the one behind it waits.
    #[tokio::test]
    async fn running_jobs_are_told_from_waiting_ones() {
        let hashers = Hashers::start(1).unwrap();
        let (started, on_thread) = std::sync::mpsc::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let running = hashers
            .submit(3, move |_| {
                started.send(()).unwrap();
                released.recv().unwrap()
            })
            .unwrap();
        let waiting = hashers.submit(3, |_| ()).unwrap();
        on_thread.recv().unwrap();
        assert_eq!((hashers.running(), hashers.pending()), (1, 2));
        release.send(()).unwrap();
        running.await.unwrap();
        waiting.await.unwrap();
        assert_eq!((hashers.running(), hashers.pending()), (0, 0));
    }

    #[tokio::test]
    async fn a_job_whose_caller_has_gone_is_skipped_and_leaves_the_count() {
        let hashers = Hashers::start(1).unwrap();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let blocker = hashers
            .submit(3, move |_| released.recv().unwrap())
            .unwrap();
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let abandoned = hashers
            .submit(3, move |_| flag.store(true, Ordering::SeqCst))
            .unwrap();
        assert_eq!(hashers.pending(), 2);
        drop(abandoned);
        release.send(()).unwrap();
        blocker.await.unwrap();
        // Jobs run in order, so the abandoned one has been taken by the time this one answers.
        hashers.run(|_| ()).await.unwrap();
        assert!(
            !ran.load(Ordering::SeqCst),
            "a job nobody waits for was run"
        );
        assert_eq!(hashers.pending(), 0);
    }
}
