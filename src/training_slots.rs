//! Permits to train, shared by every artefact one `modrepro` process runs: `--jobs` of them.
//!
//! The CLI runs two artefacts side by side, so that the core one artefact's last run leaves
//! idle (its other runs done) trains the next artefact's runs instead; the permits keep the
//! two from training on more threads than `--jobs` at once. Which thread trains a run, and
//! when, never changes its numbers.

use std::sync::{Condvar, Mutex, OnceLock};

struct Slots {
    total: usize,
    free: Mutex<usize>,
    freed: Condvar,
}

static SLOTS: OnceLock<Slots> = OnceLock::new();

/// Allows `jobs` training threads at once in this process, from now on (the first call sets
/// the limit; without one, training is not gated).
pub fn limit(jobs: usize) {
    let _ = SLOTS.set(Slots::new(jobs.max(1)));
}

/// Runs `train` holding `threads` permits (at most all of them), waiting until they are free.
pub fn with_permits<T>(threads: usize, train: impl FnOnce() -> T) -> T {
    match SLOTS.get() {
        Some(slots) => slots.with_permits(threads, train),
        None => train(),
    }
}

impl Slots {
    fn new(total: usize) -> Self {
        Self {
            total,
            free: Mutex::new(total),
            freed: Condvar::new(),
        }
    }

    fn with_permits<T>(&self, threads: usize, train: impl FnOnce() -> T) -> T {
        let wanted = threads.clamp(1, self.total);
        {
            let mut free = self.free.lock().expect("no thread panics holding the permits");
            while *free < wanted {
                free = self.freed.wait(free).expect("no thread panics holding the permits");
            }
            *free -= wanted;
        }
        // Returned on drop, so an error or a panic in `train` gives them back too.
        struct Held<'a>(&'a Slots, usize);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                let mut free = self.0.free.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                *free += self.1;
                self.0.freed.notify_all();
            }
        }
        let _held = Held(self, wanted);
        train()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn no_more_than_the_limit_train_at_once_and_every_permit_comes_back() {
        let slots = Slots::new(2);
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for k in 0..6 {
                let (slots, running, most) = (&slots, &running, &most);
                // Some ask for one permit, some for two, one for more than there are.
                let threads = [1, 2, 5][k % 3];
                scope.spawn(move || {
                    slots.with_permits(threads, || {
                        let held = threads.min(2);
                        let now = running.fetch_add(held, Ordering::SeqCst) + held;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(held, Ordering::SeqCst);
                    })
                });
            }
        });
        assert!(
            most.load(Ordering::SeqCst) <= 2,
            "{} threads trained at once",
            most.load(Ordering::SeqCst)
        );
        assert_eq!(*slots.free.lock().unwrap(), 2);
    }
}
