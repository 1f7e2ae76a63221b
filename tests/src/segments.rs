//! Segmented jobs in the shared world: helpers that post, claim, commit, pay, expire,
//! extend and end through the SDK's builders (`gpu_market_client::segments`), and
//! [`provoke_segment_errors`], which raises every named error the segmented
//! instructions add (the named-errors suite counts them).

use anchor_lang::{AccountDeserialize, AccountSerialize};
use gpu_market::constants::MAX_SEGMENTS;
use gpu_market::state::{JobRequirements, SegmentTerms, Segments, WorkloadKind};
use gpu_market::JobPostArgs;
use gpu_market_client::chain::{Chain, TxOutcome};
use gpu_market_client::error::Result;
use gpu_market_client::{ix, pda, segments as seg, Pubkey};
use solana_sdk::account::Account;

use crate::{assert_err, default_params, ProviderHandle, Signer, Wallet, World};

/// `n` segments of `price` and `duration` each.
pub fn terms(n: usize, price: u64, duration: i64) -> Vec<SegmentTerms> {
    vec![SegmentTerms { price, duration }; n]
}

/// Segments with these prices, each of `duration`.
pub fn priced(prices: &[u64], duration: i64) -> Vec<SegmentTerms> {
    prices
        .iter()
        .map(|&price| SegmentTerms { price, duration })
        .collect()
}

/// The escrow the world's market asks for `terms`: prices plus a bounty each.
pub fn escrow_of(terms: &[SegmentTerms]) -> u64 {
    Segments::escrow_for(terms, default_params().crank_bounty).unwrap()
}

/// Where segment `index`'s checkpoint is said to be stored.
pub fn checkpoint_uri(job: &Pubkey, index: u8) -> String {
    format!("file://checkpoints/{job}/{index}.ckpt")
}

/// The provider a settlement of segment `index` names: the one that runs or ran it,
/// or (for a pending segment or a bad index, which the program refuses by name) the
/// job's last provider.
fn provider_for(s: &Segments, index: u8) -> Pubkey {
    s.provider_of(index)
        .or_else(|| (0..s.count).rev().find_map(|i| s.provider_of(i)))
        .unwrap_or_default()
}

impl World {
    /// A train-mlp post of `terms`: price their total, escrow exactly what they ask.
    pub fn segmented_args(&self, nonce: u64, terms: &[SegmentTerms], deadline: i64) -> JobPostArgs {
        JobPostArgs {
            nonce,
            workload: WorkloadKind::TrainMlp.code(),
            spec_hash: [nonce as u8; 32],
            spec_uri: format!("blob://train/{nonce}"),
            requirements: JobRequirements::default(),
            price: Segments::total_price(terms).unwrap_or(u64::MAX),
            deadline,
            gemm: None,
            max_escrow: Segments::escrow_for(terms, self.params.crank_bounty).unwrap_or(u64::MAX),
        }
    }

    pub async fn try_post_segmented(
        &self,
        buyer: &Wallet,
        args: JobPostArgs,
        terms: Vec<SegmentTerms>,
    ) -> Result<(Pubkey, TxOutcome)> {
        let (ix, job) =
            seg::post_segmented_ix(&self.market, buyer.pubkey(), buyer.payment, args, terms);
        let out = self.send(&[ix], &[&buyer.key]).await?;
        Ok((job, out))
    }

    pub async fn post_segmented(
        &self,
        buyer: &Wallet,
        nonce: u64,
        terms: &[SegmentTerms],
        deadline: i64,
    ) -> Pubkey {
        let args = self.segmented_args(nonce, terms, deadline);
        self.try_post_segmented(buyer, args, terms.to_vec())
            .await
            .expect("job_post_segmented")
            .0
    }

    pub async fn segments(&self, job: &Pubkey) -> Segments {
        seg::fetch_segments(&*self.chain, job)
            .await
            .unwrap()
            .expect("segments account exists")
    }

    pub async fn seg_claim(&self, p: &ProviderHandle, job: &Pubkey) -> Result<TxOutcome> {
        let ix = seg::claim_ix(self.market.market, p.key, *job, p.worker.pubkey());
        self.send(&[ix], &[&p.worker]).await
    }

