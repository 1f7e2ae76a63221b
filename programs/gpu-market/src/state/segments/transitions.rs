//! The transitions of a segmented job: each moves one segment (or the job's pending
//! remainder) and updates the `Job`'s books with it, after the rule in `mod.rs` that
//! allows it (`check_*`), so that [`Segments::invariant`] holds after every handler.

use anchor_lang::prelude::*;

use super::*;
use crate::errors::MarketError;
use crate::math;
use crate::state::Job;

impl Segments {
    /// Starts the next segment for `provider`, which locked `bond` (the caller checked
    /// `check_start_for` and locks it on the provider).
    pub fn start(
        &mut self,
        job: &mut Job,
        provider: Pubkey,
        bond: u64,
        gpu_count: u16,
        score_fee_scale: u64,
        now: i64,
    ) -> Result<Started> {
        let index = self.check_start_at(job, now)?;
        let s = &mut self.segments[index as usize];
        let deadline = math::add_i64(now, s.duration)?;
        s.state = SegmentState::Running;
        s.provider = provider;
        s.started_at = now;
        s.deadline = deadline;
        s.bond = bond;
        s.gpu_count = gpu_count;
        s.score_fee_scale = score_fee_scale;
        job.provider = provider;
        job.bond = math::add(job.bond, bond)?;
        job.attempts = job
            .attempts
            .checked_add(1)
            .ok_or(MarketError::MathOverflow)?;
        Ok(Started {
            index,
            bond,
            deadline,
        })
    }

    /// Commits segment `index`'s checkpoint: its root and where it is stored. Its
    /// challenge window starts now; the job moves on to the next segment.
    pub fn commit(
        &mut self,
        job: &mut Job,
        index: u8,
        provider: &Pubkey,
        state_root: [u8; 32],
        checkpoint_uri: String,
        now: i64,
    ) -> Result<()> {
        self.check_commit_at(index, provider, now)?;
        require!(state_root != [0u8; 32], MarketError::EmptyResultRoot);
        require!(!checkpoint_uri.is_empty(), MarketError::CheckpointUriEmpty);
        require!(checkpoint_uri.len() <= MAX_URI_LEN, MarketError::UriTooLong);
        let challenge_deadline = math::add_i64(now, job.terms.challenge_window)?;
        let s = &mut self.segments[index as usize];
        s.state = SegmentState::Committed;
        s.state_root = state_root;
        s.committed_at = now;
        s.challenge_deadline = challenge_deadline;
        self.next = index.checked_add(1).ok_or(MarketError::MathOverflow)?;
        self.last_checkpoint_index = Some(index);
        self.last_checkpoint_uri = checkpoint_uri;
        job.provider = Pubkey::default();
        Ok(())
    }

    /// Pays segment `index`: its price minus the fee to its provider, the fee to the
    /// treasury, the bounty to the caller; its bond is released.
    pub fn finalize(&mut self, job: &mut Job, index: u8, now: i64) -> Result<Paid> {
        self.check_finalize_at(index, now)?;
        let s = &mut self.segments[index as usize];
        s.state = SegmentState::Paid;
        let fee = math::fee_for(s.price, job.terms.fee_bps)?;
        let payout = math::payout_for(s.price, job.terms.fee_bps)?;
        let bounty = job.terms.crank_bounty;
        let escrow = math::escrow_for(s.price, bounty)?;
        job.escrow = math::sub(job.escrow, escrow)?;
        job.bond = math::sub(job.bond, s.bond)?;
        Ok(Paid {
            provider: s.provider,
            bond: s.bond,
            gpu_ms: s.gpu_ms(),
            payout,
            fee,
            bounty,
            escrow,
            score_fee_scale: s.score_fee_scale,
        })
    }

    /// A running segment that missed its deadline: pending again, its bond to be slashed
    /// by the caller. The job reopens at the last committed checkpoint for any
    /// provider's claim, unless the buyer ended it or its deadline (the last second a
    /// segment may start) passed: then that segment and every one after it go back to
    /// the buyer.
    pub fn expire(&mut self, job: &mut Job, index: u8, now: i64) -> Result<Expired> {
        self.check_expire_at(index, now)?;
        let s = &mut self.segments[index as usize];
        let missed = *s;
        *s = Segment::pending(missed.terms());
        job.provider = Pubkey::default();
        job.bond = math::sub(job.bond, missed.bond)?;
        let reopened = !self.ended && on_time(now, job.deadline);
        let refund = if reopened {
            Refund::default()
        } else {
            self.ended = true;
            self.refund_from(job, index)?
        };
        Ok(Expired {
            provider: missed.provider,
            bond: missed.bond,
            forfeited_fee: math::fee_for(missed.price, job.terms.fee_bps)?,
            score_fee_scale: missed.score_fee_scale,
            reopened,
            refund,
        })
    }

