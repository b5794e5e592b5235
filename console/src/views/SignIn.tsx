import { useState, type FormEvent } from "react";
import { useSession } from "../session";
import { ApiError } from "../lib/api";

function explain(e: unknown): string {
  if (!(e instanceof ApiError)) return String(e);
  if (e.code === "agent_key_refused")
    return "Agent keys cannot sign in to the console. Use a person's key (owner, admin, member, viewer or auditor).";
  if (e.status === 401) return `The server did not accept this key: ${e.message}`;
  return e.message;
}

export function SignIn({ reason }: { reason?: string }) {
  const { signIn } = useSession();
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(key.trim());
      setKey("");
    } catch (e) {
      setError(explain(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" className="signin">
      <h1>Sign in to sealtrail</h1>
      {reason ? (
        <p className="notice" role="status" data-testid="signed-out-reason">
          {reason}
        </p>
      ) : null}
      <form onSubmit={submit} className="card">
        <label className="field">
          <span>API key</span>
          <input
            type="password"
            autoComplete="off"
            spellCheck={false}
            name="key"
            value={key}
            onChange={(e) => setKey(e.target.value)}
            placeholder="stk_…"
            required
            autoFocus
          />
          <small className="muted">
            Your key is exchanged for a short-lived session cookie; the console does not keep it.
          </small>
        </label>
        <button type="submit" disabled={busy || !key.trim()}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : null}
      </form>
    </main>
  );
}
