//! The embedded chain's account index. `BanksClient` can read an account but
//! cannot scan a program's accounts, so the chain keeps its own owner index:
//! after every transaction it re-reads the writable accounts and hands them
//! to [`Index::apply`], which moves each under its (new) owner and tells the
//! subscribers of that owner, or of the previous owner when the account was
//! closed (a closure arrives as `None`, as over a websocket).

use std::collections::{BTreeSet, HashMap};

use anchor_lang::prelude::Pubkey;
use solana_sdk::account::Account;
use tokio::sync::mpsc;

use crate::chain::AccountUpdate;

pub(super) struct Index {
    /// owner -> accounts it owns that this chain has seen.
    by_owner: HashMap<Pubkey, BTreeSet<Pubkey>>,
    /// (owner filter, sink): `None` receives every account change.
    subscribers: Vec<(Option<Pubkey>, mpsc::UnboundedSender<AccountUpdate>)>,
    /// Off: changes are indexed but not delivered (a dropped stream).
    pub(super) notifications: bool,
}

impl Index {
    pub(super) fn new() -> Self {
        Index {
            by_owner: HashMap::new(),
            subscribers: Vec::new(),
            notifications: true,
        }
    }

    /// A stream of changes to accounts of `owner` (every account for `None`).
    pub(super) fn subscribe(
        &mut self,
        owner: Option<Pubkey>,
    ) -> mpsc::UnboundedReceiver<AccountUpdate> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.subscribers.push((owner, tx));
        rx
    }

    /// The accounts `owner` owns, as last seen.
    pub(super) fn owned_by(&self, owner: &Pubkey) -> Vec<Pubkey> {
        self.by_owner
            .get(owner)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Records what `accounts` look like now (`None`: gone) and notifies.
    pub(super) fn apply(&mut self, accounts: Vec<(Pubkey, Option<Account>)>, slot: u64) {
        let mut notify = Vec::new();
        for (key, account) in accounts {
            let previous_owner = self
                .by_owner
                .iter()
                .find(|(_, keys)| keys.contains(&key))
                .map(|(owner, _)| *owner);
            if let Some(owner) = previous_owner {
                self.by_owner.get_mut(&owner).map(|s| s.remove(&key));
            }
            match &account {
                // An account drained of lamports is gone at the end of the transaction.
                Some(a) if a.lamports > 0 => {
                    self.by_owner.entry(a.owner).or_default().insert(key);
                    notify.push((
                        a.owner,
                        AccountUpdate {
                            pubkey: key,
                            account: account.clone(),
                            slot,
                        },
                    ));
                }
                _ => {
                    if let Some(owner) = previous_owner {
                        notify.push((
                            owner,
                            AccountUpdate {
                                pubkey: key,
                                account: None,
                                slot,
                            },
                        ));
                    }
                }
            }
        }
        if self.notifications {
            // A subscriber that hung up is dropped.
            self.subscribers.retain(|(filter, tx)| {
                notify
                    .iter()
                    .filter(|(owner, _)| filter.is_none_or(|f| f == *owner))
                    .all(|(_, update)| tx.send(update.clone()).is_ok())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(owner: Pubkey, lamports: u64) -> Option<Account> {
        Some(Account {
            lamports,
            data: vec![],
            owner,
            executable: false,
            rent_epoch: 0,
        })
    }

    #[test]
    fn owner_subscribers_see_creation_and_closure_and_scans_follow() {
        let (program, other, key) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        let mut index = Index::new();
        let mut mine = index.subscribe(Some(program));
        let mut theirs = index.subscribe(Some(other));
        index.apply(vec![(key, owned(program, 1))], 5);
        assert_eq!(index.owned_by(&program), vec![key]);
        let u = mine.try_recv().unwrap();
        assert_eq!((u.pubkey, u.slot, u.account.is_some()), (key, 5, true));

        // Closed (drained of lamports): the previous owner hears `None`.
        index.apply(vec![(key, owned(program, 0))], 6);
        assert!(index.owned_by(&program).is_empty());
        let u = mine.try_recv().unwrap();
        assert_eq!((u.pubkey, u.account.is_none()), (key, true));
        assert!(theirs.try_recv().is_err(), "other owners hear nothing");
    }

    #[test]
    fn with_notifications_off_the_index_still_follows() {
        let (program, key) = (Pubkey::new_unique(), Pubkey::new_unique());
        let mut index = Index::new();
        let mut all = index.subscribe(None);
        index.notifications = false;
        index.apply(vec![(key, owned(program, 1))], 1);
        assert_eq!(index.owned_by(&program), vec![key]);
        assert!(
            all.try_recv().is_err(),
            "a dropped stream misses the change"
        );
    }
}
