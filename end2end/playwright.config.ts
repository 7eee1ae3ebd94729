import { defineConfig, devices } from "@playwright/test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Each project gets its own real server in demo mode on its own fresh data directory
// (the binary `cargo test` built), so every journey — deploys, holds, edits of the
// demo's work-item files — runs in every project without one project's changes
// reaching another's.
const basePort = Number(process.env.E2E_PORT ?? 3199);
export const binary = process.env.FACTORY_BIN ?? join(__dirname, "..", "target", "debug", "factory");
// The demo user's password for this run; the tests sign in with it.
export const demoPassword = "end-to-end demo password";

const phone = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  userAgent: devices["Pixel 7"].userAgent,
};

const projectUses = {
  phone: { ...phone },
  "phone-no-js": { ...phone, javaScriptEnabled: false },
  desktop: { viewport: { width: 1280, height: 900 } },
};
const names = Object.keys(projectUses) as (keyof typeof projectUses)[];

/** A server's data directory, by the name of the project that starts it: made once by
 * the runner and inherited by its workers through the environment, so the tests can edit
 * the work-item files its server syncs. */
export function dataDirOf(project: string): string {
  const key = `E2E_DATA_DIR_${project.replace(/\W/g, "_").toUpperCase()}`;
  process.env[key] ??= mkdtempSync(join(tmpdir(), `factory-e2e-${project}-`));
  return process.env[key]!;
}

/** Debian's Chromium, with the flags this closed network needs; Lighthouse's own
 * Chromium (tests/lighthouse.spec.ts) starts with them too. */
export const chromium = {
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

export default defineConfig({
  testDir: "./tests",
  outputDir: "./test-results",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: { launchOptions: chromium },
  projects: [
    ...names.map((name, i) => ({
      name,
      testIgnore: /lighthouse\.spec\.ts/,
      use: { ...projectUses[name], baseURL: `http://127.0.0.1:${basePort + i}` },
    })),
    // Lighthouse emulates its own phone: it runs once, on the phone project's server,
    // after the phone's journeys, so it audits their pages (a release's among them) and
    // changes nothing a journey starts from.
    {
      name: "lighthouse",
      testMatch: /lighthouse\.spec\.ts/,
      dependencies: ["phone"],
      metadata: { server: "phone" },
      use: { ...projectUses.phone, baseURL: `http://127.0.0.1:${basePort}` },
    },
  ],
  webServer: names.map((name, i) => ({
    // Without the demo's eight weeks of release history: the journeys start from a demo
    // whose targets have never been deployed (server/tests/insights.rs covers the history).
    command: `${binary} serve --demo --no-demo-history --addr 127.0.0.1:${basePort + i} --data-dir ${dataDirOf(name)} --config ${join(__dirname, "e2e.toml")}`,
    url: `http://127.0.0.1:${basePort + i}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    // SIGTERM, not Playwright's default SIGKILL: the server then stops the demo services
    // its deploys started, so no `python3 -m http.server` outlives the suite.
    gracefulShutdown: { signal: "SIGTERM" as const, timeout: 15_000 },
    env: { RUST_LOG: "warn", FACTORY_DEMO_PASSWORD: demoPassword },
  })),
});
