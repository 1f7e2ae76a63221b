//! What changed in a segmented job between two looks at its `Segments` account: a
//! pure function of the two snapshots ([`changes`]), so a poll that missed the states in
//! between (a claim and its commit between two looks, an expiry and the next claim)
//! still reports every step they imply, in order. `job watch` prints one [`Change`] a
//! line ([`Change::line`]) or, with `--output json`, lists them.

use gpu_market::state::{Segment, SegmentState, Segments};
use gpu_market_client::Pubkey;
use gpu_market_compute::spec::Hash32;
use serde::Serialize;

/// One thing that happened to a segmented job between two looks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Change {
    /// Segment `index` started for `provider`; `handoff_from` is the provider of the
    /// checkpoint it resumes from when that is another provider.
    Started {
        index: u8,
        provider: String,
        deadline: i64,
        handoff_from: Option<String>,
    },
    Committed {
        index: u8,
        provider: String,
        state_root: Hash32,
        /// Known when this is still the job's last checkpoint at the look.
        checkpoint_uri: Option<String>,
    },
    /// Paid to `provider`: the price minus the job's fee.
    Paid {
        index: u8,
        provider: String,
        amount: u64,
    },
    /// `provider` missed the segment's deadline: its bond is slashed, and the segment is
    /// pending again (or refunded, see `Refunded`).
    Expired {
        index: u8,
        provider: String,
    },
    Disputed {
        index: u8,
    },
    /// The dispute over segment `index` left its checkpoint standing: committed again.
    Upheld {
        index: u8,
    },
    /// The dispute over segment `index` found its checkpoint wrong: `provider` is
    /// slashed for it, and it leaves the job with the segments after it (see `Dropped`).
    Overturned {
        index: u8,
        provider: String,
    },
    /// Segments `from..from+segments` left the job after an overturned checkpoint
    /// (the later ones had resumed from it): nobody is paid for them.
    Dropped {
        from: u8,
        segments: u8,
    },
    /// Segments `from..from+segments` went back to the buyer unstarted.
    Refunded {
        from: u8,
        segments: u8,
    },
    Extended {
        added: u8,
        count: u8,
    },
    /// The buyer ended the job (or a miss past its deadline did): nothing starts again.
    Ended,
    /// Every segment is settled: the job's accounts closed.
    Closed,
}

impl Change {
    pub fn line(&self) -> String {
        match self {
            Change::Started {
                index,
                provider,
                deadline,
                handoff_from: None,
            } => format!("segment {index} started by {provider}, deadline {deadline}"),
            Change::Started {
                index,
                provider,
                deadline,
                handoff_from: Some(from),
            } => format!(
                "hand-off: segment {index} resumed by {provider} from {from}'s checkpoint {}, deadline {deadline}",
                index.saturating_sub(1)
            ),
            Change::Committed {
                index,
                provider,
                state_root,
                checkpoint_uri,
            } => format!(
                "segment {index} committed by {provider}: root {state_root}{}",
                checkpoint_uri
                    .as_ref()
                    .map_or(String::new(), |u| format!(" at {u}"))
            ),
            Change::Paid {
                index,
                provider,
                amount,
            } => format!("segment {index} paid: {amount} to {provider}"),
            Change::Expired { index, provider } => format!(
                "segment {index} expired: {provider} missed its deadline and its bond is slashed"
            ),
            Change::Disputed { index } => format!("segment {index} disputed"),
            Change::Upheld { index } => {
                format!("segment {index}'s checkpoint upheld: committed again")
            }
            Change::Overturned { index, provider } => format!(
                "segment {index}'s checkpoint overturned: {provider}'s checkpoint was wrong"
            ),
            Change::Dropped { from, segments } => format!(
                "{segments} segments from {from} left the job after the overturned checkpoint; nobody is paid for them"
            ),
            Change::Refunded { from, segments } => format!(
                "{segments} unstarted segments from {from} refunded to the buyer"
            ),
            Change::Extended { added, count } => {
                format!("extended by {added} segments to {count}")
            }
            Change::Ended => "ended: no segment starts after the running one".into(),
            Change::Closed => "closed: every segment settled".into(),
        }
    }
}

