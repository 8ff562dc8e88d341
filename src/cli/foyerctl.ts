// foyerctl: asks a running foyerd over D-Bus (org.foyer.Supervisor1), as loginctl asks logind.
//
//   foyerctl [--bus ADDRESS|system] [--json] status | restart-greeter | recovery REASON | handoff | reload
//   foyerctl timeline [--json | --svg FILE] [--runtime-dir DIR | --timeline FILE]
//
// `timeline` reads the file foyerd rewrites at every milestone (in its state tmpfs, or the copy
// foyer-flush kept in /var/lib/foyer), so it works whether foyerd runs or not and needs no bus.
//
// Exit codes, so scripts can tell what went wrong without parsing text:
//   0 done · 1 foyerd refused or the call failed · 2 usage · 3 foyerd not running or the bus
//   unreachable · 4 access denied (the bus policy lets only root call methods)
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connectBus, resolveBusAddress, checkBusOption } from "../dbus/service.js";
import { dbusError, type BusConnection } from "../base/bus-connection.js";
import { BUS_NAME, OBJECT_PATH, INTERFACE } from "../dbus/supervisor1.js";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseTimeline } from "../state/timeline.js";
import { renderText, renderSvg } from "../state/timeline-render.js";
import { stateDir, TIMELINE_FILE } from "../state/overlay.js";
import { describe } from "../base/errors.js";
import { reasonForUnit } from "../launch/boot-failures.js";

const USAGE = `usage: foyerctl [--bus ADDRESS|system] [--json] COMMAND
  status             phase, flow, greeter and pending requests
  restart-greeter    stop the greeter; foyerd starts it again
  recovery REASON    show the recovery screen with REASON
  recovery --unit UNIT
                     the same, the reason said from a systemd unit that failed (a
                     systemd-fsck*.service) or was entered (emergency.service): what
                     foyer-recovery@.service runs from OnFailure=
  handoff            the display manager takes over: foyerd releases the display and exits
  reload             foyerd re-reads the ask directory and resends the greeter its state
  timeline [--json | --svg FILE] [--runtime-dir DIR | --timeline FILE]
                     the boot's milestones: a table, JSON, or an SVG chart (read from
                     DIR/state/timeline.json, default /run/foyer, else /var/lib/foyer/timeline.json)`;

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, denied: 4 } as const;
const CALL_TIMEOUT_MS = 5000;

// error names that mean "nobody is there to ask" rather than "foyerd said no"
const UNREACHABLE = new Set([
  "org.freedesktop.DBus.Error.ServiceUnknown",
  "org.freedesktop.DBus.Error.NameHasNoOwner",
  "org.freedesktop.DBus.Error.NoReply",
  "org.freedesktop.DBus.Error.Disconnected",
]);

interface Command {
  member: string;
  signature: string;
  body: unknown[];
}

function command(positionals: string[], unit: string | undefined): Command | string {
  if (unit !== undefined) {
    if (positionals[0] !== "recovery" || positionals.length !== 1) return "--unit goes with 'recovery' and no REASON";
    const reason = reasonForUnit(unit);
    if (!reason) return "--unit needs a systemd unit name (letters, digits and :_.\\@-, at most 255 bytes)";
    return { member: "ShowRecovery", signature: "s", body: [reason] };
  }
  const [cmd, ...rest] = positionals;
  const none = (member: string): Command | string => (rest.length ? `'${cmd}' takes no arguments` : { member, signature: "", body: [] });
  switch (cmd) {
    case "status":
      return none("Status");
    case "restart-greeter":
      return none("RestartGreeter");
    case "handoff":
      return none("Handoff");
    case "reload":
      return none("Reload");
    case "timeline":
      return rest.length ? "'timeline' takes no arguments" : { member: "timeline", signature: "", body: [] };
    case "recovery":
      if (rest.length !== 1) return "'recovery' takes one REASON (quote it)";
      return { member: "ShowRecovery", signature: "s", body: [rest[0]] };
    case undefined:
      return "no command given";
    default:
      return `unknown command '${cmd}'`;
  }
}

type Status = Record<string, unknown>;

/** Status's a{sv}, unwrapped; prompts as {key, message}. */
function unwrap(body: unknown): Status {
  const out: Status = {};
  for (const [k, v] of Object.entries(body as Record<string, { value: unknown }>)) {
    out[k] = k === "PendingPrompts" ? (v.value as [number, string][]).map(([key, message]) => ({ key, message })) : v.value;
  }
  return out;
}

function human(s: Status): string {
  const prompts = (s.PendingPrompts as { key: number; message: string }[] | undefined) ?? [];
  const lines = [
    `       Phase: ${s.Phase}`,
    `        Flow: ${s.Flow}`,
    `     Greeter: ${s.GreeterState} (${s.GreeterRestarts} restarts)`,
    `     Prompts: ${prompts.length === 0 ? "none" : prompts.length}`,
    ...prompts.map((p) => `              #${p.key} ${p.message}`),
  ];
  if (s.RecoveryReason) lines.push(`    Recovery: ${s.RecoveryReason}`);
  return lines.join("\n") + "\n";
}

