// Starts what the browser tests run against: a real `sealtrail serve` on a
// fresh data directory (the debug binary scripts/test.sh builds, or
// SEALTRAIL_BIN), a second one with a 2-second console idle timeout for the
// expiry test, and the tampering proxy in front of the first. Creates the
// keys, registers an agent, ingests events (one session of many steps),
// exports a bundle with `sealtrail export`, and writes it all to state.json.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { startTamperProxy } from "./tamper-proxy.mjs";
import { STATE_FILE, type State } from "./state";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");

export const BIG_SESSION_STEPS = 600;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url: string, proc: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) throw new Error(`sealtrail serve exited (${proc.exitCode}):\n${log()}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sealtrail serve did not become healthy at ${url}:\n${log()}`);
}

async function startServer(bin: string, extra: string[]): Promise<{ url: string; owner: string; vkey: string; proc: ChildProcess; data: string }> {
  const data = mkdtempSync(path.join(tmpdir(), "sealtrail-console-test-"));
  const init = JSON.parse(execFileSync(bin, ["init", "--data", data, "--json"], { encoding: "utf8" })) as {
    owner_api_key: string;
    vkey: string;
  };
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let out = "";
  const proc = spawn(bin, ["serve", "--data", data, "--listen", `127.0.0.1:${port}`, "--rate-limit", "0", ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout?.on("data", (c: Buffer) => (out += c.toString()));
  proc.stderr?.on("data", (c: Buffer) => (out += c.toString()));
  await waitHealthy(url, proc, () => out);
  return { url, owner: init.owner_api_key, vkey: init.vkey, proc, data };
}

async function api(url: string, key: string, method: string, p: string, body?: unknown): Promise<unknown> {
  const r = await fetch(`${url}${p}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${p}: HTTP ${r.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

async function createKey(url: string, owner: string, body: Record<string, unknown>): Promise<string> {
  const r = (await api(url, owner, "POST", "/v1/keys", body)) as { key: string };
  return r.key;
}

/** A session of `n` steps: a root, model calls under it, tool calls under those. */
function bigSession(session: string, n: number): unknown[] {
  const evs: unknown[] = [{ id: `${session}-0`, agent: { id: "research-bot" }, session, kind: "agent_lifecycle", action: "run.start" }];
  let model = `${session}-0`;
  for (let i = 1; i < n; i++) {
    const id = `${session}-${i}`;
    if (i % 4 === 1) {
      evs.push({
        id,
        agent: { id: "research-bot" },
        session,
        parent: `${session}-0`,
        kind: "model_call",
        outcome: "success",
        model: { provider: "openai", name: "gpt-4.1", input_tokens: 100 + i, output_tokens: 20 + (i % 50) },
        attributes: { duration_ms: 200 + (i % 7) * 30 },
      });
      model = id;
    } else {
      evs.push({
        id,
        agent: { id: "research-bot" },
        session,
        parent: model,
        kind: "tool_call",
        tool: { name: i % 3 ? "web.search" : "doc.read" },
        outcome: i % 17 ? "success" : "failure",
        data_classes: i % 5 ? [] : ["pii"],
      });
    }
  }
  return evs;
}

function mixedEvents(): unknown[] {
  const evs: unknown[] = [];
  for (let i = 0; i < 120; i++) {
    const billing = i % 2 === 0;
    evs.push({
      id: `mixed-${i}`,
      agent: { id: billing ? "billing-bot" : "support-bot" },
      session: `ticket-${i % 6}`,
      kind: i % 3 === 0 ? "decision" : "tool_call",
      tool: i % 3 === 0 ? undefined : { name: billing ? (i % 10 === 2 ? "shell.exec" : "crm.lookup") : "kb.search" },
      outcome: i % 7 === 0 ? "denied" : "success",
      data_classes: i % 4 === 0 ? ["pii"] : undefined,
      input: { ticket: i, note: `customer request ${i}` },
    });
  }
  return evs;
}

async function ingest(url: string, key: string, events: unknown[]): Promise<void> {
  for (let i = 0; i < events.length; i += 500) {
    await api(url, key, "POST", "/v1/events?wait=checkpoint", events.slice(i, i + 500));
  }
}

export default async function globalSetup(): Promise<void> {
  const bin = process.env.SEALTRAIL_BIN ?? path.join(repo, "target/debug/sealtrail");
  if (!existsSync(bin)) throw new Error(`no sealtrail binary at ${bin}: run cargo build -p sealtrail-cli (or set SEALTRAIL_BIN)`);
  const main = await startServer(bin, []);
  const short = await startServer(bin, ["--console-idle-timeout", "2s"]);
  const pids = [main.proc.pid, short.proc.pid].filter((p): p is number => p !== undefined);
  try {
    const { url, owner } = main;
    await api(url, owner, "POST", "/v1/agents", {
      id: "billing-bot",
      name: "Billing bot",
      owner: "team-billing",
      purpose: "refunds",
      risk_tier: "high",
      status: "active",
      scope: { tools: ["crm.*", "refund.issue"] },
    });
    const viewer = await createKey(url, owner, { name: "vera viewer", role: "viewer" });
    const auditor = await createKey(url, owner, { name: "kpmg no bodies", role: "auditor", expires_in: 30 * 86400, bodies: false });
    const agent = await createKey(url, owner, { name: "billing agent key", role: "agent", agent: "billing-bot" });
    await ingest(url, owner, mixedEvents());
    await ingest(url, owner, bigSession("run-big", BIG_SESSION_STEPS));
    await ingest(short.url, short.owner, mixedEvents().slice(0, 10));

    // The bundle the drop-zone test verifies, made by the CLI.
    const bundle = path.join(main.data, "ticket-1.zip");
    let lastErr = "";
    for (let i = 0; i < 30 && !existsSync(bundle); i++) {
      try {
        execFileSync(bin, ["export", "--server", url, "--api-key", owner, "--session", "ticket-1", "-o", bundle], { stdio: "pipe" });
      } catch (e) {
        lastErr = String((e as { stderr?: Buffer }).stderr ?? e);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    if (!existsSync(bundle)) throw new Error(`sealtrail export failed: ${lastErr}`);

    const proxy = await startTamperProxy(url);
    const pa = proxy.address();
    const proxyUrl = `http://127.0.0.1:${typeof pa === "object" && pa ? pa.port : 0}`;
    const state: State = {
      url,
      shortUrl: short.url,
      proxyUrl,
      vkey: main.vkey,
      keys: { owner, viewer, auditor, agent, shortOwner: short.owner },
      bundle,
      bigSession: "run-big",
      bigSessionSteps: BIG_SESSION_STEPS,
      pids,
      dataDirs: [main.data, short.data],
    };
    mkdirSync(path.dirname(STATE_FILE), { recursive: true });
    writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
    // The proxy lives in this process; Playwright keeps it alive until teardown.
    (globalThis as { __tamperProxy?: unknown }).__tamperProxy = proxy;
  } catch (e) {
    for (const pid of pids) process.kill(pid);
    throw e;
  }
}
