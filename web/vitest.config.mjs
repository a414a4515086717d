// Unit tests only: the end-to-end test in e2e/ runs under `node --test` (npm run e2e).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
