// The live feed's merge: repeats, out-of-order pages and the server's last_id.
import { describe, expect, it } from "vitest";
import type { ChainEvent } from "../src/api";
import { emptyFeed, eventSubjects, mergeFeed } from "../src/feed";

const ev = (id: number, name = "JobPosted"): ChainEvent => ({
  id,
  signature: `sig${id}`,
  slot: 100 + id,
  block_time: 1_800_000_000 + id,
  name,
  data: { job: `job${id}` },
});

describe("mergeFeed", () => {
  it("keeps one entry per id, newest first, and advances the cursor", () => {
    let f = mergeFeed(emptyFeed, [ev(1), ev(2)], 2);
    f = mergeFeed(f, [ev(2), ev(3)], 3);
    expect(f.events.map((e) => e.id)).toEqual([3, 2, 1]);
    expect(f.lastId).toBe(3);
  });

  it("keeps only the newest `max`", () => {
    const f = mergeFeed(emptyFeed, Array.from({ length: 10 }, (_, i) => ev(i + 1)), 10, 4);
    expect(f.events.map((e) => e.id)).toEqual([10, 9, 8, 7]);
  });

  it("moves the cursor by what was received, not by a larger last_id, so no event is skipped", () => {
    const f = mergeFeed(emptyFeed, [ev(1), ev(2)], 50);
    expect(f.lastId).toBe(2);
    // An empty page: the server's last_id is all there is.
    expect(mergeFeed(f, [], 7).lastId).toBe(7);
    expect(mergeFeed(emptyFeed, [], null).lastId).toBe(null);
  });

  it("never moves the cursor back", () => {
    const f = mergeFeed(mergeFeed(emptyFeed, [ev(9)], 9), [ev(4)], 4);
    expect(f.lastId).toBe(9);
  });
});

it("eventSubjects reads job and provider keys", () => {
  expect(eventSubjects({ data: { job: "J", provider: "P", price: 5 } })).toEqual({ job: "J", provider: "P" });
  expect(eventSubjects({ data: { job: 5 } })).toEqual({ job: undefined, provider: undefined });
});
