// The dashboard view (anywidget front-end module): header, controls, grouped stats table (editable
// with controls) and three streaming charts, plus one small chart per stat that callbacks publish
// and the client sweep's comparison chart, with saved runs and sweeps drawn beside the live one
// (overlays), wired to the traits and messages of docs/widget_contract.md.

import { Chart } from "./charts.js";
import { Controls } from "./controls.js";
import { Disposer, h } from "./dom.js";
import { Header } from "./header.js";
import { Presenter } from "./present.js";
import { publishedChartDef, publishedKeys } from "./published.js";
import { CHARTS, DEFAULT_MAX_POINTS, SeriesState, loadChartDef, toColumns } from "./series.js";
import { SweepChart, sweepVisible } from "./sweep.js";
import { StatsTable } from "./table.js";
import { readTheme } from "./theme.js";

/** A second history request is sent only if the first got no answer within this time. */
const HISTORY_RETRY_MS = 2000;

const HEADER_TRAITS = ["title", "status", "error", "progress", "result_path", "mode", "clients", "n_requests"];
const CONTROL_TRAITS = [
  "controls",
  "mode",
  "duration",
  "max_duration",
  "clients",
  "max_clients",
  "n_requests",
  "sweep_levels",
  "rate",
  "min_rate",
  "max_rate",
  "arrival",
  "status",
];

/**
 * Render one view of the dashboard into `el`.
 * @param {{model: {get: Function, set: Function, on: Function, off: Function,
 *   send: Function, save_changes: Function}, el: HTMLElement}} context
 * @param {{maxPoints?: number}} [options]
 * @returns {() => void} cleanup, called by anywidget when the view is removed
 */
