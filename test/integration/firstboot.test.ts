// The first-boot flow through the real greeter UI: a real foyerd (headless profile) with
// --firstboot-root on a scratch root, Debian's chromium driven by playwright-core, and the real
// tools (openssl, useradd, chpasswd, systemd-firstboot) writing into the scratch root.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { chromium, type Browser, type Page } from "playwright-core";
import WebSocket from "ws";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, lstatSync, readlinkSync, existsSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Foyerd, requirePrivateAskDir, requireTool, withTimeout, CHROMIUM_ARGS, top } from "../helpers/index.js";
import { makeScratchRoot, removeScratchRoot, rehash } from "../helpers/scratch-root.js";
import { encodePassword } from "../../src/protocol/firstboot.js";

for (const [t, p] of [
  ["chromium", "chromium"],
  ["openssl", "openssl"],
  ["useradd", "passwd"],
  ["chpasswd", "passwd"],
  ["systemd-firstboot", "systemd"],
])
  requireTool(t!, p!);
requirePrivateAskDir();

interface Ctx {
  root?: string;
  foyerd?: Foyerd;
  browser?: Browser;
}
const F = suite<Ctx>("integration/firstboot", {});

F.before(async (ctx) => {
  ctx.root = makeScratchRoot();
  ctx.foyerd = new Foyerd("headless", { extraArgs: ["--firstboot-root", ctx.root] });
  ctx.browser = await withTimeout(chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS }), 30_000, "chromium launch");
});
F.after(async (ctx) => {
  await ctx.browser?.close();
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  removeScratchRoot(ctx.root);
});

/** Every path under the root with its type, mode and content digest: "nothing written" is this staying equal. */
function treeDigest(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = lstatSync(join(root, r));
      if (st.isSymbolicLink()) out.push(`${r} -> ${readlinkSync(join(root, r))}`);
      else if (st.isDirectory()) {
        out.push(`${r}/ ${st.mode.toString(8)}`);
        walk(r);
      } else
        out.push(
          `${r} ${st.mode.toString(8)} ${createHash("sha256")
            .update(readFileSync(join(root, r)))
            .digest("hex")}`,
        );
    }
  };
  walk("");
  return out;
}

async function openForm(ctx: Ctx): Promise<Page> {
  const page = await ctx.browser!.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(await ctx.foyerd!.url());
  await withTimeout(page.locator("#firstboot-view").waitFor(), 10_000, "first-boot form shown");
  // the choices arrived: the layout list is filled and the default chosen
  await withTimeout(page.locator("#fb-layout option[value='us']").waitFor({ state: "attached" }), 10_000, "layouts listed");
  return page;
}

type Msg = { type: string; code?: string; message?: string; flow?: string; firstboot?: { phase: string; errors: { field: string }[] } };
/** A WebSocket client without the browser: every message kept, and a wait on them that is an event, not a poll. */
async function rawClient(foyerd: Foyerd): Promise<{ ws: WebSocket; msgs: Msg[]; until: (pred: () => boolean, what: string) => Promise<void> }> {
  const url = new URL(await foyerd.url());
  const token = new URLSearchParams(url.hash.slice(1)).get("token")!;
  const ws = new WebSocket(`ws://${url.host}/ws?token=${token}`, { headers: { Origin: `http://${url.host}` } });
  const msgs: Msg[] = [];
  const waiters: (() => void)[] = [];
  ws.on("message", (d) => {
    msgs.push(JSON.parse(d.toString()));
    for (const w of waiters.splice(0)) w();
  });
  const until = (pred: () => boolean, what: string) =>
    withTimeout(
      new Promise<void>((resolve) => {
        const check = () => (pred() ? resolve() : waiters.push(check));
        check();
      }),
      10_000,
      what,
    );
  await withTimeout(new Promise((r) => ws.on("open", r)), 5_000, "ws open");
  await until(() => msgs.some((m) => m.type === "state"), "first state");
  return { ws, msgs, until };
}

const focusedId = (page: Page) => page.evaluate(() => document.activeElement?.id ?? "");
const errorOf = (page: Page, id: string) => page.locator(`#${id}`).locator("xpath=..").locator(".field-error");

