// A tfjs model's weighted layers, described for bench/metrics.mjs's FLOP and GEMM counting.

/** Each Dense and Conv2D layer of `model`, in order, as bench/metrics.mjs's stepGemms describes them. */
export function describeLayers(model) {
  return model.layers.flatMap((layer) => {
    const kernel = layer.getWeights()[0]?.shape;
    if (layer.getClassName() === 'Dense') return [{ kind: 'dense', inputs: kernel[0], units: kernel[1] }];
    if (layer.getClassName() === 'Conv2D') {
      const [, outHeight, outWidth, filters] = layer.outputShape;
      return [{ kind: 'conv2d', outHeight, outWidth, filters, kernelHeight: kernel[0], kernelWidth: kernel[1], inChannels: kernel[2] }];
    }
    return [];
  });
}
