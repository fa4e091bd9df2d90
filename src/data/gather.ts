/**
 * Copies the rows `rows[start..end)` of a row-major table with `width` values per row into `out`, one
 * after another; returns the filled part of `out`. How a batch is assembled from shared tables.
 */
export function gatherRows<T extends Float32Array | Int32Array>(
  table: T,
  width: number,
  rows: ArrayLike<number>,
  start: number,
  end: number,
  out: T,
): T {
  if (width === 1) {
    // Labels: one value per row, where a subarray view per row would only add allocations to every step.
    for (let i = start; i < end; i++) out[i - start] = table[rows[i]];
  } else {
    for (let i = start; i < end; i++) {
      const row = rows[i];
      out.set(table.subarray(row * width, (row + 1) * width), (i - start) * width);
    }
  }
  return out.subarray(0, (end - start) * width) as T;
}
