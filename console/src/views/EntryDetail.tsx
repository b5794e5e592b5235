import { useState } from "react";
import { Link, useParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { getJson, getText } from "../lib/api";
import type { Entry, EventsPage } from "../lib/types";
import { parseCheckpoint } from "../lib/checkpoint";
import { fmtMicros } from "../lib/format";
import { ErrorBox, Loading, PageTitle } from "../components/common";
import { VerdictView } from "../components/VerdictView";
import { PinKey } from "../components/PinKey";
import { useSession } from "../session";
import { can } from "../lib/roles";
import { keyIdOf, lastSeenCheckpoint, pinnedVkey, recordSeenCheckpoint, verifyEntry, type Verdict } from "../verify";

/** The next entry of a stream: the first match after this index. */
function useNext(filter: "agent" | "session", value: string | undefined, index: number) {
  const { project } = useSession();
  return useQuery({
    queryKey: ["next", project, filter, value, index],
    enabled: value !== undefined,
    queryFn: async ({ signal }) => {
      const p = new URLSearchParams({ [filter]: value ?? "", cursor: String(index), limit: "1" });
      // A page may come back empty with a cursor (bounded work): follow it.
      for (let i = 0; i < 20; i++) {
        const page = await getJson<EventsPage>(`/v1/events?${p}`, signal);
        if (page.events.length) return page.events[0].index;
        if (page.next_cursor === null) return null;
        p.set("cursor", String(page.next_cursor));
      }
      return null;
    },
  });
}

async function runVerify(index: number, project: string, vkey: string): Promise<Verdict> {
  const checkpoint = await getText("/v1/checkpoint");
  const cp = parseCheckpoint(checkpoint);
  if (!cp) throw new Error("the server's checkpoint is not a signed checkpoint note");
  if (index >= cp.size) throw new Error(`entry ${index} is not yet covered by the latest checkpoint (size ${cp.size}); try again in a moment`);
  const [entry, proof] = await Promise.all([
    getJson<unknown>(`/v1/entries/${index}`),
    getJson<unknown>(`/v1/entries/${index}/proof?size=${cp.size}`),
  ]);
  let lastSeen: { checkpoint: string; consistency: unknown } | undefined;
  const seen = lastSeenCheckpoint(project);
  if (seen) {
    const old = parseCheckpoint(seen);
    let consistency: unknown = null;
    // Only a larger tree has a consistency proof; the verifier compares
    // equal sizes itself and calls a smaller one a rollback.
    if (old && old.size > 0 && old.size < cp.size) {
      consistency = await getJson<unknown>(`/v1/consistency?from=${old.size}&to=${cp.size}`);
    }
    lastSeen = { checkpoint: seen, consistency };
  }
  const verdict = await verifyEntry({ entry, proof, checkpoint, vkey, lastSeen });
  if (verdict.ok) recordSeenCheckpoint(project, checkpoint);
  return verdict;
}

function safeKeyId(vkey: string): string {
  try {
    return keyIdOf(vkey);
  } catch {
    return "not a verifier key: pin another";
  }
}

function Row({ k, v }: { k: string; v: React.ReactNode }) {
  return (
    <tr>
      <th scope="row">{k}</th>
      <td>{v}</td>
    </tr>
  );
}

export function EntryDetail() {
  const index = Number(useParams().index);
  const { project, whoami } = useSession();
  const scopes = whoami?.scopes ?? [];
  const q = useQuery({
    queryKey: ["entry", project, index],
    enabled: Number.isSafeInteger(index) && index >= 0,
    queryFn: ({ signal }) => getJson<Entry>(`/v1/entries/${index}`, signal),
  });
  const h = q.data?.header;
  const nextAgent = useNext("agent", h?.agent, index);
  const nextSession = useNext("session", h?.session, index);
  const [vkey, setVkey] = useState<string | null>(() => pinnedVkey(project));
  const [pinning, setPinning] = useState(false);
  const [verdict, setVerdict] = useState<Verdict | null>(null);
  const [verifyError, setVerifyError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function verify() {
    if (!vkey) {
      setPinning(true);
      return;
    }
    setBusy(true);
    setVerdict(null);
    setVerifyError(null);
    try {
      setVerdict(await runVerify(index, project, vkey));
    } catch (e) {
      setVerifyError(e);
    } finally {
      setBusy(false);
    }
  }

  if (!Number.isSafeInteger(index) || index < 0) return <ErrorBox error={new Error("the address does not name an entry index")} what="Opening the entry" />;
  return (
    <>
      <PageTitle title={`Entry #${index}`}>The sealed header, the body when your key may read it, and an in-browser check that it is in the signed log.</PageTitle>
      {q.isPending ? <Loading what="the entry" /> : null}
      <ErrorBox error={q.error} what="Reading the entry" />
      {q.data && h ? (
        <>
          {can(scopes, "proofs") ? (
            <section className="card verify-box" aria-labelledby="h-verify">
              <h2 id="h-verify">Verify in this browser</h2>
              <p>
                {vkey ? (
                  <>
                    Pinned verifier key id: <code data-testid="pinned-key-id">{safeKeyId(vkey)}</code>{" "}
                    <button type="button" className="ghost small" onClick={() => setPinning((p) => !p)}>
                      Change
                    </button>
                  </>
                ) : (
                  "No verifier key pinned yet for this project: you will be asked for one."
                )}
              </p>
              <button type="button" onClick={() => void verify()} disabled={busy} data-testid="verify">
                {busy ? "Verifying…" : "Verify"}
              </button>
              {pinning ? (
                <PinKey
                  project={project}
                  onPinned={(k) => {
                    setVkey(k);
                    setPinning(false);
                  }}
                />
              ) : null}
              <ErrorBox error={verifyError} what="Verification" />
              {verdict ? <VerdictView verdict={verdict} subject={`Entry #${index}`} /> : null}
            </section>
          ) : null}
          <section className="card" aria-labelledby="h-streams">
            <h2 id="h-streams">Streams</h2>
            <ul className="streams">
              <li>
                Agent <Link to={`/search?agent=${encodeURIComponent(h.agent)}`}>{h.agent}</Link>, step {h.streams.agent.n}:{" "}
                {h.streams.agent.prev !== undefined ? <Link to={`/entries/${h.streams.agent.prev}`}>previous #{h.streams.agent.prev}</Link> : "first"}
                {" · "}
                {nextAgent.data !== undefined && nextAgent.data !== null ? <Link to={`/entries/${nextAgent.data}`}>next #{nextAgent.data}</Link> : "no next yet"}
              </li>
              {h.session ? (
                <li>
                  Session <Link to={`/sessions/${encodeURIComponent(h.session)}`}>{h.session}</Link>, step {h.streams.session?.n}:{" "}
                  {h.streams.session?.prev !== undefined ? <Link to={`/entries/${h.streams.session.prev}`}>previous #{h.streams.session.prev}</Link> : "first"}
                  {" · "}
                  {nextSession.data !== undefined && nextSession.data !== null ? (
                    <Link to={`/entries/${nextSession.data}`}>next #{nextSession.data}</Link>
                  ) : (
                    "no next yet"
                  )}
                </li>
              ) : null}
            </ul>
          </section>
          <section className="card" aria-labelledby="h-header">
            <h2 id="h-header">Sealed header</h2>
            <table className="kv">
              <tbody>
                <Row k="sealed" v={fmtMicros(h.time)} />
                <Row k="agent" v={h.agent} />
                {h.instance ? <Row k="instance" v={h.instance} /> : null}
                {h.session ? <Row k="session" v={h.session} /> : null}
                {h.parent ? <Row k="parent" v={h.parent} /> : null}
                <Row k="kind" v={h.kind} />
                {h.action ? <Row k="action" v={h.action} /> : null}
                {h.tool ? <Row k="tool" v={h.tool} /> : null}
                {h.outcome ? <Row k="outcome" v={h.outcome} /> : null}
                {h.scope ? <Row k="scope verdict" v={h.scope} /> : null}
                {h.data_classes?.length ? <Row k="data classes" v={h.data_classes.join(", ")} /> : null}
                {h.event_id ? <Row k="event id" v={h.event_id} /> : null}
                {h.redacted ? <Row k="redaction policy" v={h.redacted} /> : null}
                <Row k="leaf hash" v={<code className="wrap">{q.data.leaf_hash}</code>} />
                <Row k="body commitment" v={<code className="wrap">{h.body}</code>} />
                <Row k="salt" v={q.data.salt ? <code className="wrap">{q.data.salt}</code> : <span className="muted">{q.data.body === null ? "not available (erased, or your key may not read bodies)" : "—"}</span>} />
              </tbody>
            </table>
            <details>
              <summary>Header as JSON</summary>
              <pre className="json" tabIndex={0}>{JSON.stringify(h, null, 2)}</pre>
            </details>
          </section>
          <section className="card" aria-labelledby="h-body">
            <h2 id="h-body">Body</h2>
            {!can(scopes, "bodies") ? (
              <p className="muted" data-testid="no-bodies">
                Your key may not read bodies: the header and its commitment are all you see.
              </p>
            ) : q.data.body === null ? (
              <p className="muted">The body was erased; the commitment above still binds it.</p>
            ) : (
              <pre className="json" tabIndex={0} data-testid="body">
                {JSON.stringify(q.data.body, null, 2)}
              </pre>
            )}
          </section>
        </>
      ) : null}
    </>
  );
}
