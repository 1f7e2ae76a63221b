//! The history database (SQLite through `rusqlite`): every program transaction the
//! dashboard has read (signature, slot, block time, error), the events decoded from its
//! logs (name and JSON data, with the job, provider, dispute and market they concern),
//! the gpu-market instructions decoded from its message (for what events do not carry:
//! a job's spec and result URIs), and the `sync` row: the newest signature up to which
//! the history is complete. A restart resumes from that signature (`until`), so nothing
//! stored is fetched again. A transaction and its rows, and the `sync` row, are written
//! in one SQL transaction: a crash leaves the history complete up to the `sync` row.
//!
//! The time series are SQL over the events (`json_extract` of their data, on the chain
//! clock's `timestamp` fields), see [`Store::utilization`], [`Store::earnings`] and
//! [`Store::job_flow`].

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

use crate::idl::Decoded;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening the history database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("history database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the history database {path} was written for program {found}, not {expected}")]
    OtherProgram {
        path: String,
        found: String,
        expected: String,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A transaction as read from the chain, decoded.
#[derive(Clone, Debug)]
pub struct StoredTx {
    pub signature: String,
    pub slot: u64,
    pub block_time: Option<i64>,
    /// The transaction's error, when it failed (its logs' events were rolled back and are
    /// not stored).
    pub err: Option<String>,
    pub events: Vec<Decoded>,
    pub instructions: Vec<Decoded>,
}

/// One stored event, as the API returns it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Event {
    pub id: i64,
    pub signature: String,
    pub slot: u64,
    pub block_time: Option<i64>,
    pub name: String,
    pub data: Value,
}

