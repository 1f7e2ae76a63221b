// Jobs, live and settled (GET /api/jobs), filtered by state.
import { useSearchParams } from "react-router-dom";
import { api } from "../api";
import { useApi } from "../hooks";
import { ErrorBox, JobTable } from "./common";

// The states /api/jobs filters on (the dashboard's jobs::STATES).
const STATES = ["", "open", "claimed", "submitted", "disputed", "finalized", "cancelled", "refunded", "slashed"];

export function Jobs() {
  const [params, setParams] = useSearchParams();
  const state = params.get("state") ?? "";
  const r = useApi(() => api.jobs({ state: state || undefined, limit: 1000 }), [state], 5_000);
  return (
    <div data-testid="page-jobs">
      <h1>Jobs</h1>
      <label>
        state{" "}
        <select
          data-testid="jobs-state"
          value={state}
          onChange={(e) => setParams(e.target.value ? { state: e.target.value } : {})}
        >
          {STATES.map((s) => (
            <option key={s} value={s}>
              {s || "all"}
            </option>
          ))}
        </select>
      </label>
      {r.error ? <ErrorBox error={r.error} /> : null}
      {r.data ? <JobTable jobs={r.data.jobs} /> : <p className="muted">Loading…</p>}
    </div>
  );
}
