// foyerctl: asks a running foyerd over D-Bus (org.foyer.Supervisor1), as loginctl asks logind.
//
//   foyerctl [--bus ADDRESS|system] [--json] status | restart-greeter | recovery REASON | handoff | reload
//
// Exit codes, so scripts can tell what went wrong without parsing text:
//   0 done · 1 foyerd refused or the call failed · 2 usage · 3 foyerd not running or the bus
//   unreachable · 4 access denied (the bus policy lets only root call methods)
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import dbus from "dbus-next";
import { connectBus, closeQuietly, resolveBusAddress, checkBusOption } from "../dbus/service.js";
import { BUS_NAME, OBJECT_PATH, INTERFACE } from "../dbus/supervisor1.js";
import { withTimeout } from "../base/timeout.js";
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
  reload             foyerd re-reads the ask directory and resends the greeter its state`;

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
    args = parseArgs({ args: argv, allowPositionals: true, options: { bus: { type: "string", default: "system" }, unit: { type: "string" }, json: { type: "boolean", default: false }, help: { type: "boolean", short: "h" } } });
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
  const badBus = checkBusOption(args.values.bus!, false);
  if (badBus) {
    err.write(`foyerctl: ${badBus}\n`);
    return EXIT.usage;
  }
  const json = args.values.json!;
  const address = resolveBusAddress(args.values.bus!);

  let bus: dbus.MessageBus;
  try {
    bus = await connectBus(address);
  } catch (e) {
    err.write(`foyerctl: cannot reach the bus at '${address}': ${describe(e)}\n`);
    return EXIT.unreachable;
  }
  try {
    const msg = new dbus.Message({ destination: BUS_NAME, path: OBJECT_PATH, interface: INTERFACE, member: cmd.member, signature: cmd.signature, body: cmd.body });
    const reply = await withTimeout(bus.call(msg), CALL_TIMEOUT_MS, `${cmd.member}`);
    if (cmd.member === "Status") {
      const s = unwrap(reply?.body[0]);
      out.write(json ? JSON.stringify(s) + "\n" : human(s));
    } else if (json) {
      out.write(JSON.stringify({ ok: true }) + "\n");
    }
    return EXIT.ok;
  } catch (e) {
    const name = e instanceof dbus.DBusError ? e.type : "";
    const text = e instanceof dbus.DBusError ? e.text : describe(e);
    const code = name === "org.freedesktop.DBus.Error.AccessDenied" ? EXIT.denied : UNREACHABLE.has(name) || !(e instanceof dbus.DBusError) ? EXIT.unreachable : EXIT.failed;
    if (json) out.write(JSON.stringify({ ok: false, error: name || "timeout", message: text }) + "\n");
    const what = code === EXIT.unreachable ? "foyerd is not running or does not answer" : code === EXIT.denied ? "access denied (methods are for root)" : `${cmd.member} failed`;
    err.write(`foyerctl: ${what}: ${text}\n`);
    return code;
  } finally {
    closeQuietly(bus);
  }
}

const invokedDirectly = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly || process.env.FOYER_MAIN === "foyerctl") {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
