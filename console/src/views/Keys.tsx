import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Papa from "papaparse";
import { getJson, sendJson } from "../lib/api";
import type { KeyInfo } from "../lib/types";
import { fmtMicros } from "../lib/format";
import { saveFile } from "../lib/download";
import { Copy, ErrorBox, Empty, Field, Loading, PageTitle } from "../components/common";
import { useSession } from "../session";
import { can } from "../lib/roles";

const ROLES = ["admin", "member", "viewer", "auditor", "agent"];

function state(k: KeyInfo): string {
  const now = Date.now() * 1000;
  if (k.revoked) return "revoked";
  if (k.expires && k.expires <= now) return "expired";
  return "active";
}

/** The periodic access review: one row per key, as CSV. */
export function accessReviewCsv(keys: KeyInfo[]): string {
  return Papa.unparse(
    {
      fields: ["id", "name", "role", "state", "scopes", "project", "agent", "created", "created_by", "expires", "last_used", "revoked", "revoked_by", "rotated_to"],
      data: keys.map((k) => [
        k.id,
        k.name,
        k.role,
        state(k),
        k.scopes.join(" "),
        k.project,
        k.agent ?? "",
        fmtMicros(k.created),
        k.created_by,
        k.expires ? fmtMicros(k.expires) : "",
        k.last_used ? fmtMicros(k.last_used) : "",
        k.revoked ? fmtMicros(k.revoked) : "",
        k.revoked_by ?? "",
        k.rotated_to ?? "",
      ]),
    },
    { newline: "\n" },
  );
}

function Secret({ secret, onClose }: { secret: string; onClose: () => void }) {
  return (
    <div className="card notice" role="alert">
      <p>
        <strong>The new key, shown once.</strong> Copy it now; the server keeps only its hash.
      </p>
      <p>
        <code className="wrap" data-testid="new-secret">
          {secret}
        </code>{" "}
        <Copy text={secret} label="Copy the new key" />
      </p>
      <button type="button" className="ghost" onClick={onClose}>
        I have stored it
      </button>
    </div>
  );
}

function CreateForm({ onCreated }: { onCreated: (secret: string) => void }) {
  const [f, setF] = useState({ name: "", role: "viewer", agent: "", expires_days: "", bodies: true });
  const m = useMutation({
    mutationFn: () => {
      const body: Record<string, unknown> = { name: f.name.trim(), role: f.role };
      if (f.role === "agent") body.agent = f.agent.trim();
      if (f.expires_days.trim()) body.expires_in = Math.round(Number(f.expires_days) * 86400);
      if (f.role === "auditor") body.bodies = f.bodies;
      return sendJson<{ key: string; info: KeyInfo }>("POST", "/v1/keys", body);
    },
    onSuccess: (r) => onCreated(r.key),
  });
  return (
    <form
      className="card form-grid"
      aria-label="Create a key"
      onSubmit={(e: FormEvent) => {
        e.preventDefault();
        m.mutate();
      }}
    >
      <h2>Create a key</h2>
      <Field label="Name">
        <input required value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} />
      </Field>
      <Field label="Role">
        <select value={f.role} onChange={(e) => setF({ ...f, role: e.target.value })}>
          {ROLES.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
      </Field>
      {f.role === "agent" ? (
        <Field label="Agent id">
          <input required value={f.agent} onChange={(e) => setF({ ...f, agent: e.target.value })} />
        </Field>
      ) : null}
      <Field label="Expires in (days)" hint={f.role === "auditor" ? "required for auditors, at most 366" : "empty: never"}>
        <input inputMode="numeric" value={f.expires_days} onChange={(e) => setF({ ...f, expires_days: e.target.value })} />
      </Field>
      {f.role === "auditor" ? (
        <label className="check">
          <input type="checkbox" checked={f.bodies} onChange={(e) => setF({ ...f, bodies: e.target.checked })} /> may read bodies
        </label>
      ) : null}
      <div className="actions">
        <button type="submit" disabled={m.isPending}>
          Create
        </button>
      </div>
      <ErrorBox error={m.error} what="Creating the key" />
    </form>
  );
}

