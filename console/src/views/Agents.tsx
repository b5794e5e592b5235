import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { getJson, sendJson } from "../lib/api";
import type { AgentRecord, Stats } from "../lib/types";
import { ErrorBox, Empty, Field, Loading, PageTitle } from "../components/common";
import { useSession } from "../session";
import { can } from "../lib/roles";

const RISK = ["minimal", "limited", "high", "prohibited"];
const list = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);

function AgentForm({ existing, onDone }: { existing?: AgentRecord; onDone: () => void }) {
  const [f, setF] = useState(() => ({
    id: existing?.id ?? "",
    name: existing?.name ?? "",
    owner: existing?.owner ?? "",
    purpose: existing?.purpose ?? "",
    model: existing?.model ?? "",
    risk_tier: existing?.risk_tier ?? "minimal",
    tools: existing?.scope.tools?.join(", ") ?? "",
    actions: existing?.scope.actions?.join(", ") ?? "",
    data_classes: existing?.scope.data_classes?.join(", ") ?? "",
  }));
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF((o) => ({ ...o, [k]: e.target.value }));
  const m = useMutation({
    mutationFn: () => {
      // The server replaces the scope whole; resources are kept as they were.
      const scope: Record<string, string[]> = {};
      if (existing?.scope.resources) scope.resources = existing.scope.resources;
      if (f.tools.trim()) scope.tools = list(f.tools);
      if (f.actions.trim()) scope.actions = list(f.actions);
      if (f.data_classes.trim()) scope.data_classes = list(f.data_classes);
      const body: Record<string, unknown> = { risk_tier: f.risk_tier, scope };
      for (const k of ["name", "owner", "purpose", "model"] as const) if (f[k].trim()) body[k] = f[k].trim();
      if (existing) return sendJson<AgentRecord>("PATCH", `/v1/agents/${encodeURIComponent(existing.id)}`, body);
      return sendJson<AgentRecord>("POST", "/v1/agents", { ...body, id: f.id.trim(), status: "active" });
    },
    onSuccess: onDone,
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    m.mutate();
  };
  const title = existing ? `Update agent ${existing.id}` : "Register an agent";
  return (
    <form className="card form-grid" onSubmit={submit} aria-label={title}>
      <h2>{title}</h2>
      {existing ? null : (
        <Field label="Agent id">
          <input required value={f.id} onChange={set("id")} name="id" />
        </Field>
      )}
      <Field label="Name">
        <input value={f.name} onChange={set("name")} />
      </Field>
      <Field label="Owner">
        <input value={f.owner} onChange={set("owner")} />
      </Field>
      <Field label="Purpose">
        <input value={f.purpose} onChange={set("purpose")} />
      </Field>
      <Field label="Model">
        <input value={f.model} onChange={set("model")} placeholder="openai/gpt-4.1" />
      </Field>
      <Field label="Risk tier">
        <select value={f.risk_tier} onChange={set("risk_tier")}>
          {RISK.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
      </Field>
      <Field label="Allowed tools" hint="comma-separated globs; empty: unconstrained">
        <input value={f.tools} onChange={set("tools")} />
      </Field>
      <Field label="Allowed actions" hint="comma-separated globs">
        <input value={f.actions} onChange={set("actions")} />
      </Field>
      <Field label="Allowed data classes" hint="comma-separated">
        <input value={f.data_classes} onChange={set("data_classes")} />
      </Field>
      <div className="actions">
        <button type="submit" disabled={m.isPending}>
          {existing ? "Save" : "Register"}
        </button>
      </div>
      <ErrorBox error={m.error} what={existing ? "Updating the agent" : "Registering the agent"} />
    </form>
  );
}

function scopeText(a: AgentRecord): string {
  const parts: string[] = [];
  for (const k of ["tools", "actions", "resources", "data_classes"] as const) {
    const v = a.scope[k];
    if (v) parts.push(`${k}: ${v.length ? v.join(" ") : "(none)"}`);
  }
  return parts.length ? parts.join("; ") : "unconstrained";
}

export function Agents() {
  const { project, whoami } = useSession();
  const admin = can(whoami?.scopes ?? [], "agents:write");
  const qc = useQueryClient();
  const agents = useQuery({ queryKey: ["agents", project], queryFn: ({ signal }) => getJson<{ agents: AgentRecord[] }>("/v1/agents", signal) });
  const activity = useQuery({ queryKey: ["stats", project, "agent,day"], queryFn: ({ signal }) => getJson<Stats>("/v1/stats?group_by=agent,day", signal) });
  const verdicts = useQuery({
    queryKey: ["stats", project, "agent,verdict"],
    queryFn: ({ signal }) => getJson<Stats>("/v1/stats?group_by=agent,verdict", signal),
    retry: false,
  });
  const [showForm, setShowForm] = useState(false);
  const [editing, setEditing] = useState<AgentRecord | null>(null);
  const status = useMutation({
    mutationFn: ({ id, to }: { id: string; to: string }) => sendJson<AgentRecord>("PATCH", `/v1/agents/${encodeURIComponent(id)}`, { status: to }),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["agents", project] }),
  });
  const lastDay = new Map<string, string>();
  for (const r of activity.data?.rows ?? []) {
    const a = String(r.agent);
    const d = String(r.day);
    if (!lastDay.has(a) || lastDay.get(a)! < d) lastDay.set(a, d);
  }
  const oos = new Map<string, number>();
  for (const r of verdicts.data?.rows ?? []) {
    if (String(r.verdict ?? "").startsWith("out_of_scope")) oos.set(String(r.agent), (oos.get(String(r.agent)) ?? 0) + r.count);
  }

  return (
    <>
      <PageTitle title="Agents">The agent registry: declared scopes, status and what each agent did.</PageTitle>
      {admin ? (
        <p>
          <button type="button" onClick={() => setShowForm((s) => !s)} aria-expanded={showForm}>
            {showForm ? "Close the form" : "Register an agent"}
          </button>
        </p>
      ) : null}
      {showForm ? (
        <AgentForm
          onDone={() => {
            setShowForm(false);
            void qc.invalidateQueries({ queryKey: ["agents", project] });
          }}
        />
      ) : null}
      {editing ? (
        <AgentForm
          key={editing.id}
          existing={editing}
          onDone={() => {
            setEditing(null);
            void qc.invalidateQueries({ queryKey: ["agents", project] });
          }}
        />
      ) : null}
      {agents.isPending ? <Loading what="agents" /> : null}
      <ErrorBox error={agents.error} what="Listing agents" />
      <ErrorBox error={status.error} what="Changing the agent's status" />
      {agents.data && agents.data.agents.length === 0 ? <Empty>No agent registered. Events of unregistered agents are sealed with the verdict unregistered_agent.</Empty> : null}
      {agents.data && agents.data.agents.length > 0 ? (
        <div className="table-wrap" tabIndex={0} role="region" aria-label="Registered agents">
          <table>
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Status</th>
                <th scope="col">Risk</th>
                <th scope="col">Declared scope</th>
                <th scope="col">Last active</th>
                <th scope="col" className="num">
                  Out of scope
                </th>
                {admin ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {agents.data.agents.map((a) => (
                <tr key={a.id}>
                  <td>
                    <Link to={`/search?agent=${encodeURIComponent(a.id)}`}>{a.id}</Link>
                    {a.name ? <div className="muted small">{a.name}</div> : null}
                    {a.owner ? <div className="muted small">owner {a.owner}</div> : null}
                  </td>
                  <td>
                    <span className={`pill ${a.status === "active" ? "success" : "failure"}`}>{a.status}</span>
                  </td>
                  <td>
                    {a.risk_tier}
                    {a.annex_iii ? ` (Annex III: ${a.annex_iii})` : ""}
                  </td>
                  <td className="small">{scopeText(a)}</td>
                  <td>{lastDay.get(a.id) ?? "—"}</td>
                  <td className="num">
                    {verdicts.data ? (
                      <Link to={`/search?agent=${encodeURIComponent(a.id)}&scope=out_of_scope`}>{oos.get(a.id) ?? 0}</Link>
                    ) : (
                      "—"
                    )}
                  </td>
                  {admin ? (
                    <td className="actions">
                      {a.status !== "retired" ? (
                        <button type="button" className="ghost small" onClick={() => setEditing(a)} aria-label={`Edit ${a.id}`}>
                          Edit
                        </button>
                      ) : null}
                      {a.status === "active" ? (
                        <button type="button" className="ghost small" onClick={() => status.mutate({ id: a.id, to: "suspended" })}>
                          Suspend
                        </button>
                      ) : null}
                      {a.status === "suspended" ? (
                        <button type="button" className="ghost small" onClick={() => status.mutate({ id: a.id, to: "active" })}>
                          Activate
                        </button>
                      ) : null}
                      {a.status !== "retired" ? (
                        <button
                          type="button"
                          className="ghost small danger"
                          onClick={() => {
                            if (window.confirm(`Retire ${a.id}? This is final and revokes its keys.`)) status.mutate({ id: a.id, to: "retired" });
                          }}
                        >
                          Retire
                        </button>
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
