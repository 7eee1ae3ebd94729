import { expect, test, type Page } from "@playwright/test";
import { existsSync } from "node:fs";
import { expectNoSidewaysScroll, screenshot, signIn } from "./helpers";

// Live progress: a rollout of the demo fleet (1.4.0 migrates for three seconds on each
// host) watched on its page — with JavaScript the page swaps in what changed from the
// event stream, without it the page reloads by its Refresh header until it ends.
test.skip(!existsSync("/usr/sbin/sshd"), "the demo fleet needs OpenSSH's server");

/** Every document the browser loaded for a release's page: a reload is one more. */
function countReleasePageLoads(page: Page): () => number {
  let loads = 0;
  page.on("response", (response) => {
    if (response.request().resourceType() === "document" && /\/releases\/\d+$/.test(response.url())) loads += 1;
  });
  return () => loads;
}

test("a rollout moves on its page host by host, and the board and releases page show it", async ({ page }, info) => {
  test.setTimeout(120_000);
  const js = info.project.use.javaScriptEnabled !== false;
  await signIn(page);
  const loads = countReleasePageLoads(page);
  await page.goto("/releases/demo-fleet/deploy");
  await page.getByLabel("Version").fill("1.4.0");
  await page.getByRole("button", { name: "Deploy to demo-fleet" }).click();
  await expect(page).toHaveURL(/\/releases\/\d+$/);
  const record = page.url();
  if (js) await page.evaluate(() => ((window as any).notReloaded = true));

  // It moves: the first host done while the next migrates, then the second.
  const grid = page.locator("ol.batches");
  await expect(page.getByText(/Deploy command · batch 2 of 3 · 1 of 3 hosts done/)).toBeVisible({ timeout: 30_000 });
  await expect(grid.locator("li.cell-done")).toHaveCount(1);
  await expect(grid.locator("li.cell-running")).toHaveCount(1);
  await expect(grid.locator("li.cell-running")).toContainText("web-2");
  await expect(page.locator("progress")).toBeVisible();
  await expectNoSidewaysScroll(page);
  await screenshot(page, "live-rollout-moving", info.project.name);

  // The board and the releases page say it runs and how far, in another tab of the
  // same person.
  const other = await page.context().newPage();
  await other.goto("/");
  await expect(other.locator(".glance-targets")).toContainText(/demo-fleet .*deploy 1\.4\.0 · \d+ %/);
  await screenshot(other, "live-board-while-deploying", info.project.name);
  await other.goto("/releases");
  const fleet = other.locator("section.target", { has: other.getByRole("heading", { name: /^demo-fleet/ }) });
  await expect(fleet).toContainText(/Deploy of 1\.4\.0 running: .*hosts done/);
  await other.close();

  // It ends, and the page says so in one line.
  await expect(page.getByRole("status")).toContainText("demo-fleet 1.4.0 ✓ 3/3", { timeout: 60_000 });
  await expect(grid.locator("li.cell-done")).toHaveCount(3);
  await screenshot(page, "live-rollout-done", info.project.name);
  if (js) {
    // Swapped in place: never reloaded.
    expect(await page.evaluate(() => (window as any).notReloaded)).toBe(true);
    expect(loads()).toBe(1);
  } else {
    // Reloaded while it ran, and no more once it ended.
    expect(loads()).toBeGreaterThan(2);
    const ended = loads();
    await page.waitForTimeout(4_500);
    expect(loads()).toBe(ended);
    expect(page.url()).toBe(record);
  }
});

test("a stream the server ends is opened again, and the page still follows changes", async ({ page }, info) => {
  test.skip(info.project.use.javaScriptEnabled === false, "the stream is the script's");
  test.setTimeout(60_000);
  await signIn(page);
  const streams: string[] = [];
  page.on("request", (request) => {
    if (new URL(request.url()).pathname === "/events") streams.push(request.url());
  });
  await page.goto("/releases");
  await page.evaluate(() => ((window as any).notReloaded = true));
  // The end-to-end server ends each stream after 5 s (end2end/e2e.toml): wait for the
  // page to have opened a second one, resuming from the last event it heard.
  await expect.poll(() => streams.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
  expect(streams[1]).toContain("last_event_id=");

  // A change after the reconnect reaches the page without a reload.
  const web = page.locator("section.target", { has: page.getByRole("heading", { name: /^demo-web/ }) });
  await expect(web).not.toContainText("Held by");
  const held = await page.request.put("/api/targets/demo-web/hold", { data: { reason: "watching the stream come back" } });
  expect(held.status()).toBe(200);
  await expect(web).toContainText("watching the stream come back", { timeout: 10_000 });
  expect(await page.evaluate(() => (window as any).notReloaded)).toBe(true);
  const released = await page.request.delete("/api/targets/demo-web/hold");
  expect(released.status()).toBe(204);
  await expect(web).not.toContainText("watching the stream come back", { timeout: 10_000 });

  // Hidden, the tab holds no stream; shown again, it opens one and catches up.
  const before = streams.length;
  await page.evaluate(() => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  await page.waitForTimeout(7_000);
  expect(streams.length, "no stream opened while hidden").toBe(before);
  await page.evaluate(() => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => false });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  await expect.poll(() => streams.length, { timeout: 5_000 }).toBeGreaterThan(before);
});

test("a stream that keeps failing is retried ever later, and the page polls meanwhile", async ({ page }, info) => {
  test.skip(info.project.use.javaScriptEnabled === false, "the stream is the script's");
  test.setTimeout(90_000);
  await signIn(page);
  // A proxy that answers every stream with an error.
  const tries: number[] = [];
  await page.route("**/events*", (route) => {
    tries.push(Date.now());
    return route.fulfill({ status: 503, headers: { "retry-after": "30" }, contentType: "application/json", body: "{}" });
  });
  const polls: number[] = [];
  page.on("request", (request) => {
    if (request.headers()["x-live-fragment"] === "1") polls.push(Date.now());
  });
  await page.goto("/releases");
  await page.waitForTimeout(35_000);
  // Backing off (2, 4, 8, 16 s, spread): a handful of tries, not a storm.
  expect(tries.length).toBeGreaterThanOrEqual(3);
  expect(tries.length).toBeLessThanOrEqual(6);
  const gaps = tries.slice(1).map((at, i) => at - tries[i]);
  expect(gaps[gaps.length - 1]).toBeGreaterThan(gaps[0]);
  // After the third failure the page fetches its main part every 10 s.
  expect(polls.length).toBeGreaterThanOrEqual(1);
  expect(polls[0]).toBeGreaterThan(tries[2]);
});
