// One provider: its audit figures (stake, GPUs, reputation and the counts it is
// computed from, utilization, revenue, slashes, disputes lost), its earnings
// over time, its account as decoded from chain, its jobs and its events.
import { useMemo } from "react";
import { useParams } from "react-router-dom";
import { api, type ProviderStats } from "../api";
import { TimeChart, type Series } from "../chart";
import { Fig, Tile } from "../figure";
import { duration, tokens } from "../format";
import { useApi } from "../hooks";
import { useConfig } from "../App";
import { AccountFields, ErrorBox, EventList, JobTable } from "./common";

export function ProviderPage() {
  const { pk = "" } = useParams();
  const r = useApi(() => api.provider(pk), [pk], 5_000);
  const earnings = useApi(() => api.earnings(), [], 15_000);
  const series = useMemo<Series[]>(() => {
    const mine = earnings.data?.providers.find((p) => p.provider === pk);
    return mine ? [{ label: "cumulative revenue", points: mine.points.map((q) => ({ x: q.t, y: q.cumulative_revenue })) }] : [];
  }, [earnings.data, pk]);
  return (
    <div data-testid="page-provider">
      <h1>
        Provider <span className="mono">{pk}</span>
      </h1>
      {r.error ? <ErrorBox error={r.error} /> : null}
      {r.data ? (
        <>
          <Figures p={r.data.provider} />
          <h2>Earnings</h2>
          <TimeChart testid="chart-provider-earnings" series={series} yLabel="cumulative revenue (base units)" stepped />
          <h2>Jobs</h2>
          <JobTable jobs={r.data.jobs} />
          <h2>Events</h2>
          <EventList events={r.data.events} testid="provider-events" />
          <h2>Account</h2>
          <AccountFields account={r.data.account} testid="provider-account" />
        </>
      ) : null}
    </div>
  );
}

function Figures({ p }: { p: ProviderStats }) {
  const cfg = useConfig();
  const s = `provider:${p.provider}`;
  return (
    <>
      <p className="muted">
        owner <Fig source={s} field="owner" value={p.owner} format="text" /> · last heartbeat{" "}
        <Fig source={s} field="seconds_since_heartbeat" value={p.seconds_since_heartbeat} /> s ago (
        {duration(p.seconds_since_heartbeat)})
      </p>
      <div className="tiles">
        <Tile label="stake" note={cfg ? `${tokens(p.stake, cfg.stake_decimals)} stake tokens` : undefined}>
          <Fig source={s} field="stake" value={p.stake} />
        </Tile>
        <Tile label="GPUs">
          <Fig source={s} field="gpu_count" value={p.gpu_count} /> × <Fig source={s} field="gpu_model" value={p.gpu_model} format="text" />
        </Tile>
        <Tile label="reputation score">
          <Fig source={s} field="reputation_score" value={p.reputation_score} />
        </Tile>
        <Tile label="utilization">
          <Fig source={s} field="utilization" value={p.utilization} format="pct" />
        </Tile>
        <Tile label="revenue" note={cfg ? `${tokens(p.revenue, cfg.payment_decimals)} tokens` : undefined}>
          <Fig source={s} field="revenue" value={p.revenue} />
        </Tile>
        <Tile label="stake slashed">
          <Fig source={s} field="slashed" value={p.slashed} />
        </Tile>
        <Tile label="active jobs">
          <Fig source={s} field="active_jobs" value={p.active_jobs} />
        </Tile>
      </div>
      <h2>Reputation inputs</h2>
      <div className="tiles">
        <Tile label="jobs completed">
          <Fig source={s} field="completed" value={p.completed} />
        </Tile>
        <Tile label="jobs expired (slashed)">
          <Fig source={s} field="expired" value={p.expired} />
        </Tile>
        <Tile label="disputes lost">
          <Fig source={s} field="disputes_lost" value={p.disputes_lost} />
        </Tile>
        <Tile label="GPU-hours served">
          <Fig source={s} field="gpu_hours" value={p.gpu_hours} format="fixed6" />
        </Tile>
      </div>
    </>
  );
}