fn rank(s: SegmentState) -> u8 {
    match s {
        SegmentState::Pending => 0,
        SegmentState::Running => 1,
        SegmentState::Committed | SegmentState::Disputed => 2,
        SegmentState::Paid => 3,
    }
}

/// What segment `index` went through from `before` (`None`: not there yet) to `after`,
/// in `now`'s job (`fee_bps` prices a payment by `math::payout_for`).
fn segment_changes(
    now: &Segments,
    index: u8,
    before: Option<&Segment>,
    after: &Segment,
    fee_bps: u16,
    out: &mut Vec<Change>,
) {
    let from = before.map_or(0, |b| rank(b.state));
    // A running segment seen again pending, or running for another start: it expired.
    if let Some(b) = before.filter(|b| b.state == SegmentState::Running) {
        let restarted = after.state == SegmentState::Pending
            || b.started_at != after.started_at
            || b.provider != after.provider;
        if restarted {
            out.push(Change::Expired {
                index,
                provider: b.provider.to_string(),
            });
            if after.state == SegmentState::Pending {
                return;
            }
            return started_onwards(now, index, after, 0, fee_bps, out);
        }
    }
    if rank(after.state) > from {
        started_onwards(now, index, after, from, fee_bps, out);
    } else if after.state == SegmentState::Disputed
        && before.is_some_and(|b| b.state != SegmentState::Disputed)
    {
        out.push(Change::Disputed { index });
    } else if after.state == SegmentState::Committed
        && before.is_some_and(|b| b.state == SegmentState::Disputed)
    {
        out.push(Change::Upheld { index });
    }
}

/// The steps from rank `from` up to `after`'s state, each reported once.
fn started_onwards(
    now: &Segments,
    index: u8,
    after: &Segment,
    from: u8,
    fee_bps: u16,
    out: &mut Vec<Change>,
) {
    let to = rank(after.state);
    let provider = after.provider.to_string();
    if from < 1 && to >= 1 {
        // A hand-off: the checkpoint this segment resumes from is another provider's.
        let previous = index
            .checked_sub(1)
            .and_then(|i| now.segments.get(i as usize))
            .map(|p| p.provider)
            .filter(|p| *p != after.provider && *p != Pubkey::default());
        out.push(Change::Started {
            index,
            provider: provider.clone(),
            deadline: after.deadline,
            handoff_from: previous.map(|p| p.to_string()),
        });
    }
    if from < 2 && to >= 2 {
        out.push(Change::Committed {
            index,
            provider: provider.clone(),
            state_root: Hash32(after.state_root),
            checkpoint_uri: (now.last_checkpoint_index == Some(index))
                .then(|| now.last_checkpoint_uri.clone()),
        });
        if after.state == SegmentState::Disputed {
            out.push(Change::Disputed { index });
        }
    }
    if from < 3 && to == 3 {
        out.push(Change::Paid {
            index,
            provider,
            amount: gpu_market::math::payout_for(after.price, fee_bps).unwrap_or(0),
        });
    }
}

