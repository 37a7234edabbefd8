// A fixed light theme (readTheme's shape) for tests that build chart layouts and traces.

export const THEME = {
  font: "#222",
  fontFamily: "sans-serif",
  paper: "#fff",
  plot: "#fff",
  grid: "#ddd",
  dark: false,
  colors: ["#1976d2", "#e65100", "#2e7d32", "#8e24aa", "#c62828"],
};
