//! The segment journal: one JSON line per checkpoint this worker computed and stored
//! (in its local directory and in the buyer's store), appended and synced before the
//! checkpoint is committed on chain. A worker killed at any point reopens it, and the
//! planner ([`super::plan`]) commits a journaled checkpoint without training it again
//! and resumes from its own local copy of one whose root the chain committed. A torn
//! last line (a crash mid-append) is ignored: the checkpoint it named is trained again,
//! to the same bytes.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gpu_market_client::Pubkey;
use gpu_market_compute::Hash32;
use serde::{Deserialize, Serialize};

/// A checkpoint this worker stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// The job's address, base58.
    pub job: String,
    pub index: u32,
    /// Its state root (the checkpoint's trailer).
    pub root: Hash32,
    /// Its URI in the buyer's store: what the commit names.
    pub uri: String,
}

#[derive(Debug, thiserror::Error)]
#[error("segment journal {path}: {source}")]
pub struct JournalError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// The journal file and what it holds.
pub struct SegmentJournal {
    path: PathBuf,
    file: Mutex<File>,
    entries: Mutex<Vec<Stored>>,
}

impl SegmentJournal {
    /// Opens (creating) the journal at `path` and reads what it holds.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        let err = |source| JournalError {
            path: path.display().to_string(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(err)?;
        let mut entries = Vec::new();
        for line in BufReader::new(File::open(&path).map_err(err)?).lines() {
            let line = line.map_err(err)?;
            // A line that does not parse is the torn tail of a crash (see the module doc).
            if let Ok(e) = serde_json::from_str::<Stored>(&line) {
                entries.push(e);
            }
        }
        Ok(SegmentJournal {
            path,
            file: Mutex::new(file),
            entries: Mutex::new(entries),
        })
    }

    /// Appends `entry` and syncs it to disk before returning.
    pub fn append(&self, entry: Stored) -> Result<(), JournalError> {
        let err = |source| JournalError {
            path: self.path.display().to_string(),
            source,
        };
        let mut line = serde_json::to_vec(&entry).map_err(|e| err(e.into()))?;
        line.push(b'\n');
        {
            let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
            // After a torn tail the next line must start on a line of its own.
            f.write_all(b"\n").map_err(err)?;
            f.write_all(&line).map_err(err)?;
            f.sync_data().map_err(err)?;
        }
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry);
        Ok(())
    }

    /// This job's entries, oldest first.
    pub fn for_job(&self, job: &Pubkey) -> Vec<Stored> {
        let key = job.to_string();
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|e| e.job == key)
            .cloned()
            .collect()
    }
}
