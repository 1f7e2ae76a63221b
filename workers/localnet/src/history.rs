//! What the node remembers of what it has seen land: the transactions sent
//! through it (their status meta and logs, for `getTransaction`,
//! `getSignaturesForAddress`, `getRecentPrioritizationFees` and
//! `logsSubscribe`) and the time at each slot it watched pass (for
//! `getBlockTime` and `slotSubscribe`). A validator keeps this in its
//! ledger; `BanksClient` keeps none of it, so the node records it as
//! transactions go through [`Node::submit`](crate::node::Node) and as its
//! slot watcher ticks. Both records are bounded, oldest dropped first.
//!
//! Everything here is a pure function of the record, so the queries are
//! tested as tables without a chain.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::{Transaction, TransactionError};
use solana_transaction_status_client_types::TransactionTokenBalance;

/// Transactions remembered: the newest this many, whichever accounts they touch.
pub(crate) const MAX_TRANSACTIONS: usize = 20_000;
/// Slots remembered with their time: about an hour of 400 ms slots.
pub(crate) const MAX_SLOTS: usize = 9_000;
/// Slots `getRecentPrioritizationFees` looks back over (Agave's cache size).
pub(crate) const PRIORITIZATION_FEE_SLOTS: usize = 150;

/// A transaction that landed through the node, with what a validator's
/// status meta says about it.
#[derive(Clone, Debug)]
pub(crate) struct Landed {
    pub(crate) signature: Signature,
    pub(crate) slot: u64,
    pub(crate) block_time: i64,
    pub(crate) transaction: Transaction,
    pub(crate) err: Option<TransactionError>,
    /// Lamports charged: signature fees plus the priority fee.
    pub(crate) fee: u64,
    /// Micro-lamports per compute unit the transaction bid (0 without a
    /// `SetComputeUnitPrice` instruction).
    pub(crate) compute_unit_price: u64,
    pub(crate) pre_balances: Vec<u64>,
    pub(crate) post_balances: Vec<u64>,
    pub(crate) pre_token_balances: Vec<TransactionTokenBalance>,
    pub(crate) post_token_balances: Vec<TransactionTokenBalance>,
    pub(crate) logs: Vec<String>,
    pub(crate) compute_units: Option<u64>,
}

impl Landed {
    pub(crate) fn mentions(&self, address: &Pubkey) -> bool {
        self.transaction.message.account_keys.contains(address)
    }

    fn writes(&self, address: &Pubkey) -> bool {
        let msg = &self.transaction.message;
        msg.account_keys
            .iter()
            .position(|k| k == address)
            .is_some_and(|i| msg.is_maybe_writable(i, None))
    }
}

/// Where `getBlockTime` finds a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockTime {
    /// The unix time the chain showed when it was last seen at or before it.
    Known(i64),
    /// The chain has not reached it.
    NotYet,
    /// Older than the record; the oldest slot still in it.
    Forgotten { first_available: u64 },
}

#[derive(Default)]
pub(crate) struct History {
    /// Oldest first.
    transactions: VecDeque<Arc<Landed>>,
    by_signature: HashMap<Signature, Arc<Landed>>,
    /// (slot, unix time) as the chain was seen, slots increasing.
    slots: VecDeque<(u64, i64)>,
}

impl History {
    /// Records that the chain is at `slot` at `unix_time`. Returns the slot
    /// seen before it when `slot` is new (the parent a slot notification
    /// names), `None` when the chain was seen there or later already.
    pub(crate) fn observe(&mut self, slot: u64, unix_time: i64) -> Option<u64> {
        let parent = match self.slots.back() {
            Some(&(last, _)) if slot <= last => return None,
            Some(&(last, _)) => last,
            None => slot.saturating_sub(1),
        };
        if self.slots.len() == MAX_SLOTS {
            self.slots.pop_front();
        }
        self.slots.push_back((slot, unix_time));
        Some(parent)
    }

