//! A referee's re-execution of one disputed segment of a segmented train-mlp job, and
//! the settlement of that dispute. The job's spec and training data are read and
//! checked as for a job this worker would train ([`Worker::prepare_train`]); the
//! checkpoint the disputed segment resumed from is read and verified against the root
//! the chain committed for it; the segment is trained again from it with
//! `gpu_market_compute::train::run_segment`, and the new checkpoint's root is what the
//! referee commits to. Only that segment is trained: the chain committed every earlier
//! root, and the dispute is over this one alone.
//!
//! Where the previous checkpoint is read: a commit names `<store>/<job>/<index>.ckpt`
//! in the buyer's checkpoint store the spec names (the URI its `SegmentCommitted` event
//! carries), and that is where the segment runner resumes from as well. The chain keeps
//! only the last checkpoint's URI (`Segments::last_checkpoint_uri`), and while segment
//! `i` is disputed that is segment `i`'s or a later one's, never `i - 1`'s; the worker's
//! chain access has no event history. So this worker's own copy is tried first (it may
//! have trained segment `i - 1` itself), then the buyer's store, each accepted only with
//! the committed root.

use gpu_market::state::Job;
use gpu_market_blobs::CheckpointStore;
use gpu_market_client::ix::SettleAccounts;
use gpu_market_client::{segments as seg, token, Pubkey};
use gpu_market_compute::train::{run_segment, CpuTrainer, Previous};
use gpu_market_compute::Hash32;
use solana_sdk::signature::Signer;

use super::RefereeError;
use crate::worker::Worker;

impl Worker {
    /// The root of segment `index` of `job_key` trained again from the checkpoint whose
    /// committed root is `previous` (the spec's step-0 state when `None`).
    pub(super) async fn re_execute_segment(
        &self,
        job_key: &Pubkey,
        job: &Job,
        index: u8,
        previous: Option<[u8; 32]>,
    ) -> Result<[u8; 32], RefereeError> {
        let cached = self.segment_jobs.lock().unwrap().get(job_key).cloned();
        let sj = match cached {
            Some(sj) => sj,
            None => self.prepare_train(job_key, job).await?,
        };
        let prev = match previous {
            None => None,
            Some(root) => Some((
                Hash32(root),
                self.previous_checkpoint(job_key, &sj.spec.params().checkpoint_store, index, root)
                    .await?,
            )),
        };
        let (spec, data) = (sj.spec.clone(), sj.data.clone());
        // Training is CPU-bound for the whole segment: off the async threads.
        let out = tokio::task::spawn_blocking(move || {
            let previous = prev
                .as_ref()
                .map(|(root, bytes)| Previous { bytes, root: *root });
            run_segment(&CpuTrainer, &spec, &data, previous, u32::from(index))
        })
        .await?
        .map_err(|source| RefereeError::Segment { index, source })?;
        Ok(out.state_root.0)
    }

    /// Checkpoint `index - 1` of `job_key` with root `root`: this worker's own copy, else
    /// the buyer's store at `location` (see the module doc).
    ///
    /// When neither holds it with that root, the referee commits nothing. That is not
    /// the referee's fault, and no root it could commit would be worth anything: it
    /// cannot train the segment from a checkpoint it does not have, and a root it
    /// guessed would side with one party by chance. Without a quorum of matching
    /// reveals the dispute ends with no ruling (the segment stands, the challenger's bond
    /// is returned), which is the rule for a dispute nobody could decide.
    async fn previous_checkpoint(
        &self,
        job_key: &Pubkey,
        location: &str,
        index: u8,
        root: [u8; 32],
    ) -> Result<Vec<u8>, RefereeError> {
        let prev = index - 1;
        let (id, root) = (job_key.to_string(), Hash32(root));
        match self.checkpoints.get(&id, u32::from(prev), &root).await {
            Ok(bytes) => return Ok(bytes),
            Err(e) => tracing::debug!(
                job = %job_key,
                index = prev,
                error = %e,
                "no own copy of the previous checkpoint; reading the buyer's"
            ),
        }
        let buyer =
            CheckpointStore::open(location).map_err(|source| RefereeError::CheckpointStore {
                location: location.into(),
                source,
            })?;
        buyer
            .get(&id, u32::from(prev), &root)
            .await
            .map_err(|source| RefereeError::PreviousCheckpoint {
                index: prev,
                source,
            })
    }

    /// Settles a segment's dispute by `segment_settle`, the worker key as settler (an
    /// overturned segment's bounty goes to its payment account).
    pub(super) async fn settle_segment_as_worker(
        &self,
        job_key: &Pubkey,
        dispute: &Pubkey,
    ) -> Result<(), gpu_market_client::error::ClientError> {
        let m = &self.market;
        let accounts = SettleAccounts {
            settler: self.key.pubkey(),
            settler_payment_account: token::ata(&self.key.pubkey(), &m.payment_mint),
        };
        seg::settle(&self.sender, &self.key, m, job_key, dispute, &accounts)
            .await
            .map(drop)
    }
}
