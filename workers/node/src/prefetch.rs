//! Preparing jobs ahead of the executor, as pure bookkeeping: while one job
//! executes, the worker fetches and checks the spec and inputs of the next
//! candidates, so that when a slot frees the claim and the execution start at
//! once instead of after a download. Nothing here claims: a job is claimed
//! only once its preparation succeeded, so a bond is never risked on a job the
//! worker cannot run.
//!
//! Memory is bounded by a bytes budget over the inputs held for jobs prepared
//! and not yet executed. Input sizes are only known once a job's spec is read,
//! so a preparation starts with nothing reserved and [`Holdings::admit`]s its
//! declared size (or gives up) before fetching any input; a job found too
//! large for what is free is remembered and skipped until memory frees.

use std::collections::HashMap;

use gpu_market_client::Pubkey;

/// How far ahead the worker prepares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Input bytes the worker may hold for jobs prepared ahead; 0 disables
    /// preparing ahead.
    pub budget_bytes: u64,
    /// Jobs held prepared (or being prepared) at most.
    pub ahead: usize,
    /// Preparations running at once.
    pub parallel: usize,
}

/// What the worker holds for jobs it prepared ahead; `T` is the prepared
/// spec and inputs (the tests use `()`).
#[derive(Debug)]
pub struct Holdings<T> {
    prepared: HashMap<Pubkey, (u64, T)>,
    /// Being prepared, with the bytes reserved (0 until the spec is read).
    preparing: HashMap<Pubkey, u64>,
    /// Declared input bytes of jobs whose spec was read.
    declared: HashMap<Pubkey, u64>,
}

impl<T> Default for Holdings<T> {
    fn default() -> Self {
        Self {
            prepared: HashMap::new(),
            preparing: HashMap::new(),
            declared: HashMap::new(),
        }
    }
}

impl<T> Holdings<T> {
    /// Bytes held or reserved.
    pub fn used(&self) -> u64 {
        let prepared: u64 = self.prepared.values().map(|(b, _)| *b).sum();
        prepared.saturating_add(self.preparing.values().sum())
    }

    pub fn is_prepared(&self, key: &Pubkey) -> bool {
        self.prepared.contains_key(key)
    }

    pub fn is_preparing(&self, key: &Pubkey) -> bool {
        self.preparing.contains_key(key)
    }

    /// Which of `candidates` (best first) to start preparing now: the best
    /// ones not held yet, while fewer than `ahead` are held, fewer than
    /// `parallel` are being prepared, and memory is free. A job already known
    /// to need more than is free is skipped, so smaller ones behind it still
    /// get ready.
    pub fn choose(&self, candidates: &[Pubkey], limits: &Limits) -> Vec<Pubkey> {
        let mut chosen = Vec::new();
        if limits.budget_bytes == 0 {
            return chosen;
        }
        let mut used = self.used();
        let mut held = self.prepared.len() + self.preparing.len();
        let mut running = self.preparing.len();
        for key in candidates {
            if held >= limits.ahead || running >= limits.parallel || used >= limits.budget_bytes {
                break;
            }
            if self.prepared.contains_key(key) || self.preparing.contains_key(key) {
                continue;
            }
            let size = self.declared.get(key).copied().unwrap_or(0);
            if used.saturating_add(size) > limits.budget_bytes {
                continue;
            }
            used = used.saturating_add(size);
            held += 1;
            running += 1;
            chosen.push(*key);
        }
        chosen
    }

    /// A preparation of `key` starts.
    pub fn start(&mut self, key: Pubkey) {
        self.preparing.insert(key, 0);
    }

    /// The spec of `key` declares `bytes` of inputs: reserves them if they fit
    /// the budget with everything else held, else gives the preparation up
    /// (and remembers the size, so it is not chosen again until memory frees).
    pub fn admit(&mut self, key: Pubkey, bytes: u64, budget_bytes: u64) -> bool {
        self.declared.insert(key, bytes);
        let others = self
            .used()
            .saturating_sub(self.preparing.get(&key).copied().unwrap_or(0));
        if others.saturating_add(bytes) <= budget_bytes {
            self.preparing.insert(key, bytes);
            true
        } else {
            self.preparing.remove(&key);
            false
        }
    }

    /// The preparation of `key` succeeded with `bytes` of inputs.
    pub fn finish(&mut self, key: Pubkey, bytes: u64, prepared: T) {
        self.preparing.remove(&key);
        self.prepared.insert(key, (bytes, prepared));
    }

    /// The preparation of `key` failed or was given up.
    pub fn abandon(&mut self, key: &Pubkey) {
        self.preparing.remove(key);
    }

    /// Hands over what was prepared for `key` (to claim and execute it),
    /// freeing its bytes.
    pub fn take(&mut self, key: &Pubkey) -> Option<T> {
        self.declared.remove(key);
        self.prepared.remove(key).map(|(_, t)| t)
    }

