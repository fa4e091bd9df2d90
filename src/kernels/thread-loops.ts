// The loops a thread's trainers run outside tfjs (gradient exchange, the token front, the dense chain, a cnn1d
// student's front) are set when its kernels are selected; this resets them to the JavaScript ones for any
// kernels but openblas.
import { useDenseChainLoops } from './dense-chain-loops.js';
import { javascriptLoops, useExchangeLoops } from './exchange-loops.js';
import { javascriptTokenFrontLoops, useTokenFrontLoops } from './token-front-loops.js';
import { useTokenConvLoops } from './token-conv-loops.js';

/**
 * Makes this thread's trainers use the JavaScript loops (and plain dense students, and cnn1d students past
 * their token front, train through tfjs), as in a fresh thread, so that none is left from an earlier
 * selection of the openblas kernels.
 */
export function useJavascriptLoops(): void {
  useExchangeLoops(javascriptLoops);
  useTokenFrontLoops(javascriptTokenFrontLoops);
  useDenseChainLoops(undefined);
  useTokenConvLoops(undefined);
}
