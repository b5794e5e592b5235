// Light and dark themes: the system's preference unless the person chose one
// (kept in localStorage). CSS reads html[data-theme].

export type Theme = "light" | "dark";
const KEY = "sealtrail:theme";

export function storedTheme(): Theme | null {
  const t = localStorage.getItem(KEY);
  return t === "light" || t === "dark" ? t : null;
}

export function systemTheme(): Theme {
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function applyTheme(t: Theme): void {
  document.documentElement.dataset.theme = t;
}

export function chooseTheme(t: Theme): void {
  localStorage.setItem(KEY, t);
  applyTheme(t);
}
