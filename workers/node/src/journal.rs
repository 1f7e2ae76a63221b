//! The worker's crash journal: one JSON line per lifecycle step of a job,
//! appended and synced before the step's effect is relied on. A worker killed
//! at any point replays it on start and, with the chain's state as the final
//! word, resumes each job without claiming or submitting twice: signed
//! transactions are journaled before they are sent, so a restart re-sends the
//! same signature (which can land at most once) or proves it expired.

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

    pub fn is_done(&self) -> bool {
        matches!(self, Step::Done { .. })
    }
}

#[derive(Serialize, Deserialize)]
struct Line {
    job: String,
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
    pub fn open(path: &Path) -> Result<(Journal, BTreeMap<Pubkey, Vec<Step>>), JournalError> {
        let io = |source: std::io::Error| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut history: BTreeMap<Pubkey, Vec<Step>> = BTreeMap::new();
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
                        history.entry(job).or_default().push(line.step);
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

    /// Appends a step and syncs it to disk before returning.
    pub fn record(&self, job: &Pubkey, step: &Step) -> Result<(), JournalError> {
        let line = serde_json::to_string(&Line {
            job: job.to_string(),
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
            j.record(&a, &Step::Claimed).unwrap();
            j.record(&b, &Step::Claimed).unwrap();
            j.record(&a, &Step::Submitted).unwrap();
        }
        // A crash in the middle of writing the next line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"job\":\"abc\",\"st").unwrap();
        drop(f);
        let (j, replay) = Journal::open(&path).unwrap();
        assert_eq!(replay[&a], vec![Step::Claimed, Step::Submitted]);
        assert_eq!(replay[&b], vec![Step::Claimed]);
        j.record(
            &b,
            &Step::Done {
                outcome: "finalized".into(),
            },
        )
        .unwrap();
        let (_, replay) = Journal::open(&path).unwrap();
        assert!(replay[&b].last().unwrap().is_done());
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
        let steps = &replay[&job];
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
}
