import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { state } from "./state";
import path from "node:path";
import { checkView, expectAccessible, SHOTS, signIn } from "./helpers";

const s = state();

test("an agent key is refused at sign-in, with a reason", async ({ page }) => {
  await page.goto(`${s.url}/`);
  await expectAccessible(page, "sign-in");
  await page.getByLabel("API key").fill(s.keys.agent);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("Agent keys cannot sign in");
  await page.getByLabel("API key").fill("stk_0000000000000000_nope");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("did not accept this key");
  await checkView(page, "sign-in");
});

test("overview: counts, checkpoint, charts", async ({ page }) => {
  await signIn(page, s.url, s.keys.owner);
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  await expect(page.getByTestId("total")).not.toHaveText("…");
  await expect(page.getByRole("heading", { name: "Latest signed checkpoint" })).toBeVisible();
  await expect(page.getByRole("link", { name: "billing-bot" }).first()).toBeVisible();
  await checkView(page, "overview");
});

test("search by agent: the URL reproduces the view; virtual scrolling loads more pages", async ({ page }) => {
  await signIn(page, s.url, s.keys.owner);
  await page.getByRole("link", { name: "Search", exact: true }).click();
  await page.getByLabel("Agent", { exact: true }).fill("billing-bot");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await expect(page).toHaveURL(/\/search\?agent=billing-bot/);
  const rows = page.getByTestId("results").locator("tbody tr[data-index]");
  await expect(rows.first()).toBeVisible();
  const agents = await rows.locator("td:nth-child(3)").allTextContents();
  expect(agents.length).toBeGreaterThan(0);
  expect(new Set(agents)).toEqual(new Set(["billing-bot"]));
  await checkView(page, "search");

  // A fresh tab on the same URL shows the same filter.
  await page.goto(`${s.url}/search?agent=billing-bot&kind=decision`);
  await expect(page.getByLabel("Kind")).toHaveValue("decision");
  await expect(page.getByTestId("result-count")).toContainText("loaded");

  // The big session has more rows than one page: scrolling fetches the next.
  await page.goto(`${s.url}/search?session=${s.bigSession}`);
  await expect(page.getByTestId("result-count")).toContainText("200 loaded");
  const scroller = page.getByRole("region", { name: "Search results" });
  for (let i = 0; i < 10; i++) {
    await scroller.evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await page.waitForTimeout(200);
  }
  await expect(page.getByTestId("result-count")).toContainText(`${s.bigSessionSteps} loaded`);
  // Only a window of rows is in the DOM.
  expect(await page.getByTestId("results").locator("tbody tr[data-index]").count()).toBeLessThan(100);
});

test("saved searches live in this browser", async ({ page }) => {
  await signIn(page, s.url, s.keys.owner);
  await page.goto(`${s.url}/search?outcome=denied`);
  await page.getByText(/Saved searches/).click();
  await page.getByLabel("Name", { exact: true }).fill("denied calls");
  await page.getByRole("button", { name: "Save this search" }).click();
  await page.goto(`${s.url}/search`);
  await page.getByText(/Saved searches/).click();
  await page.getByRole("link", { name: "denied calls" }).click();
  await expect(page).toHaveURL(/outcome=denied/);
});

test("session view: the tree of a run with its timeline", async ({ page }) => {
  await signIn(page, s.url, s.keys.owner);
  await page.goto(`${s.url}/sessions/${s.bigSession}`);
  await expect(page.getByTestId("session-summary")).toContainText(`${s.bigSessionSteps} steps`);
  const tree = page.getByTestId("session-tree");
  await expect(tree.getByRole("treeitem").first()).toHaveAttribute("aria-level", "1");
  await expect(tree.locator('[aria-level="3"]').first()).toBeVisible();
  await checkView(page, "session");
  // Collapsing the root hides every other step.
  await tree.getByRole("button", { name: /Collapse step/ }).first().click();
  await expect(tree.getByRole("treeitem")).toHaveCount(1);
});

