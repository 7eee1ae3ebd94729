import { expect, test, type Page } from "@playwright/test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expectNoSidewaysScroll, screenshot, serverDataDir, signIn } from "./helpers";

test.beforeEach(async ({ page }) => {
  await signIn(page);
});

test("the release page shows the demo target with its controls", async ({ page }, info) => {
  await page.goto("/releases");
  const target = page.locator("section.target", { has: page.getByRole("heading", { name: /^demo-web/ }) });
  await expect(target.locator(".health")).toBeVisible();
  await expect(target.getByRole("heading", { name: "Recent releases" })).toBeVisible();
  await expectNoSidewaysScroll(page);
  await screenshot(page, "releases", info.project.name);
});

/** On a release's page, which refreshes itself without JavaScript, waits for the end. */
async function waitForOutcome(page: Page, text: string) {
  await expect(page).toHaveURL(/\/releases\/\d+$/);
  await expect(page.getByRole("status")).toContainText(text, { timeout: 30_000 });
}

test("a newcomer deploys, watches an automatic rollback, rolls back, and holds", async ({ page }, info) => {
  test.setTimeout(120_000);
  const target = page.locator("section.target", { has: page.getByRole("heading", { name: /^demo-web/ }) });

  // Deploy the candidate (1.0.0), then the next one (1.1.0).
  for (const version of ["1.0.0", "1.1.0"]) {
    await page.goto("/releases");
    await target.getByRole("link", { name: "Deploy" }).click();
    await expect(page.getByRole("heading", { name: "What will run" })).toBeVisible();
    await page.getByRole("button", { name: "Deploy to demo-web" }).click();
    await waitForOutcome(page, `Deploy of ${version} succeeded`);
  }
  await screenshot(page, "release-succeeded", info.project.name);
  // The new version is live: on the status page, and served by the demo service itself.
  await page.goto("/releases");
  await expect(target).toContainText("Live: 1.1.0");
  const port = readFileSync(join(serverDataDir(), "demo-target", "port"), "utf8").trim();
  const served = await page.request.get(`http://127.0.0.1:${port}/version`);
  expect((await served.text()).trim()).toBe("1.1.0");

  // 1.2.0 fails its post-deploy smoke check and is rolled back automatically.
  await page.goto("/releases/demo-web/deploy");
  await page.getByLabel("Version").fill("1.2.0");
  await page.getByRole("button", { name: "Deploy to demo-web" }).click();
  await waitForOutcome(page, "Rolled back automatically by release");
  await expect(page.getByText("body lacks \"ok\"").first()).toBeAttached();
  // …with its recovery guidance: what failed and what to do next.
  const guidance = page.locator("dl.guidance").first();
  await expect(guidance).toContainText("Cause");
  await expect(guidance).toContainText("Next step");
  await screenshot(page, "release-rolled-back", info.project.name);
  await page.goto("/releases");
  await expect(target).toContainText("Live: 1.1.0");

  // A rollback by hand, to 1.0.0.
  await target.getByRole("link", { name: "Rollback" }).click();
  await expect(page.getByText("From 1.1.0 back to:")).toBeVisible();
  await page.getByRole("button", { name: "Roll back demo-web" }).click();
  await waitForOutcome(page, "Rollback of 1.0.0 succeeded");

  // Hold: deploys are blocked with guidance, then the hold is released.
  await page.goto("/releases");
  await target.getByRole("link", { name: "Hold" }).click();
  await page.getByLabel("Why must deploys stop?").fill("Payments migration tonight");
  await page.getByRole("button", { name: "Hold demo-web" }).click();
  await expect(page).toHaveURL(/\/releases$/);
  await expect(target.locator(".health")).toHaveText("Held");
  const blocked = target.locator("details.blocked-action", { hasText: "Deploy" });
  await expect(blocked).toContainText("Payments migration tonight");
  await blocked.locator("summary").click();
  await expect(blocked).toContainText("rollbacks stay allowed");
  await expectNoSidewaysScroll(page);
  await screenshot(page, "releases-held", info.project.name);
  await target.getByRole("button", { name: "Release the hold" }).click();
  await expect(target.locator(".health")).not.toHaveText("Held");
  await expect(target.getByRole("link", { name: "Deploy" })).toBeVisible();

  // Every release has its record.
  await target.locator("ol.releases a").last().click();
  await expect(page.getByRole("heading", { name: "Steps" })).toBeVisible();
  await expect(page.getByText("Pre-deploy smoke checks")).toBeVisible();
});

test("a double tap on Deploy makes one release", async ({ page, baseURL }, info) => {
  test.setTimeout(60_000);
  const count = async () => {
    const answer = await page.request.get("/api/targets/demo-web/releases");
    expect(answer.ok()).toBeTruthy();
    return (await answer.json()).count as number;
  };
  const before = await count();
  await page.goto("/releases/demo-web/deploy");
  await page.getByLabel("Version").fill("1.3.0");
  // Two taps of the same form: the browser's own double tap, then the same form posted
  // twice more, as a thumb on a flaky connection would.
  const token = await page.locator("input[name=token]").inputValue();
  await page.getByRole("button", { name: "Deploy to demo-web" }).dblclick();
  await expect(page).toHaveURL(/\/releases\/\d+$/);
  const landed = new URL(page.url()).pathname;
  for (let i = 0; i < 2; i++) {
    const again = await page.request.post("/fn/deploy", {
      form: { target: "demo-web", version: "1.3.0", token },
      headers: { origin: baseURL!, referer: `${baseURL}/releases/demo-web/deploy`, accept: "text/html" },
      maxRedirects: 0,
    });
    expect(again.status()).toBe(302);
    expect(again.headers()["location"]).toBe(landed);
  }
  await expect(page.getByRole("status")).toContainText("Deploy of 1.3.0 succeeded", { timeout: 30_000 });
  expect(await count()).toBe(before + 1);
  await screenshot(page, "release-after-double-tap", info.project.name);
});
