// zod/mini leaves every message "Invalid input" until a locale is set. The modules whose schema
// errors reach a person (a profile's problems, a greeter client's refused frame) import this.
// English alone: `locales` from "zod/mini" would bundle all of zod's 50 languages.
import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

config(en());
