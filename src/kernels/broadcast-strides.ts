/** The step through `shape`'s data for each axis of `outShape` (right-aligned; 0 where `shape` broadcasts). */
export function broadcastStrides(shape: number[], outShape: number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let stride = 1;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    if (shape[axis] !== 1) strides[outShape.length - shape.length + axis] = stride;
    stride *= shape[axis];
  }
  return strides;
}
