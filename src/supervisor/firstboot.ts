// The first-boot flow: the form's state, the passwords' hashes, the answers file and the apply.
// It runs when the profile asks (or, with "auto", when ConditionFirstBoot holds for the target
// root) and never again once its stamp exists. Passwords arrive as binary frames and are hashed at
// once; from then on only hashes exist, in memory and in the answers file (0600, on the runtime
// dir's state/, a tmpfs in the initramfs).
import { readFileSync, writeFileSync, renameSync, mkdirSync, chmodSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { readCatalog, consoleKeymapFor, type Catalog } from "../agents/firstboot-catalog.js";
import { validateAnswers, namesIn } from "../agents/firstboot-validate.js";
import { applyFirstboot, hashPassword, firstbootDue, readFirstbootCondition, type FirstbootEnabled } from "../agents/firstboot-apply.js";
import { Secret } from "../base/secret.js";
import { describe, FoyerError } from "../base/errors.js";
import type { Logger } from "../base/log.js";
import {
  hostnameProblem,
  problemMessage,
  PASSWORD_FIELD,
  type FirstbootAnswers,
  type FirstbootView,
  type FirstbootOptionsMessage,
  type ProblemCode,
} from "../protocol/firstboot.js";

export interface FirstbootOptions {
  enabled: FirstbootEnabled;
  root: string;
  /** <runtime-dir>/state: the answers file lives here */
  stateDir: string;
  log: Logger;
  /** the greeter's keyboard when the flow starts (the form's default) */
  keyboard: { layout: string; variant: string };
  changed: () => void;
  /** a layout chosen in the form, to be shown (and used) at once */
  keyboardChosen: (k: { layout: string; variant: string }) => void;
  /** applied: the supervisor leaves the flow */
  finished: () => void;
}

type Field = "user" | "root";

export class Firstboot {
  #o: FirstbootOptions;
  #active = false;
  #catalog: Catalog = { layouts: [], locales: [], timezones: [], consoleKeymaps: [] };
  #view!: FirstbootView;
  #hash: Record<Field, string | null> = { user: null, root: null };
  #hashProblem: Record<Field, ProblemCode | null> = { user: null, root: null };
  #hashing: Record<Field, Promise<void>> = { user: Promise.resolve(), root: Promise.resolve() };
  #submitting = false;

  constructor(o: FirstbootOptions) {
    this.#o = o;
  }

  get active(): boolean {
    return this.#active;
  }
  get view(): FirstbootView {
    return this.#view;
  }

  /** Enters the flow when it is due; returns whether it did. */
  async start(): Promise<boolean> {
    const { enabled, root, log } = this.#o;
    const { due, why } = firstbootDue(enabled, readFirstbootCondition(root));
    if (!due) {
      // a profile that asked for the flow and does not get it deserves more than an info line
      (enabled === true && why !== "already done" ? log.warning : log.info)(`first-boot setup skipped: ${why}`, { root });
      return false;
    }
    this.#catalog = await readCatalog(root);
    this.#view = { phase: "form", values: this.#defaults(), errors: [], hashed: { user: false, root: false }, message: "" };
    this.#active = true;
    log.notice("first-boot setup starts", {
      root,
      layouts: this.#catalog.layouts.length,
      locales: this.#catalog.locales.length,
      timezones: this.#catalog.timezones.length,
    });
    this.#o.changed();
    return true;
  }

  /** What the target root already says, where it is a valid choice; otherwise plain defaults. */
  #defaults(): FirstbootAnswers {
    const c = this.#catalog;
    const root = this.#o.root;
    const read = (rel: string) => {
      try {
        return readFileSync(join(root, rel), "utf8");
      } catch {
        return "";
      }
    };
    const kb = this.#o.keyboard;
    const layout = c.layouts.find((l) => l.name === kb.layout) ?? c.layouts.find((l) => l.name === "us");
    const lang = /^LANG="?([^"\n]*)"?$/m.exec(read("etc/locale.conf") || read("etc/default/locale"))?.[1] ?? "";
    const locale = [lang, "en_US.UTF-8", "C.UTF-8"].find((l) => c.locales.includes(l)) ?? c.locales[0] ?? "C.UTF-8";
    let tz = "";
    try {
      tz = readlinkSync(join(root, "etc/localtime")).split("zoneinfo/")[1] ?? "";
    } catch {
      /* no localtime yet */
    }
    const timezone = [tz, "UTC", "Etc/UTC"].find((t) => c.timezones.includes(t)) ?? c.timezones[0] ?? "UTC";
    const host = read("etc/hostname").trim();
    return {
      layout: layout?.name ?? "us",
      variant: layout?.variants.some((v) => v.name === kb.variant) ? kb.variant : "",
      locale,
      timezone,
      hostname: hostnameProblem(host) ? "" : host,
      fullName: "",
      username: "",
      // a locked root and an administrator user is what most installers now default to
      rootLocked: true,
    };
  }

  options(): FirstbootOptionsMessage {
    const c = this.#catalog;
    return { type: "firstboot_options", layouts: c.layouts, locales: c.locales, timezones: c.timezones };
  }

  /** A layout picked in the form: shown in the greeter at once, for the passwords typed next. */
  chooseKeyboard(layout: string, variant: string): void {
    this.#requireActive();
    const l = this.#catalog.layouts.find((x) => x.name === layout);
    if (!l || (variant !== "" && !l.variants.some((v) => v.name === variant))) throw new FoyerError("invalid-argument", "unknown keyboard layout");
    this.#view.values = { ...this.#view.values, layout, variant };
    this.#o.log.info(`keyboard layout '${layout}${variant ? `(${variant})` : ""}' chosen; recorded for the compositor (cage takes a layout at start only)`);
    this.#o.keyboardChosen({ layout, variant });
  }

  /**
   * A password frame. The bytes are copied (the server zeroes its frame when this returns),
   * hashed at once, and the copy zeroed; a new frame for a field replaces the old hash.
   */
  password(fieldNo: number, secret: Secret): void {
    this.#requireActive();
    const field: Field = fieldNo === PASSWORD_FIELD.root ? "root" : "user";
    this.#hash[field] = null;
    this.#hashProblem[field] = null;
    if (secret.length === 0) return; // an empty password: the validation says so
    const copy = Secret.copyOf(secret.reveal());
    this.#hashing[field] = this.#hashing[field]
      .then(() => hashPassword(copy))
      .then(
        (h) => void (this.#hash[field] = h),
        (e) => {
          this.#hashProblem[field] = e instanceof FoyerError && e.code === "invalid-argument" ? "password-line-break" : "password-hash-failed";
          this.#o.log.warning(`cannot hash the ${field} password`, { err: describe(e) });
        },
      )
      .finally(() => copy.wipe());
    this.#o.log.info(`${field} password received`, { bytes: secret.length });
  }

  /** Thrown errors become the client's {type:"error"} reply (the server converts them once). */
  #requireActive(): void {
    if (!this.#active) throw new FoyerError("unsupported", "no first-boot setup is running");
    if (this.#submitting) throw new FoyerError("busy", "the first-boot answers are being applied");
  }

  /** The form, sent after its password frames: hashes awaited, everything checked, then applied. */
  submit(answers: FirstbootAnswers): void {
    this.#requireActive();
    this.#submitting = true;
    this.#submit(answers).catch((e) => this.#o.log.error("first-boot submit failed", { err: describe(e) }));
  }

  async #submit(answers: FirstbootAnswers): Promise<void> {
    try {
      await Promise.all([this.#hashing.user, this.#hashing.root]);
      this.#view.values = answers;
      const errors = validateAnswers(answers, {
        layouts: this.#catalog.layouts,
        locales: this.#catalog.locales,
        timezones: this.#catalog.timezones,
        takenUsers: this.#names("etc/passwd"),
        takenGroups: this.#names("etc/group"),
        hashed: { user: this.#hash.user !== null, root: this.#hash.root !== null },
      });
      for (const f of ["user", "root"] as const) {
        const problem = this.#hashProblem[f];
        if (problem && !(f === "root" && answers.rootLocked)) {
          const field = f === "user" ? "userPassword" : "rootPassword";
          const i = errors.findIndex((e) => e.field === field);
          if (i >= 0) errors[i] = { field, code: problem, message: problemMessage(problem) };
        }
      }
      this.#view.errors = errors;
      this.#view.hashed = { user: this.#hash.user !== null, root: this.#hash.root !== null };
      if (errors.length > 0) {
        this.#o.log.info("first-boot answers refused", { fields: errors.map((e) => e.field).join(",") });
        this.#view.phase = "form";
        this.#o.changed();
        return;
      }
      this.#view.phase = "applying";
      this.#view.message = "";
      delete this.#view.detail;
      this.#o.changed();
      const plan = {
        root: this.#o.root,
        answers,
        userHash: this.#hash.user!,
        rootHash: answers.rootLocked ? null : this.#hash.root,
        consoleKeymap: consoleKeymapFor(this.#catalog.consoleKeymaps, answers.layout, answers.variant),
      };
      try {
        this.#saveAnswers(plan, false);
        await applyFirstboot(plan, this.#o.log);
      } catch (e) {
        this.#view.phase = "failed";
        const detail = describe(e).slice(0, 480);
        this.#view.message = `Setup could not be completed: ${detail}.`;
        this.#view.detail = detail;
        this.#o.log.error("first-boot setup failed", { err: describe(e) });
        this.#o.changed();
        return;
      }
      try {
        this.#saveAnswers(plan, true);
      } catch (e) {
        this.#o.log.warning("cannot mark the answers file applied, ignoring: the stamp on the root says so", { err: describe(e) });
      }
      this.#active = false;
      this.#hash = { user: null, root: null };
      this.#o.finished();
    } finally {
      this.#submitting = false;
    }
  }

  #names(rel: string): Set<string> {
    try {
      return namesIn(readFileSync(join(this.#o.root, rel), "utf8"));
    } catch {
      return new Set();
    }
  }

  /**
   * The answers, hashes only, on the state dir (tmpfs in the initramfs): what a later instance
   * (after switch-root, or after a crash mid-apply) needs to finish the job.
   */
  #saveAnswers(plan: { root: string; answers: FirstbootAnswers; userHash: string; rootHash: string | null }, applied: boolean): void {
    // the state folder is foyerd's (0755: the greeter passes through it to its own folders); the
    // file itself is root's alone
    const dir = this.#o.stateDir;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const file = join(dir, "firstboot.json");
    const text =
      JSON.stringify({ schema: 1, root: plan.root, answers: plan.answers, userHash: plan.userHash, rootHash: plan.rootHash, applied }, null, 2) + "\n";
    writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
    chmodSync(`${file}.tmp`, 0o600);
    renameSync(`${file}.tmp`, file);
  }
}
