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
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8765", "/preview": "http://127.0.0.1:8765" },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