    /// Keeps `landed` (a signature seen before is kept once).
    pub(crate) fn record(&mut self, landed: Landed) -> Option<Arc<Landed>> {
        if self.by_signature.contains_key(&landed.signature) {
            return None;
        }
        if self.transactions.len() == MAX_TRANSACTIONS {
            if let Some(old) = self.transactions.pop_front() {
                self.by_signature.remove(&old.signature);
            }
        }
        let landed = Arc::new(landed);
        self.by_signature
            .insert(landed.signature, Arc::clone(&landed));
        self.transactions.push_back(Arc::clone(&landed));
        Some(landed)
    }

    pub(crate) fn get(&self, signature: &Signature) -> Option<Arc<Landed>> {
        self.by_signature.get(signature).cloned()
    }

    pub(crate) fn contains(&self, signature: &Signature) -> bool {
        self.by_signature.contains_key(signature)
    }

    pub(crate) fn block_time(&self, slot: u64) -> BlockTime {
        let (Some(&(first, _)), Some(&(last, _))) = (self.slots.front(), self.slots.back()) else {
            return BlockTime::NotYet;
        };
        if slot > last {
            return BlockTime::NotYet;
        }
        if slot < first {
            return BlockTime::Forgotten {
                first_available: first,
            };
        }
        // The last observation at or before `slot`.
        let i = self.slots.partition_point(|&(s, _)| s <= slot);
        BlockTime::Known(self.slots[i - 1].1)
    }

