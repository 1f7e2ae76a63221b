// Pieces several pages share: the providers and jobs tables (every figure a
// Fig, so e2e.mjs checks the tables too), event lists, raw account fields, and
// how an API error is shown.
import { Link } from "react-router-dom";
import type { ChainEvent, JobSummary, ProviderStats, TimelineEntry } from "../api";
import { ApiError } from "../api";
import { Fig } from "../figure";
import { short } from "../format";
import { eventSubjects } from "../feed";
import { utc } from "../rustfmt";

export function ErrorBox({ error }: { error: Error }) {
  const named = error instanceof ApiError ? error.error : error.name;
  return (
    <div className="error" role="alert" data-testid="error">
      <strong>{named}</strong> {error instanceof ApiError ? error.detail : error.message}
    </div>
  );
}

export function KeyLink({ kind, pk }: { kind: "jobs" | "providers"; pk: string | null | undefined }) {
  if (!pk) return <span>—</span>;
  return (
    <Link to={`/${kind}/${pk}`} title={pk} className="key">
      {short(pk)}
    </Link>
  );
}

export function ProviderTable({ providers, source }: { providers: ProviderStats[]; source: (p: ProviderStats) => string }) {
  return (
    <table className="grid" data-testid="providers-table">
      <thead>
        <tr>
          <th>provider</th>
          <th>GPU</th>
          <th>GPUs</th>
          <th>stake</th>
          <th>done</th>
          <th>expired</th>
          <th>disputes lost</th>
          <th>GPU-h</th>
          <th>revenue</th>
          <th>slashed</th>
          <th>util</th>
          <th>score</th>
          <th>active</th>
        </tr>
      </thead>
      <tbody>
        {providers.map((p) => {
          const s = source(p);
          return (
            <tr key={p.provider} data-provider={p.provider}>
              <td>
                <KeyLink kind="providers" pk={p.provider} />
              </td>
              <td>
                <Fig source={s} field="gpu_model" value={p.gpu_model} format="text" />
              </td>
              <td>
                <Fig source={s} field="gpu_count" value={p.gpu_count} />
              </td>
              <td>
                <Fig source={s} field="stake" value={p.stake} />
              </td>
              <td>
                <Fig source={s} field="completed" value={p.completed} />
              </td>
              <td>
                <Fig source={s} field="expired" value={p.expired} />
              </td>
              <td>
                <Fig source={s} field="disputes_lost" value={p.disputes_lost} />
              </td>
              <td>
                <Fig source={s} field="gpu_hours" value={p.gpu_hours} format="fixed6" />
              </td>
              <td>
                <Fig source={s} field="revenue" value={p.revenue} />
              </td>
              <td>
                <Fig source={s} field="slashed" value={p.slashed} />
              </td>
              <td>
                <Fig source={s} field="utilization" value={p.utilization} format="pct" />
              </td>
              <td>
                <Fig source={s} field="reputation_score" value={p.reputation_score} />
              </td>
              <td>
                <Fig source={s} field="active_jobs" value={p.active_jobs} />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function JobTable({ jobs }: { jobs: JobSummary[] }) {
  if (jobs.length === 0) return <p className="muted">No jobs.</p>;
  return (
    <table className="grid" data-testid="jobs-table">
      <thead>
        <tr>
          <th>job</th>
          <th>state</th>
          <th>workload</th>
          <th>price</th>
          <th>buyer</th>
          <th>provider</th>
          <th>posted (UTC)</th>
          <th>GPU ms</th>
          <th>settled</th>
        </tr>
      </thead>
      <tbody>
        {jobs.map((j) => {
          const s = `job:${j.job}`;
          return (
            <tr key={j.job} data-job={j.job}>
              <td>
                <KeyLink kind="jobs" pk={j.job} />
              </td>
              <td>
                <Fig source={s} field="state" value={j.state} format="text" />
              </td>
              <td>
                <Fig source={s} field="workload" value={j.workload} format="text" />
              </td>
              <td>
                <Fig source={s} field="price" value={j.price} />
              </td>
              <td>
                <span title={j.buyer}>{short(j.buyer)}</span>
              </td>
              <td>
                <KeyLink kind="providers" pk={j.provider} />
              </td>
              <td>
                <Fig source={s} field="posted_at" value={j.posted_at} format="utc" />
              </td>
              <td>
                <Fig source={s} field="gpu_ms" value={j.gpu_ms} />
              </td>
              <td>
                <Fig source={s} field="settled" value={j.settled} format="text" />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function eventLine(data: Record<string, unknown>): string {
  return Object.entries(data)
    .filter(([k]) => k !== "job" && k !== "provider" && k !== "market")
    .map(([k, v]) => `${k}=${typeof v === "string" && v.length > 16 ? short(v) : JSON.stringify(v)}`)
    .join(" ");
}

export function EventList({ events, testid, fullSignatures }: { events: (ChainEvent | TimelineEntry)[]; testid: string; fullSignatures?: boolean }) {
  if (events.length === 0) return <p className="muted">No events yet.</p>;
  return (
    <table className={`grid events${fullSignatures ? " full-sigs" : ""}`} data-testid={testid}>
      <thead>
        <tr>
          <th>time (UTC)</th>
          <th>slot</th>
          <th>event</th>
          <th>job</th>
          <th>provider</th>
          <th>details</th>
          <th>signature</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => {
          const name = "name" in e ? e.name : e.event;
          const { job, provider } = eventSubjects(e);
          return (
            <tr key={`${e.signature}-${name}-${"id" in e ? e.id : ""}`} data-event={name}>
              <td>{e.block_time === null ? "—" : utc(e.block_time)}</td>
              <td>{e.slot}</td>
              <td className="event-name">{name}</td>
              <td>
                <KeyLink kind="jobs" pk={job} />
              </td>
              <td>
                <KeyLink kind="providers" pk={provider} />
              </td>
              <td className="details">{eventLine(e.data)}</td>
              <td className="sig" title={e.signature} data-testid="signature">
                {e.signature}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** An account's decoded fields as the API sent them (nested objects flattened with dots). */
export function AccountFields({ account, testid }: { account: Record<string, unknown>; testid: string }) {
  const rows: [string, string][] = [];
  const walk = (prefix: string, v: unknown) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(prefix ? `${prefix}.${k}` : k, x);
    } else {
      rows.push([prefix, typeof v === "string" ? v : JSON.stringify(v)]);
    }
  };
  walk("", account);
  return (
    <table className="kv" data-testid={testid}>
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k}>
            <th>{k}</th>
            <td className="mono">{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