/// Everything that happened between two looks at a segmented job's `Segments`
/// (`after` `None`: its accounts closed). `fee_bps` is the job's frozen fee.
pub fn changes(before: &Segments, after: Option<&Segments>, fee_bps: u16) -> Vec<Change> {
    let mut out = Vec::new();
    let Some(after) = after else {
        // The last payment closed the accounts: a committed segment can only have been
        // paid; what else was unsettled was paid or refunded unseen.
        for (i, s) in before.segments.iter().enumerate() {
            if rank(s.state) == 2 {
                out.push(Change::Paid {
                    index: i as u8,
                    provider: s.provider.to_string(),
                    amount: gpu_market::math::payout_for(s.price, fee_bps).unwrap_or(0),
                });
            }
        }
        out.push(Change::Closed);
        return out;
    };
    for (i, a) in after.segments.iter().enumerate() {
        segment_changes(after, i as u8, before.segments.get(i), a, fee_bps, &mut out);
    }
    let (had, has) = (before.segments.len(), after.segments.len());
    if has > had {
        out.insert(
            0,
            Change::Extended {
                added: (has - had) as u8,
                count: after.count,
            },
        );
    }
    let removed = before.segments.get(has..).unwrap_or(&[]);
    if let Some(k) = removed
        .iter()
        .position(|b| b.state == SegmentState::Disputed)
    {
        out.push(Change::Overturned {
            index: (has + k) as u8,
            provider: removed[k].provider.to_string(),
        });
        out.push(Change::Dropped {
            from: has as u8,
            segments: (had - has) as u8,
        });
    } else if has < had {
        for (i, b) in before.segments.iter().enumerate().skip(has) {
            if b.state == SegmentState::Running {
                out.push(Change::Expired {
                    index: i as u8,
                    provider: b.provider.to_string(),
                });
            }
        }
        out.push(Change::Refunded {
            from: has as u8,
            segments: (had - has) as u8,
        });
    }
    if after.ended && !before.ended {
        out.push(Change::Ended);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpu_market::state::{Job, SegmentTerms};

    const P: Pubkey = Pubkey::new_from_array([1; 32]);
    const Q: Pubkey = Pubkey::new_from_array([2; 32]);

    fn posted(n: usize) -> (Job, Segments) {
        let terms: Vec<SegmentTerms> = (0..n)
            .map(|_| SegmentTerms {
                price: 1_000,
                duration: 100,
            })
            .collect();
        Segments::fixture(&terms)
    }

    fn events(c: &[Change]) -> Vec<&'static str> {
        c.iter()
            .map(|c| match c {
                Change::Started {
                    handoff_from: None, ..
                } => "started",
                Change::Started { .. } => "handoff",
                Change::Committed { .. } => "committed",
                Change::Paid { .. } => "paid",
                Change::Expired { .. } => "expired",
                Change::Disputed { .. } => "disputed",
                Change::Upheld { .. } => "upheld",
                Change::Overturned { .. } => "overturned",
                Change::Dropped { .. } => "dropped",
                Change::Refunded { .. } => "refunded",
                Change::Extended { .. } => "extended",
                Change::Ended => "ended",
                Change::Closed => "closed",
            })
            .collect()
    }

    /// Each step of a job's life, seen one look at a time and also across looks that
    /// missed the states in between, reports the steps it implies, in order.
    #[test]
    fn changes_between_looks_name_every_step() {
        let (mut job, s0) = posted(3);
        let fee = job.terms.fee_bps;
        let mut s = s0.clone();
        s.start(&mut job, P, 10, 1, 1_000, 0).unwrap();
        let s1 = s.clone();
        assert_eq!(events(&changes(&s0, Some(&s1), fee)), ["started"]);
        s.commit(&mut job, 0, &P, [9; 32], "file:///c/0.ckpt".into(), 5)
            .unwrap();
        s.start(&mut job, P, 10, 1, 1_000, 5).unwrap();
        let s2 = s.clone();
        let c = changes(&s1, Some(&s2), fee);
        assert_eq!(events(&c), ["committed", "started"]);
        assert!(
            matches!(&c[0], Change::Committed { checkpoint_uri: Some(u), .. } if u == "file:///c/0.ckpt")
        );
        // Missed the whole claim and commit: both are still reported.
        assert_eq!(
            events(&changes(&s0, Some(&s2), fee)),
            ["started", "committed", "started"]
        );
        // Segment 1 misses its deadline; Q resumes from P's checkpoint 0.
        s.expire(&mut job, 1, 106).unwrap();
        let s3 = s.clone();
        assert_eq!(events(&changes(&s2, Some(&s3), fee)), ["expired"]);
        s.start(&mut job, Q, 10, 1, 1_000, 107).unwrap();
        let s4 = s.clone();
        let c = changes(&s3, Some(&s4), fee);
        assert_eq!(events(&c), ["handoff"]);
        assert_eq!(
            c[0].line(),
            format!("hand-off: segment 1 resumed by {Q} from {P}'s checkpoint 0, deadline 207")
        );
        // Missed the pending in between: the expiry and the hand-off both show.
        assert_eq!(
            events(&changes(&s2, Some(&s4), fee)),
            ["expired", "handoff"]
        );
        let due = s.segments[0].challenge_deadline + 1;
        s.finalize(&mut job, 0, due).unwrap();
        let s5 = s.clone();
        let c = changes(&s4, Some(&s5), fee);
        let paid = gpu_market::math::payout_for(1_000, fee).unwrap();
        assert_eq!(
            c,
            [Change::Paid {
                index: 0,
                provider: P.to_string(),
                amount: paid
            }]
        );
        // Extended by one, then ended while segment 1 runs: segments 2 and 3 refunded.
        s.extend(
            &mut job,
            &[SegmentTerms {
                price: 1_000,
                duration: 100,
            }],
            108,
        )
        .unwrap();
        let s6 = s.clone();
        assert_eq!(events(&changes(&s5, Some(&s6), fee)), ["extended"]);
        s.end(&mut job).unwrap();
        let s7 = s.clone();
        let c = changes(&s6, Some(&s7), fee);
        assert_eq!(events(&c), ["refunded", "ended"]);
        assert_eq!(
            c[0],
            Change::Refunded {
                from: 2,
                segments: 2
            }
        );
        // Segment 1 commits; its payment closes the job.
        s.commit(&mut job, 1, &Q, [8; 32], "file:///c/1.ckpt".into(), 110)
            .unwrap();
        let s8 = s.clone();
        assert_eq!(events(&changes(&s7, Some(&s8), fee)), ["committed"]);
        assert_eq!(events(&changes(&s8, None, fee)), ["paid", "closed"]);
        // Nothing happened: nothing reported.
        assert!(changes(&s8, Some(&s8), fee).is_empty());
    }

    #[test]
    fn a_miss_past_the_deadline_reports_the_expiry_and_the_refund() {
        let (mut job, s0) = posted(2);
        let fee = job.terms.fee_bps;
        let mut s = s0.clone();
        // Job::fixture's deadline is 1_000: a start at 950 ends past it.
        s.start(&mut job, P, 10, 1, 1_000, 950).unwrap();
        let s1 = s.clone();
        s.expire(&mut job, 0, 1_051).unwrap();
        let c = changes(&s1, Some(&s), fee);
        assert_eq!(events(&c), ["expired", "refunded", "ended"]);
        assert_eq!(
            c[1],
            Change::Refunded {
                from: 0,
                segments: 2
            }
        );
    }

    /// Per-segment disputes, as snapshots: a challenge, a ruling that upholds the
    /// checkpoint, and one that overturns it (the segment and those after it leave).
    #[test]
    fn disputes_are_reported_as_challenged_upheld_or_overturned() {
        let (mut job, mut s) = posted(3);
        let fee = job.terms.fee_bps;
        s.start(&mut job, P, 10, 1, 1_000, 0).unwrap();
        s.commit(&mut job, 0, &P, [1; 32], "c0".into(), 5).unwrap();
        s.start(&mut job, P, 10, 1, 1_000, 5).unwrap();
        s.commit(&mut job, 1, &P, [2; 32], "c1".into(), 6).unwrap();
        s.start(&mut job, P, 10, 1, 1_000, 6).unwrap();
        let committed = s.clone();
        let mut disputed = s.clone();
        disputed.segments[1].state = SegmentState::Disputed;
        assert_eq!(
            events(&changes(&committed, Some(&disputed), fee)),
            ["disputed"]
        );
        assert_eq!(
            events(&changes(&disputed, Some(&committed), fee)),
            ["upheld"]
        );
        let mut overturned = disputed.clone();
        overturned.segments.truncate(1);
        overturned.count = 1;
        overturned.ended = true;
        let c = changes(&disputed, Some(&overturned), fee);
        assert_eq!(events(&c), ["overturned", "dropped", "ended"]);
        assert_eq!(
            c[..2],
            [
                Change::Overturned {
                    index: 1,
                    provider: P.to_string()
                },
                Change::Dropped {
                    from: 1,
                    segments: 2
                }
            ]
        );
    }
}