    /// Challenges committed segment `index` (the caller checked nothing else): it is
    /// disputed, and the job names the dispute. Returns the segment as committed.
    pub fn challenge(
        &mut self,
        job: &mut Job,
        index: u8,
        dispute: Pubkey,
        now: i64,
    ) -> Result<Segment> {
        self.check_challenge_at(index, now)?;
        let s = &mut self.segments[index as usize];
        s.state = SegmentState::Disputed;
        job.dispute = dispute;
        Ok(*s)
    }

    /// The disputed segment stands (upheld, or no ruling): committed again, payable once
    /// its challenge window closed; the job's next segment may start again.
    pub fn uphold(&mut self, job: &mut Job, index: u8) -> Result<()> {
        let s = self.disputed_mut(index)?;
        s.state = SegmentState::Committed;
        job.dispute = Pubkey::default();
        Ok(())
    }

    /// The disputed segment's checkpoint was wrong. It and every segment after it leave
    /// the job (the later ones resumed from that checkpoint, so nobody is paid for them
    /// and their bonds are released unslashed); the job ends at the previous checkpoint
    /// (segment `index - 1`'s, or the spec's initial state), and the segments before it
    /// stay payable to their providers.
    pub fn overturn(&mut self, job: &mut Job, index: u8) -> Result<Overturned> {
        let wrong = *self.disputed_mut(index)?;
        let undone = self.started_after(index);
        let later = self
            .segments
            .get((index as usize).saturating_add(1)..)
            .unwrap_or(&[]);
        let later_terms: Vec<SegmentTerms> = later.iter().map(Segment::terms).collect();
        let refund = Refund {
            segments: u8::try_from(later_terms.len()).map_err(|_| MarketError::MathOverflow)?,
            price: Self::total_price(&later_terms)?,
            escrow: if later_terms.is_empty() {
                0
            } else {
                Self::escrow_for(&later_terms, job.terms.crank_bounty)?
            },
        };
        let escrow = math::escrow_for(wrong.price, job.terms.crank_bounty)?;
        let undone_bonds = undone
            .iter()
            .try_fold(0u64, |sum, (_, b)| math::add(sum, *b))?;
        job.price = math::sub(job.price, math::add(wrong.price, refund.price)?)?;
        job.escrow = math::sub(job.escrow, math::add(escrow, refund.escrow)?)?;
        job.bond = math::sub(job.bond, math::add(wrong.bond, undone_bonds)?)?;
        job.provider = Pubkey::default();
        job.dispute = Pubkey::default();
        self.segments.truncate(index as usize);
        self.count = index;
        self.next = index;
        self.last_checkpoint_index = index.checked_sub(1);
        // Segment `index - 1`'s URI was not kept on chain (its `SegmentCommitted` event
        // has it); none is named rather than a checkpoint proven wrong or built on one.
        self.last_checkpoint_uri = String::new();
        self.ended = true;
        Ok(Overturned {
            provider: wrong.provider,
            bond: wrong.bond,
            price: wrong.price,
            escrow,
            score_fee_scale: wrong.score_fee_scale,
            undone,
            refund,
        })
    }

    /// The segments after `index` that started (running or committed): each one's
    /// provider and bond. An overturn of `index` releases them; its settlement needs
    /// those providers' accounts.
    pub fn started_after(&self, index: u8) -> Vec<(Pubkey, u64)> {
        self.segments
            .iter()
            .skip((index as usize).saturating_add(1))
            .filter(|s| s.holds_bond())
            .map(|s| (s.provider, s.bond))
            .collect()
    }

    fn disputed_mut(&mut self, index: u8) -> Result<&mut Segment> {
        let s = self
            .segments
            .get_mut(index as usize)
            .ok_or(MarketError::SegmentIndexOutOfRange)?;
        require!(s.state == SegmentState::Disputed, MarketError::WrongDispute);
        Ok(s)
    }

    /// Past the job's deadline with no segment running, anyone gives the pending
    /// segments back to the buyer; the job ends.
    pub fn refund_pending(&mut self, job: &mut Job, now: i64) -> Result<Refund> {
        self.check_refund_at(job, now)?;
        self.ended = true;
        self.refund_from(job, self.next)
    }

