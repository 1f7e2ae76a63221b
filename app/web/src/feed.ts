// The live job feed: the page polls GET /api/events?after=<last id> and merges
// what comes back into the newest-first list it shows. Merging is a pure
// function so that repeats (a poll answered twice, a reload) and gaps are
// tested without a server.
import type { ChainEvent } from "./api";

export interface Feed {
  /** Newest first, at most `max`, one entry per event id. */
  events: ChainEvent[];
  /** The highest id seen: the next poll's `after`. */
  lastId: number | null;
}

export const emptyFeed: Feed = { events: [], lastId: null };

export function mergeFeed(feed: Feed, incoming: ChainEvent[], lastId: number | null, max = 50): Feed {
  const byId = new Map<number, ChainEvent>();
  for (const e of feed.events) byId.set(e.id, e);
  for (const e of incoming) byId.set(e.id, e);
  const events = [...byId.values()].sort((a, b) => b.id - a.id).slice(0, max);
  // The cursor is the highest id actually received; the server's last_id only
  // counts for an empty page, so a server that reports its newest id overall
  // cannot make the next poll skip the events between.
  const ids = [feed.lastId, ...(incoming.length ? incoming.map((e) => e.id) : [lastId])].filter(
    (x): x is number => x !== null,
  );
  return { events, lastId: ids.length ? Math.max(...ids) : null };
}

/** The job (and provider) an event concerns, for links from the feed. */
export function eventSubjects(e: { data: Record<string, unknown> }): { job?: string; provider?: string } {
  const s = (k: string) => (typeof e.data[k] === "string" ? (e.data[k] as string) : undefined);
  return { job: s("job"), provider: s("provider") };
}
