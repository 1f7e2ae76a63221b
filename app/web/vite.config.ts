// Vite builds the dashboard into dist/, which `gpumkt dashboard` serves at `/`
// next to its JSON API. In development (`npm run dev`) /api is proxied to a
// running dashboard or to e2e/mock.mjs (DASHBOARD_URL, default port 7070).
import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 2000 },
  server: {
    proxy: { "/api": process.env.DASHBOARD_URL ?? "http://127.0.0.1:7070" },
  },
  test: {
    environment: "node",
    include: ["test/**/*.test.{ts,tsx}"],
  },
});