/// Where the history stands.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct SyncState {
    /// The newest signature up to which every program transaction is stored.
    pub last_signature: Option<String>,
    pub backfilled_until_slot: Option<u64>,
    pub events_stored: u64,
    pub transactions_stored: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct UtilizationPoint {
    pub t: i64,
    pub gpu_seconds_sold: f64,
    pub gpu_seconds_capacity: f64,
    pub utilization: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EarningsPoint {
    pub t: i64,
    pub cumulative_revenue: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ProviderEarnings {
    pub provider: String,
    pub points: Vec<EarningsPoint>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct FlowPoint {
    pub t: i64,
    pub posted: u64,
    pub claimed: u64,
    pub submitted: u64,
    pub finalized: u64,
    pub expired: u64,
    pub refunded: u64,
    pub cancelled: u64,
    pub disputed: u64,
}

/// The most points one series returns: a bucket too small for the history's span is
/// refused rather than answered with millions of rows.
pub const MAX_POINTS: i64 = 10_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS transactions (
    signature  TEXT PRIMARY KEY,
    slot       INTEGER NOT NULL,
    block_time INTEGER,
    err        TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    signature  TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    slot       INTEGER NOT NULL,
    block_time INTEGER,
    name       TEXT NOT NULL,
    data       TEXT NOT NULL,
    market     TEXT,
    job        TEXT,
    provider   TEXT,
    dispute    TEXT,
    UNIQUE (signature, seq)
);
CREATE INDEX IF NOT EXISTS events_job ON events (job);
CREATE INDEX IF NOT EXISTS events_provider ON events (provider);
CREATE INDEX IF NOT EXISTS events_market_name ON events (market, name);
CREATE TABLE IF NOT EXISTS instructions (
    signature TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    name      TEXT NOT NULL,
    data      TEXT NOT NULL,
    job       TEXT,
    PRIMARY KEY (signature, seq)
);
CREATE INDEX IF NOT EXISTS instructions_job ON instructions (job);
CREATE TABLE IF NOT EXISTS sync (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    program          TEXT NOT NULL,
    newest_signature TEXT,
    newest_slot      INTEGER
);
CREATE TABLE IF NOT EXISTS verifications (
    job        TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    checked_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    uri    TEXT NOT NULL,
    len    INTEGER NOT NULL
);
";

pub struct Store {
    conn: Mutex<Connection>,
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

impl Store {
    /// Opens (or creates) the database at `path` for `program`'s history.
    pub fn open(path: &Path, program: &str) -> Result<Store> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Self::init(conn, &path.display().to_string(), program)
    }

    pub fn in_memory(program: &str) -> Result<Store> {
        Self::init(Connection::open_in_memory()?, ":memory:", program)
    }

    fn init(conn: Connection, path: &str, program: &str) -> Result<Store> {
        conn.execute_batch(SCHEMA)?;
        let found: Option<String> = conn
            .query_row("SELECT program FROM sync WHERE id = 1", [], |r| r.get(0))
            .optional()?;
        match found {
            Some(p) if p != program => {
                return Err(StoreError::OtherProgram {
                    path: path.to_string(),
                    found: p,
                    expected: program.to_string(),
                })
            }
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT INTO sync (id, program) VALUES (1, ?1)",
                    params![program],
                )?;
            }
        }
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (every write is one
        // SQL transaction): the poison is ignored.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn sync_state(&self) -> Result<SyncState> {
        let c = self.conn();
        let (last_signature, slot): (Option<String>, Option<i64>) = c.query_row(
            "SELECT newest_signature, newest_slot FROM sync WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let events: i64 = c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
        let txs: i64 = c.query_row("SELECT COUNT(*) FROM transactions", [], |r| r.get(0))?;
        Ok(SyncState {
            last_signature,
            backfilled_until_slot: slot.map(|s| s as u64),
            events_stored: events as u64,
            transactions_stored: txs as u64,
        })
    }

    pub fn has_transaction(&self, signature: &str) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM transactions WHERE signature = ?1",
                params![signature],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Stores `tx` with its events and instructions and moves the `sync` row to it, in
    /// one SQL transaction. A transaction stored before is left as it is.
    pub fn record(&self, tx: &StoredTx) -> Result<()> {
        let mut c = self.conn();
        let t = c.transaction()?;
        let new = t.execute(
            "INSERT OR IGNORE INTO transactions (signature, slot, block_time, err)
             VALUES (?1, ?2, ?3, ?4)",
            params![tx.signature, tx.slot as i64, tx.block_time, tx.err],
        )? == 1;
        if new && tx.err.is_none() {
            for (seq, e) in tx.events.iter().enumerate() {
                let d = &e.data;
                let job = text(d, "job");
                let provider = text(d, "provider");
                let dispute = text(d, "dispute");
                // The market an event concerns: named, or that of the job, provider or
                // dispute it names (recorded by the event that created it, stored first
                // since the history is read oldest first).
                let market = match text(d, "market") {
                    Some(m) => Some(m),
                    None => t
                        .query_row(
                            "SELECT market FROM events WHERE market IS NOT NULL AND (
                                (?1 IS NOT NULL AND job = ?1 AND name = 'JobPosted')
                             OR (?2 IS NOT NULL AND provider = ?2 AND name = 'ProviderRegistered')
                             OR (?3 IS NOT NULL AND dispute = ?3 AND name = 'JobChallenged'))
                             LIMIT 1",
                            params![job, provider, dispute],
                            |r| r.get(0),
                        )
                        .optional()?,
                };
                t.execute(
                    "INSERT OR IGNORE INTO events
                     (signature, seq, slot, block_time, name, data, market, job, provider, dispute)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        tx.signature,
                        seq as i64,
                        tx.slot as i64,
                        tx.block_time,
                        e.name,
                        d.to_string(),
                        market,
                        job,
                        provider,
                        dispute
                    ],
                )?;
            }
            for (seq, i) in tx.instructions.iter().enumerate() {
                let job = i.data["accounts"]
                    .get("job")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                t.execute(
                    "INSERT OR IGNORE INTO instructions (signature, seq, name, data, job)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![tx.signature, seq as i64, i.name, i.data.to_string(), job],
                )?;
            }
        }
        t.execute(
            "UPDATE sync SET newest_signature = ?1, newest_slot = ?2 WHERE id = 1",
            params![tx.signature, tx.slot as i64],
        )?;
        t.commit()?;
        Ok(())
    }

    fn events_where(&self, filter: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<Event>> {
        let c = self.conn();
        let sql = format!(
            "SELECT id, signature, slot, block_time, name, data FROM events WHERE {filter}"
        );
        let mut st = c.prepare(&sql)?;
        let rows = st.query_map(args, |r| {
            let data: String = r.get(5)?;
            Ok(Event {
                id: r.get(0)?,
                signature: r.get(1)?,
                slot: r.get::<_, i64>(2)? as u64,
                block_time: r.get(3)?,
                name: r.get(4)?,
                data: serde_json::from_str(&data).unwrap_or(Value::Null),
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Events of `market` with ids above `after`, oldest first, at most `limit`.
    pub fn events_after(&self, market: &str, after: i64, limit: u32) -> Result<Vec<Event>> {
        self.events_where(
            "market = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            &[&market, &after, &limit],
        )
    }

    /// Job `job`'s events in chain order.
    pub fn events_of_job(&self, job: &str) -> Result<Vec<Event>> {
        self.events_where("job = ?1 ORDER BY slot, id", &[&job])
    }

    /// Provider `provider`'s newest `limit` events, newest first.
    pub fn events_of_provider(&self, provider: &str, limit: u32) -> Result<Vec<Event>> {
        self.events_where(
            "provider = ?1 ORDER BY slot DESC, id DESC LIMIT ?2",
            &[&provider, &limit],
        )
    }

    /// The decoded data of job `job`'s instructions named `name`, in chain order.
    pub fn instructions_of_job(&self, job: &str, name: &str) -> Result<Vec<Value>> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT i.data FROM instructions i JOIN transactions t ON t.signature = i.signature
             WHERE i.job = ?1 AND i.name = ?2 AND t.err IS NULL ORDER BY t.slot, i.signature, i.seq",
        )?;
        let rows = st.query_map(params![job, name], |r| r.get::<_, String>(0))?;
        Ok(rows
            .filter_map(|r| r.ok())
            .filter_map(|s| serde_json::from_str(&s).ok())
            .collect())
    }

    /// Every job posted in `market`, oldest first.
    pub fn posted_jobs(&self, market: &str) -> Result<Vec<String>> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT job FROM events WHERE market = ?1 AND name = 'JobPosted' ORDER BY slot, id",
        )?;
        let rows = st.query_map(params![market], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The first bucket start for `market`'s series: its first event's time, floored.
    fn series_start(&self, market: &str, bucket: i64) -> Result<Option<i64>> {
        let first: Option<i64> = self.conn().query_row(
            "SELECT MIN(json_extract(data, '$.timestamp')) FROM events WHERE market = ?1",
            params![market],
            |r| r.get(0),
        )?;
        Ok(first.map(|t| t.div_euclid(bucket) * bucket))
    }

    /// GPU time sold (finalized jobs' metered `gpu_ms`) against GPU time available
    /// (each registered provider's GPUs from its registration on, as the audit's
    /// utilization counts it) per bucket of `bucket` seconds up to `now`.
    pub fn utilization(
        &self,
        market: &str,
        bucket: i64,
        now: i64,
    ) -> Result<Vec<UtilizationPoint>> {
        let Some(t0) = self.series_start(market, bucket)? else {
            return Ok(Vec::new());
        };
        let c = self.conn();
        let mut st = c.prepare(
            "WITH RECURSIVE b(t) AS (
                 SELECT ?1 UNION ALL SELECT t + ?2 FROM b WHERE t + ?2 <= ?3
             ),
             sold AS (
                 SELECT (json_extract(data, '$.timestamp') - ?1) / ?2 AS i,
                        SUM(json_extract(data, '$.gpu_ms')) AS ms
                 FROM events WHERE market = ?4 AND name = 'JobFinalized' GROUP BY i
             ),
             providers AS (
                 SELECT json_extract(data, '$.timestamp') AS registered,
                        MAX(json_extract(data, '$.gpu.count'), 1) AS gpus
                 FROM events WHERE market = ?4 AND name = 'ProviderRegistered'
             )
             SELECT b.t,
                    COALESCE((SELECT ms FROM sold WHERE i = (b.t - ?1) / ?2), 0) / 1000.0,
                    COALESCE((SELECT SUM(gpus * MAX(0, MIN(b.t + ?2, ?3) - MAX(b.t, registered)))
                              FROM providers), 0)
             FROM b ORDER BY b.t LIMIT ?5",
        )?;
        let rows = st.query_map(params![t0, bucket, now, market, MAX_POINTS], |r| {
            let sold: f64 = r.get(1)?;
            let capacity: f64 = r.get::<_, i64>(2)? as f64;
            Ok(UtilizationPoint {
                t: r.get(0)?,
                gpu_seconds_sold: sold,
                gpu_seconds_capacity: capacity,
                utilization: if capacity > 0.0 { sold / capacity } else { 0.0 },
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Each provider's revenue (finalized jobs' payouts) summed over time.
    pub fn earnings(&self, market: &str) -> Result<Vec<ProviderEarnings>> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT provider, json_extract(data, '$.timestamp') AS t,
                    SUM(json_extract(data, '$.payout')) OVER (
                        PARTITION BY provider ORDER BY json_extract(data, '$.timestamp'), id
                        ROWS UNBOUNDED PRECEDING)
             FROM events WHERE market = ?1 AND name = 'JobFinalized'
             ORDER BY provider, t, id",
        )?;
        let rows = st.query_map(params![market], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)? as u64,
            ))
        })?;
        let mut out: Vec<ProviderEarnings> = Vec::new();
        for row in rows {
            let (provider, t, cumulative_revenue) = row?;
            let point = EarningsPoint {
                t,
                cumulative_revenue,
            };
            match out.last_mut() {
                Some(p) if p.provider == provider => p.points.push(point),
                _ => out.push(ProviderEarnings {
                    provider,
                    points: vec![point],
                }),
            }
        }
        Ok(out)
    }

    /// Job events counted per bucket of `bucket` seconds, up to `now`.
    pub fn job_flow(&self, market: &str, bucket: i64, now: i64) -> Result<Vec<FlowPoint>> {
        let Some(t0) = self.series_start(market, bucket)? else {
            return Ok(Vec::new());
        };
        let n = ((now.max(t0) - t0) / bucket + 1).min(MAX_POINTS);
        let mut points: Vec<FlowPoint> = (0..n)
            .map(|i| FlowPoint {
                t: t0 + i * bucket,
                ..Default::default()
            })
            .collect();
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT (json_extract(data, '$.timestamp') - ?1) / ?2 AS i, name, COUNT(*)
             FROM events WHERE market = ?3 AND name IN ('JobPosted', 'JobClaimed',
                 'JobSubmitted', 'JobFinalized', 'JobExpired', 'JobRefunded', 'JobCancelled',
                 'JobChallenged')
             GROUP BY i, name",
        )?;
        let rows = st.query_map(params![t0, bucket, market], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)? as u64,
            ))
        })?;
        for row in rows {
            let (i, name, count) = row?;
            let Some(p) = usize::try_from(i).ok().and_then(|i| points.get_mut(i)) else {
                continue;
            };
            let slot = match name.as_str() {
                "JobPosted" => &mut p.posted,
                "JobClaimed" => &mut p.claimed,
                "JobSubmitted" => &mut p.submitted,
                "JobFinalized" => &mut p.finalized,
                "JobExpired" => &mut p.expired,
                "JobRefunded" => &mut p.refunded,
                "JobCancelled" => &mut p.cancelled,
                _ => &mut p.disputed,
            };
            *slot += count;
        }
        Ok(points)
    }

    pub fn set_verification(&self, job: &str, status: &str, detail: &str, at: i64) -> Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO verifications (job, status, detail, checked_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![job, status, detail, at],
        )?;
        Ok(())
    }

    pub fn verification(&self, job: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT status, detail FROM verifications WHERE job = ?1",
                params![job],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    pub fn put_blob(&self, sha256: &str, uri: &str, len: u64) -> Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO blobs (sha256, uri, len) VALUES (?1, ?2, ?3)",
            params![sha256, uri, len as i64],
        )?;
        Ok(())
    }

    /// The URI of a blob this dashboard stored, or one a job's spec or result names.
    pub fn blob_uri(&self, sha256: &str) -> Result<Option<String>> {
        let c = self.conn();
        let stored: Option<String> = c
            .query_row(
                "SELECT uri FROM blobs WHERE sha256 = ?1",
                params![sha256],
                |r| r.get(0),
            )
            .optional()?;
        if stored.is_some() {
            return Ok(stored);
        }
        let mut st = c.prepare(
            "SELECT COALESCE(json_extract(data, '$.args.args.result_uri'),
                             json_extract(data, '$.args.args.spec_uri'))
             FROM instructions WHERE name IN ('job_submit', 'job_post')",
        )?;
        let uris = st.query_map([], |r| r.get::<_, Option<String>>(0))?;
        for uri in uris.flatten().flatten() {
            if gpu_market_blobs::uri_sha256(&uri)
                .map(|h| h.to_string())
                .as_deref()
                == Some(sha256)
            {
                return Ok(Some(uri));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tx(sig: &str, slot: u64, events: Vec<(&str, Value)>) -> StoredTx {
        StoredTx {
            signature: sig.into(),
            slot,
            block_time: Some(slot as i64),
            err: None,
            events: events
                .into_iter()
                .map(|(n, d)| Decoded {
                    name: n.into(),
                    data: d,
                })
                .collect(),
            instructions: vec![],
        }
    }

    /// Events that name only a job or a provider are filed under the market of the
    /// event that created it; the series count them there.
    #[test]
    fn events_are_filed_under_their_market_and_counted_in_the_series() {
        let s = Store::in_memory("P").unwrap();
        s.record(&tx(
            "s1",
            1,
            vec![(
                "ProviderRegistered",
                json!({"market": "M", "provider": "P1", "gpu": {"count": 2}, "timestamp": 100}),
            )],
        ))
        .unwrap();
        s.record(&tx(
            "s2",
            2,
            vec![(
                "JobPosted",
                json!({"market": "M", "job": "J1", "timestamp": 100}),
            )],
        ))
        .unwrap();
        s.record(&tx(
            "s3",
            3,
            vec![
                ("JobClaimed", json!({"job": "J1", "provider": "P1", "timestamp": 110})),
                (
                    "JobFinalized",
                    json!({"job": "J1", "provider": "P1", "gpu_ms": 30_000, "payout": 970, "timestamp": 130}),
                ),
            ],
        ))
        .unwrap();
        // Another market's job is not counted.
        s.record(&tx(
            "s4",
            4,
            vec![(
                "JobPosted",
                json!({"market": "X", "job": "J2", "timestamp": 100}),
            )],
        ))
        .unwrap();
        let st = s.sync_state().unwrap();
        assert_eq!(st.last_signature.as_deref(), Some("s4"));
        assert_eq!(st.events_stored, 5);
        assert_eq!(s.posted_jobs("M").unwrap(), ["J1"]);
        assert_eq!(s.events_of_job("J1").unwrap().len(), 3);

        let u = s.utilization("M", 60, 160).unwrap();
        // Buckets [60,120) and [120,180), the provider registered at 100 with 2 GPUs.
        assert_eq!(u.len(), 2);
        assert_eq!((u[0].t, u[0].gpu_seconds_capacity), (60, 40.0));
        assert_eq!((u[1].t, u[1].gpu_seconds_capacity), (120, 80.0));
        assert_eq!(u[1].gpu_seconds_sold, 30.0);
        let f = s.job_flow("M", 60, 160).unwrap();
        assert_eq!((f[0].posted, f[0].claimed, f[1].finalized), (1, 1, 1));
        let e = s.earnings("M").unwrap();
        assert_eq!(e[0].provider, "P1");
        assert_eq!(e[0].points[0].cumulative_revenue, 970);

        // A transaction recorded twice is stored once.
        s.record(&tx("s3", 3, vec![("JobClaimed", json!({"job": "J1"}))]))
            .unwrap();
        assert_eq!(s.events_of_job("J1").unwrap().len(), 3);
    }

    #[test]
    fn a_database_of_another_program_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        Store::open(&path, "A").unwrap();
        assert!(matches!(
            Store::open(&path, "B"),
            Err(StoreError::OtherProgram { .. })
        ));
        assert!(Store::open(&path, "A").is_ok());
    }
}
