import { expect, test, type Page } from "@playwright/test";
import { existsSync } from "node:fs";
import { expectNoSidewaysScroll, screenshot, signIn } from "./helpers";

// The demo fleet: three hosts that are sshd processes on loopback ports (the demo starts
// them when OpenSSH's server is installed, as CI installs it).
test.skip(!existsSync("/usr/sbin/sshd"), "the demo fleet needs OpenSSH's server");

test.beforeEach(async ({ page }) => {
  await signIn(page);
});

async function deploy(page: Page, version: string) {
  await page.goto("/releases/demo-fleet/deploy");
  await expect(page.getByText("on each host over SSH, 1 at a time")).toBeVisible();
  await page.getByLabel("Version").fill(version);
  await page.getByRole("button", { name: "Deploy to demo-fleet" }).click();
  await expect(page).toHaveURL(/\/releases\/\d+$/);
}

test("a version rolls across the fleet's three hosts, and a bad one stops at the first", async ({ page }, info) => {
  test.setTimeout(120_000);
  await deploy(page, "1.1.0");
  await expect(page.getByRole("status")).toContainText("Deploy of 1.1.0 succeeded", { timeout: 60_000 });
  await expect(page.getByText("3 of 3 hosts done")).toBeVisible();
  await expectNoSidewaysScroll(page);
  await screenshot(page, "fleet-rolled", info.project.name);

  const fleet = page.locator("section.target", { has: page.getByRole("heading", { name: /^demo-fleet/ }) });
  await page.goto("/releases");
  await expect(fleet).toContainText("Hosts: 3 of 3 on 1.1.0");

  // 1.2.0 fails its health check on web-1: the rollout stops there and web-1 goes back.
  await deploy(page, "1.2.0");
  await expect(page.getByRole("status")).toContainText("Rolled back automatically by release", {
    timeout: 60_000,
  });
  // The grid, one host a batch: web-1 failed its smoke checks, the others were not reached.
  const hosts = page.locator("ol.batches");
  await expect(hosts.locator("li.cell", { hasText: "web-1" })).toContainText("✗web-1 failed");
  await expect(hosts.locator("li.cell", { hasText: "web-1" })).toContainText("Post-deploy smoke checks");
  await expect(hosts.locator("li.cell", { hasText: "web-2" })).toContainText("web-2 waiting");
  await expect(hosts.locator("li.cell", { hasText: "web-3" })).toContainText("web-3 waiting");
  await screenshot(page, "fleet-stopped-at-the-first-host", info.project.name);
  await page.goto("/releases");
  await expect(fleet).toContainText("Hosts: 3 of 3 on 1.1.0");
  await expect(fleet).not.toContainText("Mixed versions");
});
