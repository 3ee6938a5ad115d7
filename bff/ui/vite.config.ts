/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// Where `npm run dev` sends API calls: a running CloudGrid (`cloudgrid all` listens on
// 127.0.0.1:8080 by default). The BFF lets loopback origins in local mode, so the dev
// server's own origin (http://localhost:5173) is accepted as it is.
const backend = process.env.CLOUDGRID_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [preact()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    // The BFF serves `/assets/` as immutable, content-named files.
    sourcemap: true,
    target: 'es2022',
  },
  server: {
    proxy: {
      // Queries over HTTP and subscriptions over WebSocket share the path.
      '/graphql': { target: backend, ws: true },
      // Sign-in routes (deployed mode only; harmless in local mode).
      '/auth': { target: backend },
    },
  },
  test: {
    include: ['tests/unit/**/*.test.{ts,tsx}'],
    environment: 'node',
    setupFiles: ['tests/unit/setup.ts'],
  },
});
