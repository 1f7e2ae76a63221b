// One job: its state and terms, the timeline of its transactions (each with its
// signature), the result root, the auditor's verification with a button that
// re-runs it (POST /api/jobs/{pk}/verify), the result's download, and for a live
// segmented job its segments as `audit stats` counts them (state, provider,
// checkpoint root, GPU-seconds, what each paid). The page polls until the job has
// settled.
import { useState } from "react";
import { useParams } from "react-router-dom";
import { api, type JobSummary, type SegmentedJobStats, type Verification } from "../api";
import { Fig } from "../figure";
import { useApi } from "../hooks";
import { AccountFields, ErrorBox, EventList, KeyLink } from "./common";

export function JobPage() {
  const { pk = "" } = useParams();
  const [settled, setSettled] = useState(false);
  const r = useApi(
    async () => {
      const d = await api.job(pk);
      setSettled(d.job.settled);
      return d;
    },
    [pk],
    settled ? undefined : 2_000,
  );
  return (
    <div data-testid="page-job">
      <h1>
        Job <span className="mono">{pk}</span>
      </h1>
      {r.error ? <ErrorBox error={r.error} /> : null}
      {r.data ? (
        <>
          <Terms j={r.data.job} />
          {r.data.segments ? <SegmentTable s={r.data.segments} /> : null}
          <Verify pk={pk} initial={r.data.verification} hasResult={r.data.job.result_root !== null} />
          <h2>Timeline</h2>
          <EventList events={r.data.timeline} testid="timeline" fullSignatures />
          <h2>Account</h2>
          {r.data.account ? (
            <AccountFields account={r.data.account} testid="job-account" />
          ) : (
            <p className="muted">Closed on chain; the figures above come from the stored history.</p>
          )}
        </>
      ) : null}
    </div>
  );
}

function Terms({ j }: { j: JobSummary }) {
  const s = `job:${j.job}`;
  return (
    <table className="kv" data-testid="job-terms">
      <tbody>
        <tr>
          <th>state</th>
          <td>
            <Fig source={s} field="state" value={j.state} format="text" />
            {j.settled ? " (settled)" : ""}
          </td>
        </tr>
        <tr>
          <th>settled</th>
          <td>
            <Fig source={s} field="settled" value={j.settled} format="text" />
          </td>
        </tr>
        <tr>
          <th>workload</th>
          <td>
            <Fig source={s} field="workload" value={j.workload} format="text" />
          </td>
        </tr>
        <tr>
          <th>price (base units)</th>
          <td>
            <Fig source={s} field="price" value={j.price} />
          </td>
        </tr>
        <tr>
          <th>buyer</th>
          <td className="mono">
            <Fig source={s} field="buyer" value={j.buyer} format="text" />
          </td>
        </tr>
        <tr>
          <th>provider</th>
          <td className="mono">
            {j.provider ? <KeyLink kind="providers" pk={j.provider} /> : null}{" "}
            <Fig source={s} field="provider" value={j.provider} format="text" />
          </td>
        </tr>
        <tr>
          <th>posted (UTC)</th>
          <td>
            <Fig source={s} field="posted_at" value={j.posted_at} format="utc" />
          </td>
        </tr>
        <tr>
          <th>deadline (UTC)</th>
          <td>
            <Fig source={s} field="deadline" value={j.deadline} format="utc" />
          </td>
        </tr>
        <tr>
          <th>submitted (UTC)</th>
          <td>
            {j.submitted_at === null ? (
              <Fig source={s} field="submitted_at" value={null} format="text" />
            ) : (
              <Fig source={s} field="submitted_at" value={j.submitted_at} format="utc" />
            )}
          </td>
        </tr>
        <tr>
          <th>GPU ms</th>
          <td>
            <Fig source={s} field="gpu_ms" value={j.gpu_ms} />
          </td>
        </tr>
        <tr>
          <th>spec</th>
          <td className="mono">
            <Fig source={s} field="spec_uri" value={j.spec_uri} format="text" />
          </td>
        </tr>
        <tr>
          <th>result root</th>
          <td className="mono">
            <Fig source={s} field="result_root" value={j.result_root} format="text" />
          </td>
        </tr>
        <tr>
          <th>result</th>
          <td className="mono">
            <Fig source={s} field="result_uri" value={j.result_uri} format="text" />{" "}
            {j.result_uri ? (
              <a
                href={`/api/jobs/${encodeURIComponent(j.job)}/result`}
                download={`${j.job}.result.bin`}
                data-testid="result-download"
              >
                download
              </a>
            ) : null}
          </td>
        </tr>
      </tbody>
    </table>
  );
}

/**
 * A segmented job's segments. Each cell is a figure of `audit stats`' entry for the
 * job (source "segment:<job>:<index>", compared by e2e/e2e.mjs with the CLI's
 * `segmented_jobs`).
 */
function SegmentTable({ s }: { s: SegmentedJobStats }) {
  return (
    <section>
      <h2>Segments</h2>
      <p className="muted small">
        {s.segments_paid} of {s.segments.length} paid
        {s.ended ? "; ended by its buyer or its deadline" : ""}
        {s.last_checkpoint_index === null ? "" : `; resumes from the checkpoint of segment ${s.last_checkpoint_index}`}
      </p>
      <table className="grid" data-testid="segments-table">
        <thead>
          <tr>
            <th>index</th>
            <th>state</th>
            <th>provider</th>
            <th>checkpoint root</th>
            <th>GPU-seconds</th>
            <th>price</th>
            <th>paid to provider</th>
            <th>fee</th>
          </tr>
        </thead>
        <tbody>
          {s.segments.map((g) => {
            const src = `segment:${s.job}:${g.index}`;
            return (
              <tr key={g.index}>
                <td>
                  <Fig source={src} field="index" value={g.index} />
                </td>
                <td>
                  <Fig source={src} field="state" value={g.state} format="text" />
                </td>
                <td className="mono">
                  {g.provider ? <KeyLink kind="providers" pk={g.provider} /> : null}{" "}
                  <Fig source={src} field="provider" value={g.provider} format="text" />
                </td>
                <td className="mono">
                  <Fig source={src} field="state_root" value={g.state_root} format="text" />
                </td>
                <td>
                  <Fig source={src} field="gpu_seconds" value={g.gpu_seconds} format="fixed6" />
                </td>
                <td>
                  <Fig source={src} field="price" value={g.price} />
                </td>
                <td>
                  <Fig source={src} field="revenue" value={g.revenue} />
                </td>
                <td>
                  <Fig source={src} field="fee" value={g.fee} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

function Verify({ pk, initial, hasResult }: { pk: string; initial: Verification; hasResult: boolean }) {
  const [v, setV] = useState<Verification | undefined>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | undefined>();
  const shown = v ?? initial;
  const rerun = async () => {
    setBusy(true);
    setError(undefined);
    try {
      setV(await api.verify(pk));
    } catch (e) {
      setError(e instanceof Error ? e : new Error(String(e)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className={`verify verify-${shown.status}`}>
      <h2>Verification</h2>
      <p>
        <span data-testid="verification-status" className="badge">
          {shown.status}
        </span>{" "}
        <span data-testid="verification-detail">{shown.detail ?? ""}</span>
      </p>
      <button type="button" onClick={rerun} disabled={busy || !hasResult} data-testid="verify-button">
        {busy ? "checking…" : "re-run check"}
      </button>{" "}
      <span className="muted small">output against its on-chain root, then Freivalds' test against the inputs</span>
      {error ? <ErrorBox error={error} /> : null}
    </section>
  );
}