export function Keys() {
  const { project, whoami } = useSession();
  const admin = can(whoami?.scopes ?? [], "keys:write");
  const qc = useQueryClient();
  const keys = useQuery({ queryKey: ["keys", project], queryFn: ({ signal }) => getJson<{ keys: KeyInfo[] }>("/v1/keys", signal) });
  const [secret, setSecret] = useState<string | null>(null);
  const [showForm, setShowForm] = useState(false);
  const refresh = () => qc.invalidateQueries({ queryKey: ["keys", project] });
  const rotate = useMutation({
    mutationFn: (id: string) => sendJson<{ key: string }>("POST", `/v1/keys/${id}/rotate`, {}),
    onSuccess: (r) => {
      setSecret(r.key);
      void refresh();
    },
  });
  const revoke = useMutation({ mutationFn: (id: string) => sendJson<KeyInfo>("DELETE", `/v1/keys/${id}`), onSuccess: () => void refresh() });

  return (
    <>
      <PageTitle title="Keys and access review">Who can do what: every key, its role, scopes, expiry and last use.</PageTitle>
      <div className="toolbar">
        {admin ? (
          <button type="button" onClick={() => setShowForm((s) => !s)} aria-expanded={showForm}>
            {showForm ? "Close the form" : "Create a key"}
          </button>
        ) : null}
        <div className="spacer" />
        <button
          type="button"
          className="ghost"
          disabled={!keys.data}
          onClick={() => keys.data && saveFile(`access-review-${project}-${new Date().toISOString().slice(0, 10)}.csv`, "text/csv", accessReviewCsv(keys.data.keys))}
        >
          Download access review (CSV)
        </button>
      </div>
      {secret ? <Secret secret={secret} onClose={() => setSecret(null)} /> : null}
      {showForm ? (
        <CreateForm
          onCreated={(s) => {
            setSecret(s);
            setShowForm(false);
            void refresh();
          }}
        />
      ) : null}
      {keys.isPending ? <Loading what="keys" /> : null}
      <ErrorBox error={keys.error} what="Listing keys" />
      <ErrorBox error={rotate.error} what="Rotating the key" />
      <ErrorBox error={revoke.error} what="Revoking the key" />
      {keys.data && keys.data.keys.length === 0 ? <Empty>No keys.</Empty> : null}
      {keys.data && keys.data.keys.length > 0 ? (
        <div className="table-wrap" tabIndex={0} role="region" aria-label="Keys">
          <table>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Role</th>
                <th scope="col">State</th>
                <th scope="col">Scopes</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                {admin ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {keys.data.keys.map((k) => (
                <tr key={k.id}>
                  <td>
                    {k.name}
                    <div className="muted small mono">{k.id}</div>
                  </td>
                  <td>
                    {k.role}
                    {k.agent ? <div className="muted small">agent {k.agent}</div> : null}
                  </td>
                  <td>
                    <span className={`pill ${state(k) === "active" ? "success" : "failure"}`}>{state(k)}</span>
                  </td>
                  <td className="small">{k.scopes.join(" ")}</td>
                  <td>{k.expires ? fmtMicros(k.expires) : "never"}</td>
                  <td>{k.last_used ? fmtMicros(k.last_used) : "never"}</td>
                  {admin ? (
                    <td className="actions">
                      {state(k) === "active" ? (
                        <>
                          <button type="button" className="ghost small" onClick={() => rotate.mutate(k.id)} aria-label={`Rotate key ${k.name}`}>
                            Rotate
                          </button>
                          <button
                            type="button"
                            className="ghost small danger"
                            aria-label={`Revoke key ${k.name}`}
                            onClick={() => {
                              if (window.confirm(`Revoke ${k.name} (${k.id})? It stops working at once.`)) revoke.mutate(k.id);
                            }}
                          >
                            Revoke
                          </button>
                        </>
                      ) : null}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </>
  );
}
