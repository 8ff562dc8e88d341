// The profile: one JSON file that says which display stack shows the greeter, who runs it, how
// the greeter is restarted and where the text fallback asks. Every key has a default here, so
// `{"schema": 1}` is a complete profile. docs/profiles.md documents each key.
// zod/mini (checks as functions, so the bundle keeps only what is used): foyerd's bundle loads
// ~400 KB less of zod on the way to the prompt. The messages are English once schema-messages runs.
import * as z from "zod/mini";
import "../base/schema-messages.js";

/** an integer in [min, max] */
const int = (min: number, max: number) => z.int().check(z.gte(min), z.lte(max));
/** an absolute path */
const abs = () => z.string().check(z.startsWith("/"));
const def = z._default;

const Name = z.string().check(z.regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a system user name"));

export const DisplaySchema = z.strictObject({
  /** wayland: cage on DRM; x11: an X server + chromium; headless-*: no screen, for tests; headless: UI only served */
  stack: def(z.enum(["wayland", "x11", "headless-wayland", "headless"]), "wayland"),
  browser: def(z.enum(["cog", "chromium"]), "cog"),
  /** X server binary for the x11 stack */
  xserver: def(z.enum(["Xorg", "Xvfb"]), "Xorg"),
  /** output size for headless stacks (cage's headless backend, Xvfb) */
  width: def(int(320, 7680), 1280),
  height: def(int(240, 4320), 800),
  /** wlroots renderer: pixman renders in software (VMs, no GPU driver in the initramfs) */
  renderer: def(z.enum(["auto", "pixman", "gles2"]), "pixman"),
  /**
   * cage's -r: rotate the output this many quarter turns. Headless test profiles use 2 because
   * cage's headless output only re-renders for screencopy (grim) when it is transformed; grim
   * turns the picture back upright.
   */
  rotate: def(int(0, 3), 0),
  /**
   * on DRM (stack "wayland", Xorg): how long to wait for a GPU driver's card before settling for
   * a firmware framebuffer's (simpledrm), or, with no card at all, launching anyway (Plymouth's
   * DeviceTimeout). foyerd starts before udev has loaded the drivers.
   */
  deviceTimeoutMs: def(int(0, 120_000), 8000),
  /**
   * cage stacks: foyer's first frame (the theme and a progress mark) on the framebuffer once the
   * card is there, kept by foyer-splash inside cage until the greeter's page has painted
   */
  splash: def(z.boolean(), true),
  /** start seatd for the compositor on DRM (stack "wayland"; an initramfs has no logind) */
  seatd: def(z.boolean(), true),
  /**
   * the greeter's device scale factor: auto = 2 on outputs of at least 2880×1620 (Plymouth's
   * HiDPI rule), else 1; the size comes from /sys/class/drm/<output>/modes on a real display and
   * from width/height on Xvfb and headless outputs
   */
  scale: def(z.union([z.literal("auto"), int(1, 4)]), "auto"),
});

export const GreeterSchema = z.strictObject({
  /**
   * unprivileged system user that runs the display stack and the browser, its own: whoever else
   * runs as it may fetch the greeter's session and read its page (docs/security.md). Not root
   * (cage refuses it), not nobody (every service that drops privileges shares it)
   */
  user: def(Name.check(z.refine((n) => n !== "root" && n !== "nobody", "must be the greeter's own user, not root or nobody")), "foyer-greeter"),
  /** TCP port on 127.0.0.1 for the greeter's HTTP+WebSocket server; 0 picks a free one */
  port: def(int(0, 65535), 0),
  /**
   * Chromium's remote-debugging port, for tests that drive the real greeter. Never set in a
   * shipped profile: it opens devtools. null = off.
   */
  debugPort: def(z.nullable(int(1024, 65535)), null),
  /**
   * where foyer writes chromium's managed kiosk policy (URLs locked to the greeter's origin, no
   * devtools, downloads, printing …) before chromium starts. Machine-wide: set in the shipped
   * chromium profiles for the initramfs; null = not written (the kiosk then rests on its flags).
   */
  chromiumPolicyDir: def(z.nullable(abs()), null),
  /** the greeter must connect within this time after its process started, or it is restarted */
  readyTimeoutMs: def(int(1000, 600_000), 60_000),
  /**
   * a running greeter whose page lost its connection (it navigated away, or its renderer hung)
   * and has not connected again within this time is restarted
   */
  lostTimeoutMs: def(int(500, 600_000), 5_000),
});

export const RestartSchema = z.strictObject({
  /** more than `burst` greeter exits within `windowMs` trips the breaker: text fallback */
  burst: def(int(1, 1000), 5),
  windowMs: def(int(100, 3_600_000), 10_000),
  /** backoff before a restart: initialMs, doubled per exit inside the window, capped at maxMs */
  initialMs: def(int(0, 60_000), 100),
  maxMs: def(int(0, 60_000), 2_000),
  /** this many exits in a row of a greeter that never became interactive also trip the breaker */
  maxFailedStarts: def(int(1, 100), 3),
  /** SIGTERM, then SIGKILL after this */
  stopTimeoutMs: def(int(100, 60_000), 5_000),
});

export const FallbackSchema = z.strictObject({
  /** builtin: foyer asks on the console itself; tty-agent: hand over to systemd-tty-ask-password-agent */
  mode: def(z.enum(["builtin", "tty-agent"]), "builtin"),
  console: def(z.string().check(z.startsWith("/dev/")), "/dev/console"),
});

export const LogSchema = z.strictObject({
  level: def(z.enum(["error", "warning", "notice", "info", "debug"]), "info"),
  kmsg: def(z.union([z.boolean(), z.literal("auto")]), "auto"),
});

export const KeyboardSchema = z.strictObject({
  /** XKBLAYOUT/XKBVARIANT are read from here (systemd's vconsole.conf) */
  vconsole: def(abs(), "/etc/vconsole.conf"),
  /** xkeyboard-config's rules file: the layouts the greeter's switcher offers */
  rules: def(abs(), "/usr/share/X11/xkb/rules/evdev.xml"),
});

export const LocaleSchema = z.strictObject({
  /** the greeter's language as a POSIX locale ("de_DE.UTF-8"); null = LANG from `conf` */
  lang: def(z.nullable(z.string().check(z.regex(/^[A-Za-z0-9_.@-]{1,64}$/, "must be a locale name like de_DE.UTF-8"))), null),
  /** systemd's locale.conf in the initrd */
  conf: def(abs(), "/etc/locale.conf"),
});

export const AppearanceSchema = z.strictObject({
  /** a folder in assets/themes/ (theme.css with CSS variables, logo.svg, background) */
  theme: def(z.string().check(z.regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "must be a theme folder name")), "default"),
  /** the starting state of the greeter's toggles */
  highContrast: def(z.boolean(), false),
  largeText: def(z.boolean(), false),
  reducedMotion: def(z.boolean(), false),
  /** on-screen keyboard: auto = shown when a touch screen and no keyboard is attached */
  osk: def(z.enum(["auto", "on", "off"]), "auto"),
  /** where the input devices are listed (the kernel's capability bitmaps), for osk = auto */
  inputDevices: def(abs(), "/proc/bus/input/devices"),
});

