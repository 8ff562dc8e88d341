// The headless stack: no screen and no greeter process; the UI is only served (greeter-url), for
// tests and remote use. A layout chosen in the page is kept for the page to show.
import type { Launched } from "../launch/direct.js";
import { FoyerError } from "../base/errors.js";
import { StackBase, noCompositor } from "./stack-base.js";
import type { KeyboardApplied } from "./stacks.js";

export class HeadlessStack extends StackBase {
  readonly hasDisplay = false;
  readonly hasGreeter = false;
  readonly onScreen = false;
  protected readonly realOutput = false;

  protected async applyKeyboard(): Promise<KeyboardApplied> {
    return "recorded";
  }

  grabFrame(): Promise<Buffer> {
    return noCompositor();
  }

  startGreeter(): Launched {
    throw new FoyerError("unsupported", "the headless stack has no greeter process");
  }
}
