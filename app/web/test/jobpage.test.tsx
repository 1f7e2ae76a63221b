// @vitest-environment jsdom
// A segmented job's page rendered from a stubbed API: its segments table has a
// row per segment, and every cell is a figure of audit stats' entry for the job
// (source "segment:<job>:<index>"), written as the CLI writes it; a job without
// segments shows no table. (The browser test does this against a real chain.)
import { afterEach, expect, it, vi } from "vitest";
import { act } from "react";
import { createRoot } from "react-dom/client";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { JobPage } from "../src/pages/JobPage";
import type { JobDetail, SegmentStats, SegmentedJobStats } from "../src/api";
import { render } from "../src/rustfmt";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const JOB = "Job11111111111111111111111111111111111111111";
const PROVIDER = "Prov111111111111111111111111111111111111111";

const seg = (index: number, state: SegmentStats["state"], provider: string | null, paid: boolean): SegmentStats => ({
  index,
  state,
  provider,
  price: 10_000,
  gpu_ms: provider ? 40_000 : 0,
  gpu_seconds: provider ? 40 : 0,
  revenue: paid ? 9_750 : 0,
  fee: paid ? 250 : 0,
  paid,
  state_root: state === "paid" || state === "committed" ? "07".repeat(32) : null,
  started_at: provider ? 1_800_000_000 : 0,
  deadline: provider ? 1_800_000_600 : 0,
  committed_at: paid ? 1_800_000_020 : 0,
});

const segments: SegmentedJobStats = {
  job: JOB,
  ended: false,
  last_checkpoint_index: 0,
  last_checkpoint_uri: "file://c0",
  gpu_ms: 80_000,
  gpu_seconds: 80,
  revenue: 9_750,
  fees: 250,
  segments_paid: 1,
  segments: [seg(0, "paid", PROVIDER, true), seg(1, "running", PROVIDER, false), seg(2, "pending", null, false)],
};

function detail(withSegments: boolean): JobDetail {
  return {
    job: {
      job: JOB,
      buyer: "Buy1111111111111111111111111111111111111111",
      provider: PROVIDER,
      state: withSegments ? "segmented" : "open",
      workload: withSegments ? "train-mlp" : "gemm-i8",
      price: 30_000,
      posted_at: 1_800_000_000,
      deadline: 1_800_007_200,
      submitted_at: null,
      result_root: null,
      gpu_ms: 0,
      spec_uri: "blob://train/1",
      result_uri: null,
      settled: false,
    },
    account: { state: "segmented" },
    timeline: [],
    verification: { status: "unchecked", detail: null },
    segments: withSegments ? segments : null,
  };
}

afterEach(() => vi.unstubAllGlobals());

async function page(d: JobDetail): Promise<{ el: HTMLElement; unmount: () => void }> {
  vi.stubGlobal("fetch", async (url: string) => {
    const path = url.split("?")[0];
    const ok = path === `/api/jobs/${JOB}`;
    return new Response(JSON.stringify(ok ? d : { error: "unknown_route", message: path }), { status: ok ? 200 : 404 });
  });
  const el = document.createElement("div");
  document.body.appendChild(el);
  const root = createRoot(el);
  await act(async () => {
    root.render(
      <MemoryRouter initialEntries={[`/jobs/${JOB}`]}>
        <Routes>
          <Route path="/jobs/:pk" element={<JobPage />} />
        </Routes>
      </MemoryRouter>,
    );
  });
  await act(async () => new Promise((r) => setTimeout(r, 50)));
  return { el, unmount: () => act(() => root.unmount()) };
}

it("shows a segmented job's segments, each cell a figure of audit stats", async () => {
  const { el, unmount } = await page(detail(true));
  const rows = el.querySelectorAll('[data-testid="segments-table"] tbody tr');
  expect(rows).toHaveLength(3);
  for (const s of segments.segments) {
    const figs = [...el.querySelectorAll<HTMLElement>(`[data-source='segment:${JOB}:${s.index}']`)];
    expect(figs.map((f) => f.dataset.field).sort()).toEqual(
      ["index", "state", "provider", "state_root", "gpu_seconds", "price", "revenue", "fee"].sort(),
    );
    for (const f of figs) {
      const v = s[f.dataset.field as keyof SegmentStats];
      expect([f.dataset.field, f.textContent]).toEqual([f.dataset.field, render(f.dataset.format as never, v)]);
    }
  }
  expect(el.querySelector(`[data-testid='segment:${JOB}:0.gpu_seconds']`)!.textContent).toBe("40.000000");
  expect(el.querySelector(`[data-testid='segment:${JOB}:2.provider']`)!.textContent).toBe("—");
  unmount();
});

it("shows no segments table for a job without segments", async () => {
  const { el, unmount } = await page(detail(false));
  expect(el.querySelector('[data-testid="job-terms"]')).not.toBeNull();
  expect(el.querySelector('[data-testid="segments-table"]')).toBeNull();
  unmount();
});
