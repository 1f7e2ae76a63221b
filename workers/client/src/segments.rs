//! Segmented jobs from every side: the buyer posts, extends and ends one; the provider's
//! worker claims its next segment and commits each checkpoint (root and URI); anyone
//! pays a committed segment after its window or expires a late one; anyone challenges a
//! committed checkpoint within its window and settles the refereed dispute
//! (`challenge`, `settle`), or refunds the pending segments past the job's deadline
//! (`refund`). Instruction
//! builders (`*_ix`, from the program's own account and argument types) and one async
//! function per instruction go out; a job's [`Segments`] come back from
//! [`fetch_segments`]. When a call is due is not decided here: ask the program's rules
//! on the snapshot (`Segments::finalizable_at`, `Segments::late_at`,
//! `Segments::check_start_for`, `Segments::committable_at`), as [`crate::crank`] does.

use anchor_lang::prelude::Pubkey;
use anchor_lang::{InstructionData, ToAccountMetas};
use gpu_market::state::{Dispute, Job, Provider, SegmentTerms, Segments};
use gpu_market::{accounts as acc, instruction as data, JobPostArgs, ID};
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::signature::{Keypair, Signer};

use crate::accounts;
use crate::chain::{Chain, TxOutcome};
use crate::error::{ClientError, Result};
use crate::ix::{self, MarketKeys, SettleAccounts};
use crate::pda;
use crate::send::Sender;
use crate::token::{self, TOKEN_PROGRAM_ID};

const SYSTEM_PROGRAM_ID: Pubkey = anchor_lang::system_program::ID;

fn build(accounts: impl ToAccountMetas, args: impl InstructionData) -> Instruction {
    Instruction {
        program_id: ID,
        accounts: accounts.to_account_metas(None),
        data: args.data(),
    }
}

/// A segmented job's `Segments`, or `None` when it has none (a single job, or a job
/// whose accounts closed once every segment was settled).
pub async fn fetch_segments(chain: &dyn Chain, job: &Pubkey) -> Result<Option<Segments>> {
    let key = pda::segments(job);
    match chain.get_account(&key).await? {
        None => Ok(None),
        Some(a) if a.owner != ID => Err(ClientError::WrongAccountType {
            key,
            expected: "segments",
        }),
        Some(a) => accounts::decode(&key, &a.data, "segments").map(Some),
    }
}

/// The job and its segments, both live.
async fn fetch_both(chain: &dyn Chain, job: &Pubkey) -> Result<(Job, Segments)> {
    let j = accounts::fetch_job(chain, job).await?;
    let s = fetch_segments(chain, job)
        .await?
        .ok_or(ClientError::AccountNotFound(pda::segments(job)))?;
    Ok((j, s))
}

/// Posts a segmented job; `args.price` must be the segments' total. The buyer's
/// stake-mint account recorded for its share of a slash is its associated token account.
/// Returns the instruction and the job's address.
pub fn post_segmented_ix(
    m: &MarketKeys,
    buyer: Pubkey,
    buyer_payment_account: Pubkey,
    args: JobPostArgs,
    segments: Vec<SegmentTerms>,
) -> (Instruction, Pubkey) {
    let job = pda::job(&m.market, &buyer, args.nonce);
    let ix = build(
        acc::JobPostSegmented {
            buyer,
            market: m.market,
            job,
            segments: pda::segments(&job),
            buyer_payment_account,
            buyer_stake_account: token::ata(&buyer, &m.stake_mint),
            payment_vault: m.payment_vault,
            token_program: TOKEN_PROGRAM_ID,
            system_program: SYSTEM_PROGRAM_ID,
        },
        data::JobPostSegmented { args, segments },
    );
    (ix, job)
}

/// `job_claim` for a segmented job: starts its next segment for `provider`.
pub fn claim_ix(market: Pubkey, provider: Pubkey, job: Pubkey, worker: Pubkey) -> Instruction {
    build(
        acc::JobClaim {
            worker,
            market,
            provider,
            job,
            segments: Some(pda::segments(&job)),
        },
        data::JobClaim {},
    )
}

pub fn commit_ix(
    market: Pubkey,
    provider: Pubkey,
    job: Pubkey,
    worker: Pubkey,
    index: u8,
    state_root: [u8; 32],
    checkpoint_uri: String,
) -> Instruction {
    build(
        acc::SegmentCommit {
            worker,
            market,
            provider,
            job,
            segments: pda::segments(&job),
        },
        data::SegmentCommit {
            index,
            state_root,
            checkpoint_uri,
        },
    )
}

