/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the
 * most self time, the most inclusive time, and self time by file.
 *
 *   node bench/cpuprofile-top.mjs <file.cpuprofile> [top=25]
 */
import { readFileSync } from "node:fs";

const [file, topArg = "25"] = process.argv.slice(2);
if (!file) {
  console.error("usage: node bench/cpuprofile-top.mjs <file.cpuprofile> [top]");
  process.exit(2);
}
const top = Number(topArg);
const profile = JSON.parse(readFileSync(file, "utf8"));

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node: each sample is charged its time delta.
const selfUs = new Map();
let totalUs = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  totalUs += dt;
  selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
});

const shortUrl = (url) =>
  url
    .replace(/^file:\/\//, "")
    .replace(/^.*\/node_modules\//, "node_modules/")
    .replace(/^.*\/(dist|bench)\//, "$1/");
const keyOf = (n) => {
  const f = n.callFrame;
  const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : "";
  return `${f.functionName || "(anonymous)"} ${where}`.trim();
};

const self = new Map();
const inclusive = new Map();
const byFile = new Map();
for (const [id, us] of selfUs) {
  const node = byId.get(id);
  const key = keyOf(node);
  self.set(key, (self.get(key) ?? 0) + us);
  const fileKey = node.callFrame.url
    ? shortUrl(node.callFrame.url)
    : `(${node.callFrame.functionName})`;
  byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
  // Inclusive: charge each distinct function on the stack once.
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const k = keyOf(byId.get(at));
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + us);
  }
}

const pct = (us) => `${((us / totalUs) * 100).toFixed(1).padStart(5)}%`;
const ms = (us) => `${(us / 1000).toFixed(0).padStart(6)} ms`;
const show = (title, map, n) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    console.log(`${pct(us)} ${ms(us)}  ${k}`);
  }
};
console.log(`${file}: ${(totalUs / 1000).toFixed(0)} ms sampled`);
show("Self time by function", self, top);
show("Inclusive time by function", inclusive, top);
show("Self time by file", byFile, Math.min(top, 15));
