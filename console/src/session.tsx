// The console session: who is signed in, their CSRF token, and whether the
// session has ended (so the page can say so and offer sign-in).

import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { ApiError, onSessionEnd, request, setCsrf, setProject, type ConsoleSession, type Whoami } from "./lib/api";

type State =
  | { status: "loading" }
  | { status: "signed-out"; reason?: string }
  | { status: "signed-in"; session: ConsoleSession };

interface SessionApi {
  state: State;
  whoami: Whoami | null;
  signIn(key: string): Promise<void>;
  signOut(): Promise<void>;
  project: string;
  chooseProject(p: string): void;
}

const Ctx = createContext<SessionApi | null>(null);

const PROJECT_KEY = "sealtrail:project";

function endedMessage(e: ApiError): string {
  if (e.code === "session_expired") return "Your console session expired. Sign in again to continue.";
  if (e.code === "no_session") return "Your console session has ended. Sign in again to continue.";
  return `Signed out: ${e.message}`;
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<State>({ status: "loading" });
  const [project, setProjectState] = useState<string>(() => sessionStorage.getItem(PROJECT_KEY) ?? "");
  const qc = useQueryClient();

  const adopt = useCallback((s: ConsoleSession) => {
    setCsrf(s.csrf);
    setState({ status: "signed-in", session: s });
  }, []);

  useEffect(() => {
    onSessionEnd((e) => {
      setCsrf(null);
      qc.clear();
      setState((prev) => (prev.status === "signed-in" ? { status: "signed-out", reason: endedMessage(e) } : prev));
    });
    request("/v1/console/session", { noSessionEnd: true })
      .then((r) => r.json() as Promise<ConsoleSession>)
      .then(adopt)
      .catch((e: unknown) => {
        const reason = e instanceof ApiError && e.code === "session_expired" ? endedMessage(e) : undefined;
        setState({ status: "signed-out", reason });
      });
  }, [adopt, qc]);

  const whoami = state.status === "signed-in" ? state.session.whoami : null;
  // Owner keys act on any project; others on their own.
  useEffect(() => {
    if (!whoami) return;
    if (whoami.role === "owner" && project && project !== whoami.project) setProject(project);
    else setProject(null);
  }, [whoami, project]);

  const api = useMemo<SessionApi>(
    () => ({
      state,
      whoami,
      project: whoami?.role === "owner" && project ? project : (whoami?.project ?? "default"),
      async signIn(key: string) {
        const res = await request("/v1/console/session", { method: "POST", body: { key }, noSessionEnd: true });
        qc.clear();
        adopt((await res.json()) as ConsoleSession);
      },
      async signOut() {
        try {
          await request("/v1/console/session", { method: "DELETE", noSessionEnd: true });
        } finally {
          setCsrf(null);
          qc.clear();
          setState({ status: "signed-out", reason: "You signed out." });
        }
      },
      chooseProject(p: string) {
        sessionStorage.setItem(PROJECT_KEY, p);
        setProjectState(p);
        setProject(p && whoami && p !== whoami.project ? p : null);
        qc.clear();
      },
    }),
    [state, whoami, project, qc, adopt],
  );
  return <Ctx.Provider value={api}>{children}</Ctx.Provider>;
}

export function useSession(): SessionApi {
  const v = useContext(Ctx);
  if (!v) throw new Error("useSession outside SessionProvider");
  return v;
}

/** The signed-in key (pages under the signed-in layout only). */
export function useWhoami(): Whoami {
  const { whoami } = useSession();
  if (!whoami) throw new Error("useWhoami while signed out");
  return whoami;
}
