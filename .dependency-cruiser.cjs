/**
 * dependency-cruiser's rules for this repository (`npm run lint:deps`, part of `npm run lint`).
 *
 * One rule: no import circle anywhere. The folder boundaries are test/infra/import-boundaries.test.ts's job (each
 * rule there is a sentence of docs/architecture.md); a circle is what that test cannot see, since every edge of one
 * may be allowed on its own.
 */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment:
        "A module reaches itself through its imports. Break the circle by moving what both sides need (a type, a " +
        "constant) into a small module below both.",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    // Packages are leaves here: whether they hold circles is not ours to fix, and following them is most of the time.
    doNotFollow: { path: "(^|/)node_modules/" },
    exclude: { path: "(^|/)(node_modules|cdk\\.out|coverage)/" },
    // Type-only imports count: `import type` is erased at run time, but a circle through one still ties two modules
    // together (errors.ts <-> shard-call.ts was one).
    tsPreCompilationDeps: true,
    // The project's own resolution: NodeNext, so `./x.js` in a .ts file names `./x.ts`.
    tsConfig: { fileName: "tsconfig.json" },
    skipAnalysisNotInRules: true,
    reporterOptions: { text: { highlightFocused: true } },
  },
};
