// The page frame and routes. Hash routes (#/jobs/<pk>) so that the dashboard's
// server needs to serve only index.html and its assets at `/`.
import { createContext, lazy, Suspense, useContext, type ReactNode } from "react";
import { createHashRouter, NavLink, Outlet, RouterProvider } from "react-router-dom";
import { api, type Config } from "./api";
import { useApi } from "./hooks";
import { Overview } from "./pages/Overview";
import { Providers } from "./pages/Providers";
import { ProviderPage } from "./pages/ProviderPage";
import { Jobs } from "./pages/Jobs";
import { JobPage } from "./pages/JobPage";
// The post page carries @solana/web3.js and Anchor: loaded only when opened.
const PostJob = lazy(() => import("./pages/PostJob").then((m) => ({ default: m.PostJob })));
import { ErrorBox } from "./pages/common";

const ConfigContext = createContext<Config | undefined>(undefined);

/** /api/config, loaded once by the frame; undefined until it arrives. */
export function useConfig(): Config | undefined {
  return useContext(ConfigContext);
}

function Frame() {
  const config = useApi(() => api.config(), []);
  return (
    <ConfigContext.Provider value={config.data}>
      <header className="top">
        <span className="brand">gpu-market</span>
        <nav>
          <NavLink to="/" end>
            Market
          </NavLink>
          <NavLink to="/providers">Providers</NavLink>
          <NavLink to="/jobs">Jobs</NavLink>
          <NavLink to="/post">Post a job</NavLink>
        </nav>
        <span className="cluster" data-testid="cluster">
          {config.data ? `${config.data.cluster} · ${config.data.rpc_url}` : "…"}
        </span>
      </header>
      <main>
        {config.error ? <ErrorBox error={config.error} /> : null}
        <Outlet />
      </main>
      <footer>
        Figures are recomputed from chain state by the same client code as <code>gpumkt audit stats</code>; amounts
        are in base units.
      </footer>
    </ConfigContext.Provider>
  );
}

function NotFound(): ReactNode {
  return <p className="error">No such page.</p>;
}

const router = createHashRouter([
  {
    element: <Frame />,
    children: [
      { path: "/", element: <Overview /> },
      { path: "/providers", element: <Providers /> },
      { path: "/providers/:pk", element: <ProviderPage /> },
      { path: "/jobs", element: <Jobs /> },
      { path: "/jobs/:pk", element: <JobPage /> },
      {
        path: "/post",
        element: (
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <PostJob />
          </Suspense>
        ),
      },
      { path: "*", element: <NotFound /> },
    ],
  },
]);

export function App() {
  return <RouterProvider router={router} />;
}
