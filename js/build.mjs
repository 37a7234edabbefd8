// `npm run build`: bundle the dashboard (JS with Plotly inside, and its CSS) into
// llmeter_widget/static/, where the Python side loads `_esm` and `_css` from.
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}llmeter_widget/static`;

const common = { bundle: true, minify: true, logLevel: "warning", legalComments: "none" };
await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: [`${root}js/widget.js`],
    outfile: `${out}/widget.js`,
    format: "esm",
    target: "es2020",
  }),
  esbuild.build({ ...common, entryPoints: [`${root}js/widget.css`], outfile: `${out}/widget.css` }),
]);
for (const name of ["widget.js", "widget.css"]) {
  const kb = statSync(`${out}/${name}`).size / 1024;
  console.log(`llmeter_widget/static/${name}  ${kb.toFixed(1)} KiB`);
}
