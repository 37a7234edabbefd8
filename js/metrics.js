// The metric registry, as Python defines it (llmeter_widget/metrics.py writes metrics.json;
// a Python test fails when the file is out of date). The charts take their labels from it, so
// a metric is named the same in the table, the charts, the docs and the saved results.
import registry from "./metrics.json";

/** @typedef {{key: string, label: string, unit: string, group: string, description: string,
 *   per_request: boolean, aggregations: string[], short: string}} Metric */

/** @type {Map<string, Metric>} */
export const METRICS = new Map(registry.metrics.map((m) => [m.key, m]));

/**
 * A metric's short label ("time_to_first_token" -> "TTFT"), with an aggregation if given
 * ("TTFT p90"). An unknown key throws: a renamed metric must not leave a chart silently unnamed.
 * @param {string} key
 * @param {string} [aggregation]
 * @returns {string}
 */
export function label(key, aggregation = "") {
  const metric = METRICS.get(key);
  if (!metric) throw new Error(`unknown metric ${JSON.stringify(key)} (see js/metrics.json)`);
  return aggregation ? `${metric.label} ${aggregation}` : metric.label;
}
