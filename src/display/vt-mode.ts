// A VT's mode while foyer draws on the framebuffer: KD_GRAPHICS keeps the kernel's text console
// off the frame (as Plymouth does); KD_TEXT is given back when foyer is done, and at exit should
// foyerd end first, since a console left in graphics mode shows nothing.
import { loadSockets } from "../base/sockets.js";

export interface VtMode {
  /** graphics mode; throws when the VT refuses */
  graphics(): void;
  /** text mode back, now rather than at exit */
  text(): void;
}

/** The VT open on `fd`. `textAtExit`: give text mode back at exit even if graphics() is never called (another process may have set it). */
export function vtMode(fd: number, textAtExit = false): VtMode {
  const kd = loadSockets();
  const text = () => {
    process.off("exit", text);
    try {
      kd.kdMode(fd, 0);
    } catch {
      /* the console is gone: nothing left to give back */
    }
  };
  if (textAtExit) process.on("exit", text);
  return {
    graphics: () => {
      kd.kdMode(fd, 1);
      process.off("exit", text);
      process.on("exit", text);
    },
    text,
  };
}