const CONTINUE_SCRIPT = "systemctl kill --signal=SIGKILL emergency.service rescue.service 2>/dev/null; exec systemctl --job-mode=fail --no-block default";
const Argv = z.array(z.string().check(z.minLength(1), z.maxLength(4096))).check(z.minLength(1), z.maxLength(64));

export const RecoverySchema = z.strictObject({
  /** block device (or image) to check when recovery starts; null = none known */
  fsckDevice: def(z.nullable(abs()), null),
  /**
   * what the actions run. Continue is what leaving the emergency shell does (its ExecStopPost,
   * `systemctl default`), after ending that shell, which may not be dracut's (foyer's drop-in
   * makes that one stop promptly: packaging/systemd/initrd/emergency.service.d)
   */
  continueCommand: def(Argv, ["sh", "-c", CONTINUE_SCRIPT]),
  rebootCommand: def(Argv, ["systemctl", "reboot"]),
  poweroffCommand: def(Argv, ["systemctl", "poweroff"]),
  /** the recovery terminal runs this on a pty: sulogin asks for the root password, as the emergency shell does */
  terminal: def(Argv, ["sulogin"]),
  /**
   * SYSTEMD_SULOGIN_FORCE=1 for sulogin: a shell even when root is locked. Only where the
   * console is physically protected.
   */
  suloginForce: def(z.boolean(), false),
  /** how many lines of the journal (or of foyer's log) to show */
  journalLines: def(int(0, 500), 200),
  /**
   * where systemd is PID 1: enter recovery by itself when a systemd-fsck*.service fails or
   * emergency.target / rescue.target is started (systemd's JobRemoved / JobNew signals)
   */
  watchSystemd: def(z.boolean(), true),
});

export const FirstbootSchema = z.strictObject({
  /**
   * the first-boot form (keyboard, language, time zone, host name, first user, root password):
   * true = run it, auto = when systemd's ConditionFirstBoot holds for `root` (its /etc/machine-id
   * is missing or "uninitialized"); never again once `root`/var/lib/foyer/firstboot.done exists
   */
  enabled: def(z.union([z.boolean(), z.literal("auto")]), false),
  /** the root file system the answers are applied to */
  root: def(abs(), "/sysroot"),
});

