// Number formats and small helpers shared by the bench report's renderers.

/** `n` with thousands separators and `digits` decimals, or '-' when not measured. */
export const fmt = (n, digits = 0) =>
  n === null || n === undefined ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
/** A fraction as a percentage with one decimal, or '-'. */
export const pct = (n) => (n === null || n === undefined ? '-' : `${(n * 100).toFixed(1)}%`);
/** The row with the largest f(row), or undefined for none. */
export const maxBy = (rows, f) => rows.reduce((best, r) => (best === undefined || f(r) > f(best) ? r : best), undefined);

/** The ONNX teacher's rows (onnxruntime sessions in the pool) and references are told apart by their kernels. */
export const ONNX = 'onnxruntime';
export const isOnnx = (r) => r.kernels === ONNX;
