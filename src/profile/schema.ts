// The profile: one JSON file that says which display stack shows the greeter, who runs it, how
// the greeter is restarted and where the text fallback asks. Every key has a default here, so
// `{"schema": 1}` is a complete profile. docs/profiles.md documents each key.
import { z } from "zod";

const Name = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a system user name");

export const DisplaySchema = z.strictObject({
  /** wayland: cage on DRM; x11: an X server + chromium; headless-*: no screen, for tests; headless: UI only served */
  stack: z.enum(["wayland", "x11", "headless-wayland", "headless"]).default("wayland"),
  browser: z.enum(["cog", "chromium"]).default("cog"),
  /** X server binary for the x11 stack */
  xserver: z.enum(["Xorg", "Xvfb"]).default("Xorg"),
  /** output size for headless stacks (cage's headless backend, Xvfb) */
  width: z.number().int().min(320).max(7680).default(1280),
  height: z.number().int().min(240).max(4320).default(800),
  /** wlroots renderer: pixman renders in software (VMs, no GPU driver in the initramfs) */
  renderer: z.enum(["auto", "pixman", "gles2"]).default("pixman"),
  /**
   * cage's -r: rotate the output this many quarter turns. Headless test profiles use 2 because
   * cage's headless output only re-renders for screencopy (grim) when it is transformed; grim
   * turns the picture back upright.
   */
  rotate: z.number().int().min(0).max(3).default(0),
  /** start seatd for the compositor on DRM (stack "wayland"; an initramfs has no logind) */
  seatd: z.boolean().default(true),
  /**
   * the greeter's device scale factor: auto = 2 on outputs of at least 2880×1620 (Plymouth's
   * HiDPI rule), else 1; the size comes from /sys/class/drm/<output>/modes on a real display and
   * from width/height on Xvfb and headless outputs
   */
  scale: z.union([z.literal("auto"), z.number().int().min(1).max(4)]).default("auto"),
});

export const GreeterSchema = z.strictObject({
  /** unprivileged system user that runs the display stack and the browser; cage refuses root */
  user: Name.default("foyer-greeter"),
  /** TCP port on 127.0.0.1 for the greeter's HTTP+WebSocket server; 0 picks a free one */
  port: z.number().int().min(0).max(65535).default(0),
  /**
   * Chromium's remote-debugging port, for tests that drive the real greeter. Never set in a
   * shipped profile: it opens devtools. null = off.
   */
  debugPort: z.number().int().min(1024).max(65535).nullable().default(null),
  /**
   * where foyer writes chromium's managed kiosk policy (URLs locked to the greeter's origin, no
   * devtools, downloads, printing …) before chromium starts. Machine-wide: set in the shipped
   * chromium profiles for the initramfs; null = not written (the kiosk then rests on its flags).
   */
  chromiumPolicyDir: z.string().startsWith("/").nullable().default(null),
  /** the greeter must connect within this time after its process started, or it is restarted */
  readyTimeoutMs: z.number().int().min(1000).max(600_000).default(60_000),
  /**
   * a running greeter whose page lost its connection (it navigated away, or its renderer hung)
   * and has not connected again within this time is restarted
   */
  lostTimeoutMs: z.number().int().min(500).max(600_000).default(5_000),
});

export const RestartSchema = z.strictObject({
  /** more than `burst` greeter exits within `windowMs` trips the breaker: text fallback */
  burst: z.number().int().min(1).max(1000).default(5),
  windowMs: z.number().int().min(100).max(3_600_000).default(10_000),
  /** backoff before a restart: initialMs, doubled per exit inside the window, capped at maxMs */
  initialMs: z.number().int().min(0).max(60_000).default(100),
  maxMs: z.number().int().min(0).max(60_000).default(2_000),
  /** this many exits in a row of a greeter that never became interactive also trip the breaker */
  maxFailedStarts: z.number().int().min(1).max(100).default(3),
  /** SIGTERM, then SIGKILL after this */
  stopTimeoutMs: z.number().int().min(100).max(60_000).default(5_000),
});

