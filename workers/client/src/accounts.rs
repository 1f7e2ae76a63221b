//! Decoding and fetching gpu-market accounts, and scanning them with the
//! memcmp filters the account layouts allow (discriminator, market, job state,
//! claiming provider).

use anchor_lang::prelude::Pubkey;
use anchor_lang::{AccountDeserialize, Discriminator};
use gpu_market::state::{Dispute, Job, JobState, Market, ProofBuffer, Provider};
use gpu_market::ID;

use crate::chain::{Chain, Filter};
use crate::error::{ClientError, Result};

/// Byte offsets used by memcmp filters (after the 8-byte discriminator).
pub mod offsets {
    /// `Provider.market` and `Job.market`.
    pub const MARKET: usize = 8;
    pub const PROVIDER_OWNER: usize = 40;
    pub const JOB_BUYER: usize = 40;
    pub const JOB_STATE: usize = 80;
    pub const JOB_PROVIDER: usize = 81;
}

pub fn decode<T: AccountDeserialize + Discriminator>(
    key: &Pubkey,
    data: &[u8],
    expected: &'static str,
) -> Result<T> {
    if !data.starts_with(T::DISCRIMINATOR) {
        return Err(ClientError::WrongAccountType {
            key: *key,
            expected,
        });
    }
    T::try_deserialize(&mut &data[..]).map_err(|_| ClientError::WrongAccountType {
        key: *key,
        expected,
    })
}

async fn fetch<T: AccountDeserialize + Discriminator>(
    chain: &dyn Chain,
    key: &Pubkey,
    expected: &'static str,
) -> Result<T> {
    let account = chain
        .get_account(key)
        .await?
        .ok_or(ClientError::AccountNotFound(*key))?;
    if account.owner != ID {
        return Err(ClientError::WrongAccountType {
            key: *key,
            expected,
        });
    }
    decode(key, &account.data, expected)
}

pub async fn fetch_market(chain: &dyn Chain, key: &Pubkey) -> Result<Market> {
    fetch(chain, key, "market").await
}

pub async fn fetch_provider(chain: &dyn Chain, key: &Pubkey) -> Result<Provider> {
    fetch(chain, key, "provider").await
}

pub async fn fetch_job(chain: &dyn Chain, key: &Pubkey) -> Result<Job> {
    fetch(chain, key, "job").await
}

/// A job that may have been closed (settled jobs close their accounts).
pub async fn fetch_job_opt(chain: &dyn Chain, key: &Pubkey) -> Result<Option<Job>> {
    match fetch_job(chain, key).await {
        Err(ClientError::AccountNotFound(_)) => Ok(None),
        other => other.map(Some),
    }
}

fn discriminator<T: Discriminator>() -> Filter {
    Filter::Memcmp {
        offset: 0,
        bytes: T::DISCRIMINATOR.to_vec(),
    }
}

fn pubkey_at(offset: usize, key: &Pubkey) -> Filter {
    Filter::Memcmp {
        offset,
        bytes: key.to_bytes().to_vec(),
    }
}

async fn scan<T: AccountDeserialize + Discriminator>(
    chain: &dyn Chain,
    filters: Vec<Filter>,
    expected: &'static str,
) -> Result<Vec<(Pubkey, T)>> {
    let mut all = vec![discriminator::<T>()];
    all.extend(filters);
    let mut out = Vec::new();
    for (key, account) in chain.get_program_accounts(&ID, &all).await? {
        out.push((key, decode(&key, &account.data, expected)?));
    }
    out.sort_by_key(|(k, _)| *k);
    Ok(out)
}

pub async fn list_markets(chain: &dyn Chain) -> Result<Vec<(Pubkey, Market)>> {
    scan(chain, vec![], "market").await
}

pub async fn list_providers(chain: &dyn Chain, market: &Pubkey) -> Result<Vec<(Pubkey, Provider)>> {
    scan(chain, vec![pubkey_at(offsets::MARKET, market)], "provider").await
}

/// Open disputes of a market (settlement closes them).
pub async fn list_disputes(chain: &dyn Chain, market: &Pubkey) -> Result<Vec<(Pubkey, Dispute)>> {
    scan(chain, vec![pubkey_at(offsets::MARKET, market)], "dispute").await
}

/// Proof buffers paid for (and writable only) by `payer`, in every market.
pub async fn list_proof_buffers(
    chain: &dyn Chain,
    payer: &Pubkey,
) -> Result<Vec<(Pubkey, ProofBuffer)>> {
    // The payer follows the discriminator and the dispute key.
    scan(chain, vec![pubkey_at(8 + 32, payer)], "proof buffer").await
}

pub async fn fetch_dispute(chain: &dyn Chain, key: &Pubkey) -> Result<Dispute> {
    fetch(chain, key, "dispute").await
}

pub async fn fetch_referee_pool(
    chain: &dyn Chain,
    key: &Pubkey,
) -> Result<gpu_market::state::RefereePool> {
    fetch(chain, key, "referee pool").await
}

/// Live jobs of a market, optionally only those in `state`.
pub async fn list_jobs(
    chain: &dyn Chain,
    market: &Pubkey,
    state: Option<JobState>,
) -> Result<Vec<(Pubkey, Job)>> {
    let mut filters = vec![pubkey_at(offsets::MARKET, market)];
    if let Some(s) = state {
        filters.push(Filter::Memcmp {
            offset: offsets::JOB_STATE,
            bytes: vec![s as u8],
        });
    }
    scan(chain, filters, "job").await
}

/// Live jobs claimed by (or submitted by) one provider.
pub async fn list_jobs_of_provider(
    chain: &dyn Chain,
    market: &Pubkey,
    provider: &Pubkey,
) -> Result<Vec<(Pubkey, Job)>> {
    scan(
        chain,
        vec![
            pubkey_at(offsets::MARKET, market),
            pubkey_at(offsets::JOB_PROVIDER, provider),
        ],
        "job",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::AccountSerialize;

    #[test]
    fn filter_offsets_match_the_layout() {
        let market = Pubkey::new_unique();
        let buyer = Pubkey::new_unique();
        let provider = Pubkey::new_unique();
        let job = Job {
            market,
            buyer,
            nonce: 9,
            state: JobState::Submitted,
            provider,
            spec_uri: "x".into(),
            ..Job::fixture()
        };
        let mut data = Vec::new();
        job.try_serialize(&mut data).unwrap();
        assert_eq!(
            &data[offsets::MARKET..offsets::MARKET + 32],
            market.as_ref()
        );
        assert_eq!(
            &data[offsets::JOB_BUYER..offsets::JOB_BUYER + 32],
            buyer.as_ref()
        );
        assert_eq!(data[offsets::JOB_STATE], JobState::Submitted as u8);
        assert_eq!(
            &data[offsets::JOB_PROVIDER..offsets::JOB_PROVIDER + 32],
            provider.as_ref()
        );
        let back: Job = decode(&Pubkey::new_unique(), &data, "job").unwrap();
        assert_eq!(back.nonce, 9);
        let wrong: Result<Market> = decode(&Pubkey::new_unique(), &data, "market");
        assert!(matches!(
            wrong,
            Err(ClientError::WrongAccountType {
                expected: "market",
                ..
            })
        ));
    }
}
