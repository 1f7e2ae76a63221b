// Every provider with audit's per-provider figures (GET /api/providers).
import { api } from "../api";
import { Fig } from "../figure";
import { useApi } from "../hooks";
import { ErrorBox, ProviderTable } from "./common";

export function Providers() {
  const r = useApi(() => api.providers(), [], 5_000);
  return (
    <div data-testid="page-providers">
      <h1>Providers</h1>
      {r.error ? <ErrorBox error={r.error} /> : null}
      {r.data ? (
        <>
          <p className="muted">
            {r.data.providers.length} providers at chain time{" "}
            <Fig source="providers" field="unix_timestamp" value={r.data.unix_timestamp} format="utc" /> UTC
          </p>
          <ProviderTable providers={r.data.providers} source={(p) => `providers:${p.provider}`} />
        </>
      ) : (
        <p className="muted">Loading…</p>
      )}
    </div>
  );
}
