//! Token conservation: for each mint, the balances of every token account
//! that holds it sum to its supply, so no token was created, destroyed, or
//! sent anywhere the books do not know about.
//!
//! A chain cannot list a mint's holders cheaply (SPL Token accounts are
//! scanned by owner program, and a real cluster holds millions), so whoever
//! creates accounts records them in a [`TokenAccounts`] set and the check
//! reads exactly those. The market bootstrap ([`crate::bootstrap`]) records
//! what it creates; the demo, the test harness and the localnet tests record
//! the wallets they fund. Where [`crate::audit::invariants`] checks the
//! market's own books (vaults against what accounts say is owed), this checks
//! that the money around the market adds up.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use anchor_lang::prelude::Pubkey;
use serde::Serialize;

use crate::chain::Chain;
use crate::error::{ClientError, Result};
use crate::token;

/// The token accounts known to exist, by mint.
#[derive(Debug, Default)]
pub struct TokenAccounts {
    by_mint: Mutex<BTreeMap<Pubkey, BTreeSet<Pubkey>>>,
}

impl TokenAccounts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `account` as a holder of `mint` (idempotent).
    pub fn track(&self, mint: Pubkey, account: Pubkey) {
        self.lock().entry(mint).or_default().insert(account);
    }

    /// What is recorded now.
    pub fn tracked(&self) -> BTreeMap<Pubkey, BTreeSet<Pubkey>> {
        self.lock().clone()
    }

    /// Reads every recorded mint's supply and accounts' balances; one line per mint.
    pub async fn check(&self, chain: &dyn Chain) -> Result<Vec<MintConservation>> {
        check(chain, &self.tracked()).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Pubkey, BTreeSet<Pubkey>>> {
        // A panic elsewhere while holding it cannot leave a set half-inserted.
        self.by_mint.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One mint's supply against the sum of the balances of its recorded accounts.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MintConservation {
    #[serde(serialize_with = "as_string")]
    pub mint: Pubkey,
    pub supply: u64,
    /// Summed wide, so that an overflow shows as a mismatch rather than a wrap.
    pub sum_of_accounts: u128,
    /// Accounts summed (recorded accounts since closed count as holding nothing).
    pub accounts: usize,
    pub ok: bool,
}

/// The conservation check over `accounts` (by mint). A missing mint is an
/// error: the books name it, so it must exist.
pub async fn check(
    chain: &dyn Chain,
    accounts: &BTreeMap<Pubkey, BTreeSet<Pubkey>>,
) -> Result<Vec<MintConservation>> {
    let mut out = Vec::with_capacity(accounts.len());
    for (mint, holders) in accounts {
        let data = chain
            .get_account(mint)
            .await?
            .ok_or(ClientError::AccountNotFound(*mint))?;
        let supply = token::decode_mint_supply(mint, &data.data)?;
        let keys: Vec<Pubkey> = holders.iter().copied().collect();
        let mut sum: u128 = 0;
        for (key, account) in keys.iter().zip(chain.get_multiple_accounts(&keys).await?) {
            if let Some(a) = account {
                sum += u128::from(token::decode_token_account(key, &a.data)?.amount);
            }
        }
        out.push(MintConservation {
            mint: *mint,
            supply,
            sum_of_accounts: sum,
            accounts: keys.len(),
            ok: sum == u128::from(supply),
        });
    }
    Ok(out)
}

fn as_string<S: serde::Serializer>(key: &Pubkey, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(key)
}