    /// Adds segments; returns their price and the escrow the buyer deposits for them.
    pub fn extend(
        &mut self,
        job: &mut Job,
        terms: &[SegmentTerms],
        now: i64,
    ) -> Result<(u64, u64)> {
        self.check_extend_at(job, terms, now)?;
        let price = Self::total_price(terms)?;
        let escrow = Self::escrow_for(terms, job.terms.crank_bounty)?;
        self.segments
            .extend(terms.iter().copied().map(Segment::pending));
        self.count = u8::try_from(self.segments.len()).map_err(|_| MarketError::TooManySegments)?;
        job.price = math::add(job.price, price)?;
        job.escrow = math::add(job.escrow, escrow)?;
        Ok((price, escrow))
    }

    /// Ends the job: the running segment (if any) may still commit and be paid; every
    /// segment not started goes back to the buyer.
    pub fn end(&mut self, job: &mut Job) -> Result<Refund> {
        self.check_end()?;
        self.ended = true;
        let from = match self.running() {
            Some((index, _)) => index.checked_add(1).ok_or(MarketError::MathOverflow)?,
            None => self.next,
        };
        self.refund_from(job, from)
    }

    /// Removes segments `from..` (all pending, never started) and takes their escrow
    /// off the job's books; the caller pays it back to the buyer.
    fn refund_from(&mut self, job: &mut Job, from: u8) -> Result<Refund> {
        let tail = self.segments.get(from as usize..).unwrap_or(&[]);
        require!(
            tail.iter().all(|s| s.state == SegmentState::Pending),
            MarketError::SegmentsInvariant
        );
        let terms: Vec<SegmentTerms> = tail.iter().map(Segment::terms).collect();
        let refund = Refund {
            segments: u8::try_from(terms.len()).map_err(|_| MarketError::MathOverflow)?,
            price: Self::total_price(&terms)?,
            escrow: if terms.is_empty() {
                0
            } else {
                Self::escrow_for(&terms, job.terms.crank_bounty)?
            },
        };
        self.segments.truncate(from as usize);
        self.count = from.min(self.count);
        job.price = math::sub(job.price, refund.price)?;
        job.escrow = math::sub(job.escrow, refund.escrow)?;
        Ok(refund)
    }

    /// What holds of a segmented job's two accounts after every instruction; each
    /// handler that changes them checks it last.
    ///
    /// - `count` is the number of segments, at most [`MAX_SEGMENTS`].
    /// - Order: every segment before `next` is committed or paid, segment `next` is
    ///   pending or running, every one after it pending; the last checkpoint is
    ///   segment `next - 1`'s.
    /// - At most one segment is disputed, and the job names a dispute exactly then.
    /// - The job's books are the segments' sums: `price` of all segments, `escrow` of
    ///   the unpaid ones (price plus bounty each), `bond` of those holding one, and
    ///   `provider` the running segment's.
    pub fn invariant(&self, job: &Job) -> Result<()> {
        let ok = self.books_agree(job).unwrap_or(false);
        require!(ok, MarketError::SegmentsInvariant);
        Ok(())
    }

    fn books_agree(&self, job: &Job) -> Option<bool> {
        let n = self.segments.len();
        let next = self.next as usize;
        let shape = n == self.count as usize && n <= MAX_SEGMENTS && next <= n;
        let order = self.segments.iter().enumerate().all(|(i, s)| {
            use SegmentState::*;
            match i.cmp(&next) {
                core::cmp::Ordering::Less => matches!(s.state, Committed | Paid | Disputed),
                core::cmp::Ordering::Equal => matches!(s.state, Pending | Running),
                core::cmp::Ordering::Greater => s.state == Pending,
            }
        });
        let checkpoint = self.last_checkpoint_index == self.next.checked_sub(1);
        let disputed = self
            .segments
            .iter()
            .filter(|s| s.state == SegmentState::Disputed)
            .count();
        let dispute = disputed <= 1 && (disputed == 1) == (job.dispute != Pubkey::default());
        let mut price = 0u64;
        let mut escrow = 0u64;
        let mut bond = 0u64;
        for s in &self.segments {
            price = price.checked_add(s.price)?;
            if s.state != SegmentState::Paid {
                escrow = escrow.checked_add(s.price.checked_add(job.terms.crank_bounty)?)?;
            }
            if s.holds_bond() {
                bond = bond.checked_add(s.bond)?;
            }
        }
        let provider = self
            .running()
            .map_or(Pubkey::default(), |(_, s)| s.provider);
        Some(
            shape
                && order
                && checkpoint
                && dispute
                && job.price == price
                && job.escrow == escrow
                && job.bond == bond
                && job.provider == provider,
        )
    }
}
