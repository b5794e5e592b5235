import { useEffect, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { useSession } from "../session";
import { NAV, navFor } from "../lib/roles";
import { getJson } from "../lib/api";
import { chooseTheme, storedTheme, systemTheme, type Theme } from "../theme";
import { SignIn } from "../views/SignIn";

function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(() => storedTheme() ?? systemTheme());
  const next: Theme = theme === "dark" ? "light" : "dark";
  return (
    <button
      type="button"
      className="ghost"
      aria-label={`Switch to ${next} theme`}
      onClick={() => {
        chooseTheme(next);
        setTheme(next);
      }}
    >
      {theme === "dark" ? "☀ Light" : "☾ Dark"}
    </button>
  );
}

function ProjectPicker() {
  const { whoami, project, chooseProject } = useSession();
  const isOwner = whoami?.role === "owner";
  const projects = useQuery({
    queryKey: ["projects"],
    queryFn: ({ signal }) => getJson<{ projects: { name: string }[] }>("/v1/projects", signal),
    enabled: isOwner,
  });
  if (!isOwner) return <span className="muted">project: {project}</span>;
  const names = projects.data?.projects.map((p) => p.name) ?? [project];
  if (!names.includes(project)) names.unshift(project);
  return (
    <label className="inline">
      <span>Project</span>
      <select value={project} onChange={(e) => chooseProject(e.target.value)}>
        {names.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
    </label>
  );
}

export function Layout() {
  const { state, whoami, signOut } = useSession();
  const location = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => setMenuOpen(false), [location.pathname]);

  if (state.status === "loading") {
    return (
      <main className="center" aria-busy="true">
        <p>Loading…</p>
      </main>
    );
  }
  if (state.status === "signed-out" || !whoami) {
    return (
      <>
        <header className="topbar">
          <span className="brand">sealtrail</span>
          <ThemeToggle />
        </header>
        <SignIn reason={state.status === "signed-out" ? state.reason : undefined} />
      </>
    );
  }
  const nav = navFor(whoami.scopes);
  // A page the key's role may not open says so rather than showing a 403.
  const page = NAV.find((n) => n.to !== "/" && location.pathname === n.to);
  const allowed = !page || nav.includes(page);
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">sealtrail</span>
        <button
          type="button"
          className="ghost menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="nav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          Menu
        </button>
        <div className="spacer" />
        <ProjectPicker />
        <span className="who" data-testid="whoami">
          {whoami.name} <span className="badge">{whoami.role}</span>
        </span>
        <ThemeToggle />
        <button type="button" className="ghost" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <div className="shell">
        <nav id="nav" aria-label="Main" className={menuOpen ? "open" : ""}>
          <ul>
            {nav.map((n) => (
              <li key={n.to}>
                <NavLink to={n.to} end={n.to === "/"}>
                  {n.label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>
          {allowed ? (
            <Outlet />
          ) : (
            <div className="notice" role="alert" data-testid="not-allowed">
              <h1>Not available to your key</h1>
              <p>
                {page?.label} needs the <code>{page?.scope}</code> scope, which this {whoami.role} key does not have. Ask an
                admin if you need it.
              </p>
            </div>
          )}
        </main>
      </div>
    </>
  );
}