/// Pays segment `index` to `provider` (the one that ran it: `segments.segments[index].provider`).
#[allow(clippy::too_many_arguments)]
pub fn finalize_ix(
    m: &MarketKeys,
    job_key: Pubkey,
    job: &Job,
    index: u8,
    provider_key: Pubkey,
    provider: &Provider,
    cranker: Pubkey,
    cranker_payment_account: Pubkey,
) -> Instruction {
    build(
        acc::SegmentFinalize {
            cranker,
            market: m.market,
            job: job_key,
            segments: pda::segments(&job_key),
            buyer: job.buyer,
            provider: provider_key,
            payout_account: provider.payout_account,
            cranker_payment_account,
            payment_vault: m.payment_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        data::SegmentFinalize { index },
    )
}

/// Expires running segment `index`, run by `provider_key`.
pub fn expire_ix(
    m: &MarketKeys,
    job_key: Pubkey,
    job: &Job,
    index: u8,
    provider_key: Pubkey,
    cranker: Pubkey,
    cranker_stake_account: Pubkey,
) -> Instruction {
    build(
        acc::SegmentExpire {
            cranker,
            market: m.market,
            job: job_key,
            segments: pda::segments(&job_key),
            buyer: job.buyer,
            provider: provider_key,
            buyer_stake_account: job.slash_share_account,
            cranker_stake_account,
            stake_vault: m.stake_vault,
            buyer_payment_account: job.refund_account,
            payment_vault: m.payment_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        data::SegmentExpire { index },
    )
}

pub fn extend_ix(
    m: &MarketKeys,
    job_key: Pubkey,
    buyer: Pubkey,
    buyer_payment_account: Pubkey,
    segments: Vec<SegmentTerms>,
) -> Instruction {
    build(
        acc::JobExtend {
            buyer,
            market: m.market,
            job: job_key,
            segments: pda::segments(&job_key),
            buyer_payment_account,
            payment_vault: m.payment_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        data::JobExtend { segments },
    )
}

pub fn end_ix(m: &MarketKeys, job_key: Pubkey, job: &Job) -> Instruction {
    build(
        acc::JobEnd {
            buyer: job.buyer,
            market: m.market,
            job: job_key,
            segments: pda::segments(&job_key),
            buyer_payment_account: job.refund_account,
            payment_vault: m.payment_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        data::JobEnd {},
    )
}

/// Challenges committed segment `index` (run by `provider_key`); `next_dispute_id` is the
/// market's `totals.jobs_disputed`, which names the new dispute's address.
#[allow(clippy::too_many_arguments)]
pub fn challenge_ix(
    m: &MarketKeys,
    job_key: Pubkey,
    index: u8,
    provider_key: Pubkey,
    next_dispute_id: u64,
    challenger: Pubkey,
    challenger_payment_account: Pubkey,
    challenger_stake_account: Pubkey,
) -> Instruction {
    build(
        acc::SegmentChallenge {
            challenger,
            market: m.market,
            job: job_key,
            segments: pda::segments(&job_key),
            provider: provider_key,
            dispute: pda::dispute(&m.market, next_dispute_id),
            challenger_payment_account,
            challenger_stake_account,
            payment_vault: m.payment_vault,
            token_program: TOKEN_PROGRAM_ID,
            system_program: SYSTEM_PROGRAM_ID,
        },
        data::SegmentChallenge { index },
    )
}

/// The provider accounts `segment_settle` takes after the referee accounts: the
/// providers of the segments started after the disputed one (`Segments::started_after`,
/// whose bonds an overturn releases), less the disputed provider and the drawn referees
/// (passed already), each once, in segment order.
pub fn later_providers(segments: &Segments, dispute: &Dispute) -> Vec<Pubkey> {
    let Some(index) = dispute.segment else {
        return Vec::new();
    };
    let r = &dispute.referee;
    let referees = &r.referees[..if r.drawn { r.count as usize } else { 0 }];
    let mut out: Vec<Pubkey> = Vec::new();
    for (p, _) in segments.started_after(index) {
        if p != dispute.provider && !referees.contains(&p) && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Settles a segment's dispute: the referee accounts when drawn, then
/// [`later_providers`], as remaining accounts. `provider` is the disputed provider's
/// account (`dispute.provider`).
#[allow(clippy::too_many_arguments)]
pub fn settle_ix(
    m: &MarketKeys,
    job_key: Pubkey,
    job: &Job,
    segments: &Segments,
    provider: &Provider,
    dispute_key: Pubkey,
    dispute: &Dispute,
    s: &SettleAccounts,
) -> Instruction {
    let mut ix = build(
        acc::SegmentSettle {
            settler: s.settler,
            market: m.market,
            job: job_key,
            segments: pda::segments(&job_key),
            buyer: job.buyer,
            provider: dispute.provider,
            dispute: dispute_key,
            challenger: dispute.challenger,
            challenger_payment_account: dispute.challenger_payment_account,
            challenger_stake_account: dispute.challenger_stake_account,
            buyer_payment_account: job.refund_account,
            buyer_stake_account: job.slash_share_account,
            payout_account: provider.payout_account,
            settler_payment_account: s.settler_payment_account,
            payment_vault: m.payment_vault,
            stake_vault: m.stake_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        data::SegmentSettle {},
    );
    ix.accounts
        .extend(ix::referee_settle_accounts(&m.market, dispute));
    ix.accounts.extend(
        later_providers(segments, dispute)
            .into_iter()
            .map(|p| AccountMeta::new(p, false)),
    );
    ix
}

/// Refunds the pending segments past the job's deadline (no segment running);
/// `caller` earns one crank bounty in `caller_payment_account` unless it is the buyer.
pub fn refund_ix(
    m: &MarketKeys,
    job_key: Pubkey,
    job: &Job,
    caller: Pubkey,
    caller_payment_account: Pubkey,
) -> Instruction {
    build(
        acc::SegmentRefund {
            caller,
            market: m.market,
            job: job_key,
            segments: pda::segments(&job_key),
            buyer: job.buyer,
            buyer_payment_account: job.refund_account,
            caller_payment_account,
            payment_vault: m.payment_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        data::SegmentRefund {},
    )
}

/// Posts a segmented job, the buyer signing and paying; returns its address.
pub async fn post_segmented(
    sender: &Sender,
    buyer: &Keypair,
    m: &MarketKeys,
    buyer_payment_account: Pubkey,
    args: JobPostArgs,
    segments: Vec<SegmentTerms>,
) -> Result<(Pubkey, TxOutcome)> {
    let (ix, job) = post_segmented_ix(m, buyer.pubkey(), buyer_payment_account, args, segments);
    let out = sender.send(&[ix], buyer, &[]).await?;
    Ok((job, out))
}

/// Starts the job's next segment for `provider`, its worker signing and paying.
pub async fn claim(
    sender: &Sender,
    worker: &Keypair,
    market: &Pubkey,
    provider: &Pubkey,
    job: &Pubkey,
) -> Result<TxOutcome> {
    let ix = claim_ix(*market, *provider, *job, worker.pubkey());
    sender.send(&[ix], worker, &[]).await
}

/// Commits segment `index`'s checkpoint, the provider's worker signing and paying.
#[allow(clippy::too_many_arguments)]
pub async fn commit(
    sender: &Sender,
    worker: &Keypair,
    market: &Pubkey,
    provider: &Pubkey,
    job: &Pubkey,
    index: u8,
    state_root: [u8; 32],
    checkpoint_uri: String,
) -> Result<TxOutcome> {
    let ix = commit_ix(
        *market,
        *provider,
        *job,
        worker.pubkey(),
        index,
        state_root,
        checkpoint_uri,
    );
    sender.send(&[ix], worker, &[]).await
}

/// Pays segment `index`, `cranker` signing, paying and earning the bounty in
/// `cranker_payment_account`.
pub async fn finalize(
    sender: &Sender,
    cranker: &Keypair,
    m: &MarketKeys,
    job: &Pubkey,
    index: u8,
    cranker_payment_account: Pubkey,
) -> Result<TxOutcome> {
    let chain = &*sender.chain;
    let (j, s) = fetch_both(chain, job).await?;
    let provider_key = s.segment(index).map(|seg| seg.provider).unwrap_or_default();
    let provider = accounts::fetch_provider(chain, &provider_key).await?;
    let ix = finalize_ix(
        m,
        *job,
        &j,
        index,
        provider_key,
        &provider,
        cranker.pubkey(),
        cranker_payment_account,
    );
    sender.send(&[ix], cranker, &[]).await
}

/// Expires running segment `index`, `cranker` signing, paying and earning the
/// reporter's share in `cranker_stake_account`.
pub async fn expire(
    sender: &Sender,
    cranker: &Keypair,
    m: &MarketKeys,
    job: &Pubkey,
    index: u8,
    cranker_stake_account: Pubkey,
) -> Result<TxOutcome> {
    let (j, s) = fetch_both(&*sender.chain, job).await?;
    let provider_key = s.segment(index).map(|seg| seg.provider).unwrap_or_default();
    let ix = expire_ix(
        m,
        *job,
        &j,
        index,
        provider_key,
        cranker.pubkey(),
        cranker_stake_account,
    );
    sender.send(&[ix], cranker, &[]).await
}

/// Adds segments, the buyer depositing their escrow from `buyer_payment_account`.
pub async fn extend(
    sender: &Sender,
    buyer: &Keypair,
    m: &MarketKeys,
    job: &Pubkey,
    buyer_payment_account: Pubkey,
    segments: Vec<SegmentTerms>,
) -> Result<TxOutcome> {
    let ix = extend_ix(m, *job, buyer.pubkey(), buyer_payment_account, segments);
    sender.send(&[ix], buyer, &[]).await
}

/// Challenges committed segment `index`, `challenger` posting the bond from
/// `challenger_payment_account` (`fee_payer` pays the fee); returns the dispute's
/// address. Referees are then drawn and settle it as for any refereed dispute
/// (`crate::dispute::draw`, `referee_commit`, `referee_reveal`), and [`settle`] ends it.
#[allow(clippy::too_many_arguments)]
pub async fn challenge(
    sender: &Sender,
    fee_payer: &Keypair,
    m: &MarketKeys,
    job: &Pubkey,
    index: u8,
    challenger: &Keypair,
    challenger_payment_account: Pubkey,
    challenger_stake_account: Pubkey,
) -> Result<Pubkey> {
    let s = fetch_segments(&*sender.chain, job)
        .await?
        .ok_or(ClientError::AccountNotFound(pda::segments(job)))?;
    let provider_key = s.segment(index).map(|seg| seg.provider).unwrap_or_default();
    let (id, dispute) = crate::dispute::next_dispute(sender, &m.market).await?;
    let ix = challenge_ix(
        m,
        *job,
        index,
        provider_key,
        id,
        challenger.pubkey(),
        challenger_payment_account,
        challenger_stake_account,
    );
    sender.send(&[ix], fee_payer, &[challenger]).await?;
    Ok(dispute)
}

/// Settles a segment's dispute once `Dispute::segment_outcome_at` decides, `settler`
/// signing and earning an overturned segment's bounty in `s.settler_payment_account`.
pub async fn settle(
    sender: &Sender,
    settler: &Keypair,
    m: &MarketKeys,
    job: &Pubkey,
    dispute_key: &Pubkey,
    s: &SettleAccounts,
) -> Result<TxOutcome> {
    let chain = &*sender.chain;
    let (j, segs) = fetch_both(chain, job).await?;
    let dispute: Dispute = accounts::fetch_dispute(chain, dispute_key).await?;
    let provider = accounts::fetch_provider(chain, &dispute.provider).await?;
    let ix = settle_ix(m, *job, &j, &segs, &provider, *dispute_key, &dispute, s);
    sender.send(&[ix], settler, &[]).await
}

/// Refunds the pending segments past the job's deadline, `caller` signing and earning
/// one crank bounty in `caller_payment_account` (none when it is the buyer).
pub async fn refund(
    sender: &Sender,
    caller: &Keypair,
    m: &MarketKeys,
    job: &Pubkey,
    caller_payment_account: Pubkey,
) -> Result<TxOutcome> {
    let j = accounts::fetch_job(&*sender.chain, job).await?;
    let ix = refund_ix(m, *job, &j, caller.pubkey(), caller_payment_account);
    sender.send(&[ix], caller, &[]).await
}

/// Ends the job after its running segment; the unstarted ones are refunded.
pub async fn end(
    sender: &Sender,
    buyer: &Keypair,
    m: &MarketKeys,
    job: &Pubkey,
) -> Result<TxOutcome> {
    let j = accounts::fetch_job(&*sender.chain, job).await?;
    let ix = end_ix(m, *job, &j);
    sender.send(&[ix], buyer, &[]).await
}
