import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { binary, dataDirOf, demoPassword } from "../playwright.config";

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

/** Who signs in: the demo operator unless said. */
export interface Operator {
  name: string;
  password: string;
  role: string;
}

const demoOperator: Operator = { name: "demo", password: demoPassword, role: "operator" };

/** Signs in through the real form, as the demo operator unless told, and lands on `path`. */
export async function signIn(page: Page, path = "/", who: Operator = demoOperator) {
  await page.goto(path);
  await expect(page).toHaveURL(/\/login/);
  await page.getByLabel("Username").fill(who.name);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByText(`${who.name} · ${who.role}`)).toBeVisible();
}

/** The `Cookie` header `page`'s browser sends, its session among it: for requests made
 * outside the browser (Lighthouse's Chrome, a raw HTTP request). */
export async function cookieHeader(page: Page): Promise<string> {
  const cookies = await page.context().cookies();
  expect(cookies.map((c) => c.name)).toContain("factory_session");
  return cookies.map((c) => `${c.name}=${c.value}`).join("; ");
}

/** A user of the current project's server with `role`, added with `factory user add` as
 * a real install adds one (once: a later test finds it there). */
export function addedUser(name: string, role: string): Operator {
  const user = { name, password: `${name}'s end-to-end password`, role };
  try {
    execFileSync(binary, ["user", "add", name, "--role", role, "--data-dir", serverDataDir()], {
      input: `${user.password}\n`,
      stdio: ["pipe", "pipe", "pipe"],
    });
  } catch (err: any) {
    // Added by an earlier test of this project's server.
    expect(String(err.stderr)).toContain("already exists");
  }
  return user;
}

/** An admin of the current project's server (the demo has none): for the admin's own
 * pages. */
export function demoAdmin(): Operator {
  return addedUser("e2e-admin", "admin");
}

/** Every page of the dashboard an operator sees, by path; a release's page too, made by
 * a deploy when no release exists yet, so the list stands whatever ran before. */
export async function operatorPages(page: Page): Promise<string[]> {
  const list = [
    "/",
    "/?lane=review",
    "/items/wi-BF-302",
    "/items/wi-BF-330",
    "/items/no-such-item",
    "/history",
    "/insights",
    "/releases",
    "/releases/demo-web/deploy",
    "/releases/demo-web/rollback",
    "/releases/demo-web/hold",
  ];
  const answer = await page.request.get("/api/targets/demo-web/releases");
  const releases = (await answer.json()).releases as { id: number }[];
  list.push(`/releases/${releases.length > 0 ? releases[0].id : await deployOnce(page)}`);
  return list;
}

/** Deploys the demo's 1.1.0 through the API and waits for the release to end; its id. */
async function deployOnce(page: Page): Promise<number> {
  const started = await page.request.post("/api/targets/demo-web/deploy", { data: { version: "1.1.0" } });
  expect(started.status()).toBe(202);
  const id = (await started.json()).release_id as number;
  await expect
    .poll(async () => (await (await page.request.get(`/api/releases/${id}`)).json()).release.status, { timeout: 60_000 })
    .not.toBe("running");
  return id;
}

/** The data directory of the server the current project's tests talk to: its own, or
 * the one its `metadata.server` names (Lighthouse runs on the phone's). */
export function serverDataDir(): string {
  const project = test.info().project;
  return dataDirOf((project.metadata?.server as string | undefined) ?? project.name);
}

/** The demo's work-item file of `id`, which the current project's server syncs from. */
export function workItemFile(id: string): string {
  return join(serverDataDir(), "demo-factory", "work-items", `${id}.md`);
}

/** Edits a demo work-item file as a newcomer's editor would; returns the old text. */
export function editWorkItem(id: string, from: string, to: string): string {
  const path = workItemFile(id);
  const text = readFileSync(path, "utf8");
  expect(text).toContain(from);
  writeFileSync(path, text.replace(from, to));
  return text;
}

/** No serious or critical axe-core violation (WCAG 2.1 A and AA) on the page as it is. */
export async function expectNoSeriousViolations(page: Page, where: string) {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const serious = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  expect(serious, where).toEqual([]);
}

/** Tap targets under 44 px tall on the page, each with its text and height. */
export function smallTapTargets(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = [];
    const targets = document.querySelectorAll<HTMLElement>("a[href], button, input:not([type=hidden]), select, textarea, summary");
    for (const el of targets) {
      const box = el.getBoundingClientRect();
      if (box.width === 0 && box.height === 0) continue; // not shown (folded away)
      // A link inside a sentence is exempt (WCAG 2.5.8): its line is the target.
      const inSentence = el.tagName === "A" && getComputedStyle(el).display === "inline" &&
        Array.from(el.parentElement?.childNodes ?? []).some((n) => n !== el && n.nodeType === Node.TEXT_NODE && n.textContent!.trim() !== "");
      if (inSentence) continue;
      // The checkbox or radio inside a 44 px label is tapped through its label.
      const label = el.closest("label");
      const height = label && (el as HTMLInputElement).type?.match(/radio|checkbox/) ? label.getBoundingClientRect().height : box.height;
      if (height < 43.5) found.push(`${el.tagName.toLowerCase()} "${(el.textContent || el.getAttribute("name") || "").trim().slice(0, 40)}" ${Math.round(height)} px`);
    }
    return found;
  });
}