    /// Commits segment `index` with root `[root; 32]` and its checkpoint URI.
    pub async fn seg_commit(
        &self,
        p: &ProviderHandle,
        job: &Pubkey,
        index: u8,
        root: u8,
    ) -> Result<TxOutcome> {
        let ix = seg::commit_ix(
            self.market.market,
            p.key,
            *job,
            p.worker.pubkey(),
            index,
            [root; 32],
            checkpoint_uri(job, index),
        );
        self.send(&[ix], &[&p.worker]).await
    }

    pub async fn seg_finalize(
        &self,
        job: &Pubkey,
        index: u8,
        cranker: &Wallet,
    ) -> Result<TxOutcome> {
        let j = self.job(job).await;
        let s = self.segments(job).await;
        let provider_key = provider_for(&s, index);
        let provider = self.provider(&provider_key).await;
        let ix = seg::finalize_ix(
            &self.market,
            *job,
            &j,
            index,
            provider_key,
            &provider,
            cranker.pubkey(),
            cranker.payment,
        );
        self.send(&[ix], &[&cranker.key]).await
    }

    pub async fn seg_expire(&self, job: &Pubkey, index: u8, cranker: &Wallet) -> Result<TxOutcome> {
        let j = self.job(job).await;
        let s = self.segments(job).await;
        let provider_key = provider_for(&s, index);
        let ix = seg::expire_ix(
            &self.market,
            *job,
            &j,
            index,
            provider_key,
            cranker.pubkey(),
            cranker.stake,
        );
        self.send(&[ix], &[&cranker.key]).await
    }

    pub async fn seg_extend(
        &self,
        buyer: &Wallet,
        job: &Pubkey,
        terms: Vec<SegmentTerms>,
    ) -> Result<TxOutcome> {
        let ix = seg::extend_ix(&self.market, *job, buyer.pubkey(), buyer.payment, terms);
        self.send(&[ix], &[&buyer.key]).await
    }

    /// `challenger` disputes segment `index`'s checkpoint; returns the dispute. The
    /// provider named is `provider_for`'s, so that a pending segment or a bad index
    /// reaches the program's own rule.
    pub async fn seg_challenge(
        &self,
        job: &Pubkey,
        index: u8,
        challenger: &Wallet,
    ) -> Result<Pubkey> {
        let s = self.segments(job).await;
        let id = self.market_state().await.totals.jobs_disputed;
        let ix = seg::challenge_ix(
            &self.market,
            *job,
            index,
            provider_for(&s, index),
            id,
            challenger.pubkey(),
            challenger.payment,
            challenger.stake,
        );
        self.send(&[ix], &[&challenger.key]).await?;
        Ok(pda::dispute(&self.market.market, id))
    }

    pub async fn seg_settle(
        &self,
        job: &Pubkey,
        dispute: &Pubkey,
        settler: &Wallet,
    ) -> Result<TxOutcome> {
        seg::settle(
            &self.sender,
            &settler.key,
            &self.market,
            job,
            dispute,
            &gpu_market_client::ix::SettleAccounts {
                settler: settler.pubkey(),
                settler_payment_account: settler.payment,
            },
        )
        .await
    }

    pub async fn seg_refund(&self, job: &Pubkey, caller: &Wallet) -> Result<TxOutcome> {
        seg::refund(&self.sender, &caller.key, &self.market, job, caller.payment).await
    }

    pub async fn seg_end(&self, buyer: &Wallet, job: &Pubkey) -> Result<TxOutcome> {
        let j = self.job(job).await;
        let ix = seg::end_ix(&self.market, *job, &j);
        self.send(&[ix], &[&buyer.key]).await
    }
}

