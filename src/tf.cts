// tfjs through require: Node's ESM loader scans a CommonJS module's source, and every module it re-exports,
// for named exports each time a thread imports it, which for tfjs's bundles costs more than loading them.
// This file's single export is not a re-export, so the scan stops here.
import tfjs = require('@tensorflow/tfjs');
export = tfjs;
