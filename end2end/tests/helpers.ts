import { expect, test, type Page } from "@playwright/test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { dataDirOf, demoPassword } from "../playwright.config";

/** Screenshots of every page land in end2end/screenshots/<project>/. */
export async function screenshot(page: Page, name: string, project: string) {
  await page.screenshot({ path: `screenshots/${project}/${name}.png`, fullPage: true });
}

export async function expectNoSidewaysScroll(page: Page) {
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  expect(overflow).toBeLessThanOrEqual(0);
}

/** Signs in as the demo operator through the real form, and lands on `path`. */
export async function signIn(page: Page, path = "/") {
  await page.goto(path);
  await expect(page).toHaveURL(/\/login/);
  await page.getByLabel("Username").fill("demo");
  await page.getByLabel("Password").fill(demoPassword);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByText("demo · operator")).toBeVisible();
}

/** The demo's work-item file of `id`, which the current project's server syncs from. */
export function workItemFile(id: string): string {
  return join(dataDirOf(test.info().project.name), "demo-factory", "work-items", `${id}.md`);
}

/** Edits a demo work-item file as a newcomer's editor would; returns the old text. */
export function editWorkItem(id: string, from: string, to: string): string {
  const path = workItemFile(id);
  const text = readFileSync(path, "utf8");
  expect(text).toContain(from);
  writeFileSync(path, text.replace(from, to));
  return text;
}
