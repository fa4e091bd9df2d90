import { describe, expect, it } from 'vitest';
import { onnxQuantizeWarnings } from '../dist/cli/student-onnx.js';
import type { OnnxExportReport } from '../dist/index.js';

/** An export's report with the accuracies that matter here; the rest as a run writes them. */
function exported(format: OnnxExportReport['format'], accuracy: number, tfjsAccuracy: number): OnnxExportReport {
  const path = format === 'onnx' ? 'student/model.onnx' : 'student/model-uint8.onnx';
  return {
    path,
    format,
    opset: 13,
    bytes: 1000,
    input: { name: 'input', dtype: 'float32', shape: [null, 4] },
    output: { name: 'output', dtype: 'float32', shape: [null, 2] },
    rows: 200,
    maxAbsLogitDiff: 0.01,
    agreement: 0.99,
    accuracy,
    tfjsAccuracy,
  };
}

describe('--max-quantize-drop on the onnx-uint8 export', () => {
  it('warns about a uint8 file that loses more than the drop, naming the file, the loss and the limit', () => {
    expect(onnxQuantizeWarnings([exported('onnx-uint8', 0.875, 0.9)], 1)).toEqual([
      'student/model-uint8.onnx loses 2.50 points of test accuracy against float32, more than --max-quantize-drop 1',
    ]);
    expect(onnxQuantizeWarnings([exported('onnx-uint8', 0.895, 0.9)], 0)).toEqual([
      'student/model-uint8.onnx loses 0.50 points of test accuracy against float32, more than --max-quantize-drop 0',
    ]);
  });

  it('says nothing of a loss within the drop (exactly at it included), a gain, or the float32 file', () => {
    expect(onnxQuantizeWarnings([exported('onnx-uint8', 0.89, 0.9)], 1)).toEqual([]);
    expect(onnxQuantizeWarnings([exported('onnx-uint8', 0.91, 0.9)], 0)).toEqual([]);
    expect(onnxQuantizeWarnings([exported('onnx', 0.5, 0.9)], 0)).toEqual([]);
  });
});
