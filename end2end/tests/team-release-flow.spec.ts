// The demo's staging → production pipeline on a phone: a version deployed to demo-web
// soaks a minute, its evidence shows on demo-production's card, Promote opens an
// approval request, and a second person approves it from the request's page — which
// starts the deploy by itself. With JavaScript and without. It changes demo-web's live
// version, so it runs after releases.spec.ts (one worker takes the files in name order).
import { expect, test, type Browser } from "@playwright/test";
import { addedUser, expectNoSeriousViolations, expectNoSidewaysScroll, screenshot, signIn, smallTapTargets, type Operator } from "./helpers";

async function signedInAs(browser: Browser, who: Operator, path: string) {
  const context = await browser.newContext({ ...test.info().project.use });
  const page = await context.newPage();
  await signIn(page, path, who);
  return page;
}

test("a version soaks on demo-web, is promoted, and a second person approves it", async ({ page, browser }, info) => {
  test.setTimeout(240_000);
  await signIn(page, "/releases");
  const production = page.locator("section.target", { has: page.getByRole("heading", { name: /^demo-production/ }) });
  // The next freeze window is on the card from the first minute.
  await expect(production).toContainText("Next freeze window:");

  // A version on demo-web (the staging of the pipeline).
  const started = await page.request.post("/api/targets/demo-web/deploy", { data: { version: "1.3.0" } });
  expect(started.status()).toBe(202);
  // The page refreshes only when asked: reload until the deploy has passed its smoke.
  await expect(async () => {
    await page.goto("/releases");
    await expect(production).toContainText("demo-web: smoke ✓ · soak", { timeout: 1_000 });
  }).toPass({ timeout: 60_000, intervals: [2_000] });
  await screenshot(page, "promotion-soaking", info.project.name);

  // Its minute of soak on demo-web, then Promote ships exactly it.
  await expect(async () => {
    await page.goto("/releases");
    await expect(production.getByRole("link", { name: "Promote 1.3.0" })).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 120_000, intervals: [5_000] });
  await expect(production).toContainText("demo-web: smoke ✓ · soak 1 min ✓");
  await screenshot(page, "promotion-verified", info.project.name);
  await production.getByRole("link", { name: "Promote 1.3.0" }).click();
  await expect(page.getByText("then, 1 approval: the deploy opens an approval request")).toBeVisible();
  await page.getByRole("button", { name: "Promote 1.3.0 to demo-production" }).click();

  // The request's page: the requester may not approve it yet.
  await expect(page).toHaveURL(/\/approvals\/\d+$/);
  const request = page.url();
  await expect(page.getByRole("heading", { name: "Deploy 1.3.0 to demo-production?" })).toBeVisible();
  await expect(page.getByText("Waiting for approval", { exact: true })).toBeVisible();
  await expect(page.getByText("You asked for it: you may confirm it yourself from")).toBeVisible();
  await expect(page.getByText("demo-web: smoke ✓ · soak 1 min ✓")).toBeVisible();
  await expectNoSidewaysScroll(page);
  expect(await smallTapTargets(page)).toEqual([]);
  await screenshot(page, "approval-request", info.project.name);
  if (info.project.use.javaScriptEnabled !== false) {
    await expectNoSeriousViolations(page, "the approval request's page");
  }

  // ann opens the link on her phone and approves: the deploy starts by itself.
  const ann = await signedInAs(browser, addedUser("ann", "operator"), request);
  await expect(ann.getByRole("button", { name: "Approve" })).toBeVisible();
  await screenshot(ann, "approval-approver", info.project.name);
  await ann.getByRole("button", { name: "Approve" }).click();
  await expect(ann.getByText("Approved, and its deploy started.")).toBeVisible();
  await ann.getByRole("link", { name: /^Follow release #\d+$/ }).click();
  await expect(ann.getByRole("status")).toContainText("Deploy of 1.3.0 succeeded", { timeout: 60_000 });
  await screenshot(ann, "approval-deployed", info.project.name);
  await ann.context().close();

  await page.goto("/releases");
  await expect(production).toContainText("Live: 1.3.0");
  await page.goto("/history");
  await expect(page.getByText("approval-approve · demo-production").first()).toBeVisible();
});

test("a freeze set now with one tap stops deploys until someone ends it", async ({ page }, info) => {
  await signIn(page, "/releases/demo-production/hold");
  await expect(page.getByRole("heading", { name: "Or freeze now" })).toBeVisible();
  await page.getByLabel("Why freeze deploys?").fill("Payments migration tonight");
  await page.getByRole("button", { name: "For 1 hour" }).click();
  await expect(page).toHaveURL(/\/releases$/);
  const production = page.locator("section.target", { has: page.getByRole("heading", { name: /^demo-production/ }) });
  await expect(production).toContainText("Freeze window: no deploys. \"freeze now by demo\" (Payments migration tonight)");
  const blocked = production.locator("details.blocked-action", { has: page.locator(".blocked-label", { hasText: /^Deploy$/ }) });
  await expect(blocked).toContainText("inside its freeze window");
  await expectNoSidewaysScroll(page);
  expect(await smallTapTargets(page)).toEqual([]);
  await screenshot(page, "freeze-now", info.project.name);
  await production.getByRole("button", { name: "End the freeze" }).click();
  await expect(production).not.toContainText("freeze now by demo");
  await expect(production.getByRole("link", { name: "Deploy" })).toBeVisible();
});