export function renderDashboard({ model, el }, { maxPoints = DEFAULT_MAX_POINTS } = {}) {
  const disposer = new Disposer();
  const header = new Header();
  const controls = new Controls(model, disposer);
  const table = new StatsTable(model.get("spec"), model.get("stats"), model.get("overlays"), {
    send: (msg) => model.send(msg),
    editable: Boolean(model.get("controls")),
    disposer,
    scope: model.get("table_scope"),
    windowStats: model.get("window_stats"),
    // The toggle: Python then sends the last seconds' figures (window_stats) while it says so.
    setScope: (scope) => {
      model.set("table_scope", scope);
      model.save_changes();
    },
  });
  const series = new SeriesState({ maxPoints });

  /** A chart in its titled box; `extra` classes the box (e.g. "lmw-published"). */
  const chartBox = (def, extra = "") => {
    const plot = h("div", { class: "lmw-plot", dataset: { chart: def.id } });
    const title = h("h3", { class: "lmw-chart-title", text: def.title });
    const box = h("section", { class: `lmw-chart ${extra}`.trim() }, [title, plot]);
    return { def, box, title, plot, chart: new Chart(plot, def) };
  };
  const charts = CHARTS.map((def) => chartBox(def));
  // The load chart: clients, or an open loop's scheduled rate (series.js, loadChartDef).
  const loadBox = charts.find((c) => c.def.id === "load");
  /** Give the load chart the definition its points call for; true if it changed. */
  const followLoad = () => {
    const def = loadChartDef(series.points, model.get("mode"));
    if (def === loadBox.def) return false;
    loadBox.def = def;
    loadBox.chart.def = def;
    loadBox.title.textContent = def.title;
    return true;
  };
  followLoad();

  // Stats callbacks publish: one small chart per key, in first-seen order, after the fixed ones.
  /** @type {Array<ReturnType<typeof chartBox> & {key: string}>} */
  let published = [];
  const publishedBox = h("div", { class: "lmw-published-charts", hidden: true });

  // The sweep's comparison: one point per finished level, redrawn whole.
  const sweepPlot = h("div", { class: "lmw-sweep-plot", dataset: { chart: "sweep" } });
  const verdict = h("p", { class: "lmw-verdict" });
  const sweepBox = h("section", { class: "lmw-chart lmw-sweep", hidden: true }, [
    h("h3", { class: "lmw-chart-title", text: "Sweep: latency vs throughput" }),
    sweepPlot,
    verdict,
  ]);
  const sweep = new SweepChart(sweepPlot);

  const root = h("div", { class: "lmw" }, [
    header.element,
    controls.element,
    table.element,
    h("div", { class: "lmw-charts" }, charts.map((c) => c.box)),
    publishedBox,
    sweepBox,
  ]);
  el.append(root);
  disposer.add(() => root.remove());
  disposer.add(() => charts.forEach((c) => c.chart.destroy()));
  disposer.add(() => published.forEach((p) => p.chart.destroy()));
  disposer.add(() => sweep.destroy());

  /** Show or hide the sweep chart; draw it (only while shown: the chart measures its box). */
  const updateSweep = () => {
    const comparison = model.get("comparison");
    const overlays = model.get("overlays");
    sweepBox.hidden = !sweepVisible(comparison, model.get("mode"), overlays);
    verdict.textContent = (comparison && comparison.verdict) || "";
    verdict.hidden = !verdict.textContent;
    if (!sweepBox.hidden && root.isConnected) sweep.render(comparison, theme || readTheme(root), overlays);
  };

  // -- charts: drawn once the root is in the page (they measure their container) -------------
  let theme = null;
  /** @type {ResizeObserver|null} */
  let resized = null;
  /** Draw one published chart whole (no overlays: saved runs are drawn on the fixed charts). */
  const drawPublished = (p) => {
    if (root.isConnected) p.chart.render(toColumns(p.def, series.points), theme || readTheme(root), null);
  };
  const drawAll = () => {
    if (!root.isConnected) return;
    theme = readTheme(root);
    const overlays = model.get("overlays");
    for (const c of charts) c.chart.render(toColumns(c.def, series.points), theme, overlays);
    published.forEach(drawPublished);
    updateSweep();
  };
  // Presentation mode: the Present button in the title row; the layout's type and chart height
  // change, so every chart is drawn again.
  const presenter = new Presenter(model, root, disposer, () => requestAnimationFrame(drawAll));
  header.element.querySelector(".lmw-title-row").append(presenter.button);
  disposer.onModel(model, "change:presenting", () => presenter.apply(Boolean(model.get("presenting"))));
  /** Add a chart for each key not charted yet; returns the new ones (not drawn yet). */
  const addPublished = (keys) => {
    const spec = model.get("spec");
    const added = keys.slice(published.length).map((key, i) => {
      const def = publishedChartDef(key, spec, published.length + i);
      const p = { ...chartBox(def, "lmw-published"), key };
      p.box.dataset.key = key;
      publishedBox.append(p.box);
      if (resized) resized.observe(p.plot);
      return p;
    });
    published = published.concat(added);
    publishedBox.hidden = published.length === 0;
    return added;
  };
  /** Remove every published chart (a new run starts with none). */
  const clearPublished = () => {
    for (const p of published) {
      if (resized) resized.unobserve(p.plot);
      p.chart.destroy();
      p.box.remove();
    }
    published = [];
    publishedBox.hidden = true;
  };
  const show = (result) => {
    const redefined = followLoad(); // a run at a rate (or not) starts: its load chart
    if (result.action === "reset") {
      // The same keys (a history reply mid-run) keep their charts; others start over.
      const keys = publishedKeys(series.points);
      const same = keys.length === published.length && keys.every((key, i) => published[i].key === key);
      if (!same) {
        clearPublished();
        addPublished(keys);
      }
      drawAll();
    } else if (result.action === "append") {
      const added = addPublished(publishedKeys(result.points, published.map((p) => p.key)));
      if (redefined) return drawAll(); // the load chart's traces changed: all drawn whole
      for (const c of [...charts, ...published]) {
        if (c.chart.plotted && !added.includes(c)) c.chart.extend(toColumns(c.def, result.points), maxPoints);
      }
      if (!charts[0].chart.plotted) drawAll();
      else added.forEach(drawPublished); // a new key: drawn once whole, extended afterwards
    }
  };
  /** The spec names and formats the published charts: follow it. */
  const retitlePublished = () => {
    const spec = model.get("spec");
    published.forEach((p, i) => {
      p.def = publishedChartDef(p.key, spec, i);
      p.chart.def = p.def;
      p.title.textContent = p.def.title;
      if (p.chart.plotted) drawPublished(p);
    });
  };

  if (root.isConnected) drawAll();
  else {
    // anywidget may render before `el` is attached: draw on the first frame where it is.
    let frame = 0;
    const wait = () => {
      if (root.isConnected) drawAll();
      else frame = requestAnimationFrame(wait);
    };
    frame = requestAnimationFrame(wait);
    disposer.add(() => cancelAnimationFrame(frame));
  }

  if (typeof ResizeObserver !== "undefined") {
    let frame = 0;
    const observer = new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => {
        const all = [...charts, ...published];
        if (all.some((c) => !c.chart.plotted)) drawAll();
        else all.forEach((c) => c.chart.resize());
        sweep.resize();
      });
    });
    resized = observer;
    charts.forEach((c) => observer.observe(c.plot));
    published.forEach((p) => observer.observe(p.plot));
    observer.observe(sweepPlot);
    disposer.add(() => {
      cancelAnimationFrame(frame);
      observer.disconnect();
      resized = null;
    });
  }

  // JupyterLab switches themes by changing attributes on <body>: recolour the charts then.
  if (typeof MutationObserver !== "undefined" && document.body) {
    const themed = new MutationObserver(() => {
      if (charts[0].chart.plotted) drawAll();
    });
    themed.observe(document.body, {
      attributes: true,
      attributeFilter: ["class", "data-jp-theme-light", "data-jp-theme-name"],
    });
    disposer.add(() => themed.disconnect());
  }

  // -- series protocol ----------------------------------------------------------------------------
  let historyAskedAt = -Infinity;
  const askHistory = (force = false) => {
    const now = Date.now();
    if (!force && now - historyAskedAt < HISTORY_RETRY_MS) return;
    historyAskedAt = now;
    model.send({ type: "history" });
  };
  const onDelta = () => {
    const result = series.applyDelta(model.get("series_delta"));
    if (result.action === "history") askHistory();
    else show(result);
  };
  const onMessage = (msg) => {
    if (!msg) return;
    if (msg.type === "history") {
      historyAskedAt = -Infinity;
      show(series.applyHistory(msg));
    } else if (msg.type === "stat_error") {
      table.showError(msg.message); // Python refused an add_stat / remove_stat
    }
  };

  // -- traits -> view --------------------------------------------------------------------------------
  const updateHeader = () => header.update(model);
  const updateControls = () => controls.update();
  for (const name of new Set(HEADER_TRAITS)) disposer.onModel(model, `change:${name}`, updateHeader);
  for (const name of new Set(CONTROL_TRAITS)) disposer.onModel(model, `change:${name}`, updateControls);
  disposer.onModel(model, "change:stats", () => table.update(model.get("stats")));
  disposer.onModel(model, "change:window_stats", () => table.setWindow(model.get("window_stats")));
  disposer.onModel(model, "change:table_scope", () =>
    table.setScope(model.get("table_scope"), model.get("window_stats")),
  );
  disposer.onModel(model, "change:spec", () => {
    table.setSpec(model.get("spec"));
    retitlePublished();
  });
  disposer.onModel(model, "change:controls", () => table.setEditable(Boolean(model.get("controls"))));
  disposer.onModel(model, "change:series_delta", onDelta);
  disposer.onModel(model, "change:comparison", updateSweep);
  disposer.onModel(model, "change:mode", updateSweep);
  // Before a run's first point, the load chart follows the mode (clients or a rate).
  disposer.onModel(model, "change:mode", () => followLoad() && drawAll());
  // Saved runs and sweeps beside the live one: sent once when they change, redrawn whole.
  disposer.onModel(model, "change:overlays", () => {
    table.setOverlays(model.get("overlays"));
    drawAll();
  });
  disposer.onModel(model, "msg:custom", onMessage);

  updateHeader();
  // A fresh run (seq 0) is drawn at once; any other state waits for the history reply.
  const initial = series.applyDelta(model.get("series_delta"));
  if (initial.action === "reset") show(initial);
  askHistory(true); // a late view (second output, reload) gets what it missed

  return () => disposer.dispose();
}

export default {
  /** anywidget entry point: render a view, return its cleanup. */
  render({ model, el }) {
    return renderDashboard({ model, el });
  },
};
