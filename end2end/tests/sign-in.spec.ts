import { expect, test } from "@playwright/test";
import { demoPassword } from "../playwright.config";
import { expectNoSidewaysScroll, screenshot } from "./helpers";

test("sign in, land on the page asked for, sign out", async ({ page }, info) => {
  await page.goto("/items/wi-BF-302");
  await expect(page).toHaveURL(/\/login\?next=\/items\/wi-BF-302$/);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  // 16 px inputs: phones do not zoom in when the field gets focus.
  const fontSize = await page.getByLabel("Username").evaluate((el) => getComputedStyle(el).fontSize);
  expect(parseFloat(fontSize)).toBeGreaterThanOrEqual(16);
  await expectNoSidewaysScroll(page);
  await screenshot(page, "login", info.project.name);

  await page.getByLabel("Username").fill("demo");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("The username or password is wrong.");
  await screenshot(page, "login-error", info.project.name);

  await page.getByLabel("Username").fill("demo");
  await page.getByLabel("Password").fill(demoPassword);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/items\/wi-BF-302$/);
  await expect(page.getByText("demo · operator")).toBeVisible();

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login/);
});
