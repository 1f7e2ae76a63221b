//! The segment runner: carries one segmented train-mlp job forward, one planned action
//! per [`SegmentRunner::tick`]. It reads the chain's `Segments` snapshot and the time
//! through a [`SegmentChain`], this job's lines of its [`SegmentJournal`], asks the
//! planner ([`super::plan::next`]) and does what it says: read and verify the previous
//! checkpoint (own local copy, else the buyer's store, always against the committed
//! root), claim, train the segment ([`gpu_market_compute::train::run_segment`], on a
//! blocking thread), store the checkpoint locally and in the buyer's store (atomic,
//! read back), journal it, commit its root and URI, or expire a late segment.
//!
//! Effects come in an order that makes a crash between any two of them harmless: a
//! checkpoint is journaled only once both copies are stored, and committed only once
//! journaled, so a restarted worker commits what it journaled, and trains again (to the
//! same bytes) what it did not. [`FailPoint`]s let tests kill it between the effects.

use std::sync::Arc;

use gpu_market::state::SegmentState;
use gpu_market_blobs::{CheckpointStore, CheckpointStoreError};
use gpu_market_client::error::ClientError;
use gpu_market_client::Pubkey;
use gpu_market_compute::spec::TrainMlpSpec;
use gpu_market_compute::train::{run_segment, Examples, Previous, SegmentError, Trainer};
use gpu_market_compute::Hash32;
use tracing::Instrument;

use super::chain::SegmentChain;
use super::journal::{JournalError, SegmentJournal, Stored};
use super::plan::{self, Action, Facts, Start};

/// Where a test kills the runner, within segment `index`'s work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailPoint {
    /// The segment is ours (claimed, or started by our previous commit); nothing trained.
    BeforeTrain,
    /// Trained; nothing stored (the steps are lost).
    AfterTrain,
    /// Both copies stored; not journaled.
    AfterStore,
    /// Journaled; not committed.
    AfterJournal,
    /// Committed (and the next segment started for us).
    AfterCommit,
}

#[derive(Debug, thiserror::Error)]
pub enum SegmentRunError {
    #[error(transparent)]
    Chain(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] CheckpointStoreError),
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the training thread of segment {index} did not finish")]
    Worker {
        index: u8,
        #[source]
        source: tokio::task::JoinError,
    },
    /// A test's [`FailPoint`]: the runner stops as if the process died there.
    #[error("killed at {at:?} of segment {index}")]
    Killed { index: u8, at: FailPoint },
}

/// One segmented job as the runner needs it: its address, its validated spec, and the
/// training examples of its data blob (fetched and checked against the spec).
#[derive(Clone)]
pub struct SegmentJob {
    pub job: Pubkey,
    pub spec: Arc<TrainMlpSpec>,
    pub data: Arc<Examples>,
}

impl SegmentJob {
    fn id(&self) -> String {
        self.job.to_string()
    }
}

/// The runner of one worker (see the module doc).
pub struct SegmentRunner<'a, C> {
    pub chain: &'a C,
    /// This worker's provider account.
    pub me: Pubkey,
    pub trainer: Arc<dyn Trainer>,
    /// The buyer's store, the spec's `checkpoint_store`.
    pub buyer: &'a CheckpointStore,
    /// This worker's own copies.
    pub local: &'a CheckpointStore,
    pub journal: &'a SegmentJournal,
    pub may_claim: bool,
    /// Tests: die at this point of this segment.
    pub fail: Option<(u8, FailPoint)>,
    /// The previous checkpoint read for a claim, kept for the run that follows it.
    cached: Option<(u8, Hash32, Vec<u8>)>,
}

impl<'a, C: SegmentChain> SegmentRunner<'a, C> {
    pub fn new(
        chain: &'a C,
        me: Pubkey,
        trainer: Arc<dyn Trainer>,
        buyer: &'a CheckpointStore,
        local: &'a CheckpointStore,
        journal: &'a SegmentJournal,
    ) -> Self {
        SegmentRunner {
            chain,
            me,
            trainer,
            buyer,
            local,
            journal,
            may_claim: true,
            fail: None,
            cached: None,
        }
    }

    fn check_fail(&self, index: u8, at: FailPoint) -> Result<(), SegmentRunError> {
        if self.fail == Some((index, at)) {
            return Err(SegmentRunError::Killed { index, at });
        }
        Ok(())
    }

    /// The planner's answer now, from a fresh snapshot.
    pub async fn plan(&self, job: &SegmentJob) -> Result<Action, SegmentRunError> {
        let segments = self.chain.segments(&job.job).await?;
        let now = self.chain.now().await?;
        let journal = self.journal.for_job(&job.job);
        // The program's start rule is asked only when a start is in question: the next
        // segment is pending and the worker would take it.
        let startable = match &segments {
            Some(s)
                if self.may_claim
                    && !s.ended
                    && s.segments
                        .get(s.next as usize)
                        .is_some_and(|seg| seg.state == SegmentState::Pending) =>
            {
                self.chain.startable(&job.job, s, now).await?
            }
            _ => false,
        };
        Ok(plan::next(&Facts {
            me: self.me,
            journal: &journal,
            segments: segments.as_ref(),
            now,
            may_claim: self.may_claim,
            startable,
        }))
    }

