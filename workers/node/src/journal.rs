//! The worker's crash journal: one JSON line per lifecycle step of a job,
//! appended and synced before the step's effect is relied on. A worker killed
//! at any point replays it on start and, with the chain's state as the final
//! word, resumes each job without claiming or submitting twice: signed
//! transactions are journaled before they are sent, so a restart re-sends the
//! same signature (which can land at most once) or proves it expired.
//!
//! A job's address is a PDA of (buyer, nonce): once a job closes, its buyer can
//! post a new one at the same address. So each line also carries the job's
//! `posted_at`, and a job's history is the lines of one posting
//! ([`generation`]): a re-posted job never inherits the old one's result,
//! failure or claim. Lines written before `posted_at` was journaled (no such
//! field) belong to the first posting journaled after them, or to whichever
//! posting the job has if none follows; they read and write back unchanged.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::{engine::general_purpose::STANDARD, Engine};
use gpu_market_client::send::SignedTx;
use gpu_market_client::Pubkey;
use gpu_market_compute::Hash32;
use serde::{Deserialize, Serialize};
use solana_sdk::transaction::Transaction;

/// A computed and uploaded result: what a submission of it says. The root
/// is journaled as 64 hex digits, as it always was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Executed {
    pub root: Hash32,
    pub output_uri: String,
    /// Metered device milliseconds (before the program's bound is applied).
    pub gpu_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// A claim was signed and is about to be sent.
    Claiming {
        tx: String,
        last_valid_block_height: u64,
    },
    /// The claim landed.
    Claimed,
    /// The result is computed and uploaded.
    Executed(Executed),
    /// A submission was signed and is about to be sent.
    Submitting {
        tx: String,
        last_valid_block_height: u64,
    },
    /// The submission landed; the chain takes it from here.
    Submitted,
    /// Nothing more to do for this job (settled, lost, or given up), and why.
    Done { outcome: String },
    /// The job failed after this worker claimed it (its execution failed or
    /// ran out of time): it is never claimed again by this worker.
    Failed { reason: String },
}

/// One journaled step and the posting of the job it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The job's `posted_at`; `None` on lines written before it was journaled.
    pub posted_at: Option<i64>,
    pub step: Step,
}

/// The steps of one posting of a job, oldest first: those journaled with
/// `posted_at`, and legacy lines (no `posted_at`) that belong to it (see the
/// module doc). `posted_at` `None` (the account is gone): the latest posting
/// journaled.
pub fn generation(entries: &[Entry], posted_at: Option<i64>) -> Vec<Step> {
    let effective = effective_postings(entries);
    let wanted = posted_at.or_else(|| effective.iter().rev().find_map(|p| *p));
    entries
        .iter()
        .zip(&effective)
        .filter(|(_, p)| p.is_none() || **p == wanted)
        .map(|(e, _)| e.step.clone())
        .collect()
}

/// Each entry's posting: its own, or for a legacy line the next one journaled
/// after it (`None` when none follows).
fn effective_postings(entries: &[Entry]) -> Vec<Option<i64>> {
    let mut next = None;
    let mut out: Vec<Option<i64>> = entries
        .iter()
        .rev()
        .map(|e| {
            if e.posted_at.is_some() {
                next = e.posted_at;
            }
            e.posted_at.or(next)
        })
        .collect();
    out.reverse();
    out
}

/// Postings of a job this worker failed after claiming (`Step::Failed`).
pub fn failed_postings(entries: &[Entry]) -> Vec<i64> {
    entries
        .iter()
        .zip(effective_postings(entries))
        .filter(|(e, _)| matches!(e.step, Step::Failed { .. }))
        .filter_map(|(_, p)| p)
        .collect()
}

impl Step {
    pub fn signed(tx: &SignedTx, claim: bool) -> Step {
        let tx_b64 = STANDARD.encode(bincode::serialize(&tx.tx).expect("transactions serialize"));
        if claim {
            Step::Claiming {
                tx: tx_b64,
                last_valid_block_height: tx.last_valid_block_height,
            }
        } else {
            Step::Submitting {
                tx: tx_b64,
                last_valid_block_height: tx.last_valid_block_height,
            }
        }
    }

    /// The signed transaction a `Claiming` or `Submitting` step carries.
    pub fn signed_tx(&self) -> Option<SignedTx> {
        let (tx, lvbh) = match self {
            Step::Claiming {
                tx,
                last_valid_block_height,
            }
            | Step::Submitting {
                tx,
                last_valid_block_height,
            } => (tx, *last_valid_block_height),
            _ => return None,
        };
        let bytes = STANDARD.decode(tx).ok()?;
        let tx: Transaction = bincode::deserialize(&bytes).ok()?;
        Some(SignedTx {
            tx,
            last_valid_block_height: lvbh,
        })
    }

