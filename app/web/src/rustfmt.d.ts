export function fixed(x: number, digits: number): string;
export function pct(x: number): string;
export function integer(n: number): string;
export function utc(t: number): string;
export type FigureFormat = "int" | "fixed6" | "pct" | "utc" | "text";
export function render(format: FigureFormat, value: unknown): string;