    /// Transactions mentioning `address`, newest first, as
    /// `getSignaturesForAddress` pages them: starting after `before` (none
    /// at all when `before` is not in the record, as a validator answers for
    /// a signature it does not know), stopping before `until` (or at the
    /// oldest kept), at most `limit`.
    pub(crate) fn signatures_for(
        &self,
        address: &Pubkey,
        before: Option<&Signature>,
        until: Option<&Signature>,
        limit: usize,
    ) -> Vec<Arc<Landed>> {
        let mut newest_first = self.transactions.iter().rev().peekable();
        if let Some(before) = before {
            if !self.contains(before) {
                return Vec::new();
            }
            for t in newest_first.by_ref() {
                if t.signature == *before {
                    break;
                }
            }
        }
        newest_first
            .take_while(|t| until != Some(&t.signature))
            .filter(|t| t.mentions(address))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Agave's rule, per slot over the recent slots (oldest first): the
    /// lowest price any transaction in the slot paid, raised to the lowest
    /// price paid by the transactions writing each of `addresses` where
    /// that is higher. Slots where nothing landed paid 0.
    pub(crate) fn prioritization_fees(&self, addresses: &[Pubkey]) -> Vec<(u64, u64)> {
        let recent: Vec<u64> = self
            .slots
            .iter()
            .rev()
            .take(PRIORITIZATION_FEE_SLOTS)
            .map(|&(s, _)| s)
            .collect();
        let Some(&oldest) = recent.last() else {
            return Vec::new();
        };
        let mut in_slot: HashMap<u64, Vec<&Landed>> = HashMap::new();
        for t in self.transactions.iter().rev() {
            if t.slot < oldest {
                break;
            }
            in_slot.entry(t.slot).or_default().push(t);
        }
        recent
            .into_iter()
            .rev()
            .map(|slot| {
                let txs = in_slot.get(&slot).map(Vec::as_slice).unwrap_or_default();
                let min =
                    |it: &mut dyn Iterator<Item = &&Landed>| it.map(|t| t.compute_unit_price).min();
                let mut fee = min(&mut txs.iter()).unwrap_or(0);
                for a in addresses {
                    if let Some(f) = min(&mut txs.iter().filter(|t| t.writes(a))) {
                        fee = fee.max(f);
                    }
                }
                (slot, fee)
            })
            .collect()
    }
}

/// The memo a validator lists for a transaction: each SPL Memo instruction's
/// text as `[length] text`, joined by `; `.
pub(crate) fn memo(tx: &Transaction) -> Option<String> {
    const MEMO_V1: Pubkey = solana_sdk::pubkey!("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo");
    const MEMO_V3: Pubkey = solana_sdk::pubkey!("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");
    let keys = &tx.message.account_keys;
    let memos: Vec<String> = tx
        .message
        .instructions
        .iter()
        .filter(|ix| {
            keys.get(ix.program_id_index as usize)
                .is_some_and(|p| *p == MEMO_V1 || *p == MEMO_V3)
        })
        .map(|ix| {
            let text = String::from_utf8_lossy(&ix.data);
            format!("[{}] {}", ix.data.len(), text)
        })
        .collect();
    (!memos.is_empty()).then(|| memos.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_sdk::hash::Hash;
    use solana_sdk::instruction::{AccountMeta, Instruction};
    use solana_sdk::message::Message;

    /// A transaction at `slot` paying `price`, writing `writes`, reading `reads`.
    fn landed(slot: u64, price: u64, writes: &[Pubkey], reads: &[Pubkey]) -> Landed {
        let payer = Pubkey::new_unique();
        let mut accounts: Vec<AccountMeta> =
            writes.iter().map(|k| AccountMeta::new(*k, false)).collect();
        accounts.extend(reads.iter().map(|k| AccountMeta::new_readonly(*k, false)));
        let ix = Instruction::new_with_bytes(Pubkey::new_unique(), &[], accounts);
        let message = Message::new_with_blockhash(&[ix], Some(&payer), &Hash::new_unique());
        let mut transaction = Transaction::new_unsigned(message);
        let signature = Signature::new_unique();
        transaction.signatures = vec![signature];
        Landed {
            signature,
            slot,
            block_time: 0,
            transaction,
            err: None,
            fee: 5_000,
            compute_unit_price: price,
            pre_balances: vec![],
            post_balances: vec![],
            pre_token_balances: vec![],
            post_token_balances: vec![],
            logs: vec![],
            compute_units: None,
        }
    }

    #[test]
    fn slots_are_observed_once_and_in_order() {
        let mut h = History::default();
        assert_eq!(h.observe(10, 100), Some(9));
        assert_eq!(h.observe(10, 101), None, "the same slot again");
        assert_eq!(h.observe(7, 101), None, "the chain never goes back");
        assert_eq!(
            h.observe(25, 106),
            Some(10),
            "a warp names the slot before it"
        );
        assert_eq!(h.block_time(10), BlockTime::Known(100));
        assert_eq!(h.block_time(24), BlockTime::Known(100));
        assert_eq!(h.block_time(25), BlockTime::Known(106));
        assert_eq!(h.block_time(26), BlockTime::NotYet);
        assert_eq!(
            h.block_time(9),
            BlockTime::Forgotten {
                first_available: 10
            }
        );
        assert_eq!(History::default().block_time(0), BlockTime::NotYet);
    }

    #[test]
    fn the_slot_record_is_bounded() {
        let mut h = History::default();
        for s in 0..(MAX_SLOTS as u64 + 10) {
            h.observe(s + 1, s as i64);
        }
        assert_eq!(h.slots.len(), MAX_SLOTS);
        assert_eq!(
            h.block_time(5),
            BlockTime::Forgotten {
                first_available: 11
            }
        );
    }

    #[test]
    fn signatures_page_newest_first_between_before_and_until() {
        let me = Pubkey::new_unique();
        let mut h = History::default();
        let mut mine = Vec::new();
        for i in 0..6 {
            let t = if i % 2 == 0 {
                landed(i, 0, &[me], &[])
            } else {
                landed(i, 0, &[], &[me])
            };
            mine.push(t.signature);
            h.record(t);
            h.record(landed(i, 0, &[Pubkey::new_unique()], &[]));
        }
        let sigs =
            |before: Option<&Signature>, until: Option<&Signature>, limit| -> Vec<Signature> {
                h.signatures_for(&me, before, until, limit)
                    .iter()
                    .map(|t| t.signature)
                    .collect()
            };
        let newest_first: Vec<Signature> = mine.iter().rev().copied().collect();
        assert_eq!(sigs(None, None, 1000), newest_first, "reads count too");
        assert_eq!(sigs(None, None, 2), newest_first[..2]);
        assert_eq!(sigs(Some(&mine[4]), None, 1000), newest_first[2..]);
        assert_eq!(sigs(None, Some(&mine[2]), 1000), newest_first[..3]);
        assert_eq!(
            sigs(Some(&mine[4]), Some(&mine[1]), 1000),
            newest_first[2..4]
        );
        let unknown = Signature::new_unique();
        assert!(sigs(Some(&unknown), None, 1000).is_empty());
        assert_eq!(
            sigs(None, Some(&unknown), 1000),
            newest_first,
            "an unknown `until` stops nothing"
        );
        assert!(h
            .signatures_for(&Pubkey::new_unique(), None, None, 1000)
            .is_empty());
    }

    #[test]
    fn the_transaction_record_is_bounded_and_keeps_a_signature_once() {
        let mut h = History::default();
        let first = landed(1, 0, &[], &[]);
        let sig = first.signature;
        assert!(h.record(first.clone()).is_some());
        assert!(h.record(first).is_none(), "recorded once");
        for _ in 0..MAX_TRANSACTIONS {
            h.record(landed(2, 0, &[], &[]));
        }
        assert_eq!(h.transactions.len(), MAX_TRANSACTIONS);
        assert_eq!(h.by_signature.len(), MAX_TRANSACTIONS);
        assert!(h.get(&sig).is_none(), "the oldest went first");
    }

    #[test]
    fn prioritization_fees_follow_agaves_rule() {
        let (hot, cold, idle) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        let mut h = History::default();
        for s in [1, 2, 3] {
            h.observe(s, 0);
        }
        h.record(landed(2, 50, &[hot], &[]));
        h.record(landed(2, 500, &[hot], &[]));
        h.record(landed(2, 10, &[cold], &[hot]));
        h.record(landed(3, 7, &[cold], &[]));
        // Slot 1: nothing landed. Slot 2: the lowest bid is 10; writers of
        // `hot` paid at least 50, readers of it do not count.
        assert_eq!(h.prioritization_fees(&[]), vec![(1, 0), (2, 10), (3, 7)]);
        assert_eq!(h.prioritization_fees(&[hot]), vec![(1, 0), (2, 50), (3, 7)]);
        assert_eq!(
            h.prioritization_fees(&[idle, cold]),
            vec![(1, 0), (2, 10), (3, 7)]
        );
        assert!(History::default().prioritization_fees(&[]).is_empty());
    }

    #[test]
    fn prioritization_fees_look_back_150_slots() {
        let mut h = History::default();
        for s in 1..=200 {
            h.observe(s, 0);
        }
        let fees = h.prioritization_fees(&[]);
        assert_eq!(fees.len(), PRIORITIZATION_FEE_SLOTS);
        assert_eq!(fees.first().unwrap().0, 51);
        assert_eq!(fees.last().unwrap().0, 200);
    }

    #[test]
    fn memos_are_listed_as_a_validator_lists_them() {
        let memo_program = solana_sdk::pubkey!("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");
        let payer = Pubkey::new_unique();
        let ixs = [
            Instruction::new_with_bytes(memo_program, b"job 7", vec![]),
            Instruction::new_with_bytes(Pubkey::new_unique(), b"not a memo", vec![]),
            Instruction::new_with_bytes(memo_program, b"paid", vec![]),
        ];
        let tx = Transaction::new_unsigned(Message::new(&ixs, Some(&payer)));
        assert_eq!(memo(&tx).as_deref(), Some("[5] job 7; [4] paid"));
        let none = Transaction::new_unsigned(Message::new(&ixs[1..2], Some(&payer)));
        assert_eq!(memo(&none), None);
    }
}