    /// Nothing more will be done for the job (settled, lost, given up, or failed).
    pub fn is_done(&self) -> bool {
        matches!(self, Step::Done { .. } | Step::Failed { .. })
    }
}

#[derive(Serialize, Deserialize)]
struct Line {
    job: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    posted_at: Option<i64>,
    #[serde(flatten)]
    step: Step,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal {path} line {line} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("journal {path} line {line} names no job address: {job:?}")]
    BadJob {
        path: PathBuf,
        line: usize,
        job: String,
    },
}

pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

impl Journal {
    /// Opens (creating) the journal and replays it: every job's steps in order.
    /// A torn final line (a crash mid-write) is dropped; corruption elsewhere is an error.
    pub fn open(path: &Path) -> Result<(Journal, BTreeMap<Pubkey, Vec<Entry>>), JournalError> {
        let io = |source: std::io::Error| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut history: BTreeMap<Pubkey, Vec<Entry>> = BTreeMap::new();
        if path.exists() {
            // A crash mid-write leaves a line without its newline: drop it, so
            // the next record starts clean and the fragment never reappears
            // in the middle of the file.
            let bytes = std::fs::read(path).map_err(io)?;
            if bytes.last().is_some_and(|b| *b != b'\n') {
                let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                tracing::warn!(path = %path.display(), "dropping a torn last journal line (crash while writing)");
                OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io)?
                    .set_len(keep as u64)
                    .map_err(io)?;
            }
            let lines: Vec<String> = BufReader::new(File::open(path).map_err(io)?)
                .lines()
                .collect::<Result<_, _>>()
                .map_err(io)?;
            for (i, text) in lines.iter().enumerate() {
                if text.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Line>(text) {
                    Ok(line) => {
                        let job: Pubkey = line.job.parse().map_err(|_| JournalError::BadJob {
                            path: path.to_path_buf(),
                            line: i + 1,
                            job: line.job.clone(),
                        })?;
                        history.entry(job).or_default().push(Entry {
                            posted_at: line.posted_at,
                            step: line.step,
                        });
                    }
                    Err(source) => {
                        return Err(JournalError::Corrupt {
                            path: path.to_path_buf(),
                            line: i + 1,
                            source,
                        })
                    }
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        Ok((
            Journal {
                path: path.to_path_buf(),
                file: Mutex::new(file),
            },
            history,
        ))
    }

    fn write_raw(&self, text: &str) -> Result<(), JournalError> {
        let io = |source: std::io::Error| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        let mut f = self.file.lock().unwrap();
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_data().map_err(io)
    }

    /// Appends a step of the posting `posted_at` of `job` and syncs it to disk
    /// before returning.
    pub fn record(
        &self,
        job: &Pubkey,
        posted_at: Option<i64>,
        step: &Step,
    ) -> Result<(), JournalError> {
        let line = serde_json::to_string(&Line {
            job: job.to_string(),
            posted_at,
            step: step.clone(),
        })
        .expect("steps serialize");
        self.write_raw(&format!("{line}\n"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_latest_step_and_tolerates_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let (a, b) = (Pubkey::new_unique(), Pubkey::new_unique());
        {
            let (j, replay) = Journal::open(&path).unwrap();
            assert!(replay.is_empty());
            j.record(&a, Some(1), &Step::Claimed).unwrap();
            j.record(&b, None, &Step::Claimed).unwrap();
            j.record(&a, Some(1), &Step::Submitted).unwrap();
        }
        // A crash in the middle of writing the next line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"job\":\"abc\",\"st").unwrap();
        drop(f);
        let (j, replay) = Journal::open(&path).unwrap();
        assert_eq!(
            generation(&replay[&a], Some(1)),
            vec![Step::Claimed, Step::Submitted]
        );
        assert_eq!(generation(&replay[&b], None), vec![Step::Claimed]);
        j.record(
            &b,
            None,
            &Step::Done {
                outcome: "finalized".into(),
            },
        )
        .unwrap();
        let (_, replay) = Journal::open(&path).unwrap();
        assert!(replay[&b].last().unwrap().step.is_done());
    }

    #[test]
    fn lines_in_the_old_format_read_as_before_and_are_written_the_same() {
        let job = Pubkey::new_unique();
        let root = "ab".repeat(32);
        let old = [
            format!(
                r#"{{"job":"{job}","step":"claiming","tx":"AQID","last_valid_block_height":77}}"#
            ),
            format!(r#"{{"job":"{job}","step":"claimed"}}"#),
            format!(
                r#"{{"job":"{job}","step":"executed","root":"{root}","output_uri":"file:///b/{root}","gpu_ms":12}}"#
            ),
            format!(
                r#"{{"job":"{job}","step":"submitting","tx":"BAUG","last_valid_block_height":90}}"#
            ),
            format!(r#"{{"job":"{job}","step":"submitted"}}"#),
            format!(r#"{{"job":"{job}","step":"done","outcome":"settled"}}"#),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.jsonl");
        std::fs::write(&path, old.join("\n") + "\n").unwrap();
        let (_, replay) = Journal::open(&path).unwrap();
        assert!(replay[&job].iter().all(|e| e.posted_at.is_none()));
        let steps = &generation(&replay[&job], None);
        assert_eq!(
            steps[2],
            Step::Executed(Executed {
                root: Hash32([0xab; 32]),
                output_uri: format!("file:///b/{root}"),
                gpu_ms: 12,
            })
        );
        assert_eq!(
            steps[0],
            Step::Claiming {
                tx: "AQID".into(),
                last_valid_block_height: 77
            }
        );
        assert!(steps[5].is_done());
        // Written back, every line is byte-identical to the old one.
        for (step, line) in steps.iter().zip(&old) {
            let again = serde_json::to_string(&Line {
                job: job.to_string(),
                posted_at: None,
                step: step.clone(),
            })
            .unwrap();
            assert_eq!(&again, line);
        }
    }

    #[test]
    fn corruption_before_the_tail_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        std::fs::write(
            &path,
            format!(
                "garbage\n{{\"job\":\"{}\",\"step\":\"claimed\"}}\n",
                Pubkey::new_unique()
            ),
        )
        .unwrap();
        assert!(matches!(
            Journal::open(&path),
            Err(JournalError::Corrupt { line: 1, .. })
        ));
    }

    /// The attack: a buyer's job closes, the buyer posts a new one with the same
    /// nonce (so at the same address) and waits for the worker to take the new
    /// job for the old one, submitting the old result or skipping it as failed.
    /// Each posting's steps are its own; legacy lines join the posting written
    /// after them.
    #[test]
    fn a_reposted_job_at_a_reused_address_has_a_history_of_its_own() {
        let result = Executed {
            root: Hash32([5; 32]),
            output_uri: "file:///b/05".into(),
            gpu_ms: 3,
        };
        let e = |posted_at, step| Entry { posted_at, step };
        let done = Step::Done {
            outcome: "settled".into(),
        };
        let failed = Step::Failed {
            reason: "execution failed".into(),
        };
        let entries = vec![
            // Written by an older worker: no posting on the line.
            e(None, Step::Claimed),
            e(None, Step::Executed(result.clone())),
            // The upgraded worker finishes that posting (100).
            e(Some(100), Step::Submitted),
            e(Some(100), done.clone()),
            // The same address, posted again at 200: claimed, failed.
            e(Some(200), Step::Claimed),
            e(Some(200), failed.clone()),
        ];
        assert_eq!(
            generation(&entries, Some(100)),
            vec![Step::Claimed, Step::Executed(result), Step::Submitted, done]
        );
        assert_eq!(
            generation(&entries, Some(200)),
            vec![Step::Claimed, failed.clone()]
        );
        assert_eq!(generation(&entries, None), vec![Step::Claimed, failed]);
        assert!(
            generation(&entries, Some(300)).is_empty(),
            "a third posting starts clean"
        );
        assert_eq!(failed_postings(&entries), vec![200]);
        // Legacy lines with nothing after them belong to whatever posting exists.
        let legacy = vec![e(None, Step::Claimed)];
        assert_eq!(generation(&legacy, Some(7)), vec![Step::Claimed]);

        // Written and read back, the posting survives; old lines stay unchanged.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let job = Pubkey::new_unique();
        {
            let (j, _) = Journal::open(&path).unwrap();
            for entry in &entries {
                j.record(&job, entry.posted_at, &entry.step).unwrap();
            }
        }
        let (_, replay) = Journal::open(&path).unwrap();
        assert_eq!(replay[&job], entries);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            format!(r#"{{"job":"{job}","step":"claimed"}}"#)
        );
    }
}
