/**
 * What every part of `npm run bench` returns: a plain-text report for the terminal, the markdown
 * section for `docs/benchmarks.md`, and the figures as JSON.
 */

/** How a part is run. */
export interface PartContext {
  /** Small sizes for a quick check (`--quick`); the docs are then not written. */
  readonly quick: boolean;
  /** Where SVG plots go (`docs/`). */
  readonly docsDir: string;
  /** Seconds per measured run. */
  readonly seconds: number;
  /** Progress lines (stderr). */
  log(line: string): void;
}

/** A part's results. */
export interface PartOutcome {
  /** The section name in `docs/benchmarks.md` (`<!-- bench:NAME:start -->`). */
  readonly section: string;
  readonly text: string;
  readonly markdown: string;
  readonly json: Readonly<Record<string, unknown>>;
}
