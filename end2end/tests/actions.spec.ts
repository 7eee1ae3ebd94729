import { expect, test } from "@playwright/test";
import { editWorkItem, expectNoSidewaysScroll, screenshot, signIn } from "./helpers";

test.beforeEach(async ({ page }) => {
  await signIn(page);
});

test("a card folds its blocked actions into one line that opens on their causes, without JS too", async ({ page }, info) => {
  await page.goto("/?lane=done");
  const card = page.locator("article.card", { hasText: "wi-BF-302" });
  const fold = card.locator("details.blocked-fold");
  await expect(fold.locator("summary")).toContainText("2 blocked");
  await expect(fold.locator("summary")).toContainText("What to do");
  const blocked = fold.locator("a.blocked-action-link", { hasText: "Start execution" });
  await expect(blocked).toBeHidden();
  await fold.locator("summary").click();
  await expect(blocked).toBeVisible();
  await expect(blocked).toContainText("Done items stay closed; Start execution cannot move them backward.");
  await expect(card.getByRole("button", { name: "Prepare release" })).toBeVisible();
  await expectNoSidewaysScroll(page);
  await screenshot(page, "card-actions", info.project.name);
  await card.screenshot({ path: `screenshots/${info.project.name}/card.png` });
  await blocked.click();
  await expect(page).toHaveURL(/\/items\/wi-BF-302#action-start-execution$/);
  const action = page.locator("#action-start-execution");
  await expect(action.getByText("Create a net-new work item", { exact: false })).toBeInViewport();
  await screenshot(page, "action-guidance", info.project.name);
});

test("a newcomer moves an item from ready to review and prepares its release", async ({ page }, info) => {
  await page.goto("/?lane=ready");
  const card = page.locator("article.card", { hasText: "wi-BF-330" });
  await card.getByRole("button", { name: "Start execution" }).click();
  await expect(page).toHaveURL(/\/items\/wi-BF-330\?attempt=\d+#result$/);
  await expect(page.getByRole("status")).toContainText("Start execution: Done");
  await expect(page.getByRole("status")).toContainText("moved to In progress with status queued");
  await screenshot(page, "action-started", info.project.name);

  await page.locator("#action-request-review").getByRole("button", { name: "Request review" }).click();
  await expect(page.getByRole("status")).toContainText("Request review: Done");
  await expect(page.locator(".eyebrow")).toContainText("Review");

  // The board moved the item, but its work-item file still says ready: the queue-truth
  // gate holds Prepare release and says how to reconcile.
  const prepare = page.locator("#action-prepare-release");
  await expect(prepare).toContainText("policy gate queue-truth: blocked");
  await expect(prepare).toContainText('Set lane = "review" in wi-BF-330.md');
  editWorkItem("wi-BF-330", 'lane = "ready"', 'lane = "review"');
  await page.locator("section:has(#queue-truth)").getByRole("button", { name: "Refresh" }).click();
  await expect(page).toHaveURL(/\/items\/wi-BF-330#queue-truth$/);
  await expect(page.locator("section:has(#queue-truth)")).toContainText("No reconciliation required");

  await page.locator("#action-prepare-release").getByRole("button", { name: "Prepare release" }).click();
  const result = page.getByRole("status");
  await expect(result).toContainText("Prepare release: Done");
  await expect(result).toContainText("wi-BF-330 is release-ready");
  await result.getByText("Output").click();
  await expect(result).toContainText("validate-local: all checks passed");
  await expect(page.locator("#release-preparation + p")).toContainText("Release-ready");
  await expectNoSidewaysScroll(page);
  await screenshot(page, "release-prepared", info.project.name);

  await page.getByRole("link", { name: "This item's history →" }).click();
  await expect(page).toHaveURL(/\/history\?item=wi-BF-330$/);
  for (const action of ["start-execution", "request-review", "prepare-release"]) {
    await expect(page.locator(".event", { hasText: action })).toHaveCount(1);
  }
  await expect(page.getByText("policy gate lane-eligibility: pass").first()).toBeVisible();
  await screenshot(page, "history-of-item", info.project.name);
});
