// Plymouth's client only knows its abstract socket name, and abstract sockets belong to the
// network namespace: a suite that serves that name runs in a private network namespace, so it
// neither meets the host's plymouthd nor is met by the host's clients. loopback is brought up
// because the greeter's server listens on 127.0.0.1.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Re-runs the calling suite under `unshare --net` once; the outer process exits with its code. */
export function runInPrivateNetns(moduleUrl: string): void {
  if (process.env.FOYER_TEST_NETNS === "1") return;
  const r = spawnSync(
    "unshare",
    ["--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", process.execPath, "--import", "tsx", fileURLToPath(moduleUrl)],
    {
      stdio: "inherit",
      env: { ...process.env, FOYER_TEST_NETNS: "1" },
    },
  );
  if (r.error) process.stderr.write(`cannot run unshare --net (util-linux) or ip (iproute2): ${r.error.message}\n`);
  process.exit(r.status ?? 1);
}