    /// Drops what is held for jobs `keep` refuses (taken by someone else,
    /// closed), so their memory goes to jobs still open.
    pub fn retain(&mut self, keep: impl Fn(&Pubkey) -> bool) {
        self.prepared.retain(|k, _| keep(k));
        self.declared.retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(i: u8) -> Pubkey {
        Pubkey::new_from_array([i; 32])
    }
    const MB: u64 = 1 << 20;
    const LIMITS: Limits = Limits {
        budget_bytes: 10 * MB,
        ahead: 3,
        parallel: 2,
    };

    fn holdings(
        prepared: &[(u8, u64)],
        preparing: &[(u8, u64)],
        declared: &[(u8, u64)],
    ) -> Holdings<()> {
        let mut h = Holdings::default();
        for &(i, b) in prepared {
            h.prepared.insert(k(i), (b * MB, ()));
        }
        for &(i, b) in preparing {
            h.preparing.insert(k(i), b * MB);
        }
        for &(i, b) in declared {
            h.declared.insert(k(i), b * MB);
        }
        h
    }

    #[test]
    fn chooses_the_best_candidates_within_the_limits() {
        let c: Vec<Pubkey> = (1..=6).map(k).collect();
        let l = |budget_mb: u64, ahead, parallel| Limits {
            budget_bytes: budget_mb * MB,
            ahead,
            parallel,
        };
        #[rustfmt::skip]
        let table: Vec<(&str, Holdings<()>, Limits, Vec<u8>)> = vec![
            ("nothing held: the best two (parallel)", holdings(&[], &[], &[]), LIMITS, vec![1, 2]),
            ("prefetch disabled", holdings(&[], &[], &[]), l(0, 3, 2), vec![]),
            ("one prepared: two more start", holdings(&[(1, 2)], &[], &[]), LIMITS, vec![2, 3]),
            ("ahead reached", holdings(&[(1, 2), (2, 2)], &[(3, 0)], &[]), LIMITS, vec![]),
            ("parallel reached", holdings(&[], &[(1, 0), (2, 0)], &[]), LIMITS, vec![]),
            ("budget full", holdings(&[(1, 10)], &[], &[]), LIMITS, vec![]),
            ("a job known too big for what is free is skipped",
                holdings(&[(1, 6)], &[], &[(2, 5), (3, 4)]), LIMITS, vec![3]),
            ("held ones are not chosen again", holdings(&[(2, 1)], &[(1, 1)], &[]), LIMITS, vec![3]),
            ("one job larger than the whole budget is never prefetched",
                holdings(&[], &[], &[(1, 11)]), l(10, 3, 1), vec![2]),
            ("ahead 1, parallel 1", holdings(&[], &[], &[]), l(10, 1, 1), vec![1]),
        ];
        for (name, h, limits, want) in table {
            let want: Vec<Pubkey> = want.into_iter().map(k).collect();
            assert_eq!(h.choose(&c, &limits), want, "{name}");
        }
    }

    #[test]
    fn admission_keeps_what_is_held_within_the_budget() {
        let budget = 10 * MB;
        let mut h = holdings(&[(1, 4)], &[], &[]);
        h.start(k(2));
        h.start(k(3));
        assert!(h.admit(k(2), 5 * MB, budget), "4 + 5 fits 10");
        assert!(!h.admit(k(3), 2 * MB, budget), "4 + 5 + 2 does not");
        assert!(!h.is_preparing(&k(3)), "given up");
        assert_eq!(h.used(), 9 * MB);
        h.finish(k(2), 5 * MB, ());
        assert!(h.is_prepared(&k(2)));
        assert_eq!(h.used(), 9 * MB);
        // Job 3 is remembered as 2 MB and waits for memory.
        let c = [k(3)];
        assert!(h.choose(&c, &LIMITS).is_empty());
        assert_eq!(h.take(&k(1)), Some(()));
        assert_eq!(h.used(), 5 * MB);
        assert_eq!(h.choose(&c, &LIMITS), vec![k(3)], "freed memory lets it in");
        // Re-admitting a reservation does not count it twice.
        h.start(k(3));
        assert!(h.admit(k(3), 5 * MB, budget), "5 held + 5 = 10");
        assert!(h.admit(k(3), 5 * MB, budget), "the same 5 again");
        assert_eq!(h.used(), 10 * MB);
    }

    #[test]
    fn preparations_for_jobs_gone_elsewhere_are_dropped() {
        let mut h = holdings(&[(1, 3), (2, 3)], &[], &[(1, 3), (2, 3), (4, 1)]);
        h.retain(|key| *key != k(2));
        assert!(h.is_prepared(&k(1)) && !h.is_prepared(&k(2)));
        assert_eq!(h.used(), 3 * MB);
        h.abandon(&k(1));
        assert!(
            h.is_prepared(&k(1)),
            "abandoning concerns preparations in progress only"
        );
    }
}
