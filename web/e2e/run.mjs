// Runs the end-to-end tests (`npm run e2e`) with Node's test runner and holds the run to what it
// actually did: zero tests passed is a failure (a suite that skipped itself must not look green),
// and under CI=true a skipped test is a failure too (CI has every prerequisite). The spec
// reporter writes to the terminal; a TAP copy in a temp file gives the counts.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here)
  .filter((f) => f.endsWith(".test.mjs"))
  .map((f) => join(here, f));
if (files.length === 0) {
  console.error(`e2e: no *.test.mjs files in ${here}`);
  process.exit(1);
}
const temp = mkdtempSync(join(tmpdir(), "quire-e2e-run-"));
const tapFile = join(temp, "report.tap");

const run = spawnSync(
  process.execPath,
  [
    "--test",
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    "--test-reporter=tap",
    `--test-reporter-destination=${tapFile}`,
    ...files,
  ],
  { stdio: "inherit" },
);

const tap = readFileSync(tapFile, "utf8");
rmSync(temp, { recursive: true, force: true });
const count = (name) => Number(tap.match(new RegExp(`^# ${name} (\\d+)$`, "m"))?.[1] ?? 0);
const passed = count("pass");
const failed = count("fail") + count("cancelled");
const skipped = count("skipped") + count("todo");

const problems = [];
if (run.status !== 0) problems.push(`the test runner exited with ${run.status ?? run.signal}`);
if (passed === 0) problems.push("no end-to-end test passed (none ran?)");
const ci = process.env.CI && process.env.CI !== "false";
if (ci && skipped > 0) problems.push(`${skipped} skipped under CI, where every prerequisite must be present`);
for (const p of problems) console.error(`e2e: ${p}`);
console.log(`e2e: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(problems.length > 0 ? 1 : 0);
