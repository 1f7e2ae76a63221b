// @vitest-environment jsdom
// The overview page rendered from a stubbed API: every figure of audit's
// MarketStats is on it, once, marked with its JSON field and written as the CLI
// writes it; the same for each provider's row. (The browser test does this
// against a real dashboard; this is the quick check of the page's wiring.)
import { afterEach, expect, it, vi } from "vitest";
import { act } from "react";
import { createRoot } from "react-dom/client";
import { MemoryRouter } from "react-router-dom";
import { Overview } from "../src/pages/Overview";
import type { MarketStats } from "../src/api";
import { render } from "../src/rustfmt";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const stats: MarketStats = {
  market: "Mkt1111111111111111111111111111111111111111",
  unix_timestamp: 1_800_000_031,
  providers: [
    {
      provider: "Prov111111111111111111111111111111111111111",
      owner: "Own1111111111111111111111111111111111111111",
      gpu_model: "H100",
      gpu_count: 2,
      completed: 7,
      expired: 1,
      disputes_lost: 2,
      gpu_hours: 0.0078125,
      revenue: 68_250,
      slashed: 5_000,
      utilization: 0.004375,
      reputation_score: 6_363,
      stake: 100_000,
      active_jobs: 2,
      seconds_since_heartbeat: 12,
    },
  ],
  jobs_posted: 10,
  jobs_completed: 7,
  jobs_expired: 1,
  jobs_refunded: 0,
  jobs_cancelled: 0,
  jobs_live: 3,
  gpu_hours_sold: 0.0078125,
  volume_paid: 68_250,
  fees_collected: 1_750,
  slashed: 5_000,
  jobs_disputed: 3,
  jobs_slashed: 2,
  disputes_open: 1,
  completion_rate: 0.875,
  expiry_rate: 0.125,
  utilization: 0.003,
  segmented_jobs: [],
};

const answers: Record<string, unknown> = {
  "/api/stats": stats,
  "/api/series/utilization": { bucket: 60, points: [] },
  "/api/series/jobs": { bucket: 60, points: [] },
  "/api/series/earnings": { providers: [] },
  "/api/history": { backfilled_until_slot: 5, last_signature: null, events_stored: 0, following: true },
  "/api/events": { events: [], last_id: 0 },
};

afterEach(() => vi.unstubAllGlobals());

it("shows every MarketStats figure as audit stats writes it", async () => {
  vi.stubGlobal("fetch", async (url: string) => {
    const path = url.split("?")[0];
    return new Response(JSON.stringify(answers[path] ?? { error: "unknown_route", message: path }), {
      status: path in answers ? 200 : 404,
    });
  });
  // jsdom has no 2D canvas: Chart.js gets none (and says so), the figures must not care.
  HTMLCanvasElement.prototype.getContext = (() => null) as never;
  vi.spyOn(console, "error").mockImplementation(() => {});
  const el = document.createElement("div");
  document.body.appendChild(el);
  const root = createRoot(el);
  await act(async () => {
    root.render(
      <MemoryRouter>
        <Overview />
      </MemoryRouter>,
    );
  });
  await act(async () => new Promise((r) => setTimeout(r, 50)));

  const figs = [...el.querySelectorAll<HTMLElement>("[data-source='stats']")];
  const shown = Object.fromEntries(figs.map((f) => [f.dataset.field!, f]));
  // Lists have their own pages' tables: providers below, segmented jobs on their job pages.
  const fields = Object.keys(stats).filter((k) => k !== "providers" && k !== "segmented_jobs");
  expect(Object.keys(shown).sort()).toEqual(fields.sort());
  expect(figs).toHaveLength(fields.length);
  for (const k of fields) {
    const f = shown[k];
    expect([k, f.textContent]).toEqual([k, render(f.dataset.format as never, stats[k as keyof MarketStats])]);
  }
  // Rust's {:.6} of 0.0078125 rounds to even: the page must not show toFixed's 0.007813.
  expect(shown.gpu_hours_sold.textContent).toBe("0.007812");
  expect(shown.completion_rate.textContent).toBe("87.50%");

  const p = stats.providers[0];
  const row = [...el.querySelectorAll<HTMLElement>(`[data-source='stats.providers:${p.provider}']`)];
  expect(row.map((f) => f.dataset.field).sort()).toEqual(
    ["gpu_model", "gpu_count", "stake", "completed", "expired", "disputes_lost", "gpu_hours", "revenue", "slashed", "utilization", "reputation_score", "active_jobs"].sort(),
  );
  expect(el.querySelector("[data-testid='stats.disputes_lost_total']")!.textContent).toBe("2");
  act(() => root.unmount());
});
