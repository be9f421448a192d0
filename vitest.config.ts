import { defineConfig } from "vitest/config";

const STRESS = ["test/reliability/postgres-faults.test.ts", "test/reliability/large-bodies.test.ts"];

export default defineConfig({
  test: {
    env: { POWERTOOLS_METRICS_DISABLED: "true" },
    coverage: {
      provider: "v8",
      include: ["functions/**/*.ts"],
      reporter: ["text-summary", "text"],
      thresholds: { lines: 95 },
    },
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          setupFiles: ["aws-sdk-client-mock-vitest/extend"],
        },
      },
      {
        extends: true,
        test: {
          name: "infra",
          include: ["test/infra/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/integration/global-setup.ts"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: "reliability",
          include: ["test/reliability/**/*.test.ts"],
          exclude: STRESS,
          globalSetup: ["test/integration/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        // Tests that load the machine on purpose (PostgreSQL restarted under 50 readers, 100 uploads of 9.9 MB) run
        // after every other project, alone: on two cores they would push the timing-bound tests past their bounds.
        extends: true,
        test: {
          name: "stress",
          include: STRESS,
          globalSetup: ["test/integration/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
