// Every page at once: accessibility (axe-core, light and dark), tap targets, visible
// focus, and page weight; the operator's pages (helpers' `operatorPages`, which makes a
// release when none exists yet, so a release's page is among them whatever ran before),
// then the admin's webhooks page as an admin.
import { expect, test, type Page } from "@playwright/test";
import { request as httpRequest } from "node:http";
import { cookieHeader, demoAdmin, expectNoSeriousViolations, operatorPages, screenshot, signIn, smallTapTargets } from "./helpers";

/** The first round trip of a new connection carries about 14 KB. */
const PAGE_BUDGET = 14 * 1024;

/** GETs `path` as a browser with a session does, asking for gzip; the bytes as served. */
function servedBytes(baseURL: string, path: string, cookie: string): Promise<{ status: number; size: number; body: Buffer; encoding?: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, baseURL);
    const req = httpRequest(url, { headers: { cookie, "accept-encoding": "gzip", accept: "text/html" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, size: body.length, body, encoding: res.headers["content-encoding"] });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

test.beforeEach(async ({ page }) => {
  await signIn(page);
});

test("no page has a serious or critical accessibility violation, light or dark", async ({ page, browser }, info) => {
  test.skip(!info.project.use.javaScriptEnabled && info.project.use.javaScriptEnabled !== undefined, "axe runs as a script in the page; the phone project checks the same HTML");
  test.setTimeout(120_000);
  const paths = ["/login", ...(await operatorPages(page))];
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const path of paths) {
      if (path === "/login") {
        // The sign-in page as a signed-out person sees it.
        const signedOut = await browser.newContext({ ...test.info().project.use, colorScheme: scheme });
        const fresh = await signedOut.newPage();
        await fresh.goto(path);
        await expectNoSeriousViolations(fresh, `${path} (${scheme})`);
        await signedOut.close();
        continue;
      }
      await page.goto(path);
      await expectNoSeriousViolations(page, `${path} (${scheme})`);
    }
  }
});

test("every tap target is at least 44 px tall, and focus is visible", async ({ page }, info) => {
  for (const path of await operatorPages(page)) {
    await page.goto(path);
    const small = await smallTapTargets(page);
    expect(small, path).toEqual([]);
    // Every page at this project's size, for a person to look at.
    const name = "page" + (path === "/" ? "-board" : path.replace(/[^a-z0-9]+/gi, "-").replace(/-$/, ""));
    await screenshot(page, name, info.project.name);
  }
  // Keyboard focus shows a 3 px ring.
  await page.goto("/");
  await page.keyboard.press("Tab");
  const outline = await page.evaluate(() => {
    const el = document.activeElement as HTMLElement;
    const style = getComputedStyle(el);
    return { tag: el.tagName, width: parseFloat(style.outlineWidth), style: style.outlineStyle };
  });
  expect(outline.style).not.toBe("none");
  expect(outline.width).toBeGreaterThanOrEqual(2);
  await screenshot(page, "focus", info.project.name);
});

// Nothing hydrates: no page has an inline script (the CSP would refuse it and say so in
// the console), nor Leptos's `<!>` hydration markers. The live pages load one deferred
// script file of this server's, which counts in their first load.
test("every page with its stylesheet (and a live page's script) fits the first round trip, and no page has an inline script", async ({ page, baseURL }) => {
  const consoleErrors: string[] = [];
  page.on("console", (message) => {
    // The not-found page answers 404 on purpose, and the browser says so.
    const deliberate404 = page.url().endsWith("/items/no-such-item") && message.text().includes("status of 404");
    if (message.type() === "error" && !deliberate404) consoleErrors.push(`${page.url()}: ${message.text()}`);
  });
  const report: string[] = [];
  for (const path of await operatorPages(page)) {
    report.push(await expectLightWithoutInlineScript(page, baseURL!, path));
  }
  expect(consoleErrors).toEqual([]);
  console.log(`page weight, compressed as served:\n${report.join("\n")}`);
});

/** Checks that `path` with its stylesheet and script, gzipped as served to `page`'s
 * session, fit the first round trip, and that it has no inline script and no hydration
 * marker; its weight. */
async function expectLightWithoutInlineScript(page: Page, baseURL: string, path: string): Promise<string> {
  const cookie = await cookieHeader(page);
  await page.goto(path);
  await expect(page.locator("script:not([src]), link[rel=modulepreload], link[rel=preload][as=script]"), `${path} has no inline script`).toHaveCount(0);
  const scripts = await page.locator("script[src]").evaluateAll((all) => all.map((s) => s.getAttribute("src")!));
  const live = (await page.locator("main[data-live]").count()) > 0;
  expect(scripts, `${path}: only a live page loads the one script`).toEqual(live ? [expect.stringMatching(/^\/static\/live\.[0-9a-f]{16}\.js$/)] : []);
  const css = await page.locator("link[rel=stylesheet]").getAttribute("href");
  const stylesheet = await servedBytes(baseURL, css!, cookie);
  expect(stylesheet.status).toBe(200);
  expect(stylesheet.encoding).toBe("gzip");
  let script = 0;
  for (const src of scripts) {
    const served = await servedBytes(baseURL, src, cookie);
    expect(served.status).toBe(200);
    expect(served.encoding).toBe("gzip");
    script += served.size;
  }
  const html = await servedBytes(baseURL, path, cookie);
  expect(html.encoding, path).toBe("gzip");
  const total = html.size + stylesheet.size + script;
  expect(total, `${path}: HTML ${html.size} B + CSS ${stylesheet.size} B + JS ${script} B compressed`).toBeLessThanOrEqual(PAGE_BUDGET);
  const raw = await (await page.request.get(path)).text();
  expect(raw.match(/<script/g)?.length ?? 0, `${path}: only the script file`).toBe(scripts.length);
  expect(raw, `${path}: no hydration markers`).not.toContain("<!>");
  return `${path}: ${html.size} + ${stylesheet.size} + ${script} = ${total} bytes`;
}

// The admin's own page (the demo operator cannot open it), through the same checks.
test("the admin's pages (webhooks, who may do what) pass the same checks", async ({ browser, baseURL }, info) => {
  const context = await browser.newContext(info.project.use);
  const page = await context.newPage();
  await signIn(page, "/", demoAdmin());
  for (const [path, title] of [["/webhooks", "Webhooks"], ["/access", "Who may do what"]]) {
    await page.goto(path);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText(title);
    if (info.project.use.javaScriptEnabled !== false) {
      for (const scheme of ["light", "dark"] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        await expectNoSeriousViolations(page, `${path} (${scheme})`);
      }
      await page.emulateMedia({ colorScheme: "light" });
    }
    expect(await smallTapTargets(page)).toEqual([]);
    await screenshot(page, `page${path.replace("/", "-")}`, info.project.name);
    console.log(`page weight, compressed as served: ${await expectLightWithoutInlineScript(page, baseURL!, path)}`);
  }
  await context.close();
});
