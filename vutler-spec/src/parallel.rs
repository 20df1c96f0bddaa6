//! Work spread over the machine's cores, with results in the order of the input: a render is
//! byte-identical whatever the number of threads.
//!
//! Validation's PromQL parses and the renderer's parts are pure functions of the spec, so they
//! run on scoped threads with no shared state beyond the index of the next item. A panic in a
//! worker is resumed on the caller.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` of every item, in item order. Items are handed out one at a time to as many threads as
/// there are cores (at most one per item), the caller's own thread among them, so that a few
/// large items (the alert rules of thousands of services) do not wait behind one another.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let mut all = std::thread::scope(|s| {
        let workers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for worker in workers {
            all.extend(worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        all
    });
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// `a()` and `b()`, on two threads when the machine has two cores.
pub fn join<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    if std::thread::available_parallelism().map_or(1, NonZeroUsize::get) < 2 {
        return (a(), b());
    }
    std::thread::scope(|s| {
        let a = s.spawn(a);
        let b = b();
        (a.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_items() {
        let items: Vec<u64> = (0..1000).collect();
        // Uneven work, so that threads finish items out of order.
        let slow = |n: &u64| (0..(n % 7) * 1000).fold(*n, |acc, k| acc.wrapping_mul(31).wrapping_add(k));
        let expected: Vec<u64> = items.iter().map(slow).collect();
        assert_eq!(map(&items, slow), expected);
        assert_eq!(map(&[] as &[u64], slow), Vec::<u64>::new());
        assert_eq!(join(|| 1, || 2), (1, 2));
    }

    #[test]
    fn a_worker_panic_reaches_the_caller() {
        let items: Vec<u32> = (0..64).collect();
        let caught = std::panic::catch_unwind(|| map(&items, |n| assert_ne!(*n, 40, "item 40")));
        assert!(caught.is_err());
    }
}
