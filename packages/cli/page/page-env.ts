// What the runner pages take from whoever hosts them: nothing in a browser (navigator.gpu, fetch), Dawn's GPU
// and a file reader when `--runtime node` runs the same code in Node (src/node-runtime.ts).
export interface PageEnvironment {
  /** Instead of navigator.gpu. */
  readonly gpu?: GPU;
  /** Instead of the global fetch, for the model's files. */
  readonly fetch?: typeof fetch;
}
