import * as tf from '@tensorflow/tfjs';

// Quiets tfjs's console advice ("install the node backend") in the test output.
tf.env().set('PROD', true);
