// Console timings (issue 17), measured in Debian's chromium with the
// Performance API, against a real `sealtrail serve`:
//   - search: the first page of results on a large log, from the request for
//     /v1/events to the rows on screen (server + transfer + render), and
//     from navigation start (includes loading the app);
//   - session: a 5,000-step session, from the data in hand to the tree on
//     screen (render), and from the first fetch (fetch + render);
//   - the gzipped size of console/dist (the wasm verifier included).
//
//   node bench/console/run.mjs            (ENTRIES=1000000 REPEAT=7 SEALTRAIL_BIN=target/release/sealtrail)
import { spawn, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(repo, "console/package.json"));
const { chromium } = require("@playwright/test");

const ENTRIES = Number(process.env.ENTRIES ?? 1_000_000);
const REPEAT = Number(process.env.REPEAT ?? 7);
const STEPS = 5000;
const PORT = Number(process.env.PORT ?? 17790);
const bin = process.env.SEALTRAIL_BIN ?? path.join(repo, "target/release/sealtrail");
const url = `http://127.0.0.1:${PORT}`;

function gzippedDist() {
  const dist = path.join(repo, "console/dist");
  let raw = 0;
  let gz = 0;
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = path.join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else {
        const b = readFileSync(p);
        raw += b.length;
        gz += gzipSync(b, { level: 9 }).length;
      }
    }
  };
  walk(dist);
  return { raw, gz };
}

async function post(key, p, body, type = "application/json") {
  const r = await fetch(`${url}${p}`, { method: "POST", headers: { Authorization: `Bearer ${key}`, "Content-Type": type }, body });
  if (!r.ok) throw new Error(`${p}: HTTP ${r.status} ${await r.text()}`);
  return r;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const data = mkdtempSync(path.join(tmpdir(), "sealtrail-console-bench-"));
const { owner_api_key: key } = JSON.parse(execFileSync(bin, ["init", "--data", data, "--json"], { encoding: "utf8" }));
const server = spawn(bin, ["serve", "--data", data, "--listen", `127.0.0.1:${PORT}`, "--rate-limit", "0", "--no-audit-reads"], { stdio: "ignore" });
try {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  // The log: ENTRIES events of 20 agents, in NDJSON batches of 10,000.
  const t0 = Date.now();
  const BATCH = 10_000;
  const batches = [];
  for (let b = 0; b * BATCH < ENTRIES; b++) batches.push(b);
  const work = async () => {
    while (batches.length) {
      const b = batches.shift();
      let s = "";
      for (let i = b * BATCH; i < Math.min(ENTRIES, (b + 1) * BATCH); i++) {
        s += JSON.stringify({ agent: { id: `agent-${i % 20}` }, session: `s-${Math.floor(i / 50)}`, kind: i % 3 ? "tool_call" : "model_call", tool: i % 3 ? { name: "crm.lookup" } : undefined, outcome: "success" }) + "\n";
      }
      await post(key, "/v1/events", s, "application/x-ndjson");
    }
  };
  await Promise.all([work(), work()]);
  const steps = [{ id: "big-0", agent: { id: "planner" }, session: "big", kind: "agent_lifecycle" }];
  for (let i = 1; i < STEPS; i++) steps.push({ id: `big-${i}`, agent: { id: "planner" }, session: "big", parent: i % 5 === 1 ? "big-0" : `big-${i - ((i - 1) % 5)}`, kind: i % 5 === 1 ? "model_call" : "tool_call", outcome: "success" });
  await post(key, "/v1/events?wait=checkpoint", JSON.stringify(steps));
  const ingestS = (Date.now() - t0) / 1000;

  const browser = await chromium.launch({ executablePath: process.env.SEALTRAIL_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${url}/`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();

  const measureSearch = async (q) => {
    const out = [];
    for (let r = 0; r < REPEAT; r++) {
      await page.goto(`${url}/search?${q}`);
      await page.waitForFunction(() => performance.getEntriesByName("sealtrail:search-first-rows").length > 0, null, { timeout: 60_000 });
      out.push(
        await page.evaluate(() => {
          const mark = performance.getEntriesByName("sealtrail:search-first-rows")[0].startTime;
          const req = performance.getEntriesByType("resource").find((e) => e.name.includes("/v1/events"));
          return { fromRequest: mark - req.startTime, server: req.responseEnd - req.startTime, fromNavigation: mark };
        }),
      );
    }
    return {
      fromRequest: median(out.map((o) => o.fromRequest)),
      server: median(out.map((o) => o.server)),
      fromNavigation: median(out.map((o) => o.fromNavigation)),
    };
  };
  const searchAll = await measureSearch("");
  const searchAgent = await measureSearch("agent=agent-7");

  const sess = [];
  for (let r = 0; r < REPEAT; r++) {
    await page.goto(`${url}/sessions/big`);
    await page.waitForFunction(() => performance.getEntriesByName("sealtrail:session-rendered").length > 0, null, { timeout: 60_000 });
    sess.push(
      await page.evaluate(() => {
        const t = (n) => performance.getEntriesByName(n)[0].startTime;
        return { render: t("sealtrail:session-rendered") - t("sealtrail:session-data"), total: t("sealtrail:session-rendered") - t("sealtrail:session-fetch-start") };
      }),
    );
  }
  await browser.close();
  const size = gzippedDist();
  const result = {
    entries: ENTRIES + STEPS,
    ingest_s: ingestS,
    repeat: REPEAT,
    search_first_page_ms: { all: searchAll, agent: searchAgent },
    session_5000_ms: { render: median(sess.map((s) => s.render)), fetch_and_render: median(sess.map((s) => s.total)), runs: sess },
    assets: { bytes: size.raw, gzip_bytes: size.gz },
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  server.kill();
  await new Promise((r) => setTimeout(r, 500));
  rmSync(data, { recursive: true, force: true });
}
