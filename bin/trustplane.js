#!/usr/bin/env node
// Entry point of the `trustplane` command: runs the TypeScript CLI through tsx's
// loader so that the sources are the program (no separate build step).
import { register } from "tsx/esm/api";

register();
await import("../cli/main.ts");
