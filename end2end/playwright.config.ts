import { defineConfig, devices } from "@playwright/test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// The real server in demo mode on a fresh data directory, built by `cargo build` first.
const port = Number(process.env.E2E_PORT ?? 3199);
const binary = process.env.FACTORY_BIN ?? join(__dirname, "..", "target", "debug", "factory");
// Made once by the runner and inherited by its workers through the environment, so the
// tests can edit the demo's work-item files that this server syncs.
process.env.E2E_DATA_DIR ??= mkdtempSync(join(tmpdir(), "factory-e2e-"));
export const dataDir = process.env.E2E_DATA_DIR;
// The demo user's password for this run; the tests sign in with it.
export const demoPassword = "end-to-end demo password";

const chromium = {
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
};

const phone = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  userAgent: devices["Pixel 7"].userAgent,
};

export default defineConfig({
  testDir: "./tests",
  outputDir: "./test-results",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    launchOptions: chromium,
  },
  projects: [
    { name: "phone", use: { ...phone } },
    { name: "phone-no-js", use: { ...phone, javaScriptEnabled: false } },
    { name: "desktop", use: { viewport: { width: 1280, height: 900 } } },
  ],
  webServer: {
    command: `${binary} serve --demo --addr 127.0.0.1:${port} --data-dir ${dataDir}`,
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    env: { RUST_LOG: "warn", FACTORY_DEMO_PASSWORD: demoPassword },
  },
});
