// The dashboard's JSON API (docs/design.md, "Dashboard"; served by `gpumkt dashboard`):
// every request the pages make goes through `api`, which turns a non-2xx answer
// into an ApiError carrying the server's named error and message, so a page can
// say "JobNotFound: no job 3x..." instead of failing on a parse.

/** audit::ProviderStats, as `gpumkt audit stats --output json` prints it. */
export interface ProviderStats {
  provider: string;
  owner: string;
  gpu_model: string;
  gpu_count: number;
  completed: number;
  expired: number;
  disputes_lost: number;
  gpu_hours: number;
  revenue: number;
  slashed: number;
  utilization: number;
  reputation_score: number;
  stake: number;
  active_jobs: number;
  seconds_since_heartbeat: number;
}

/** audit::MarketStats: GET /api/stats. */
export interface MarketStats {
  market: string;
  unix_timestamp: number;
  providers: ProviderStats[];
  jobs_posted: number;
  jobs_completed: number;
  jobs_expired: number;
  jobs_refunded: number;
  jobs_cancelled: number;
  jobs_live: number;
  gpu_hours_sold: number;
  volume_paid: number;
  fees_collected: number;
  slashed: number;
  jobs_disputed: number;
  jobs_slashed: number;
  disputes_open: number;
  completion_rate: number;
  expiry_rate: number;
  utilization: number;
  segmented_jobs: SegmentedJobStats[];
}

/** audit::segment_stats::SegmentStats: one segment of a segmented job. */
export interface SegmentStats {
  index: number;
  state: "pending" | "running" | "committed" | "paid" | "disputed";
  provider: string | null;
  price: number;
  gpu_ms: number;
  gpu_seconds: number;
  revenue: number;
  fee: number;
  paid: boolean;
  state_root: string | null;
  started_at: number;
  deadline: number;
  committed_at: number;
}

/** audit::segment_stats::SegmentedJobStats: a live segmented job, segment by segment. */
export interface SegmentedJobStats {
  job: string;
  ended: boolean;
  last_checkpoint_index: number | null;
  last_checkpoint_uri: string;
  gpu_ms: number;
  gpu_seconds: number;
  revenue: number;
  fees: number;
  segments_paid: number;
  segments: SegmentStats[];
}

export interface Config {
  rpc_url: string;
  ws_url: string;
  program_id: string;
  market: string;
  payment_mint: string;
  stake_mint: string;
  payment_decimals: number;
  stake_decimals: number;
  cluster: string;
  blob_store: string | null;
  idl_url: string;
}

export interface JobSummary {
  job: string;
  buyer: string;
  provider: string | null;
  state: string;
  workload: string;
  price: number;
  posted_at: number;
  deadline: number;
  submitted_at: number | null;
  result_root: string | null;
  gpu_ms: number;
  spec_uri: string;
  result_uri: string | null;
  settled: boolean;
}

export interface ChainEvent {
  id: number;
  signature: string;
  slot: number;
  block_time: number | null;
  name: string;
  data: Record<string, unknown>;
}

export interface TimelineEntry {
  signature: string;
  slot: number;
  block_time: number | null;
  event: string;
  data: Record<string, unknown>;
}

export type VerificationStatus = "unchecked" | "correct" | "wrong" | "unavailable" | "not-gemm";

export interface Verification {
  status: VerificationStatus;
  detail: string | null;
}

export interface JobDetail {
  job: JobSummary;
  account: Record<string, unknown> | null;
  timeline: TimelineEntry[];
  verification: Verification;
  /** A live segmented job's segments (audit stats' entry for it); null otherwise. */
  segments: SegmentedJobStats | null;
}

export interface ProviderDetail {
  provider: ProviderStats;
  account: Record<string, unknown>;
  jobs: JobSummary[];
  events: ChainEvent[];
}

export interface UtilizationPoint {
  t: number;
  gpu_seconds_sold: number;
  gpu_seconds_capacity: number;
  utilization: number;
}

export interface JobFlowPoint {
  t: number;
  posted: number;
  claimed: number;
  submitted: number;
  finalized: number;
  expired: number;
  refunded: number;
  cancelled: number;
  disputed: number;
}

export interface EarningsSeries {
  providers: { provider: string; points: { t: number; cumulative_revenue: number }[] }[];
}

export interface BlobRef {
  uri: string;
  sha256: string;
  len: number;
}

export interface PrepareRequest {
  workload: string;
  m: number;
  n: number;
  k: number;
  a: string;
  b: string;
  price: number;
  deadline_secs: number;
  buyer: string;
  nonce?: number;
}