/// Raises every named error the segmented instructions add, each the way a client or
/// an attacker would meet it; returns their names. Leaves the world conserved.
pub async fn provoke_segment_errors(w: &World) -> Vec<&'static str> {
    let mut hit = Vec::new();
    let mut expect = |r: Result<TxOutcome>, name: &'static str| {
        assert_err(r, name);
        hit.push(name);
    };
    let p = w.register_provider(crate::h100(), 50_000).await;
    let buyer = w.wallet(1_000_000, 0).await;
    let cranker = w.wallet(0, 0).await;
    let t = w.now().await;
    let deadline = t + 3_600;
    let base = 9_000_000;
    let ok = terms(2, 1_000, 100);

    // Posting.
    let post = |nonce: u64, args: Option<JobPostArgs>, t: Vec<SegmentTerms>| {
        let args = args.unwrap_or_else(|| w.segmented_args(nonce, &t, deadline));
        w.try_post_segmented(&buyer, args, t)
    };
    let r = post(base, None, vec![]).await.map(|x| x.1);
    expect(r, "SegmentsEmpty");
    let r = post(base + 1, None, terms(MAX_SEGMENTS + 1, 1, 100)).await;
    expect(r.map(|x| x.1), "TooManySegments");
    let r = post(base + 2, None, terms(1, 1_000, 0)).await;
    expect(r.map(|x| x.1), "SegmentDurationInvalid");
    let mut args = w.segmented_args(base + 3, &ok, deadline);
    args.price += 1;
    let r = post(base + 3, Some(args), ok.clone()).await;
    expect(r.map(|x| x.1), "SegmentTotalMismatch");
    let mut args = w.segmented_args(base + 4, &ok, deadline);
    args.workload = WorkloadKind::GemmI8.code();
    let r = post(base + 4, Some(args), ok.clone()).await;
    expect(r.map(|x| x.1), "WorkloadNotSegmentable");

    // Claiming without the segments account, then out of turn.
    let job = w.post_segmented(&buyer, base + 5, &ok, deadline).await;
    let single_claim = ix::job_claim(w.market.market, p.key, job, p.worker.pubkey());
    expect(
        w.send(&[single_claim], &[&p.worker]).await,
        "SegmentsAccountMissing",
    );
    w.seg_claim(&p, &job).await.unwrap();
    expect(w.seg_claim(&p, &job).await, "SegmentNotPending");

    // Committing: the wrong segment, no URI, late.
    let beyond = seg::finalize_ix(
        &w.market,
        job,
        &w.job(&job).await,
        7,
        p.key,
        &w.provider(&p.key).await,
        cranker.pubkey(),
        cranker.payment,
    );
    expect(
        w.send(&[beyond], &[&cranker.key]).await,
        "SegmentIndexOutOfRange",
    );
    expect(w.seg_commit(&p, &job, 1, 1).await, "SegmentNotRunning");
    let no_uri = seg::commit_ix(
        w.market.market,
        p.key,
        job,
        p.worker.pubkey(),
        0,
        [1; 32],
        String::new(),
    );
    expect(w.send(&[no_uri], &[&p.worker]).await, "CheckpointUriEmpty");
    expect(
        w.seg_expire(&job, 0, &cranker).await,
        "SegmentDeadlineNotPassed",
    );
    expect(
        w.seg_finalize(&job, 0, &cranker).await,
        "SegmentNotCommitted",
    );
    let due = w.segments(&job).await.segments[0].deadline;
    w.set_time(due + 1).await;
    expect(w.seg_commit(&p, &job, 0, 1).await, "SegmentDeadlinePassed");
    w.seg_expire(&job, 0, &cranker).await.unwrap();
    // Resumed, then ended while running: no second end, no start after it.
    w.seg_claim(&p, &job).await.unwrap();
    w.seg_end(&buyer, &job).await.unwrap();
    expect(w.seg_end(&buyer, &job).await, "JobAlreadyEnded");
    w.seg_commit(&p, &job, 0, 1).await.unwrap();
    expect(w.seg_claim(&p, &job).await, "JobAlreadyEnded");
    w.assert_conservation().await;

    // The books: a segments account written as a buggy transition would leave it is
    // refused by the next instruction that changes it.
    let job = w
        .post_segmented(&buyer, base + 6, &ok, w.now().await + 3_600)
        .await;
    w.seg_claim(&p, &job).await.unwrap();
    let key = pda::segments(&job);
    let honest = w.chain.get_account(&key).await.unwrap().unwrap();
    let mut state = Segments::try_deserialize(&mut &honest.data[..]).unwrap();
    state.segments[0].bond += 1;
    let mut data = Vec::with_capacity(honest.data.len());
    state.try_serialize(&mut data).unwrap();
    data.resize(honest.data.len(), 0);
    w.chain
        .set_account(
            &key,
            Account {
                data,
                ..honest.clone()
            },
        )
        .await;
    expect(w.seg_commit(&p, &job, 0, 1).await, "SegmentsInvariant");
    w.chain.set_account(&key, honest).await;
    w.seg_commit(&p, &job, 0, 1).await.unwrap();
    w.assert_conservation().await;
    hit
}
