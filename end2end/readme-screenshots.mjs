// Makes the README's two screenshots (docs/screenshots/) from a fresh demo at phone size:
// the release page after a deploy, an automatic rollback and a good deploy, and a
// work-item card (a demo without its eight weeks of history, so its first deploy is the
// first). Run after `cargo build --bin factory`:
//   node end2end/readme-screenshots.mjs
import { chromium } from "@playwright/test";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const binary = process.env.FACTORY_BIN ?? join(root, "target", "debug", "factory");
const port = Number(process.env.SCREENSHOT_PORT ?? 3290);
const base = `http://127.0.0.1:${port}`;
const password = "screenshot demo password";
const data = mkdtempSync(join(tmpdir(), "factory-screenshots-"));

const token = execFileSync(binary, ["token", "create", "screenshots", "--role", "operator", "--data-dir", data])
  .toString().split("\n").find((line) => line.startsWith("bf_"));
const server = spawn(binary, ["serve", "--demo", "--no-demo-fleet", "--no-demo-history", "--addr", `127.0.0.1:${port}`, "--data-dir", data], {
  env: { ...process.env, FACTORY_DEMO_PASSWORD: password, RUST_LOG: "warn" },
  stdio: "ignore",
});

async function api(method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return response.json();
}

async function deployed(version) {
  const started = await api("POST", "/api/targets/demo-web/deploy", { version });
  for (;;) {
    const { release } = await api("GET", `/api/releases/${started.release_id}`);
    if (release.status !== "running") break;
    await new Promise((r) => setTimeout(r, 200));
  }
  // An automatic rollback runs after a failed deploy: wait until nothing runs.
  for (;;) {
    const target = await api("GET", "/api/targets/demo-web");
    if (!target.running) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

try {
  for (let i = 0; i < 100; i++) {
    try { await fetch(`${base}/healthz`); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  for (const version of ["1.1.0", "1.2.0", "1.3.0"]) await deployed(version);

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await page.goto(`${base}/login`);
  await page.fill("#username", "demo");
  await page.fill("#password", password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);
  await page.goto(`${base}/releases`);
  await page.screenshot({ path: join(root, "docs", "screenshots", "releases-phone.png") });
  await page.goto(`${base}/?lane=done`);
  await page.locator(".card", { hasText: "wi-BF-302" }).first().screenshot({ path: join(root, "docs", "screenshots", "work-item-card-phone.png") });
  await browser.close();
} finally {
  // On SIGTERM the server stops the demo service its deploys started.
  server.kill("SIGTERM");
  await new Promise((r) => server.on("exit", r));
  rmSync(data, { recursive: true, force: true });
}
console.log("docs/screenshots/releases-phone.png and work-item-card-phone.png written");