export const FallbackSchema = z.strictObject({
  /** builtin: foyer asks on the console itself; tty-agent: hand over to systemd-tty-ask-password-agent */
  mode: z.enum(["builtin", "tty-agent"]).default("builtin"),
  console: z.string().startsWith("/dev/").default("/dev/console"),
});

export const LogSchema = z.strictObject({
  level: z.enum(["error", "warning", "notice", "info", "debug"]).default("info"),
  kmsg: z.union([z.boolean(), z.literal("auto")]).default("auto"),
});

export const KeyboardSchema = z.strictObject({
  /** XKBLAYOUT/XKBVARIANT are read from here (systemd's vconsole.conf) */
  vconsole: z.string().startsWith("/").default("/etc/vconsole.conf"),
  /** xkeyboard-config's rules file: the layouts the greeter's switcher offers */
  rules: z.string().startsWith("/").default("/usr/share/X11/xkb/rules/evdev.xml"),
});

export const LocaleSchema = z.strictObject({
  /** the greeter's language as a POSIX locale ("de_DE.UTF-8"); null = LANG from `conf` */
  lang: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, "must be a locale name like de_DE.UTF-8").nullable().default(null),
  /** systemd's locale.conf in the initrd */
  conf: z.string().startsWith("/").default("/etc/locale.conf"),
});

export const AppearanceSchema = z.strictObject({
  /** a folder in assets/themes/ (theme.css with CSS variables, logo.svg, background) */
  theme: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "must be a theme folder name").default("default"),
  /** the starting state of the greeter's toggles */
  highContrast: z.boolean().default(false),
  largeText: z.boolean().default(false),
  reducedMotion: z.boolean().default(false),
  /** on-screen keyboard: auto = shown when a touch screen and no keyboard is attached */
  osk: z.enum(["auto", "on", "off"]).default("auto"),
  /** where the input devices are listed (the kernel's capability bitmaps), for osk = auto */
  inputDevices: z.string().startsWith("/").default("/proc/bus/input/devices"),
});

const Argv = z.array(z.string().min(1).max(4096)).min(1).max(64);

export const RecoverySchema = z.strictObject({
  /** block device (or image) to check when recovery starts; null = none known */
  fsckDevice: z.string().startsWith("/").nullable().default(null),
  /** what the actions run; systemd-sulogin-shell's "continue" is `systemctl default` */
  continueCommand: Argv.default(["systemctl", "--job-mode=fail", "--no-block", "default"]),
  rebootCommand: Argv.default(["systemctl", "reboot"]),
  poweroffCommand: Argv.default(["systemctl", "poweroff"]),
  /** the recovery terminal runs this on a pty: sulogin asks for the root password, as the emergency shell does */
  terminal: Argv.default(["sulogin"]),
  /**
   * SYSTEMD_SULOGIN_FORCE=1 for sulogin: a shell even when root is locked. Only where the
   * console is physically protected.
   */
  suloginForce: z.boolean().default(false),
  /** how many lines of the journal (or of foyer's log) to show */
  journalLines: z.number().int().min(0).max(500).default(200),
  /**
   * where systemd is PID 1: enter recovery by itself when a systemd-fsck*.service fails or
   * emergency.target / rescue.target is started (systemd's JobRemoved / JobNew signals)
   */
  watchSystemd: z.boolean().default(true),
});

export const FirstbootSchema = z.strictObject({
  /**
   * the first-boot form (keyboard, language, time zone, host name, first user, root password):
   * true = run it, auto = when systemd's ConditionFirstBoot holds for `root` (its /etc/machine-id
   * is missing or "uninitialized"); never again once `root`/var/lib/foyer/firstboot.done exists
   */
  enabled: z.union([z.boolean(), z.literal("auto")]).default(false),
  /** the root file system the answers are applied to */
  root: z.string().startsWith("/").default("/sysroot"),
});

export const PlymouthSchema = z.strictObject({
  /**
   * answer Plymouth's socket protocol (plymouth --ping, ask-for-password, display-message,
   * deactivate, quit…): auto = only when no real plymouthd listens; true = always; false = never
   */
  serve: z.union([z.boolean(), z.literal("auto")]).default("auto"),
  /** the socket: '@name' is an abstract socket (the plymouth client only knows the default) */
  socket: z.string().regex(/^[@/][^\0]{1,100}$/, "must be '@name' or an absolute path").default("@/org/freedesktop/plymouthd"),
  /**
   * answer Plymouth's cached-passwords command with the passphrases typed this boot. Off: any
   * process that reaches the socket could read them, and systemd-cryptsetup reuses passphrases
   * through the kernel keyring instead
   */
  cachePasswords: z.boolean().default(false),
});

