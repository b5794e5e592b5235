// Shapes of the server's answers (docs/api.md, docs/formats.md §4).

export interface StreamPos {
  n: number;
  prev?: number;
}

export interface Header {
  v: number;
  index: number;
  time: number;
  prev?: string;
  agent: string;
  instance?: string;
  session?: string;
  parent?: string;
  kind: string;
  action?: string;
  tool?: string;
  outcome?: string;
  event_id?: string;
  seq?: number;
  seq_gap?: { expected: number; got: number };
  data_classes?: string[];
  subjects?: string[];
  scope?: string;
  redacted?: string;
  streams: { agent: StreamPos; session?: StreamPos };
  body: string;
}

/** One event as it comes from GET /v1/events. */
export interface EventRow {
  index: number;
  time: number;
  leaf_hash: string;
  header: Header;
  event?: EventBody | null;
  salt?: string | null;
}

export interface EventBody {
  id?: string;
  agent: { id: string; name?: string; version?: string; instance?: string };
  kind: string;
  model?: { provider?: string; name?: string; version?: string; input_tokens?: number; output_tokens?: number; cost?: number };
  tool?: { name: string; call_id?: string; arguments?: unknown; result?: unknown };
  occurred_at?: string;
  attributes?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface EventsPage {
  events: EventRow[];
  next_cursor: number | null;
}

export interface Entry {
  index: number;
  leaf_hash: string;
  header: Header;
  body: EventBody | null;
  salt: string | null;
}

export interface StatsRow {
  count: number;
  [k: string]: string | number | null;
}
export interface Stats {
  group_by: string[];
  rows: StatsRow[];
  total: number;
}

export interface AgentRecord {
  id: string;
  name?: string;
  owner?: string;
  purpose?: string;
  model?: string;
  risk_tier: string;
  annex_iii?: string;
  status: string;
  scope: { tools?: string[]; actions?: string[]; resources?: string[]; data_classes?: string[] };
  created: number;
  updated: number;
  version: number;
}

export interface KeyInfo {
  id: string;
  name: string;
  role: string;
  scopes: string[];
  project: string;
  agent?: string;
  created: number;
  created_by: string;
  expires?: number;
  revoked?: number;
  revoked_by?: string;
  last_used?: number;
  rotated_from?: string;
  rotated_to?: string;
}

export const KINDS = [
  "model_call",
  "tool_call",
  "decision",
  "data_access",
  "agent_lifecycle",
  "human_review",
  "guardrail",
  "config_change",
  "access_change",
  "budget",
  "alert",
  "custom",
] as const;

export const OUTCOMES = ["success", "failure", "denied", "pending"] as const;