F("bad answers: inline errors, the first one focused, nothing written", async (ctx) => {
  const before = treeDigest(ctx.root!);
  const page = await openForm(ctx);
  assert.is(await page.locator("#unlock-view").isHidden(), true);
  // caught in the browser, with the daemon's own rules: nothing is even sent
  await page.getByLabel("Computer name").fill("-bad-host-");
  await page.getByLabel("Login name").fill("Ada");
  await page.getByLabel("Password", { exact: true }).fill("one password");
  await page.getByLabel("Confirm password", { exact: true }).fill("another");
  await page.getByRole("button", { name: "Set up" }).click();
  assert.match((await errorOf(page, "fb-hostname").textContent()) ?? "", /hyphen/);
  assert.match((await errorOf(page, "fb-username").textContent()) ?? "", /lowercase/);
  assert.is(await errorOf(page, "fb-userPassword").textContent(), "The two passwords do not match.");
  assert.is(await page.locator("#fb-hostname").getAttribute("aria-invalid"), "true");
  assert.is(await focusedId(page), "fb-hostname");
  assert.is(await errorOf(page, "fb-fullName").isHidden(), true);
  writeFileSync(join(tmpdir(), "foyer-firstboot-errors.png"), await page.screenshot({ fullPage: true }));

  // valid in form, refused by the daemon: 'daemon' exists in the target's /etc/passwd
  await page.getByLabel("Computer name").fill("kiste");
  await page.getByLabel("Login name").fill("daemon");
  await page.getByLabel("Confirm password", { exact: true }).fill("one password");
  await page.getByLabel("Set a root password").check();
  await page.getByLabel("Root password", { exact: true }).fill("");
  await page.getByRole("button", { name: "Set up" }).click();
  // the browser refuses the empty root password first
  assert.is(await errorOf(page, "fb-rootPassword").textContent(), "Enter a password.");
  assert.is(await focusedId(page), "fb-rootPassword");
  await page.getByLabel("Lock the root account").check();
  await page.getByRole("button", { name: "Set up" }).click();
  await withTimeout(page.locator("#fb-username[aria-invalid='true']").waitFor(), 10_000, "the daemon's verdict");
  assert.match((await errorOf(page, "fb-username").textContent()) ?? "", /'daemon' is already used by an account/);
  assert.is(await focusedId(page), "fb-username");
  assert.is(await page.locator("#fb-hostname").getAttribute("aria-invalid"), null);
  await page.close();
  // a restarted greeter shows what the dead one showed: the answers and the daemon's errors
  const again = await openForm(ctx);
  await withTimeout(again.locator("#fb-username[aria-invalid='true']").waitFor(), 10_000, "errors after reconnect");
  assert.is(await again.getByLabel("Login name").inputValue(), "daemon");
  assert.is(await again.getByLabel("Computer name").inputValue(), "kiste");
  assert.is(await again.getByLabel("Password", { exact: true }).inputValue(), "", "no password comes back");
  await again.close();

  // a client that skips the browser's checks: the daemon names every bad field
  const { ws, msgs, until } = await rawClient(ctx.foyerd!);
  const bad = { layout: "xx", variant: "", locale: "de_DE", timezone: "Europe/Atlantis", hostname: "ok", fullName: "A:B", username: "eve", rootLocked: false };
  ws.send(Buffer.from(encodePassword(1, Buffer.from("pw"))), { binary: true });
  ws.send(JSON.stringify({ type: "firstboot_submit", answers: bad }));
  await until(() => msgs.some((m) => m.type === "state" && (m.firstboot?.errors.length ?? 0) >= 5), "errors for the crafted answers");
  const last = msgs.filter((m) => m.type === "state").pop()!;
  assert.equal(
    last.firstboot!.errors.map((e) => e.field),
    ["layout", "locale", "timezone", "fullName", "rootPassword"],
  );
  // a password as JSON is not a message at all
  ws.send(JSON.stringify({ type: "firstboot_submit", answers: { ...bad, password: "x" } }));
  await until(() => msgs.some((m) => m.type === "error" && m.code === "protocol-error"), "protocol error");
  const refused = msgs.find((m) => m.type === "error" && m.code === "protocol-error");
  assert.match(refused?.message ?? "", /answers: Unrecognized key: "password"/);
  ws.close();

  assert.equal(treeDigest(ctx.root!), before);
  assert.not.ok(existsSync(join(ctx.foyerd!.runtimeDir, "state/firstboot.json")), "no answers kept for refused input");
});

