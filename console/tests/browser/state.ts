import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const STATE_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", ".playwright", "state.json");

export interface State {
  url: string;
  shortUrl: string;
  proxyUrl: string;
  vkey: string;
  keys: { owner: string; viewer: string; auditor: string; agent: string; shortOwner: string };
  bundle: string;
  bigSession: string;
  bigSessionSteps: number;
  pids: number[];
  dataDirs: string[];
}

export function state(): State {
  return JSON.parse(readFileSync(STATE_FILE, "utf8")) as State;
}
