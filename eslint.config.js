// eslint's and typescript-eslint's recommended rules over every source, test and script
// (test/unit/lint.test.ts runs it). Not type-aware: that more than doubles eslint's time, and tsc
// runs beside it (test/unit/typecheck.test.ts).
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", ".cache/"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: "error" },
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // foyer filters control characters out of outside text (ask files, unit names, reasons, the console): each one in a regex is meant
      "no-control-regex": "off",
      // `const { type: _, ...rest } = m` drops a key on purpose
      "@typescript-eslint/no-unused-vars": ["error", { ignoreRestSiblings: true }],
      // a `let` that a handler registered before its one assignment reads (pty-broker's term) cannot be const
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ["src/ui/**"],
    languageOptions: { globals: { ...globals.browser } },
  },
);
