// The market overview: audit stats' headline figures (GET /api/stats, the same
// value `gpumkt audit stats --output json` prints), utilization and job flow
// over time, earnings per provider, the providers' table and the live feed.
import { useEffect, useMemo, useState } from "react";
import { api, type ChainEvent, type MarketStats } from "../api";
import { TimeChart, type Series } from "../chart";
import { emptyFeed, mergeFeed, type Feed } from "../feed";
import { Fig, Tile } from "../figure";
import { tokens } from "../format";
import { useApi } from "../hooks";
import { useConfig } from "../App";
import { fixed } from "../rustfmt";
import { ErrorBox, EventList, ProviderTable } from "./common";

const POLL_MS = 2_000;
const PAGE = 100;

export function Overview() {
  const stats = useApi(() => api.stats(), [], 5_000);
  const util = useApi(() => api.utilization(), [], 15_000);
  const flow = useApi(() => api.jobFlow(), [], 15_000);
  const earnings = useApi(() => api.earnings(), [], 15_000);
  const history = useApi(() => api.history(), [], 5_000);
  const feed = useLiveFeed();

  const utilSeries = useMemo<Series[]>(
    () => (util.data ? [{ label: "utilization", points: util.data.points.map((p) => ({ x: p.t, y: p.utilization * 100 })) }] : []),
    [util.data],
  );
  const flowSeries = useMemo<Series[]>(() => {
    if (!flow.data) return [];
    const keys = ["posted", "claimed", "submitted", "finalized", "expired", "refunded", "cancelled", "disputed"] as const;
    // Running totals read better than per-bucket counts: the gap between the
    // posted and finalized lines is the work in flight.
    return keys.map((k) => {
      let total = 0;
      return { label: k, points: flow.data!.points.map((p) => ({ x: p.t, y: (total += p[k]) })) };
    });
  }, [flow.data]);
  const earnSeries = useMemo<Series[]>(
    () =>
      earnings.data?.providers.map((p) => ({
        label: `${p.provider.slice(0, 4)}…${p.provider.slice(-4)}`,
        points: p.points.map((q) => ({ x: q.t, y: q.cumulative_revenue })),
      })) ?? [],
    [earnings.data],
  );
  const disputesOpened = flow.data?.points.reduce((n, p) => n + p.disputed, 0);

  return (
    <div data-testid="page-overview">
      <h1>Market</h1>
      {stats.error ? <ErrorBox error={stats.error} /> : null}
      {stats.data ? <Headline s={stats.data} /> : <p className="muted">Loading stats…</p>}
      {stats.data ? (
        <p className="muted small">
          disputes opened (from the event history): <span data-testid="history.disputes_opened">{disputesOpened ?? "…"}</span>
        </p>
      ) : null}

      <div className="charts">
        <section>
          <h2>Utilization over time</h2>
          {util.error ? <ErrorBox error={util.error} /> : null}
          <TimeChart testid="chart-utilization" series={utilSeries} yLabel="% of GPU capacity sold" yFormat={(v) => `${fixed(v, 1)}%`} />
        </section>
        <section>
          <h2>Job flow</h2>
          {flow.error ? <ErrorBox error={flow.error} /> : null}
          <TimeChart testid="chart-jobs" series={flowSeries} yLabel="jobs, cumulative" stepped />
        </section>
        <section>
          <h2>Earnings per provider</h2>
          {earnings.error ? <ErrorBox error={earnings.error} /> : null}
          <TimeChart testid="chart-earnings" series={earnSeries} yLabel="cumulative revenue (base units)" stepped />
        </section>
      </div>

      <h2>Providers</h2>
      {stats.data ? <ProviderTable providers={stats.data.providers} source={(p) => `stats.providers:${p.provider}`} /> : null}

      <h2>Live job feed</h2>
      <p className="muted small" data-testid="history">
        {history.data
          ? `${history.data.events_stored} events stored, backfilled to slot ${history.data.backfilled_until_slot}, ${
              history.data.following ? "following the chain live" : "not following"
            }`
          : "…"}
      </p>
      {feed.error ? <ErrorBox error={feed.error} /> : null}
      <EventList events={feed.feed.events} testid="feed" />
    </div>
  );
}