test("entry detail: verify in the browser against a pinned key (green)", async ({ page }) => {
  await signIn(page, s.url, s.keys.owner);
  await page.goto(`${s.url}/search?agent=billing-bot`);
  await page.getByTestId("results").locator("tbody tr[data-index] td a").first().click();
  await expect(page.getByRole("heading", { name: /Entry #\d+/ })).toBeVisible();
  await expect(page.getByTestId("body")).toContainText("customer request");
  await page.getByTestId("verify").click();
  // No key pinned yet: the prompt shows the key id of what is pinned.
  await page.getByRole("button", { name: "Fill in the server's current key" }).click();
  await expect(page.getByTestId("pin-key-id")).not.toHaveText(/^$|not a verifier key/);
  await page.getByRole("button", { name: "Pin this key" }).click();
  await expect(page.getByTestId("pinned-key-id")).toBeVisible();
  await page.getByTestId("verify").click();
  const verdict = page.getByTestId("verdict");
  await expect(verdict).toHaveAttribute("data-ok", "true");
  await expect(verdict).toContainText("verified");
  await checkView(page, "entry");
});

test("a byte flipped in transit makes verification fail, naming the check", async ({ page }) => {
  await signIn(page, s.proxyUrl, s.keys.owner);
  await page.goto(`${s.proxyUrl}/search?agent=support-bot`);
  await page.getByTestId("results").locator("tbody tr[data-index] td a").first().click();
  await page.getByTestId("verify").click();
  await page.getByLabel("Verifier key (vkey)").fill(s.vkey);
  await page.getByRole("button", { name: "Pin this key" }).click();
  await page.getByTestId("verify").click();
  const verdict = page.getByTestId("verdict");
  await expect(verdict).toHaveAttribute("data-ok", "false");
  const failed = page.locator('[data-testid="check"][data-ok="false"]');
  await expect(failed.first()).toBeVisible();
  const names = await failed.locator("strong").allTextContents();
  expect(names.join(" ")).toMatch(/commitment|leaf|inclusion/);
  await page.screenshot({ path: path.join(SHOTS, "entry-tampered-light.png") });
});

test("verify a bundle dropped on the page (made with sealtrail export)", async ({ page }) => {
  await signIn(page, s.url, s.keys.owner);
  await page.getByRole("link", { name: "Verify a bundle" }).click();
  await page.getByLabel("Trusted verifier keys, one per line").fill(s.vkey);
  // Drop the file on the drop zone, as a person would.
  const bytes = readFileSync(s.bundle).toString("base64");
  const dt = await page.evaluateHandle((b64) => {
    const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const d = new DataTransfer();
    d.items.add(new File([bin], "ticket-1.zip", { type: "application/zip" }));
    return d;
  }, bytes);
  await page.getByTestId("dropzone").dispatchEvent("drop", { dataTransfer: dt });
  await expect(page.getByTestId("verdict")).toHaveAttribute("data-ok", "true");
  await checkView(page, "verify-bundle");
  // A damaged bundle fails.
  const damaged = Buffer.from(readFileSync(s.bundle));
  damaged[Math.floor(damaged.length / 2)] ^= 0x01;
  await page.getByTestId("bundle-input").setInputFiles({ name: "damaged.zip", mimeType: "application/zip", buffer: damaged });
  await expect(page.getByTestId("verdict").or(page.getByRole("alert")).first()).toBeVisible();
  await expect(page.locator('[data-testid="verdict"][data-ok="true"]')).toHaveCount(0);
});

test("agents, keys, evidence and log views (owner)", async ({ page }) => {
  await signIn(page, s.url, s.keys.owner);
  await page.getByRole("link", { name: "Agents" }).click();
  await expect(page.getByRole("link", { name: "billing-bot" })).toBeVisible();
  await checkView(page, "agents");
  // Register and suspend an agent.
  await page.getByRole("button", { name: "Register an agent" }).click();
  await page.getByLabel("Agent id").fill("new-bot");
  await page.getByRole("button", { name: "Register", exact: true }).click();
  const row = page.getByRole("row", { name: /new-bot/ });
  await expect(row).toContainText("active");
  await row.getByRole("button", { name: "Suspend" }).click();
  await expect(row).toContainText("suspended");
  await row.getByRole("button", { name: "Edit new-bot" }).click();
  await page.getByLabel("Name").fill("New bot");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(row).toContainText("New bot");

  await page.getByRole("link", { name: "Keys & access" }).click();
  await expect(page.getByRole("cell", { name: /^vera viewer/ })).toBeVisible();
  await checkView(page, "keys");
  await page.getByRole("button", { name: "Create a key" }).click();
  await page.getByLabel("Name").fill("temp viewer");
  await page.getByRole("button", { name: "Create", exact: true }).click();
  await expect(page.getByTestId("new-secret")).toHaveText(/^stk_/);
  const dl = page.waitForEvent("download");
  await page.getByRole("button", { name: "Download access review (CSV)" }).click();
  expect((await dl).suggestedFilename()).toMatch(/^access-review-.*\.csv$/);

  await page.getByRole("link", { name: "Evidence" }).click();
  await page.getByLabel("Session").fill("ticket-2");
  await page.getByRole("button", { name: "Plan the export" }).click();
  // The plan names the entry count and shows the completeness statement
  // (or, on a server without POST /v1/exports/plan, says it cannot).
  await expect(page.getByTestId("plan")).toBeVisible();
  await expect(page.getByTestId("completeness").or(page.getByTestId("no-plan"))).toBeVisible();
  await checkView(page, "evidence");
  const zip = page.waitForEvent("download");
  await page.getByRole("button", { name: "Build and download" }).click();
  expect((await zip).suggestedFilename()).toMatch(/\.zip$/);

  await page.getByRole("link", { name: "Log" }).click();
  await expect(page.getByTestId("vkey").first()).toContainText("+");
  await checkView(page, "log");
});

test("a viewer sees no admin page", async ({ page }) => {
  await signIn(page, s.url, s.keys.viewer);
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "Search" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Keys & access" })).toHaveCount(0);
  await expect(nav.getByRole("link", { name: "Evidence" })).toHaveCount(0);
  await page.goto(`${s.url}/keys`);
  await expect(page.getByTestId("not-allowed")).toBeVisible();
  await page.goto(`${s.url}/agents`);
  await expect(page.getByRole("link", { name: "billing-bot" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Register an agent" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Suspend" })).toHaveCount(0);
});

test("an auditor without bodies never receives a body", async ({ page }) => {
  await signIn(page, s.url, s.keys.auditor);
  await page.goto(`${s.url}/search?agent=billing-bot`);
  await page.getByTestId("results").locator("tbody tr[data-index] td a").first().click();
  await expect(page.getByTestId("no-bodies")).toBeVisible();
  await expect(page.getByTestId("body")).toHaveCount(0);
  // And the server, asked directly with the same session, sends none.
  const index = Number(page.url().split("/").pop());
  const entry = await page.evaluate(async (i) => (await fetch(`/v1/entries/${i}`)).json(), index);
  expect(entry.body).toBeNull();
  await expect(page.getByText("customer request")).toHaveCount(0);
});

test("a state-changing call without the CSRF header is refused", async ({ page }) => {
  await signIn(page, s.url, s.keys.owner);
  const r = await page.evaluate(async () => {
    const res = await fetch("/v1/keys", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: "csrf-probe", role: "viewer" }),
    });
    return { status: res.status, body: await res.json() };
  });
  expect(r.status).toBe(403);
  expect(r.body.error.code).toBe("csrf_failed");
});