export async function main(argv: string[], out = process.stdout, err = process.stderr): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        bus: { type: "string", default: "system" },
        unit: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
        svg: { type: "string" },
        "runtime-dir": { type: "string" },
        timeline: { type: "string" },
      },
    });
  } catch (e) {
    err.write(`foyerctl: ${(e as Error).message}\n${USAGE}\n`);
    return EXIT.usage;
  }
  if (args.values.help) {
    out.write(USAGE + "\n");
    return EXIT.ok;
  }
  const cmd = command(args.positionals, args.values.unit);
  if (typeof cmd === "string") {
    err.write(`foyerctl: ${cmd}\n${USAGE}\n`);
    return EXIT.usage;
  }
  const v = args.values;
  if (cmd.member !== "timeline" && (v.svg !== undefined || v["runtime-dir"] !== undefined || v.timeline !== undefined)) {
    err.write(`foyerctl: --svg, --runtime-dir and --timeline go with 'timeline'\n${USAGE}\n`);
    return EXIT.usage;
  }
  if (cmd.member === "timeline") return timeline({ json: v.json!, svg: v.svg, runtimeDir: v["runtime-dir"], file: v.timeline }, out, err);
  const badBus = checkBusOption(args.values.bus!, false);
  if (badBus) {
    err.write(`foyerctl: ${badBus}\n`);
    return EXIT.usage;
  }
  const json = args.values.json!;
  const address = resolveBusAddress(args.values.bus!);

  let bus: BusConnection;
  try {
    bus = await connectBus(address);
  } catch (e) {
    err.write(`foyerctl: ${describe(e)}\n`); // "cannot reach the bus at '…': …"
    return EXIT.unreachable;
  }
  try {
    const [reply] = await bus.call(
      { destination: BUS_NAME, path: OBJECT_PATH, interface: INTERFACE, member: cmd.member, signature: cmd.signature, body: cmd.body },
      CALL_TIMEOUT_MS,
    );
    if (cmd.member === "Status") {
      const s = unwrap(reply);
      out.write(json ? JSON.stringify(s) + "\n" : human(s));
    } else if (json) {
      out.write(JSON.stringify({ ok: true }) + "\n");
    }
    return EXIT.ok;
  } catch (e) {
    const d = dbusError(e);
    const name = d?.name ?? "";
    const text = d?.text ?? describe(e);
    const code = name === "org.freedesktop.DBus.Error.AccessDenied" ? EXIT.denied : UNREACHABLE.has(name) || !d ? EXIT.unreachable : EXIT.failed;
    if (json) out.write(JSON.stringify({ ok: false, error: name || "timeout", message: text }) + "\n");
    const what =
      code === EXIT.unreachable
        ? "foyerd is not running or does not answer"
        : code === EXIT.denied
          ? "access denied (methods are for root)"
          : `${cmd.member} failed`;
    err.write(`foyerctl: ${what}: ${text}\n`);
    return code;
  } finally {
    bus.close();
  }
}

export const PERSISTED_TIMELINE = "/var/lib/foyer/timeline.json";

function timeline(
  o: { json: boolean; svg: string | undefined; runtimeDir: string | undefined; file: string | undefined },
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): number {
  if (o.json && o.svg !== undefined) {
    err.write(`foyerctl: --json and --svg do not go together\n${USAGE}\n`);
    return EXIT.usage;
  }
  if (o.file !== undefined && o.runtimeDir !== undefined) {
    err.write(`foyerctl: --runtime-dir and --timeline do not go together\n${USAGE}\n`);
    return EXIT.usage;
  }
  // the live file first; once foyer-flush removed the tmpfs, the copy it kept
  const candidates =
    o.file !== undefined
      ? [o.file]
      : o.runtimeDir !== undefined
        ? [join(stateDir(o.runtimeDir), TIMELINE_FILE)]
        : [join(stateDir("/run/foyer"), TIMELINE_FILE), PERSISTED_TIMELINE];
  let text: string | undefined,
    from = "";
  for (const c of candidates) {
    try {
      text = readFileSync(c, "utf8");
      from = c;
      break;
    } catch {
      /* next */
    }
  }
  if (text === undefined) {
    err.write(`foyerctl: no timeline at ${candidates.map((c) => `'${c}'`).join(" or ")}: foyerd has not run this boot\n`);
    return EXIT.unreachable;
  }
  const r = parseTimeline(text);
  if (!r.ok) {
    err.write(`foyerctl: '${from}' is not a foyer timeline: ${r.problem}\n`);
    return EXIT.failed;
  }
  if (o.json) out.write(JSON.stringify(r.data) + "\n");
  else if (o.svg !== undefined) {
    try {
      writeFileSync(o.svg, renderSvg(r.data));
    } catch (e) {
      err.write(`foyerctl: cannot write '${o.svg}': ${describe(e)}\n`);
      return EXIT.failed;
    }
  } else out.write(renderText(r.data));
  return EXIT.ok;
}

const invokedDirectly = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly || process.env.FOYER_MAIN === "foyerctl") {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      // one line naming the failure rather than node's unhandled-rejection dump
      process.stderr.write(`foyerctl: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(EXIT.failed);
    },
  );
}
