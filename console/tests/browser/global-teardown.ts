import { rmSync } from "node:fs";
import { state } from "./state";

export default async function globalTeardown(): Promise<void> {
  const s = state();
  for (const pid of s.pids) {
    try {
      process.kill(pid);
    } catch {
      // already gone
    }
  }
  const proxy = (globalThis as { __tamperProxy?: { close(): void } }).__tamperProxy;
  proxy?.close();
  await new Promise((r) => setTimeout(r, 300));
  for (const d of s.dataDirs) rmSync(d, { recursive: true, force: true });
}
