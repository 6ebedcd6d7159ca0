// Terminagent: loads the proof-of-work widget (npm `altcha`, external build, vendored by
// scripts/vendor-altcha.sh) with its German texts, and registers the worker that solves SHA-256
// challenges from this origin — the external build bundles none, so the CSP needs no blob: URLs.
import "./altcha.js";
import "./de.js";

globalThis.$altcha.algorithms.set(
  "SHA-256",
  () => new Worker("/assets/altcha/sha.js"),
);
