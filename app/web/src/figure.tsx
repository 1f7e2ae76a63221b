// One figure on a page: its text is exactly `render(format, value)`, and its
// attributes say where it came from (data-source: "stats", "provider:<pk>" or
// "job:<pk>"; data-field: the JSON field's name), so that e2e/e2e.mjs can find
// every figure and compare it with `gpumkt audit stats --output json`.
import type { ReactNode } from "react";
import { render, type FigureFormat } from "./rustfmt";

export function Fig(props: { source: string; field: string; value: unknown; format?: FigureFormat }) {
  const format = props.format ?? "int";
  let text: string;
  try {
    text = render(format, props.value);
  } catch (e) {
    // A value the API should never send (a float where an integer belongs):
    // shown as an error on the page rather than silently rounded.
    text = `invalid: ${String(props.value)}`;
    console.error(`figure ${props.source}.${props.field}:`, e);
  }
  return (
    <span
      className={`fig fig-${format}`}
      data-testid={`${props.source}.${props.field}`}
      data-source={props.source}
      data-field={props.field}
      data-format={format}
    >
      {text}
    </span>
  );
}

/** A labelled tile for a headline figure. */
export function Tile(props: { label: string; children: ReactNode; note?: ReactNode }) {
  return (
    <div className="tile">
      <div className="tile-label">{props.label}</div>
      <div className="tile-value">{props.children}</div>
      {props.note ? <div className="tile-note">{props.note}</div> : null}
    </div>
  );
}