test("sign-out revokes the session on the server", async ({ page }) => {
  await signIn(page, s.url, s.keys.owner);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByTestId("signed-out-reason")).toContainText("signed out");
  const status = await page.evaluate(async () => (await fetch("/v1/whoami")).status);
  expect(status).toBe(401);
});

test("an expired session says so and offers sign-in", async ({ page }) => {
  await signIn(page, s.shortUrl, s.keys.shortOwner);
  await page.waitForTimeout(3_000);
  await page.getByRole("link", { name: "Search", exact: true }).click();
  await expect(page.getByTestId("signed-out-reason")).toContainText("expired");
  await expect(page.getByLabel("API key")).toBeVisible();
});

test("readable on a 390-px phone", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page, s.url, s.keys.owner);
  await expect(page.getByRole("navigation", { name: "Main" })).toBeHidden();
  await page.getByRole("button", { name: "Menu" }).click();
  await page.getByRole("link", { name: "Search", exact: true }).click();
  await expect(page.getByTestId("results")).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await checkView(page, "search-phone");
});

test("keyboard: skip link, then the navigation by Tab", async ({ page }) => {
  await signIn(page, s.url, s.keys.owner);
  await page.keyboard.press("Tab");
  await expect(page.getByRole("link", { name: "Skip to content" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.locator("#main")).toBeFocused();
});
