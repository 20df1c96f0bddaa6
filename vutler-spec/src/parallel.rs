//! Work spread over the machine's cores, with results in the order of the input: a render is
//! byte-identical whatever the number of threads.
//!
//! Validation's PromQL parses and the renderer's parts are pure functions of the spec, so they
//! run on scoped threads that share only the index of the next item ([`map`]) or a bounded
//! channel ([`pipe`]). A panic in a worker is resumed on the caller.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::ScopedJoinHandle;

/// The threads this machine runs at once.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// A worker's result, its panic resumed on this thread.
fn joined<T>(worker: ScopedJoinHandle<'_, T>) -> T {
    worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// `f` of every item, in item order. Items are handed out one at a time to as many threads as
/// there are cores (at most one per item), the caller's own thread among them, so that a few
/// large items (the alert rules of thousands of services) do not wait behind one another.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_meanwhile(items, f, |results| results())
}

/// `f` of every item, begun on the other cores at once, while `meanwhile` runs on this thread.
/// `meanwhile` is handed the way to the results: called, it works on the items left on this
/// thread too, waits for the others and returns every result in item order (called again, it
/// returns nothing). Items not begun when `meanwhile` returns (or panics) without asking are
/// left. Validation parses the PromQL of a spec this way while it resolves the services, which
/// need none of it.
pub fn map_meanwhile<T: Sync, R: Send, M>(
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
    meanwhile: impl FnOnce(&mut dyn FnMut() -> Vec<R>) -> M,
) -> M {
    let helpers = cores().min(items.len()).saturating_sub(1);
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
    /// Hands out no further item once dropped: when `meanwhile` is done, asked or not.
    struct Stop<'a>(&'a AtomicUsize, usize);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(self.1, Ordering::Relaxed);
        }
    }
    std::thread::scope(|s| {
        let mut workers: Vec<_> = (0..helpers).map(|_| s.spawn(work)).collect();
        let _stop = Stop(&next, items.len());
        let mut results = || {
            let mut all = work();
            for worker in workers.drain(..) {
                all.extend(joined(worker));
            }
            all.sort_unstable_by_key(|(i, _)| *i);
            all.into_iter().map(|(_, r)| r).collect()
        };
        meanwhile(&mut results)
    })
}

/// `consume` of what `items` yields, the items produced on another thread when the machine has
/// two cores, handed over `batch` at a time (a few batches at most wait for `consume`). When
/// `consume` returns before the end, the producer stops at its next batch. A panic of the
/// producer ends the items `consume` sees, and is resumed once `consume` returns.
pub fn pipe<I, R>(mut items: I, batch: usize, consume: impl FnOnce(&mut dyn Iterator<Item = I::Item>) -> R) -> R
where
    I: Iterator + Send,
    I::Item: Send,
{
    if cores() < 2 {
        return consume(&mut items);
    }
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<I::Item>>(4);
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            loop {
                let chunk: Vec<I::Item> = items.by_ref().take(batch.max(1)).collect();
                if chunk.is_empty() || sender.send(chunk).is_err() {
                    return;
                }
            }
        });
        let mut received = receiver.into_iter().flatten();
        let result = consume(&mut received);
        // The producer's next send fails, and it returns.
        drop(received);
        joined(producer);
        result
    })
}

/// `a()` and `b()`, on two threads when the machine has two cores.
pub fn join<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    if cores() < 2 {
        return (a(), b());
    }
    std::thread::scope(|s| {
        let a = s.spawn(a);
        let b = b();
        (joined(a), b)
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
    fn results_asked_for_later_keep_the_order_of_the_items() {
        let items: Vec<u64> = (0..1000).collect();
        let slow = |n: &u64| (0..(n % 7) * 1000).fold(*n, |acc, k| acc.wrapping_mul(31).wrapping_add(k));
        let expected: Vec<u64> = items.iter().map(slow).collect();
        let (first, again, meanwhile) = map_meanwhile(&items, slow, |results| {
            let meanwhile = slow(&5);
            (results(), results(), meanwhile)
        });
        assert_eq!(first, expected);
        assert!(again.is_empty(), "the results are handed out once");
        assert_eq!(meanwhile, slow(&5));
        // Never asked for: the threads are waited for, and stop at the items they have.
        let begun = AtomicUsize::new(0);
        let count = |_: &u64| {
            begun.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        assert_eq!(map_meanwhile(&items, count, |_| 7), 7);
        assert!(begun.load(Ordering::Relaxed) < items.len(), "every item was worked on");
        assert_eq!(
            map_meanwhile(&[] as &[u64], slow, |results| results()),
            Vec::<u64>::new()
        );
        let caught = std::panic::catch_unwind(|| {
            map_meanwhile(&items, |n| assert_ne!(*n, 999, "item 999"), |results| results().len())
        });
        assert!(caught.is_err(), "a worker's panic reaches the caller");
    }

    #[test]
    fn a_pipe_hands_over_every_item_in_order_and_stops_when_the_consumer_does() {
        let all: Vec<u32> = pipe(0..10_000u32, 7, |items| items.collect());
        assert_eq!(all, (0..10_000).collect::<Vec<_>>());
        // An endless producer stops once the consumer has what it wants.
        let first: Vec<u32> = pipe(0u32.., 16, |items| items.take(100).collect());
        assert_eq!(first, (0..100).collect::<Vec<_>>());
        let none: Vec<u32> = pipe(std::iter::empty(), 16, |items| items.collect());
        assert!(none.is_empty());
        let caught = std::panic::catch_unwind(|| {
            pipe((0..100u32).map(|n| assert_ne!(n, 50, "item 50")), 4, |items| {
                items.count()
            })
        });
        assert!(caught.is_err(), "a producer's panic reaches the caller");
    }

    #[test]
    fn a_worker_panic_reaches_the_caller() {
        let items: Vec<u32> = (0..64).collect();
        let caught = std::panic::catch_unwind(|| map(&items, |n| assert_ne!(*n, 40, "item 40")));
        assert!(caught.is_err());
    }
}