/** One instruction as the API writes it (data in base64). */
export interface InstructionJson {
  program_id: string;
  accounts: { pubkey: string; is_signer: boolean; is_writable: boolean }[];
  data: string;
}

export interface Prepared {
  job?: string;
  spec_uri: string;
  spec_hash: string;
  args: Record<string, unknown>;
  accounts: Record<string, string>;
  /** The whole transaction's instructions as the server would send them (job_post among them). */
  instructions?: InstructionJson[];
}

export interface History {
  backfilled_until_slot: number;
  last_signature: string | null;
  events_stored: number;
  following: boolean;
}

/** A non-2xx answer: the server's named error and its message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly detail: string,
    readonly path: string,
  ) {
    super(`${error}: ${detail} (HTTP ${status} from ${path})`);
    this.name = "ApiError";
  }
}

type Fetch = typeof fetch;

/** The API client; `fetchImpl` lets tests answer without a server. */
export class Api {
  constructor(
    private readonly base = "",
    private readonly fetchImpl: Fetch = (...a) => fetch(...a),
  ) {}

  async request<T>(path: string, init?: RequestInit): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.base}${path}`, init);
    } catch (e) {
      throw new ApiError(0, "Unreachable", `the dashboard did not answer: ${String(e)}`, path);
    }
    const text = await res.text();
    let body: unknown = undefined;
    try {
      body = text.length ? JSON.parse(text) : undefined;
    } catch {
      if (res.ok) throw new ApiError(res.status, "NotJson", `answer is not JSON: ${text.slice(0, 120)}`, path);
    }
    if (!res.ok) {
      const b = body as { error?: unknown; message?: unknown } | undefined;
      throw new ApiError(
        res.status,
        typeof b?.error === "string" ? b.error : `Http${res.status}`,
        typeof b?.message === "string" ? b.message : text.slice(0, 200),
        path,
      );
    }
    return body as T;
  }

  config = () => this.request<Config>("/api/config");
  idl = () => this.request<Record<string, unknown>>("/api/idl");
  stats = () => this.request<MarketStats>("/api/stats");
  history = () => this.request<History>("/api/history");
  providers = () => this.request<{ unix_timestamp: number; providers: ProviderStats[] }>("/api/providers");
  provider = (pk: string) => this.request<ProviderDetail>(`/api/providers/${encodeURIComponent(pk)}`);
  jobs = (q: { state?: string; provider?: string; buyer?: string; limit?: number } = {}) =>
    this.request<{ jobs: JobSummary[] }>(`/api/jobs${query(q)}`);
  job = (pk: string) => this.request<JobDetail>(`/api/jobs/${encodeURIComponent(pk)}`);
  verify = (pk: string) =>
    this.request<Verification>(`/api/jobs/${encodeURIComponent(pk)}/verify`, { method: "POST" });
  utilization = (bucket?: number) =>
    this.request<{ bucket: number; points: UtilizationPoint[] }>(`/api/series/utilization${query({ bucket })}`);
  earnings = () => this.request<EarningsSeries>("/api/series/earnings");
  jobFlow = (bucket?: number) =>
    this.request<{ bucket: number; points: JobFlowPoint[] }>(`/api/series/jobs${query({ bucket })}`);
  events = (after?: number, limit?: number) =>
    this.request<{ events: ChainEvent[]; last_id: number | null }>(`/api/events${query({ after, limit })}`);
  putBlob = (bytes: Uint8Array) =>
    this.request<BlobRef>("/api/blobs", {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: bytes as BodyInit,
    });
  prepare = (req: PrepareRequest) =>
    this.request<Prepared>("/api/jobs/prepare", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(req),
    });

  /** The result bytes, checked by the server against the on-chain root. */
  async result(pk: string): Promise<Uint8Array> {
    const path = `/api/jobs/${encodeURIComponent(pk)}/result`;
    const res = await this.fetchImpl(`${this.base}${path}`);
    if (!res.ok) {
      const text = await res.text();
      let b: { error?: string; message?: string } = {};
      try {
        b = JSON.parse(text);
      } catch {
        /* not JSON: the text itself is the message */
      }
      throw new ApiError(res.status, b.error ?? `Http${res.status}`, b.message ?? text.slice(0, 200), path);
    }
    return new Uint8Array(await res.arrayBuffer());
  }
}

/** `?a=1&b=x` from the defined entries, or "" when none are. */
export function query(q: Record<string, string | number | undefined>): string {
  const entries = Object.entries(q).filter(([, v]) => v !== undefined && v !== "");
  if (entries.length === 0) return "";
  return `?${entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join("&")}`;
}

export const api = new Api();
