// The frame every browser-test script shares: settings from the environment, named steps and
// checks, and the one JSON line a script prints when it fails (`failed`); the success line stays
// each script's own, since each adds its own fields.

export const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

/// Steps and checks of one script, logged on stderr as `[label] …`.
export function harness(label) {
  const checks = {};
  let step = 'launch';
  const log = (msg) => process.stderr.write(`[${label}] ${msg}\n`);
  return {
    checks,
    log,
    begin(name) {
      step = name;
      log(name);
    },
    check(name, ok, detail) {
      checks[name] = detail === undefined ? ok : detail;
      if (!ok) throw new Error(`check failed: ${name} (${JSON.stringify(detail)})`);
    },
    /// {"ok": false, "step": ..., "error": ..., "checks": ...} on stdout.
    failed(err) {
      process.stdout.write(`${JSON.stringify({ ok: false, step, error: String(err?.stack ?? err), checks })}\n`);
    },
  };
}