F("in the greeter's language: the form, its choices and the daemon's errors; a switch rewrites what is shown", async (ctx) => {
  const page = await openForm(ctx);
  // the daemon still holds its verdict on the crafted answers of the test before
  await withTimeout(page.locator("#fb-fullName[aria-invalid='true']").waitFor(), 10_000, "the held errors");
  // the language picker is not shown during first boot: the language comes with the state
  const { ws, msgs } = await rawClient(ctx.foyerd!);
  const setLocale = async (locale: string, lang: string) => {
    ws.send(JSON.stringify({ type: "appearance_set", locale }));
    await withTimeout(page.locator(`html[lang=${lang}]`).waitFor({ state: "attached" }), 10_000, `page in ${lang}`);
  };
  try {
    await setLocale("de_DE.UTF-8", "de");
    assert.is(await page.locator("#firstboot-view h1").textContent(), "Diesen Computer einrichten");
    assert.is(await page.getByRole("button", { name: "Einrichten" }).count(), 1);
    assert.is(await page.getByLabel("Computername").getAttribute("placeholder"), "zum Beispiel: buero-pc");
    // the daemon's errors, shown before the switch, now in German
    assert.is(await errorOf(page, "fb-fullName").textContent(), "Ein Name darf weder „:“ noch „,“ noch Steuerzeichen enthalten.");
    assert.is(await errorOf(page, "fb-layout").textContent(), "Bitte eine Tastaturbelegung aus der Liste wählen.");
    assert.is(await page.getByLabel("Vollständiger Name").inputValue(), "A:B", "the relabelled form keeps the answers");
    // the choices' labels too: language names in German, the variant's default, the zones without a region
    assert.is(await page.locator("#fb-locale option[value='de_DE.UTF-8']").textContent(), "Deutsch (Deutschland) — de_DE.UTF-8");
    assert.is(await page.locator("#fb-variant option[value='']").textContent(), "Standard");
    assert.is(await page.locator("#fb-timezone optgroup[label='Sonstige'] option[value='UTC']").count(), 1);
    const text = await page.locator("#firstboot-view").innerText();
    for (const english of ["Set up", "Keyboard layout", "Time zone", "Login name", "Confirm password", "Lock the root account", "Choose a"])
      assert.not.ok(text.includes(english), `'${english}' left untranslated`);

    // the daemon's verdict on a new submit, with the name it is about
    await page.getByLabel("Tastaturbelegung").selectOption("us");
    await page.getByLabel("Sprache").selectOption("de_DE.UTF-8");
    await page.getByLabel("Zeitzone").selectOption("Europe/Berlin");
    await page.getByLabel("Computername").fill("kiste");
    await page.getByLabel("Vollständiger Name").fill("Ada");
    await page.getByLabel("Anmeldename").fill("daemon");
    await page.getByLabel("Passwort", { exact: true }).fill("eins");
    await page.getByLabel("Passwort bestätigen", { exact: true }).fill("eins");
    await page.getByLabel("Root-Konto sperren").check();
    await page.getByRole("button", { name: "Einrichten" }).click();
    await withTimeout(page.locator("#fb-username[aria-invalid='true']").waitFor(), 10_000, "the daemon's verdict");
    assert.is(await errorOf(page, "fb-username").textContent(), "Der Name „daemon“ wird schon von einem Konto auf diesem System verwendet.");
    // the page's own checks speak German as well
    await page.getByLabel("Passwort bestätigen", { exact: true }).fill("zwei");
    await page.getByRole("button", { name: "Einrichten" }).click();
    assert.is(await errorOf(page, "fb-userPassword").textContent(), "Die beiden Passwörter stimmen nicht überein.");
    assert.is(await focusedId(page), "fb-userPassword");
    // an error on the screen follows a switch, right to left for Arabic
    await setLocale("ar_EG.UTF-8", "ar");
    assert.is(await page.locator("html").getAttribute("dir"), "rtl");
    assert.is(await errorOf(page, "fb-userPassword").textContent(), "كلمتا المرور غير متطابقتين.");
    assert.is(await page.getByRole("button", { name: "إعداد" }).count(), 1);
    await setLocale("C.UTF-8", "en");
    assert.is(await errorOf(page, "fb-userPassword").textContent(), "The two passwords do not match.");
    assert.is(await page.locator("#fb-locale option[value='de_DE.UTF-8']").textContent(), "German (Germany) — de_DE.UTF-8");
    assert.is(await page.getByLabel("Language").inputValue(), "de_DE.UTF-8", "the relabelled choice stays chosen");
    assert.ok(
      msgs.every((m) => m.type !== "error"),
      "appearance_set refused during first boot",
    );
  } finally {
    // the language is the daemon's, for every page: the tests after this one read English
    ws.send(JSON.stringify({ type: "appearance_set", locale: "C.UTF-8" }));
    ws.close();
  }
  await page.close();
});