function Headline({ s }: { s: MarketStats }) {
  const cfg = useConfig();
  const src = "stats";
  const pay = (n: number) => (cfg ? `${tokens(n, cfg.payment_decimals)} tokens` : undefined);
  const stake = (n: number) => (cfg ? `${tokens(n, cfg.stake_decimals)} stake tokens` : undefined);
  const disputesLost = s.providers.reduce((n, p) => n + p.disputes_lost, 0);
  return (
    <>
      <p className="muted">
        market <Fig source={src} field="market" value={s.market} format="text" /> · chain time{" "}
        <Fig source={src} field="unix_timestamp" value={s.unix_timestamp} format="utc" /> UTC
      </p>
      <div className="tiles">
        <Tile label="jobs posted">
          <Fig source={src} field="jobs_posted" value={s.jobs_posted} />
        </Tile>
        <Tile label="jobs completed">
          <Fig source={src} field="jobs_completed" value={s.jobs_completed} />
        </Tile>
        <Tile label="jobs expired (slashed)">
          <Fig source={src} field="jobs_expired" value={s.jobs_expired} />
        </Tile>
        <Tile label="jobs refunded">
          <Fig source={src} field="jobs_refunded" value={s.jobs_refunded} />
        </Tile>
        <Tile label="jobs cancelled">
          <Fig source={src} field="jobs_cancelled" value={s.jobs_cancelled} />
        </Tile>
        <Tile label="jobs live">
          <Fig source={src} field="jobs_live" value={s.jobs_live} />
        </Tile>
        <Tile label="GPU-hours sold">
          <Fig source={src} field="gpu_hours_sold" value={s.gpu_hours_sold} format="fixed6" />
        </Tile>
        <Tile label="volume paid to providers" note={pay(s.volume_paid)}>
          <Fig source={src} field="volume_paid" value={s.volume_paid} />
        </Tile>
        <Tile label="fees collected" note={pay(s.fees_collected)}>
          <Fig source={src} field="fees_collected" value={s.fees_collected} />
        </Tile>
        <Tile label="stake slashed" note={stake(s.slashed)}>
          <Fig source={src} field="slashed" value={s.slashed} />
        </Tile>
        <Tile label="results disputed">
          <Fig source={src} field="jobs_disputed" value={s.jobs_disputed} />
        </Tile>
        <Tile label="disputes lost by providers (slashed)">
          <Fig source={src} field="jobs_slashed" value={s.jobs_slashed} />
        </Tile>
        <Tile label="disputes open">
          <Fig source={src} field="disputes_open" value={s.disputes_open} />
        </Tile>
        <Tile label="disputes lost (all providers)">
          <span data-testid="stats.disputes_lost_total" data-sum-of="disputes_lost">
            {disputesLost}
          </span>
        </Tile>
        <Tile label="completion rate">
          <Fig source={src} field="completion_rate" value={s.completion_rate} format="pct" />
        </Tile>
        <Tile label="expiry rate">
          <Fig source={src} field="expiry_rate" value={s.expiry_rate} format="pct" />
        </Tile>
        <Tile label="utilization (all providers)">
          <Fig source={src} field="utilization" value={s.utilization} format="pct" />
        </Tile>
      </div>
    </>
  );
}

/**
 * Polls /api/events after the last id seen and keeps the newest 50, newest
 * first. A poll reads page after page while pages come back full, so a page
 * opened on a long history catches up at once instead of 50 events a poll.
 */
function useLiveFeed(): { feed: Feed; error?: Error } {
  const [feed, setFeed] = useState<Feed>(emptyFeed);
  const [error, setError] = useState<Error | undefined>();
  useEffect(() => {
    let live = true;
    let current: Feed = emptyFeed;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        for (let page = 0; page < 40; page++) {
          const r: { events: ChainEvent[]; last_id: number | null } = await api.events(current.lastId ?? undefined, PAGE);
          if (!live) return;
          current = mergeFeed(current, r.events, r.last_id);
          if (r.events.length < PAGE) break;
        }
        setFeed(current);
        setError(undefined);
      } catch (e) {
        if (live) setError(e instanceof Error ? e : new Error(String(e)));
      }
      if (live) timer = setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, []);
  return { feed, error };
}