export const PlymouthSchema = z.strictObject({
  /**
   * answer Plymouth's socket protocol (plymouth --ping, ask-for-password, display-message,
   * deactivate, quit…): auto = only when no real plymouthd listens; true = always; false = never
   */
  serve: def(z.union([z.boolean(), z.literal("auto")]), "auto"),
  /** the socket: '@name' is an abstract socket (the plymouth client only knows the default) */
  socket: def(z.string().check(z.regex(/^[@/][^\0]{1,100}$/, "must be '@name' or an absolute path")), "@/org/freedesktop/plymouthd"),
  /**
   * where a serving foyer says that "plymouth runs", as plymouthd does: systemd-fsck and
   * systemd-fsckd report a check's progress to Plymouth only when this file exists
   * (/run/plymouth/pid in the shipped initrd profiles); null = none
   */
  pidFile: def(z.nullable(abs()), null),
  /**
   * answer Plymouth's cached-passwords command with the passphrases typed this boot. Off: only
   * root may ask (as every command), but any root process would get every passphrase, and
   * systemd-cryptsetup reuses passphrases through the kernel keyring instead
   */
  cachePasswords: def(z.boolean(), false),
});

/** a path inside the state tmpfs: relative, no '..', no empty or dot segments */
const StatePath = z
  .string()
  .check(
    z.maxLength(255),
    z.regex(/^(?!\/)(?!.*(^|\/)\.{1,2}(\/|$))(?!.*\/\/)[^\0]+(?<!\/)$/, "must be a relative path inside the state directory, without '.' or '..' segments"),
  );
const AbsDir = z.string().check(z.maxLength(255), z.regex(/^\/(?!.*(^|\/)\.{1,2}(\/|$))[^\0]*$/, "must be an absolute path without '.' or '..' segments"));

export const StateSchema = z.strictObject({
  /**
   * the tmpfs at <runtime-dir>/state that holds everything foyer and its greeter write until the
   * real root is up: limits, so a runaway greeter fills its tmpfs and not the initramfs's memory
   */
  sizeMb: def(int(4, 4096), 64),
  inodes: def(int(256, 1_000_000), 16_384),
  /** where foyer-flush appends this boot's logs (boot-<boot-id>.log); null = logs are not kept */
  logs: def(z.nullable(AbsDir), "/var/log/foyer"),
  /** what else in the state is kept (files or folders, mirrored under persistTo) */
  persist: def(z.array(StatePath).check(z.maxLength(64)), ["timeline.json"]),
  persistTo: def(AbsDir, "/var/lib/foyer"),
  /**
   * paths that must look like the real ones (a home from /etc/passwd, a tool's fixed folder):
   * overlay-mounted with the real folder as the lower and the tmpfs as the upper layer, so
   * writes land in memory and the disk below is never touched
   */
  overlay: def(z.array(AbsDir.check(z.refine((p) => p !== "/", "must not be /"))).check(z.maxLength(16)), []),
});

export const KeyringSchema = z.strictObject({
  /**
   * single sign-on: once a disk opened with a passphrase typed into foyer, put it in root's user
   * keyring as systemd-cryptsetup does (user key "cryptsetup"), for the display manager's PAM
   * module (pam_gdm). Off by default: the passphrase then lives in the kernel for timeoutS
   */
  enabled: def(z.boolean(), false),
  /** seconds until the kernel drops the key; systemd-cryptsetup's own is 150 */
  timeoutS: def(int(1, 150), 150),
});

export const ProfileSchema = z.strictObject({
  schema: z.literal(1),
  description: z.optional(z.string().check(z.maxLength(200))),
  /** the flow shown at start; recovery is also entered by D-Bus ShowRecovery or foyerd --recovery */
  flow: def(z.enum(["unlock", "recovery"]), "unlock"),
  /**
   * how the display server and the greeter are started: direct = child processes of foyerd;
   * systemd = transient units (StartTransientUnit) of the systemd that is PID 1; auto = systemd
   * when /run/systemd/system exists and its bus answers, else direct
   */
  launch: def(z.enum(["direct", "systemd", "auto"]), "direct"),
  display: z.prefault(DisplaySchema, {}),
  greeter: z.prefault(GreeterSchema, {}),
  restart: z.prefault(RestartSchema, {}),
  fallback: z.prefault(FallbackSchema, {}),
  log: z.prefault(LogSchema, {}),
  keyboard: z.prefault(KeyboardSchema, {}),
  recovery: z.prefault(RecoverySchema, {}),
  firstboot: z.prefault(FirstbootSchema, {}),
  plymouth: z.prefault(PlymouthSchema, {}),
  locale: z.prefault(LocaleSchema, {}),
  appearance: z.prefault(AppearanceSchema, {}),
  state: z.prefault(StateSchema, {}),
  keyring: z.prefault(KeyringSchema, {}),
});

export type Profile = z.infer<typeof ProfileSchema>;
export type DisplayConfig = Profile["display"];
export type RestartPolicy = Profile["restart"];
export type StateConfig = Profile["state"];

export function profileJsonSchema(): unknown {
  return z.toJSONSchema(ProfileSchema, { io: "input" });
}
