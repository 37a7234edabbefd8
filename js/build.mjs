// `npm run build`: bundle the dashboard (JS with uPlot inside, and its CSS) into
// llmeter_widget/static/, where the Python side loads `_esm` and `_css` from.
import { readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}llmeter_widget/static`;

const uplot = JSON.parse(readFileSync(`${root}node_modules/uplot/package.json`, "utf8")).version;
// uPlot's header comment is dropped by minification: keep its MIT notice in a banner.
const banner = `/*! llmeter-widget dashboard. Bundles uPlot v${uplot}: MIT License, Copyright (c) 2022 Leon Sorokin. */`;
const common = { bundle: true, minify: true, logLevel: "warning" };
await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: [`${root}js/widget.js`],
    outfile: `${out}/widget.js`,
    format: "esm",
    target: "es2020",
    banner: { js: banner },
  }),
  esbuild.build({ ...common, entryPoints: [`${root}js/widget.css`], outfile: `${out}/widget.css` }),
  // Each Dashboard's `_esm`: fetches widget.js from the one shared model (js/loader.js).
  esbuild.build({
    ...common,
    entryPoints: [`${root}js/loader.js`],
    outfile: `${out}/loader.js`,
    format: "esm",
    target: "es2020",
  }),
]);
for (const name of ["widget.js", "widget.css", "loader.js"]) {
  const kb = statSync(`${out}/${name}`).size / 1024;
  console.log(`llmeter_widget/static/${name}  ${kb.toFixed(1)} KiB`);
}
