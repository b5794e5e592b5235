/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The server embeds dist/ (rust-embed) and serves it with a strict CSP
// (script-src 'self' 'wasm-unsafe-eval'): no inline scripts, so Vite's module
// preload polyfill (an inline script in some setups) is turned off.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    modulePreload: { polyfill: false },
    sourcemap: false,
    // The wasm verifier is fetched as a file, never inlined as base64.
    assetsInlineLimit: (file) => (file.endsWith(".wasm") ? false : undefined),
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      "/v1": "http://127.0.0.1:7700",
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