/** a path inside the state tmpfs: relative, no '..', no empty or dot segments */
const StatePath = z
  .string()
  .max(255)
  .regex(/^(?!\/)(?!.*(^|\/)\.{1,2}(\/|$))(?!.*\/\/)[^\0]+(?<!\/)$/, "must be a relative path inside the state directory, without '.' or '..' segments");
const AbsDir = z.string().max(255).regex(/^\/(?!.*(^|\/)\.{1,2}(\/|$))[^\0]*$/, "must be an absolute path without '.' or '..' segments");

export const StateSchema = z.strictObject({
  /**
   * the tmpfs at <runtime-dir>/state that holds everything foyer and its greeter write until the
   * real root is up: limits, so a runaway greeter fills its tmpfs and not the initramfs's memory
   */
  sizeMb: z.number().int().min(4).max(4096).default(64),
  inodes: z.number().int().min(256).max(1_000_000).default(16_384),
  /** where foyer-flush appends this boot's logs (boot-<boot-id>.log); null = logs are not kept */
  logs: AbsDir.nullable().default("/var/log/foyer"),
  /** what else in the state is kept (files or folders, mirrored under persistTo) */
  persist: z.array(StatePath).max(64).default(["timeline.json"]),
  persistTo: AbsDir.default("/var/lib/foyer"),
  /**
   * paths that must look like the real ones (a home from /etc/passwd, a tool's fixed folder):
   * overlay-mounted with the real folder as the lower and the tmpfs as the upper layer, so
   * writes land in memory and the disk below is never touched
   */
  overlay: z.array(AbsDir.refine((p) => p !== "/", "must not be /")).max(16).default([]),
});

export const KeyringSchema = z.strictObject({
  /**
   * single sign-on: once a disk opened with a passphrase typed into foyer, put it in root's user
   * keyring as systemd-cryptsetup does (user key "cryptsetup"), for the display manager's PAM
   * module (pam_gdm). Off by default: the passphrase then lives in the kernel for timeoutS
   */
  enabled: z.boolean().default(false),
  /** seconds until the kernel drops the key; systemd-cryptsetup's own is 150 */
  timeoutS: z.number().int().min(1).max(150).default(150),
});

export const ProfileSchema = z.strictObject({
  schema: z.literal(1),
  description: z.string().max(200).optional(),
  /** the flow shown at start; recovery is also entered by D-Bus ShowRecovery or foyerd --recovery */
  flow: z.enum(["unlock", "recovery"]).default("unlock"),
  /**
   * how the display server and the greeter are started: direct = child processes of foyerd;
   * systemd = transient units (StartTransientUnit) of the systemd that is PID 1; auto = systemd
   * when /run/systemd/system exists and its bus answers, else direct
   */
  launch: z.enum(["direct", "systemd", "auto"]).default("direct"),
  display: DisplaySchema.prefault({}),
  greeter: GreeterSchema.prefault({}),
  restart: RestartSchema.prefault({}),
  fallback: FallbackSchema.prefault({}),
  log: LogSchema.prefault({}),
  keyboard: KeyboardSchema.prefault({}),
  recovery: RecoverySchema.prefault({}),
  firstboot: FirstbootSchema.prefault({}),
  plymouth: PlymouthSchema.prefault({}),
  locale: LocaleSchema.prefault({}),
  appearance: AppearanceSchema.prefault({}),
  state: StateSchema.prefault({}),
  keyring: KeyringSchema.prefault({}),
});

export type Profile = z.infer<typeof ProfileSchema>;
export type DisplayConfig = Profile["display"];
export type RestartPolicy = Profile["restart"];
export type StateConfig = Profile["state"];

export function profileJsonSchema(): unknown {
  return z.toJSONSchema(ProfileSchema, { io: "input" });
}
