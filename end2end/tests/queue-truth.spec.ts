import { expect, test } from "@playwright/test";
import { writeFileSync } from "node:fs";
import { editWorkItem, expectNoSidewaysScroll, screenshot, signIn, workItemFile } from "./helpers";

test.beforeEach(async ({ page }) => {
  await signIn(page);
});

test("the board and an item say how fresh their data is", async ({ page }, info) => {
  await page.goto("/?lane=done");
  const status = page.getByRole("region", { name: "Queue truth" });
  // The start-up sync: seconds or minutes ago, as far as the specs before this one got.
  await expect(status).toContainText(/Synced \d+(s|m) ago · 12 files read/);
  // Past two minutes the start-up sync's data is Aging: Refresh makes it fresh again,
  // whichever spec ran before this one.
  await status.getByRole("button", { name: "Refresh" }).click();
  await expect(page).toHaveURL(/\?lane=done$/);
  await expect(status).toContainText(/Synced \d+s ago · 12 files read/);
  const card = page.locator("article.card", { hasText: "wi-BF-302" });
  await expect(card.locator("a.truth")).toContainText("Fresh");
  await card.locator("a.truth").click();
  await expect(page).toHaveURL(/\/items\/wi-BF-302#queue-truth$/);
  const section = page.locator("section:has(#queue-truth)");
  await expect(section).toContainText(/Freshness: Fresh \(snapshot age \d+s\)/);
  await expect(section).toContainText("Drift: none.");
  await expect(section).toContainText("No reconciliation required; item truth signals are consistent.");
  await expectNoSidewaysScroll(page);
  await screenshot(page, "queue-truth", info.project.name);
});

// It puts every file back at the end, so the tests after it see the demo as it was.
test("a newcomer edits, contradicts and breaks work-item files, and taps Refresh", async ({ page }, info) => {
  const originals: [string, string][] = [];
  try {
    // An edit shows after Refresh.
    originals.push(["wi-BF-333", editWorkItem("wi-BF-333", 'title = "', 'title = "Edited on a phone: ')]);
    await page.goto("/?lane=ready");
    await page.getByRole("region", { name: "Queue truth" }).getByRole("button", { name: "Refresh" }).click();
    await expect(page).toHaveURL(/\/\?lane=ready$/);
    await expect(page.locator("article.card", { hasText: "wi-BF-333" })).toContainText("Edited on a phone: ");
    await expect(page.getByRole("region", { name: "Queue truth" })).toContainText("1 changed");

    // A file that disagrees with the board: the drift badge, then its guidance.
    originals.push(["wi-BF-340", editWorkItem("wi-BF-340", 'status = "new"', 'status = "done"')]);
    await page.goto("/?lane=backlog");
    await page.getByRole("button", { name: "Refresh" }).click();
    const card = page.locator("article.card", { hasText: "wi-BF-340" });
    await expect(card.locator(".chip.drift")).toHaveText("Drift");
    await screenshot(page, "drift-badge", info.project.name);
    await card.locator("a.truth").click();
    const section = page.locator("section:has(#queue-truth)");
    await expect(section).toContainText("lane: Backlog · status: done");
    await expect(section).toContainText('set status = "new"');
    await expectNoSidewaysScroll(page);
    await screenshot(page, "drift-guidance", info.project.name);

    // A broken file: exactly which line and field, and every other item keeps working.
    originals.push(["wi-BF-342", editWorkItem("wi-BF-342", 'lane = "backlog"', 'lane = "doing"')]);
    await page.goto("/");
    await page.getByRole("button", { name: "Refresh" }).click();
    // The board's first line names it; its link leads to the report at the board's end.
    await page.getByRole("link", { name: "2 work-item files did not sync" }).click();
    const errors = page.locator(".sync-errors");
    await expect(errors).toBeInViewport();
    // Two: this one, and the one the demo breaks on purpose.
    await expect(errors).toContainText("2 work-item files were not synced");
    await expect(errors).toContainText(/wi-BF-342\.md line \d+, field lane/);
    await expect(page.locator("article.card")).toHaveCount(11);
    await expect(page.locator("article.card", { hasText: "wi-BF-342" }).locator(".chip.stale")).toBeVisible();
    await expectNoSidewaysScroll(page);
    await screenshot(page, "sync-error", info.project.name);
    await page.goto("/items/wi-BF-302");
    await expect(page.locator("section:has(#queue-truth)")).toContainText("No reconciliation required");
  } finally {
    for (const [id, text] of originals.reverse()) writeFileSync(workItemFile(id), text);
    await page.goto("/");
    await page.getByRole("button", { name: "Refresh" }).click();
  }
  // Only the demo's own broken file is left.
  await expect(page.locator(".sync-errors")).toContainText("1 work-item file was not synced");
  await expect(page.locator(".sync-errors")).toContainText("wi-BF-344.md");
});
