import { expect, test } from "@playwright/test";
import { expectNoSidewaysScroll, screenshot, signIn } from "./helpers";

test.beforeEach(async ({ page }) => {
  await signIn(page);
});

test("the board shows every lane and filters by lane", async ({ page }, info) => {
  await page.goto("/");
  await expect(page.getByRole("heading", { level: 1, name: /^Board: \d+ work items$/ })).toHaveCount(1);
  for (const lane of ["Backlog", "Ready", "In progress", "Review", "Done"]) {
    await expect(page.getByRole("heading", { level: 2, name: new RegExp(`^${lane}`) })).toBeVisible();
  }
  await expect(page.getByRole("link", { name: /Production CI\/CD resilience/ })).toBeVisible();
  await expectNoSidewaysScroll(page);
  await screenshot(page, "board", info.project.name);

  await page.getByRole("navigation", { name: "Lanes" }).getByRole("link", { name: /Review/ }).click();
  await expect(page).toHaveURL(/\?lane=review$/);
  await expect(page.getByRole("heading", { level: 2, name: /^(Backlog|Ready|In progress|Review|Done)/ })).toHaveCount(1);
  await expect(page.getByRole("heading", { level: 2, name: /^Review/ })).toBeVisible();
  await screenshot(page, "board-review", info.project.name);
});

test("the board's first screen shows the queue's freshness, each target's status word and the cards", async ({ page }, info) => {
  await page.goto("/");
  const glance = page.getByRole("region", { name: "At a glance" });
  await expect(glance).toBeInViewport();
  await expect(glance.locator(".attention")).toContainText(/Nothing needs a person now|Needs a person/);
  const targets = glance.getByRole("list", { name: "Targets" });
  await expect(targets.getByRole("link", { name: /^demo-web (Healthy|Deploying|Held|Failed|Rolled back|Interrupted|Unknown)$/ })).toBeInViewport();
  await expect(page.getByRole("region", { name: "Queue truth" }).locator(".chip.fresh, .chip.aging, .chip.stale").first()).toBeInViewport();
  // Cards, not one card's blocked actions: a third card starts on the first screen.
  await expect(page.locator("article.card").nth(2)).toBeInViewport();
  await targets.getByRole("link", { name: /^demo-web/ }).click();
  await expect(page).toHaveURL(/\/releases#target-demo-web$/);
  await screenshot(page, "glance-to-releases", info.project.name);
});

test("wi-BF-302's page carries the reference's sections", async ({ page }, info) => {
  await page.goto("/");
  await page.getByRole("link", { name: /Production CI\/CD resilience/ }).click();
  await expect(page).toHaveURL(/\/items\/wi-BF-302$/);
  for (const section of [
    "Execution Context",
    "Lifecycle Metadata",
    "Queue Truth",
    "Prompt Context",
    "Available Actions",
  ]) {
    await expect(page.getByRole("heading", { level: 2, name: section })).toBeVisible();
  }
  await expect(page.getByText("bf/BF-301-production-cicd-server-bootstrap")).toBeVisible();
  await expect(page.getByText("./scripts/validate-local.ps1", { exact: true })).toBeVisible();
  // The prompt text is folded away until tapped.
  const prompt = page.locator("pre.prompt");
  await expect(prompt).toBeHidden();
  await page.getByText("Show the prompt text").click();
  await expect(prompt).toBeVisible();
  // Blocked actions explain themselves; enabled ones say so.
  const start = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: "Start execution" }) });
  await expect(start.getByText("Blocked", { exact: true })).toBeVisible();
  await expect(start.getByText("Done items stay closed; Start execution cannot move them backward.").first()).toBeVisible();
  await expect(start.getByText("Create a net-new work item if more delivery is needed instead of reopening this one.")).toBeVisible();
  const prepare = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: "Prepare release" }) });
  await expect(prepare.getByText("Enabled", { exact: true })).toBeVisible();
  await expectNoSidewaysScroll(page);
  await screenshot(page, "item-wi-BF-302", info.project.name);
});

test("an unknown item shows a 404 page with a way back", async ({ page }, info) => {
  const response = await page.goto("/items/wi-NOPE-1");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Not found" })).toBeVisible();
  await page.getByRole("link", { name: "Back to the board" }).click();
  await expect(page).toHaveURL(/\/$/);
  await screenshot(page, "not-found", info.project.name);
});

test("the history lists the sign-in", async ({ page }, info) => {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "History" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "History" })).toBeVisible();
  await expect(page.getByText("sign-in", { exact: true }).first()).toBeVisible();
  await expectNoSidewaysScroll(page);
  await screenshot(page, "history", info.project.name);
});