F("a full run writes /etc and the account; the layout applies live; passwords only as hashes", async (ctx) => {
  const page = await openForm(ctx);
  const keyboard = page.locator("#keyboard");
  assert.is(await keyboard.textContent(), "us");
  await page.getByLabel("Keyboard layout").selectOption("de");
  await withTimeout(page.locator("#keyboard", { hasText: /^de$/ }).waitFor(), 10_000, "layout shown live");
  await page.getByLabel("Variant").selectOption("nodeadkeys");
  await withTimeout(page.locator("#keyboard", { hasText: "de (nodeadkeys)" }).waitFor(), 10_000, "variant shown live");
  await page.getByLabel("Language").selectOption("de_DE.UTF-8");
  await page.getByLabel("Time zone").selectOption("Europe/Berlin");
  await page.getByLabel("Computer name").fill("kiste.example");
  await page.getByLabel("Full name").fill("Ada Lovelace");
  await page.getByLabel("Login name").fill("ada");
  await page.getByLabel("Password", { exact: true }).fill("Korrekt Pferd 1");
  await page.getByLabel("Confirm password", { exact: true }).fill("Korrekt Pferd 1");
  await page.getByLabel("Set a root password").check();
  await page.getByLabel("Root password", { exact: true }).fill("wurzel ü");
  await page.getByLabel("Confirm root password").fill("wurzel ü");
  await page.getByLabel("Full name").focus();
  const shot = await page.screenshot({ fullPage: true });
  writeFileSync(join(tmpdir(), "foyer-firstboot.png"), shot);
  if (process.env.FOYER_UPDATE_DOCS) writeFileSync(join(top, "docs/firstboot.png"), shot);
  await page.getByRole("button", { name: "Set up" }).click();
  await withTimeout(page.locator("#unlock-view").waitFor(), 30_000, "back to the unlock view");
  assert.is(await page.locator("#status").textContent(), "This computer is set up.");
  assert.is(await page.locator("#firstboot-view").isHidden(), true);
  assert.is(await page.locator("#fb-userPassword").inputValue(), "", "password fields cleared on leaving");
  await page.close();

  const root = ctx.root!;
  assert.is(readFileSync(join(root, "etc/hostname"), "utf8"), "kiste.example\n");
  // Debian's systemd-firstboot writes /etc/default/locale, upstream /etc/locale.conf
  const localeFile = ["etc/locale.conf", "etc/default/locale"].map((f) => join(root, f)).find(existsSync);
  assert.match(readFileSync(localeFile!, "utf8"), /^LANG=de_DE\.UTF-8$/m);
  assert.is(readlinkSync(join(root, "etc/localtime")), "../usr/share/zoneinfo/Europe/Berlin");
  assert.is(realpathSync(join(root, "etc/localtime")), realpathSync("/usr/share/zoneinfo/Europe/Berlin"));
  assert.is(readFileSync(join(root, "etc/vconsole.conf"), "utf8"), "KEYMAP=de-latin1-nodeadkeys\nXKBLAYOUT=de\nXKBVARIANT=nodeadkeys\n");
  const xorg = readFileSync(join(root, "etc/X11/xorg.conf.d/00-keyboard.conf"), "utf8");
  assert.match(xorg, /Option "XkbLayout" "de"/);
  assert.match(xorg, /Option "XkbVariant" "nodeadkeys"/);

  const entry = (file: string, name: string) =>
    readFileSync(join(root, "etc", file), "utf8")
      .split("\n")
      .find((l) => l.startsWith(`${name}:`))
      ?.split(":");
  const pw = entry("passwd", "ada")!;
  assert.is(pw[4], "Ada Lovelace");
  assert.is(pw[5], "/home/ada");
  assert.ok(statSync(join(root, "home/ada")).isDirectory());
  const userHash = entry("shadow", "ada")![1]!;
  const rootHash = entry("shadow", "root")![1]!;
  assert.match(userHash, /^\$6\$/);
  assert.is(rehash("Korrekt Pferd 1", userHash), userHash);
  assert.is(rehash("wurzel ü", rootHash), rootHash);
  assert.is.not(rehash("Korrekt Pferd 2", userHash), userHash);

  // the answers on the state dir: 0600, hashes only
  const answersFile = join(ctx.foyerd!.runtimeDir, "state/firstboot.json");
  assert.is(statSync(answersFile).mode & 0o777, 0o600);
  const text = readFileSync(answersFile, "utf8");
  const saved = JSON.parse(text);
  assert.is(saved.userHash, userHash);
  assert.is(saved.rootHash, rootHash);
  assert.is(saved.applied, true);
  for (const clear of ["Korrekt Pferd", "wurzel"]) {
    assert.not.ok(text.includes(clear), "a clear password in the answers file");
    assert.not.ok(ctx.foyerd!.log.includes(clear), "a clear password in foyerd's log");
  }
  assert.ok(existsSync(join(root, "var/lib/foyer/firstboot.done")));
});

