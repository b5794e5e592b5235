// A thin React wrapper around uPlot (the chart library; see docs/decisions.md).
import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  values: (number | null)[];
}

const PALETTE = ["#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#14b8a6", "#ec4899", "#84cc16"];

/** A time-series chart; `xs` are Unix seconds. */
export function TimeChart({ xs, series, title, bars, step }: { xs: number[]; series: Series[]; title: string; bars?: boolean; step?: number }) {
  const el = useRef<HTMLDivElement>(null);
  // Axis colours come from the theme: draw again when it changes.
  const [theme, setTheme] = useState(() => document.documentElement.dataset.theme);
  useEffect(() => {
    const mo = new MutationObserver(() => setTheme(document.documentElement.dataset.theme));
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    return () => mo.disconnect();
  }, []);
  useEffect(() => {
    const host = el.current;
    if (!host) return;
    const styles = getComputedStyle(document.documentElement);
    const fg = styles.getPropertyValue("--fg").trim() || "#222";
    const grid = styles.getPropertyValue("--border").trim() || "#ddd";
    const width = Math.max(280, host.clientWidth);
    const opts: uPlot.Options = {
      width,
      height: 220,
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: PALETTE[i % PALETTE.length],
          fill: bars ? `${PALETTE[i % PALETTE.length]}55` : undefined,
          width: 2,
          paths: bars ? uPlot.paths.bars?.({ size: [0.8, 40] }) : undefined,
        })),
      ],
      axes: [
        { stroke: fg, grid: { stroke: grid } },
        { stroke: fg, grid: { stroke: grid } },
      ],
      legend: { show: true },

    };
    // Bars need a step of room on each side (and a single day would make
    // uPlot pick a range of years): empty points before and after.
    const padded = bars && step && xs.length > 0;
    const px = padded ? [xs[0] - step, ...xs, xs[xs.length - 1] + step] : xs;
    const pv = series.map((s) => (padded ? [null, ...s.values, null] : s.values));
    const plot = new uPlot(opts, [px, ...pv] as uPlot.AlignedData, host);
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(280, host.clientWidth), height: 220 }));
    ro.observe(host);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [xs, series, bars, step, theme]);
  return <div ref={el} role="img" aria-label={title} className="chart" />;
}
