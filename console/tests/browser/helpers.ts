import { expect, type Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
/**
 * Where screenshots go: target/console-screenshots, so a test run leaves the
 * tree clean; `SEALTRAIL_SCREENSHOTS=docs/console` (relative to the
 * repository) refreshes the committed ones the README shows.
 */
const REPO = path.resolve(here, "../../..");
export const SHOTS = path.resolve(
  REPO,
  process.env.SEALTRAIL_SCREENSHOTS ?? "target/console-screenshots",
);

export async function signIn(page: Page, base: string, key: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
}

/** axe-core on the page as it is: no serious or critical violation. */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  const r = await new AxeBuilder({ page }).analyze();
  const bad = r.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const summary = bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  expect(summary, `axe on ${what}`).toEqual([]);
}

/**
 * The view in both themes: axe in each (contrast differs), and a screenshot
 * of each into docs/console/<name>-<theme>.png.
 */
export async function checkView(page: Page, name: string): Promise<void> {
  for (const theme of ["light", "dark"] as const) {
    // Through the theme toggle, as a person would switch.
    const current = await page.evaluate(() => document.documentElement.dataset.theme);
    if (current !== theme) await page.getByRole("button", { name: `Switch to ${theme} theme` }).click();
    await expect(page.locator("html")).toHaveAttribute("data-theme", theme);
    await page.waitForTimeout(150);
    await expectAccessible(page, `${name} (${theme})`);
    await page.screenshot({ path: path.join(SHOTS, `${name}-${theme}.png`) });
  }
  await page.getByRole("button", { name: "Switch to light theme" }).click();
}
