import type { ReactNode } from "react";
import { ApiError } from "../lib/api";

export function ErrorBox({ error, what }: { error: unknown; what: string }) {
  if (!error) return null;
  let msg = String(error);
  let hint: string | null = null;
  if (error instanceof ApiError) {
    msg = error.message;
    if (error.status === 403) hint = "Your key's role or scopes do not allow this; ask an admin.";
    if (error.field) hint = `Check the field “${error.field}”.`;
  } else if (error instanceof Error) {
    msg = error.message;
  }
  return (
    <div className="error" role="alert">
      <strong>{what} failed:</strong> {msg}
      {hint ? <div className="muted">{hint}</div> : null}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" aria-live="polite" aria-busy="true">
      Loading {what}…
    </p>
  );
}

export function PageTitle({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="page-title">
      <h1>{title}</h1>
      {children ? <p className="lead">{children}</p> : null}
    </div>
  );
}

export function Field({ label, children, hint }: { label: string; children: ReactNode; hint?: string }) {
  return (
    <label className="field">
      <span>{label}</span>
      {children}
      {hint ? <small className="muted">{hint}</small> : null}
    </label>
  );
}

export function Copy({ text, label }: { text: string; label: string }) {
  return (
    <button
      type="button"
      className="ghost small"
      aria-label={label}
      onClick={() => {
        void navigator.clipboard?.writeText(text);
      }}
    >
      Copy
    </button>
  );
}