F("the flow does not run a second time on the same root", async (ctx) => {
  await ctx.foyerd!.stop();
  ctx.foyerd!.cleanup();
  const before = treeDigest(ctx.root!);
  ctx.foyerd = new Foyerd("headless", { extraArgs: ["--firstboot-root", ctx.root!] });
  const page = await ctx.browser!.newPage();
  await page.goto(await ctx.foyerd.url());
  await withTimeout(page.locator("#unlock-view").waitFor(), 10_000, "unlock view");
  await withTimeout(page.locator("#status", { hasText: "No password is needed right now." }).waitFor(), 10_000, "the unlock view's state rendered");
  assert.is(await page.locator("#firstboot-view").isHidden(), true);
  assert.ok(ctx.foyerd.log.includes("first-boot setup skipped: already done"));
  await page.close();
  // nor can a client push answers into a flow that is not running
  const { ws, msgs, until } = await rawClient(ctx.foyerd);
  assert.is(msgs.find((m) => m.type === "state")?.flow, "unlock");
  ws.send(Buffer.from(encodePassword(1, Buffer.from("pw"))), { binary: true });
  ws.send(
    JSON.stringify({
      type: "firstboot_submit",
      answers: { layout: "us", variant: "", locale: "C.UTF-8", timezone: "UTC", hostname: "x", fullName: "", username: "mallory", rootLocked: true },
    }),
  );
  await until(() => msgs.filter((m) => m.type === "error" && m.code === "unsupported").length === 2, "both refused");
  ws.close();
  assert.equal(treeDigest(ctx.root!), before);
});

F("a failed apply: the tool's words inside a sentence in the greeter's language", async (ctx) => {
  await ctx.foyerd!.stop();
  ctx.foyerd!.cleanup();
  removeScratchRoot(ctx.root);
  // a fresh root whose passwd lock is held by a live process (PID 1): useradd, the first step, refuses
  ctx.root = makeScratchRoot();
  writeFileSync(join(ctx.root, "etc/passwd.lock"), "1");
  const cmdline = join(ctx.root, "cmdline");
  writeFileSync(cmdline, "quiet rd.foyer.lang=fr_FR.UTF-8\n");
  ctx.foyerd = new Foyerd("headless", { extraArgs: ["--firstboot-root", ctx.root, "--cmdline", cmdline] });
  const page = await openForm(ctx);
  assert.is(await page.locator("html").getAttribute("lang"), "fr");
  await page.getByLabel("Nom de l’ordinateur").fill("poste");
  await page.getByLabel("Nom d’utilisateur").fill("zoe");
  await page.getByLabel("Mot de passe", { exact: true }).fill("mot de passe");
  await page.getByLabel("Confirmer le mot de passe", { exact: true }).fill("mot de passe");
  await page.getByRole("button", { name: "Configurer" }).click();
  await withTimeout(page.locator("#fb-form-error:not([hidden])").waitFor(), 30_000, "the failure shown");
  assert.match((await page.locator("#fb-form-error").textContent()) ?? "", /^La configuration n’a pas pu aboutir : useradd failed \(exit \d+\)\.$/);
  assert.is(await page.locator("#fb-submit").isEnabled(), true, "the person can try again");
  await page.close();
});

F.run();
