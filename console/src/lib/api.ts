// The one place the console talks to the server. Every call is same-origin
// and authenticated by the HttpOnly session cookie (the console never holds
// the API key after sign-in); every non-GET call carries the session's CSRF
// token, which the server checks against the session (docs/api.md).

export interface ApiErrorBody {
  code: string;
  message: string;
  field?: string;
}

/** An error answer from the server, or a network failure (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  constructor(status: number, body: ApiErrorBody) {
    super(body.message);
    this.status = status;
    this.code = body.code;
    this.field = body.field;
  }
  /** The session is gone (expired, revoked, or never existed). */
  get sessionEnded(): boolean {
    return this.status === 401;
  }
}

export interface Whoami {
  id: string;
  name: string;
  role: string;
  scopes: string[];
  project: string;
  agent?: string;
  expires?: number;
}

export interface ConsoleSession {
  csrf: string;
  expires_at: string;
  idle_timeout_s: number;
  whoami: Whoami;
}

let csrfToken: string | null = null;
let project: string | null = null;
let onSessionEnded: ((e: ApiError) => void) | null = null;

export function setCsrf(token: string | null): void {
  csrfToken = token;
}
export function setProject(p: string | null): void {
  project = p;
}
export function currentProject(): string | null {
  return project;
}
/** Called once by the session provider: any 401 ends the session in the UI. */
export function onSessionEnd(f: (e: ApiError) => void): void {
  onSessionEnded = f;
}

async function errorOf(res: Response): Promise<ApiError> {
  let body: ApiErrorBody = {
    code: `http_${res.status}`,
    message: `the server answered HTTP ${res.status} ${res.statusText}`,
  };
  try {
    const j = (await res.json()) as { error?: ApiErrorBody };
    if (j && j.error && typeof j.error.message === "string") body = j.error;
  } catch {
    // Not JSON (a proxy's page, say): keep the status line.
  }
  return new ApiError(res.status, body);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  signal?: AbortSignal;
  /** Do not treat a 401 as the end of the session (sign-in itself). */
  noSessionEnd?: boolean;
  accept?: string;
}

/** A raw fetch with the console's headers; throws ApiError on non-2xx. */
export async function request(path: string, opts: RequestOptions = {}): Promise<Response> {
  const method = opts.method ?? "GET";
  const headers: Record<string, string> = { Accept: opts.accept ?? "application/json" };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  if (project) headers["Sealtrail-Project"] = project;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      credentials: "same-origin",
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError(0, {
      code: "network",
      message: "the server could not be reached; check that sealtrail serve is running",
    });
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (err.sessionEnded && !opts.noSessionEnd && onSessionEnded) onSessionEnded(err);
    throw err;
  }
  return res;
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await request(path, { signal });
  return (await res.json()) as T;
}

export async function getText(path: string, signal?: AbortSignal): Promise<string> {
  const res = await request(path, { signal, accept: "text/plain" });
  return res.text();
}

export async function sendJson<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await request(path, { method, body });
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** Query string from a record, leaving out empty values. */
export function qs(params: Record<string, string | number | boolean | null | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === "" || v === false) continue;
    u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : "";
}