    /// Plans and does one action; returns it.
    pub async fn tick(&mut self, job: &SegmentJob) -> Result<Action, SegmentRunError> {
        let action = self.plan(job).await?;
        let span = tracing::info_span!("segment", job = %job.job, action = ?action);
        self.act(job, &action).instrument(span).await?;
        Ok(action)
    }

    async fn act(&mut self, job: &SegmentJob, action: &Action) -> Result<(), SegmentRunError> {
        match action {
            Action::Wait(_) | Action::Done(_) => {}
            Action::Expire { index } => self.chain.expire(&job.job, *index).await?,
            Action::Claim { start, .. } => {
                // The checkpoint is read and verified before a bond is risked on it.
                self.cached = self.previous(job, *start).await?;
                self.chain.claim(&job.job).await?;
            }
            Action::Run { index, start } => self.run(job, *index, *start).await?,
            Action::Commit { index, root, uri } => {
                self.ensure_stored(job, *index, root).await?;
                self.chain.commit(&job.job, *index, *root, uri).await?;
                self.check_fail(*index, FailPoint::AfterCommit)?;
            }
        }
        Ok(())
    }

    /// Ticks until the planner says `Wait` or `Done` (returned), at most `limit` ticks.
    pub async fn run_until_idle(
        &mut self,
        job: &SegmentJob,
        limit: usize,
    ) -> Result<Action, SegmentRunError> {
        let mut last = Action::Wait("tick limit reached");
        for _ in 0..limit {
            last = self.tick(job).await?;
            if matches!(last, Action::Wait(_) | Action::Done(_)) {
                break;
            }
        }
        Ok(last)
    }

    /// The checkpoint `start` names, verified against its committed root: (index,
    /// root, bytes), or `None` for segment 0.
    async fn previous(
        &mut self,
        job: &SegmentJob,
        start: Start,
    ) -> Result<Option<(u8, Hash32, Vec<u8>)>, SegmentRunError> {
        let id = job.id();
        let (index, root, local_first) = match start {
            Start::Spec => return Ok(None),
            Start::Local { index, root } => (index, root, true),
            Start::Store { index, root } => (index, root, false),
        };
        if let Some((i, r, bytes)) = self.cached.take() {
            if (i, r) == (index, root) {
                return Ok(Some((i, r, bytes)));
            }
        }
        if local_first {
            match self.local.get(&id, u32::from(index), &root).await {
                Ok(bytes) => return Ok(Some((index, root, bytes))),
                Err(e) => tracing::warn!(
                    index,
                    error = %e,
                    "own copy of the previous checkpoint unusable; reading the buyer's"
                ),
            }
        }
        let bytes = self.buyer.get(&id, u32::from(index), &root).await?;
        Ok(Some((index, root, bytes)))
    }

    async fn run(
        &mut self,
        job: &SegmentJob,
        index: u8,
        start: Start,
    ) -> Result<(), SegmentRunError> {
        self.check_fail(index, FailPoint::BeforeTrain)?;
        let prev = self.previous(job, start).await?;
        let (trainer, spec, data) = (self.trainer.clone(), job.spec.clone(), job.data.clone());
        // Training is CPU- (or GPU-) bound for the whole segment: off the async threads.
        let out = tokio::task::spawn_blocking(move || {
            let previous = prev
                .as_ref()
                .map(|(_, root, bytes)| Previous { bytes, root: *root });
            run_segment(trainer.as_ref(), &spec, &data, previous, u32::from(index))
        })
        .await
        .map_err(|source| SegmentRunError::Worker { index, source })??;
        self.check_fail(index, FailPoint::AfterTrain)?;
        let id = job.id();
        self.local.put(&id, u32::from(index), &out.bytes).await?;
        let stored = self.buyer.put(&id, u32::from(index), &out.bytes).await?;
        self.check_fail(index, FailPoint::AfterStore)?;
        self.journal.append(Stored {
            job: id,
            index: u32::from(index),
            root: stored.root,
            uri: stored.uri,
        })?;
        self.check_fail(index, FailPoint::AfterJournal)?;
        tracing::info!(index, root = %out.state_root, "segment trained and stored");
        Ok(())
    }

    /// Before committing a journaled checkpoint: the buyer's store must hold it (the
    /// next provider resumes from there). If it does not (lost, or overwritten by
    /// another provider since), it is uploaded again from the local copy.
    async fn ensure_stored(
        &self,
        job: &SegmentJob,
        index: u8,
        root: &Hash32,
    ) -> Result<(), SegmentRunError> {
        let (id, i) = (job.id(), u32::from(index));
        if let Err(e) = self.buyer.get(&id, i, root).await {
            tracing::warn!(index, error = %e, "buyer's copy unusable; uploading the local one");
            let bytes = self.local.get(&id, i, root).await?;
            self.buyer.put(&id, i, &bytes).await?;
        }
        Ok(())
    }
}
