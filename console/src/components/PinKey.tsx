// Pinning the log's verifier key: the browser checks checkpoints against a
// key the person chose, not whatever the server says today. The server's
// current key is offered as a starting point, with its key id, to be compared
// with one obtained out of band (the operator, the README, a witness).
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { getJson } from "../lib/api";
import { keyIdOf, pinVkey, pinnedVkey } from "../verify";
import type { SigningKeys } from "../lib/signingKeys";
import { Field } from "./common";

export function PinKey({ project, onPinned }: { project: string; onPinned: (vkey: string) => void }) {
  const served = useQuery({
    queryKey: ["signing-keys", project],
    queryFn: ({ signal }) => getJson<SigningKeys>("/v1/signing-keys", signal),
  });
  const current = pinnedVkey(project);
  const [text, setText] = useState(current ?? "");
  let id = "";
  try {
    id = text.trim() ? keyIdOf(text.trim()) : "";
  } catch {
    id = "not a verifier key";
  }
  return (
    <div className="card pin" role="group" aria-labelledby="pin-h">
      <h3 id="pin-h">Pin the log's verifier key</h3>
      <p className="muted">
        Verification checks the checkpoint signature against the key you pin here (kept in this browser for project{" "}
        <strong>{project}</strong>). Compare its key id with one you got from the log's operator.
      </p>
      <Field label="Verifier key (vkey)">
        <textarea rows={2} className="mono" value={text} onChange={(e) => setText(e.target.value)} name="vkey" />
      </Field>
      {id ? (
        <p>
          Key id: <code data-testid="pin-key-id">{id}</code>
        </p>
      ) : null}
      <div className="actions">
        {served.data?.signing[0] ? (
          <button type="button" className="ghost" onClick={() => setText(served.data.signing[0])}>
            Fill in the server's current key
          </button>
        ) : null}
        <button
          type="button"
          disabled={!text.trim()}
          onClick={() => {
            pinVkey(project, text.trim());
            onPinned(text.trim());
          }}
        >
          Pin this key
        </button>
      </div>
    </div>
  );
}
