/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The bundle goes into the Python package (git-ignored); hatch_build.py runs this build.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../src/despina/server/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    // No inline scripts or modulepreload polyfill: the server's CSP allows scripts from 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    rolldownOptions: {
      output: {
        // Vendor chunks that change less often than our code stay cached across releases; the
        // libraries only some pages use (uPlot, highlight.js, msgpack, the table) stay with those
        // pages' chunks (the routes are React.lazy), so the runs table never downloads the charts.
        codeSplitting: {
          groups: [
            { name: "vendor-react", test: /node_modules[\\/](react|react-dom|scheduler|react-router|react-router-dom|cookie|set-cookie-parser)[\\/]/ },
            { name: "vendor-query", test: /node_modules[\\/]@tanstack[\\/](react-query|query-core)[\\/]/ },
            { name: "vendor-table", test: /node_modules[\\/]@tanstack[\\/](react-table|table-core|react-virtual|virtual-core)[\\/]/ },
            { name: "vendor-charts", test: /node_modules[\\/]uplot[\\/]/ },
            { name: "vendor-highlight", test: /node_modules[\\/]highlight\.js[\\/]/ },
          ],
        },
      },
    },
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8765", "/preview": "http://127.0.0.1:8765" },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
